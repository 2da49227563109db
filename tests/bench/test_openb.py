"""`python -m bench openb` on a 50-node, 300-arrival slice of the openb trace (and its errors)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bench.openb.report import write_report
from bench.openb.runner import CLUSTERS, DATA
from engine.gpu.policies import POLICIES

from ..cli import run_bench

needs_trace = pytest.mark.skipif(
    not (DATA / CLUSTERS["gpu"]).exists(), reason="the openb trace is not in ../shared/data"
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@needs_trace
def test_slice_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "openb"
    args = ["openb", "-o", str(out), "--pod-lists", "openb_pod_list_default"]
    args += ["--seeds", "42", "--sample-nodes", "50", "--max-arrivals", "300"]
    assert run_bench(args) == 0
    rows = _rows(out / "results.csv")
    assert {(r["pod_list"], r["policy"]) for r in rows} == {("default", pol) for pol in POLICIES}
    for r in rows:
        assert r["verified"] == "True"
        assert r["nodes"] == "50" and r["arrivals"] == "300"
        assert int(r["placed"]) + int(r["pending"]) == 300
        assert float(r["seconds"]) > 0
    curves = _rows(out / "curves.csv")
    assert len(curves) == len(rows) and "130" in curves[0]
    report = (out / "report.md").read_text()
    assert "## Cluster `gpu`: 50 nodes" in report
    assert "placer against fgd" in report and "Seconds per run" in report
    assert (out / "curve-gpu-default.png").stat().st_size > 10_000
    # a rerun does nothing new; a new seed adds its rows only
    assert run_bench(args) == 0
    assert len(_rows(out / "results.csv")) == len(rows)
    more = [*args[:-6], "--seeds", "42,43", "--policies", "fgd", *args[-4:]]
    assert run_bench(more) == 0
    assert len(_rows(out / "results.csv")) == len(rows) + 1


def test_report_against_the_published_means(tmp_path: Path) -> None:
    reference = tmp_path / "reference.csv"
    head = "workload,sc_policy,tune,seed,total_gpus," + ",".join(map(str, range(131)))
    curve = ",".join(str(min(x, 95.0)) for x in range(131))
    reference.write_text(
        head + "\n" + f"openb_pod_list_default,06-FGD,1.3,42,6212,{curve}\n", encoding="utf-8"
    )
    columns = "pod_list,seed,policy,cluster,nodes,gpus,arrivals,placed,pending,alloc_100,alloc_130,unallocated_gpus_130,seconds,verified,placer_commit,cpu"
    (tmp_path / "results.csv").write_text(
        columns
        + "\ndefault,42,fgd,gpu,1213,6212,10000,9000,1000,95.00,95.30,291.8,1.5,True,x,y"
        + "\ndefault,42,placer,gpu,1213,6212,10000,9100,900,95.50,96.00,248.5,2.5,True,x,y\n"
    )
    report = write_report(tmp_path, reference).read_text()
    assert "| default | 95.30 | 95.00 | +0.30 | yes |" in report
    assert "| default | 96.00 | 95.30 | +0.70 | 248.5 / 291.8 | 1/1 |" in report


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policies", "fgd,tetris"], "--policies: unknown policy 'tetris'"),
        (["--pod-lists", "nope"], "--pod-lists: no pod list nope"),
        (["--cluster", "big"], "--cluster: unknown cluster 'big'"),
        (["--seeds", "4x"], "--seeds: '4x' is not a seed"),
        (["--jobs", "0"], "--jobs: must be at least 1"),
        (["--arrival-ratio", "0"], "--arrival-ratio: must be positive"),
    ],
)
@needs_trace
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert run_bench(["openb", "-o", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@needs_trace
@pytest.mark.slow  # three planned policies end to end (test_slice_end_to_end stays fast)
def test_planned_policies_on_a_slice(tmp_path: Path) -> None:
    out = tmp_path / "openb"
    args = ["openb", "-o", str(out), "--pod-lists", "default", "--seeds", "42"]
    args += ["--sample-nodes", "50", "--policies", "fgd,offline,window-50"]
    assert run_bench(args) == 0
    rows = {r["policy"]: r for r in _rows(out / "results.csv")}
    assert set(rows) == {"fgd", "offline", "window-50"}
    for r in rows.values():
        assert r["verified"] == "True"
        assert int(r["placed"]) + int(r["pending"]) == int(r["arrivals"]) > 300
    offline = rows["offline"]
    # the plan of all arrivals never beats its LP bound, and beats the online scorer
    assert float(offline["alloc_130"]) <= float(offline["lp_bound_130"]) + 1e-6
    assert float(offline["alloc_130"]) >= float(rows["fgd"]["alloc_130"])
    assert float(offline["alloc_100"]) > 0
    assert 0 < float(offline["max_solve_seconds"]) <= 60
    assert rows["fgd"]["lp_bound_130"] == "" and rows["window-50"]["lp_bound_130"] == ""
    report = (out / "report.md").read_text()
    assert "offline" in report and "window-50" in report


def test_results_written_before_new_columns_are_carried_over(tmp_path: Path) -> None:
    from bench.openb.runner import RESULT_COLUMNS, ResultFiles

    old = [c for c in RESULT_COLUMNS if c not in ("lp_bound_130", "max_solve_seconds")]
    first = {c: f"old-{c}" for c in old}
    (tmp_path / "results.csv").write_text(
        ",".join(old) + "\n" + ",".join(first.values()) + "\n", encoding="utf-8"
    )
    files = ResultFiles(tmp_path)
    row: dict[str, object] = {c: f"new-{c}" for c in RESULT_COLUMNS}
    files.append(row, [1.0, 2.0])
    rows = _rows(tmp_path / "results.csv")
    assert rows[0] == {**first, "lp_bound_130": "", "max_solve_seconds": ""}
    assert rows[1] == {c: f"new-{c}" for c in RESULT_COLUMNS}
    assert files.done() == {
        ("old-pod_list", "old-seed", "old-policy", "old-cluster"),
        ("new-pod_list", "new-seed", "new-policy", "new-cluster"),
    }


def test_windows_leave_the_standing_plan_its_held_room() -> None:
    """Two T4 nodes of 16 CPUs and 1 GPU; the standing plan holds node a for one 8-CPU
    one-GPU pod. A 12-CPU CPU-only pod would leave a 4 CPUs: it goes to b. A second one fits
    only on a, in the held room: it waits (no GPU to gain, expected GPU work to lose). A
    one-GPU pod without a held place goes where it fits, held room or not (its GPU is
    allocation now);
    the held place then no longer fits the pod it was kept for."""
    from bench.openb.planned import _Held, _outside
    from engine.gpu.cluster import Cluster, ClusterState, Placement, Pod
    from engine.gpu.policies import make_policy
    from engine.gpu.trace import NodeTable, PodTable

    nodes = NodeTable(
        names=("a", "b"),
        cpu=np.array([16000, 16000]),
        memory=np.array([1 << 20, 1 << 20]),
        gpus=np.array([1, 1]),
        model=np.array([0, 0]),
        models=("T4",),
    )
    pods = PodTable(
        names=("g", "c"),
        cpu=np.array([8000, 12000]),
        memory=np.array([1024, 1024]),
        num_gpu=np.array([1, 0]),
        gpu_milli=np.array([1000, 0]),
        spec=np.array([0, 0]),
        specs=((),),
    )
    state = ClusterState(Cluster(nodes))
    scorer = make_policy("placer")
    scorer.prepare(state.cluster, pods)
    rng = np.random.default_rng(0)
    shape = (8000, 1024, 1, 1000, 0)
    held = _Held({shape: [[Placement(0, (0,)), 1]]}, 2)
    cpu_only = Pod(cpu=12000, memory=1024, num_gpu=0, gpu_milli=0)
    first = _outside(scorer, state, cpu_only, held, rng)
    assert first is not None and first.node == 1
    state.place(cpu_only, first)
    assert state.fits(cpu_only).tolist() == [True, False]
    assert _outside(scorer, state, cpu_only, held, rng) is None
    gpu_pod = Pod(cpu=6000, memory=1024, num_gpu=1, gpu_milli=1000)  # only a, in held room
    assert _outside(scorer, state, gpu_pod, held, rng) == Placement(0, (0,))
    expected = Pod(cpu=8000, memory=1024, num_gpu=1, gpu_milli=1000)
    assert held.take(shape, state, expected) == Placement(0, (0,))  # nothing placed yet
    state.place(gpu_pod, Placement(0, (0,)))
    held = _Held({shape: [[Placement(0, (0,)), 1]]}, 2)
    assert held.take(shape, state, expected) is None
