"""Ctrl-C during a solve, as a terminal sends it: a real ``placer solve`` process on a pseudo
terminal gets SIGINT once its progress line shows a plan; it must stop at once, write the best
plan so far (verified, marked interrupted, nothing else left in the directory) and exit 130.

The bound on the time from SIGINT to exit is generous (the machine may be loaded); the
benchmark ``python -m bench.deadlines`` measures it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.deadlines import hard_cluster, interrupted_run
from engine.io import dump_problem, load, load_solution
from engine.verify import verify

EXIT_BOUND_S = 20.0  # from SIGINT to exit; measured at about 1 s (bench.deadlines)


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interrupt") / "cluster.json"
    dump_problem(hard_cluster(), path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("-b", "cpsat", "-p", "lns=off"), id="cpsat"),
        pytest.param(("-b", "milp", "-p", "lns=off"), id="milp-highs", marks=pytest.mark.slow),
        pytest.param(
            ("-b", "milp", "-p", "lns=off", "-p", "solver=cbc"),
            id="milp-cbc",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_ctrl_c_writes_the_best_plan_so_far_and_exits_130(
    hard: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    out = tmp_path / "plan.json"
    run = interrupted_run(hard, out, *args)
    assert run["exit"] == 130, run["terminal"]
    assert run["after_sigint_s"] < EXIT_BOUND_S
    assert "interrupted: best plan so far written" in run["terminal"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no temp file left
    plan = load_solution(out)
    assert plan.info.get("interrupted") is True
    assert plan.status.value == "feasible"  # stopped early: never a claim of optimal
    assert verify(load(hard), plan).ok
    assert json.loads(out.read_text())["backend"] == args[1]


@pytest.mark.parametrize("backend", ["greedy", "cpsat", "milp", "qubo"])
def test_a_stop_already_asked_for_returns_at_once(backend: str) -> None:
    """Library use: ``interrupt.request_stop()`` before the solve. Every stage sees it; the plan
    returned (if any) is verified and marked interrupted, never claimed optimal."""
    from engine import interrupt
    from engine.generate import cluster
    from engine.solve import solve

    problem = cluster(20, 10, pods_per_node=5, zones=0, anti_affinity=0.3, seed=2)
    interrupt.request_stop()
    try:
        plan = solve(problem, backend, time_limit=120)
    finally:
        interrupt.reset()
    assert plan.info.get("interrupted") is True
    assert plan.seconds < 30  # generous: it stops at the first check
    assert plan.status.value != "optimal"
    if plan.status.has_plan:
        assert plan.verified
    if backend == "greedy":
        assert plan.info["stopped"] == "interrupted"
        assert all(u.reasons == "not scheduled: interrupted" for u in plan.unplaced)
