"""Reports that do not mislead: every backend drawn and told apart, late first plans still on the
gap-versus-time plot, honest names for the reference value, and the run counts said right."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main as bench_main
from bench.report import (
    KNOWN_STYLES,
    NO_PLAN_GAP,
    STYLES,
    backend_style,
    gap_curves,
    read_rows,
    reference_kind,
    write_report,
)

COLUMNS = "suite,instance,backend,status,verified,sense,value,best_known,time_limit,wall_seconds,seconds,first_plan_s,trace"


def _row(
    instance: str,
    backend: str,
    value: float,
    trace: list[list[float]],
    best_known: float | None = None,
) -> dict[str, Any]:
    return {
        "suite": "s",
        "instance": instance,
        "backend": backend,
        "status": "feasible",
        "verified": "True",
        "sense": "max",
        "value": value,
        "best_known": "" if best_known is None else best_known,
        "time_limit": 30.0,
        "wall_seconds": trace[-1][0] if trace else 30.0,
        "seconds": 30.0,
        "first_plan_s": trace[0][0] if trace else "",
        "trace": json.dumps(trace),
    }


def _write(directory: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import csv

    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "results.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS.split(","))
        writer.writeheader()
        writer.writerows(rows)
    return read_rows(directory)


def test_a_first_plan_after_the_time_limit_is_still_drawn(tmp_path: Path) -> None:
    # the tenants report: milp's first plan at 30.1 s with a 30 s limit
    rows = _write(
        tmp_path,
        [
            _row("a", "cpsat", 0.07, [[0.12, 0.07]]),
            _row("a", "milp", 0.077, [[30.11, 0.077]]),
            _row("a", "greedy", 0.0, [[0.01, 0.0]]),
        ],
    )
    limit, end, curves = gap_curves(rows)
    assert limit == 30.0 and end > 30.11
    assert set(curves) == {"cpsat", "milp", "greedy"}
    times, milp = curves["milp"]
    assert milp[0] == NO_PLAN_GAP  # no plan yet: charged in full, not left out
    assert milp[-1] == pytest.approx(0.0)  # milp's plan is the best found
    cpsat = curves["cpsat"][1]
    assert cpsat[-1] == pytest.approx(100 * 0.007 / 0.077)
    assert all(not math.isnan(v) for v in cpsat + milp)
    assert times == sorted(times)


def test_every_backend_gets_its_own_look() -> None:
    names = [*KNOWN_STYLES, "sa-custom", "another"]
    looks = [backend_style(b, names) for b in names]
    for key in ("color", "marker", "linestyle"):
        values = [str(look[key]) for look in looks]
        assert len(set(values)) == len(values), key
    assert backend_style("cpsat", ["cpsat"]) == backend_style("cpsat", names)  # stable
    assert len(STYLES) >= len(names)


def test_reference_is_named_for_what_it_is(tmp_path: Path) -> None:
    found = _write(tmp_path / "f", [_row("a", "cpsat", 1.0, [[1, 1.0]])])
    known = _write(tmp_path / "k", [_row("a", "cpsat", 1.0, [[1, 1.0]], best_known=1.0)])
    mixed = _write(
        tmp_path / "m",
        [_row("a", "cpsat", 1.0, [[1, 1.0]], best_known=1.0), _row("b", "cpsat", 1.0, [[1, 1]])],
    )
    assert reference_kind(found) == "best found"
    assert reference_kind(known) == "best known"
    assert reference_kind(mixed) == "best known or found"
    report = write_report(tmp_path / "f").read_text()
    assert "at best known" not in report
    assert "| at best found |" in report
    assert "no best known values exist" in report


def test_limit_counts_what_is_done_not_what_is_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: tiny\ntime_limit: 2\nbackends: [greedy]\ninstances:\n"
        "  - generate: tests.bench.fixtures:tiny\n    seeds: [0, 1, 2, 3, 4]\n",
        encoding="utf-8",
    )
    out = tmp_path / "empty"
    with pytest.raises(SystemExit) as exit_info:
        bench_main([str(suite), "-o", str(out), "--limit", "3"])
    assert exit_info.value.code in (0, None)
    err = capsys.readouterr().err
    assert "5 runs, 0 already done, 3 to run (--limit 3 of 5 left)" in err
