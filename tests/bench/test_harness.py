"""The benchmark harness end to end: suites, isolated runs, resume, reports, Ray."""

from __future__ import annotations

import csv
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import pytest

from bench.report import write_report
from bench.runner import COLUMNS, ResultsFile, _Slot, run_local
from bench.suites import load_suite

from ..cli import run_bench


def _suite(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _rows(directory: Path) -> list[dict[str, str]]:
    with (directory / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


# A ceiling, not a duration: cpsat proves these optimal in milliseconds, and a loaded machine
# (process start-up counts) must not turn a run into "feasible" and the rows apart.
TINY = """
name: tiny
time_limit: 60
backends: [greedy, cpsat]
instances:
  - generate: tests.bench.fixtures:tiny
    seeds: [0, 1]
"""


@pytest.mark.slow
def test_suite_runs_writes_results_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_bench([str(_suite(tmp_path, TINY)), "-o", str(out), "--jobs", "2"]) == 0
    rows = _rows(out)
    assert len(rows) == 4
    assert {r["backend"] for r in rows} == {"greedy", "cpsat"}
    assert all(r["verified"] == "True" for r in rows)
    cpsat = [r for r in rows if r["backend"] == "cpsat"]
    # 4 items of 1 cpu fit one 4-cpu bin; 4 items of 2 cpu need two bins.
    assert sorted(float(r["value"]) for r in cpsat) == [1.0, 2.0]
    assert all(r["status"] == "optimal" for r in cpsat)
    assert all(r["ortools"] and r["python"] and r["cores"] for r in rows)
    report = (out / "report.md").read_text()
    assert "| cpsat | 2 | 2 | 2 | 2/2 |" in report
    assert "Time to reach the" in report and "| cpsat | 2/2 |" in report
    assert (out / "tiny-profile.png").stat().st_size > 1000


@pytest.mark.slow
def test_rerun_skips_completed_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    suite = str(_suite(tmp_path, TINY))
    assert run_bench([suite, "-o", str(out), "--backends", "greedy"]) == 0
    assert len(_rows(out)) == 2
    assert run_bench([suite, "-o", str(out), "--backends", "greedy,cpsat"]) == 0
    rows = _rows(out)
    assert len(rows) == 4  # the two greedy runs were not repeated
    assert sum(r["backend"] == "greedy" for r in rows) == 2


def test_a_run_resumed_into_an_older_results_file_keeps_its_columns(tmp_path: Path) -> None:
    """An older placer's results.csv (without the per-level senses): rows resumed into it are
    written in its own columns, so every row still reads back whole."""
    out = tmp_path / "out"
    suite = str(_suite(tmp_path, TINY))
    assert run_bench([suite, "-o", str(out), "--backends", "greedy"]) == 0
    path = out / "results.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        old = [{k: v for k, v in r.items() if k != "senses"} for r in csv.DictReader(fh)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[c for c in COLUMNS if c != "senses"])
        writer.writeheader()
        writer.writerows(old)
    assert run_bench([suite, "-o", str(out), "--backends", "greedy,cpsat"]) == 0
    rows = _rows(out)
    assert len(rows) == 4 and all(None not in r for r in rows)  # no row longer than the header
    assert {r["backend"] for r in rows} == {"greedy", "cpsat"}
    assert all(r["status"] in ("optimal", "feasible") for r in rows)


@pytest.mark.slow
def test_hang_and_crash_are_recorded_and_the_suite_goes_on(tmp_path: Path) -> None:
    body = """
name: faults
time_limit: 1
backends: [greedy]
instances:
  - generate: tests.bench.fixtures:hang
  - generate: tests.bench.fixtures:crash
  - generate: tests.bench.fixtures:tiny
"""
    suite = load_suite(str(_suite(tmp_path, body)))
    results = ResultsFile(tmp_path / "results.csv")
    run_local(suite.runs(), jobs=3, on_row=results.append, grace_s=8.0)
    rows = {r["instance"].split("-")[0]: r for r in _rows(tmp_path)}
    assert rows["tests.bench.fixtures:hang"]["status"] == "timeout"
    assert rows["tests.bench.fixtures:crash"]["status"] == "crashed"
    assert rows["tests.bench.fixtures:tiny"]["status"] == "feasible"  # greedy never claims optimal
    assert "killed after" in rows["tests.bench.fixtures:hang"]["error"]
    write_report(tmp_path)
    assert "Failed runs" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_report_rebuilds_from_results_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_bench([str(_suite(tmp_path, TINY)), "-o", str(out), "--backends", "greedy"]) == 0
    (out / "report.md").unlink()
    (out / "suite.json").unlink()
    assert run_bench(["report", str(out)]) == 0
    assert "## tiny" in (out / "report.md").read_text()


def test_absent_data_is_reported_and_skipped(tmp_path: Path) -> None:
    body = """
name: absent
backends: [greedy]
instances:
  - bpplib: /nonexistent/data/*.txt
  - generate: tests.bench.fixtures:tiny
"""
    suite = load_suite(str(_suite(tmp_path, body)))
    assert len(suite.cases) == 1
    assert suite.skipped and "absent" in suite.skipped[0]


def test_bad_suite_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _suite(tmp_path, "name: x\nbackends: []\n")
    assert run_bench([str(path), "-o", str(tmp_path / "o")]) == 2
    assert "backends" in capsys.readouterr().err


def test_shipped_suites_parse() -> None:
    for name in (
        "smoke",
        "binpack",
        "vbp",
        "cluster",
        "edge",
        "edge-heldout",
        "tenants",
        "alibaba",
    ):
        suite = load_suite(name)
        assert suite.backends


@pytest.mark.slow
def test_smoke_suite_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    assert run_bench(["smoke", "-o", str(out), "--jobs", "2"]) == 0
    rows = _rows(out)
    assert rows and all(r["status"] not in ("crashed", "timeout", "memory") for r in rows)
    # a heuristic's verified value is never better than a proved optimum on the same instance
    optimal = {r["instance"]: float(r["value"]) for r in rows if r["status"] == "optimal"}
    for r in rows:
        if r["verified"] == "True" and r["instance"] in optimal:
            assert float(r["value"]) >= optimal[r["instance"]] - 1e-9
    assert (out / "report.md").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)  # starting a Ray cluster takes minutes on a loaded 2-core machine
def test_ray_executor_gives_the_same_rows_as_local(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    suite = str(_suite(tmp_path, TINY))
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert run_bench([suite, "-o", str(local), "--backends", "cpsat"]) == 0
    assert run_bench([suite, "-o", str(remote), "--backends", "cpsat", "--executor", "ray"]) == 0
    keys = ("instance", "backend", "status", "verified", "value", "objective")

    def project(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return sorted(tuple(r[k] for k in keys) for r in rows)

    assert project(_rows(local)) == project(_rows(remote))


def _send_when_told(send: Any, go: Any) -> None:
    go.wait(30)
    send.send({"status": "optimal"})
    send.close()


class _RowArrivesAfterTheFirstLook:
    """The pipe of a run whose child sends its row and exits right after the parent's first look
    at the pipe (the race that read finished runs as crashed)."""

    def __init__(self, conn: Any, go: Any, process: Any) -> None:
        self.conn, self.go, self.process, self.looks = conn, go, process, 0

    def poll(self) -> bool:
        self.looks += 1
        seen = self.conn.poll()
        if self.looks == 1:
            self.go.set()
            self.process.join(30)
        return bool(seen)

    def recv(self) -> Any:
        return self.conn.recv()


def test_a_row_sent_just_before_the_child_exits_is_not_a_crash() -> None:
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    go = ctx.Event()
    process = ctx.Process(target=_send_when_told, args=(send, go), daemon=True)
    process.start()
    send.close()
    slot = object.__new__(_Slot)
    slot.recv = _RowArrivesAfterTheFirstLook(recv, go, process)  # type: ignore[assignment]
    slot.process = process
    slot.started = time.perf_counter()
    slot.deadline = slot.started + 60
    row = None
    while row is None:
        row = slot.poll()
        time.sleep(0.01)
    assert row == {"status": "optimal"}
