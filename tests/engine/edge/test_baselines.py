"""Baselines, metrics, the edge summary and the compare command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from engine.cli import main
from engine.edge.baselines import baseline, compare
from engine.edge.generate import generate_topology
from engine.edge.metrics import edge_metrics, print_edge_summary
from engine.edge.topology import build_problem, parse_topology
from engine.errors import PlacerError
from engine.solution import Solution, Status
from engine.summary import print_summary

from .cases import diamond


def test_cloud_only_uses_the_cloud_while_it_has_room() -> None:
    p = build_problem(parse_topology(diamond()))
    s = baseline(p, "cloud-only")
    assert s.verified
    assert s.counts() == {("t", "c"): 1}  # the cloud holds one cpu
    m = edge_metrics(p, s.counts())
    assert (m.placed, m.unplaced, m.mean_latency) == (1, 2, 47.0)


def test_edge_first_fills_device_then_edge_then_cloud() -> None:
    p = build_problem(parse_topology(diamond(count=5)))
    s = baseline(p, "edge-first")
    assert s.verified
    # device d (100 ms), then edge by latency: e2 (52), e1 (63) x2, then cloud (47)
    assert s.counts() == {("t", "d"): 1, ("t", "e2"): 1, ("t", "e1"): 2, ("t", "c"): 1}


def test_unknown_baseline() -> None:
    with pytest.raises(PlacerError):
        baseline(build_problem(parse_topology(diamond())), "random")


def test_metrics_count_late_tasks_on_a_relaxed_problem() -> None:
    p = build_problem(parse_topology(diamond(max_latency=60)), enforce_bounds=False)
    m = edge_metrics(p, {("t", "d"): 1, ("t", "e1"): 1, ("t", "c"): 1})
    # latencies 100, 63, 47: two over 60 ms
    assert m.late == 2 and m.violations == 2
    assert m.mean_latency == pytest.approx(70.0)
    assert m.worst_latency == 100.0 and m.total_latency == 210.0
    assert m.p95_latency == pytest.approx(96.3)  # numpy's linear interpolation
    assert m.tiers["edge"].tasks == 1 and m.tiers["edge"].used == 1 and m.tiers["edge"].nodes == 2
    assert m.tiers["edge"].utilisation("cpu") == pytest.approx(1 / 3)


def test_summary_prints_tiers_latency_and_unplaceable() -> None:
    doc = diamond()
    doc["tasks"].append({"name": "hopeless", "source": "d", "workload": 1000, "max_latency": 5})
    p = build_problem(parse_topology(doc))
    s = Solution.from_counts(
        p, "test", Status.FEASIBLE, {("t", "c"): 1, ("t", "e2"): 1}, verified=True
    )
    console = Console(record=True, width=120)
    print_summary(console, p, s)  # the family hook is wired through engine.summary
    text = console.export_text()
    assert "tiers" in text and "cloud" in text and "1/1" in text
    assert "mean 49.5 ms" in text and "worst 52 ms" in text
    assert "2 unplaced (1 unplaceable)" in text
    assert "hopeless: latency bound 5 ms unreachable" in text
    console = Console(record=True, width=120)
    print_edge_summary(console, p, Solution.from_counts(p, "x", Status.FEASIBLE, {}))
    assert "mean -, p95 -" in console.export_text()


def test_compare_baselines_and_greedy_side_by_side() -> None:
    p = build_problem(parse_topology(generate_topology(15, 2, 1, graph_density=0.3, seed=2)))
    rows = compare(p, ["cloud-only", "edge-first", "greedy", "nope"], time_limit=2)
    by = {r.method: r for r in rows}
    assert by["nope"].status == "error" and "nope" in (by["nope"].error or "")
    for name in ("cloud-only", "edge-first"):
        assert by[name].metrics is not None and by[name].status == "feasible"
        assert by[name].metrics.late == 0  # bounds enforced: late tasks are unplaced instead
    if by["greedy"].status != "error":
        assert by["greedy"].metrics is not None


def test_cli_compare(tmp_path: Path) -> None:
    f = tmp_path / "e.yaml"
    f.write_text(yaml.safe_dump(generate_topology(8, 2, 1, seed=4)), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["edge", "compare", str(f), "-m", "cloud-only", "-m", "edge-first", "--json"])
    assert info.value.code == 0


def test_cli_solve_edge_topology(tmp_path: Path) -> None:
    f = tmp_path / "e.yaml"
    f.write_text(yaml.safe_dump(diamond()), encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["solve", str(f), "-b", "greedy", "-q"])
    assert info.value.code == 0
