"""An exact backend that runs out of time before a plan of its own answers with the start plan it
was given (marked as such), never with nothing; without a trusted start it still says unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.generate import cluster
from engine.io import load
from engine.solution import Status
from engine.solve import solve

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["milp", "cpsat"])
def test_no_time_left_returns_the_greedy_start(backend: str) -> None:
    problem = cluster(nodes=60, groups=8, seed=3)
    greedy = solve(problem, "greedy", seed=0)
    plan = solve(problem, backend, time_limit=0.001, seed=0, threads=1)
    assert plan.status == Status.FEASIBLE and plan.verified
    assert plan.counts() == greedy.counts()
    if backend == "milp":  # cpsat keeps its start as its own incumbent; milp hands it back
        assert plan.info["returned_start"] == "greedy"
        assert "found no plan of its own" in plan.info["note"]


def test_milp_cbc_out_of_time_on_a_cluster_still_has_a_plan() -> None:
    problem = load(ROOT / "instances/cluster-100.yaml")
    plan = solve(problem, "milp", time_limit=0.001, solver="cbc", threads=1)
    assert plan.status.has_plan and plan.verified
    assert sum(p.count for p in plan.placements) > 0


def test_no_trusted_start_stays_unknown() -> None:
    problem = cluster(nodes=60, groups=8, seed=3)
    plan = solve(problem, "milp", time_limit=0.001, start="none", threads=1)
    assert plan.status == Status.UNKNOWN
    assert "returned_start" not in plan.info
