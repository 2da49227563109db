"""bench.lns frontier: the filling model's plans with a price per pod, and what its bound
allows at each plan's pods."""

from __future__ import annotations

from pathlib import Path

from tests.solvers.lns.test_stop import _gpu_cluster


def test_frontier_bounds_hold_at_each_plans_pods(tmp_path: Path) -> None:
    from bench.lns import frontier

    problem = _gpu_cluster(tmp_path, nodes=30)
    rows = frontier(problem, [0.0, 8.0], seconds=20.0, seed=1)
    assert [row["price"] for row in rows] == [0.0, 8.0]
    for row in rows:
        # the bound on GPUs + price * pods, less price * the plan's pods, bounds its GPUs
        assert row["gpus_bound_at_pods"] >= row["gpus"] - 0.01
        assert row["gpus_bound_at_pods"] <= row["bound"] + 0.01
    # a pod worth more than 8 GPUs: pods come first, so no fewer than with GPUs alone
    assert rows[1]["pods"] >= rows[0]["pods"]
