"""Chains of moves (``solvers/lns/chains.py``): inserts, swaps and the relocations that make
their room, on plain problems; every plan they give verifies and is never worse."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import interrupt
from engine.errors import PlacerError
from engine.ir import Problem
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import verify_counts
from solvers.base import Options
from solvers.composites import quick_plans
from solvers.lns.chains import chains_apply, run_chains
from solvers.lowering import lower
from tests.profiles import examples
from tests.solvers.lns.test_driver import _key, _planted
from tests.solvers.lns.test_value_level import _hogs, _pods_then_gpus
from tests.solvers.test_devices import device_problems


def test_a_cpu_hog_moves_off_a_gpu_node_for_a_whole_gpu_pod() -> None:
    """A waiting whole-GPU pod (3 cpu) fits nowhere as the plan stands (the g nodes' idle GPUs
    beside a hog have 1 cpu left; the c nodes' GPU is taken): one item moves to make its room
    (here the light pod onto a g node's idle GPU, freeing a c node's), every pod placed, as
    the optimum."""
    problem, counts = _hogs()
    devices = {key: [(("gpu-0",), 1)] for key in counts if key[0] != "hog"}
    assert verify_counts(problem, counts, devices).objective == (12.0, 7.24)
    found = run_chains(lower(problem), counts, devices, 10.0)
    assert found is not None
    plan, rows, moves = found
    report = verify_counts(problem, plan, rows)
    assert report.ok and report.objective == (16.0, 11.24)
    assert moves["relocate"] == 4


def test_a_share_makes_way_for_a_whole_pod_worth_more() -> None:
    """Two quarters on one GPU fill each node's cpu; whole pods wait: each quarter gives its
    place to a whole pod (pods equal, GPUs up) until only whole pods are left."""
    nodes = 6
    problem = _pods_then_gpus(nodes)
    counts = {("quarter", f"n{k:03d}"): 2 for k in range(nodes)}
    first = problem.bins[0].devices[0].device_names[0]
    devices = {key: [((first,), 2)] for key in counts}
    found = run_chains(lower(problem), counts, devices, 10.0)
    assert found is not None
    plan, rows, moves = found
    report = verify_counts(problem, plan, rows)
    assert report.ok and report.objective == (2.0 * nodes, 2.0 * nodes)
    assert moves["swap"] == 2 * nodes


def test_the_planted_optimum_greedy_misses() -> None:
    """test_driver's planted trap (greedy spreads the small pods one a node, so no node keeps
    room for a large one): relocating small pods in pairs makes the large ones' room, every pod
    placed; through the search the chains' plan is the answer, proved by the LP bound."""
    problem = _planted()
    greedy = solve(problem, "greedy")
    assert greedy.objective[0] < 60
    found = run_chains(lower(problem), greedy.counts(), None, 10.0)
    assert found is not None and verify_counts(problem, found[0]).objective == (60.0,)
    plan = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_bins=4)
    assert plan.objective == (60.0,) and plan.status == Status.OPTIMAL
    assert plan.info["lns"]["chains"]["improved"] == 1
    off = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_chains="off")
    assert "chains" not in off.info["lns"]


def test_a_stop_asked_for_ends_the_moves() -> None:
    """Ctrl-C (``interrupt.request_stop``) ends the moves like the deadline: the chains ran on
    to their own share of the limit (a terminal's Ctrl-C took 2.2 s to end a GPU solve)."""
    problem = _planted()
    greedy = solve(problem, "greedy")
    interrupt.request_stop()
    try:
        assert run_chains(lower(problem), greedy.counts(), None, 10.0) is None
    finally:
        interrupt.reset()


def test_nothing_to_do_and_no_time_give_nothing() -> None:
    problem = _pods_then_gpus(4, quarters=1)  # it waits: every cpu is taken by whole pods
    counts = {("whole", f"n{k:03d}"): 2 for k in range(4)}
    devices = {key: [(("gpu-0",), 1), (("gpu-1",), 1)] for key in counts}
    assert verify_counts(problem, counts, devices).ok
    assert run_chains(lower(problem), counts, devices, 10.0) is None
    hogs, start = _hogs()
    rows = {key: [(("gpu-0",), 1)] for key in start if key[0] != "hog"}
    assert run_chains(lower(hogs), start, rows, 0.0) is None


def test_they_apply_to_plain_problems_only() -> None:
    problem, _ = _hogs()
    assert chains_apply(lower(problem)) is None
    costly = problem.model_copy(update={"objective": ({"placed": 1.0}, {"cost": 1.0})})
    assert chains_apply(lower(costly)) is not None
    data = problem.model_dump(by_alias=True)
    data["constraints"] = [
        {"kind": "anti_affinity", "selector": {"app": "hog"}, "topology": "hostname"}
    ]
    ruled = Problem.model_validate(data)
    assert chains_apply(lower(ruled)) is not None


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=device_problems(), empty=st.booleans())
def test_every_plan_verifies_and_is_never_worse(problem: Problem, empty: bool) -> None:
    """Tiny device problems (shares, whole devices, models, an item that may not move): from
    the quick start plan, or from nothing placed but the item that may not move, the chains'
    plan verifies and is lexicographically better (None: no move found)."""
    lowered = lower(problem)
    if chains_apply(lowered) is not None:
        return
    start = next((s for s in quick_plans(problem, Options(seed=0)) if s.trusted), None)
    if start is None:
        return
    counts = dict(start.counts)
    devices = None if start.devices is None else {k: list(r) for k, r in start.devices.items()}
    if empty:
        counts = {(g.name, b): n for g in problem.items for b, n in g.placed.items()}
        devices = {
            (g.name, b): [(tuple(names), 1) for names in lists]
            for g in problem.items
            for b, lists in g.placed_devices.items()
        }
    begun = verify_counts(problem, counts, devices)
    if not begun.ok:
        return
    found = run_chains(lowered, counts, devices, math.inf)
    if found is None:
        return
    plan, rows, _ = found
    report = verify_counts(problem, plan, rows)
    assert report.ok, report.violations
    assert _key(problem, report.objective) < _key(problem, begun.objective)


def test_the_search_reports_them() -> None:
    """Through cpsat's LNS the chains run after the starts and again after the
    neighbourhoods, and ``info.lns.chains`` counts their runs, moves and seconds (here the
    starts already reach the optimum)."""
    problem, counts = _hogs()
    devices = {key: [(("gpu-0",), 1)] for key in counts if key[0] != "hog"}
    hint = Solution.from_counts(problem, "test", Status.FEASIBLE, counts, devices=devices)
    plan = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_bins=4, hint=hint)
    assert plan.verified and plan.objective == (16.0, 11.24)
    chains = plan.info["lns"].get("chains")
    assert chains is not None and chains["runs"] == 2 and chains["seconds"] >= 0.0
    assert list(plan.info["lns"]["phases"])[-3:] == ["search", "chains_end", "search_end"]


def test_a_cascade_moves_a_pod_any_gpu_takes_out_of_a_model_only_pods_way() -> None:
    """A waiting T4-only whole pod, the T4 GPU held by a pod any GPU takes (worth as much: the
    swap alone gains nothing), and the G2 GPU by a half share: the T4-only pod takes the T4,
    the other pod the G2 in place of the share (pods equal, GPUs 1.5 -> 2)."""

    def node(name: str, model: str) -> dict[str, Any]:
        gpu = {"name": "gpu", "count": 1, "capacity": {"gpu-milli": 1000}}
        return {
            "name": name,
            "capacity": {"cpu": "4"},
            "devices": [{**gpu, "attributes": {"model": model}}],
        }

    def pods(name: str, value: float, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "count": 1,
            "demand": {"cpu": "1"},
            "devices": request,
            "value": value,
        }

    problem = Problem.model_validate(
        {
            "name": "cascade",
            "bins": [node("t0", "T4"), node("g0", "G2")],
            "items": [
                pods("any", 1, {}),
                pods("half", 0.5, {"share": {"gpu-milli": 500}}),
                pods("t4", 1, {"select": {"model": ["T4"]}}),
            ],
            "objective": [{"placed": 1.0}, {"value": 1.0}],
        }
    )
    counts = {("any", "t0"): 1, ("half", "g0"): 1}
    devices = {key: [(("gpu-0",), 1)] for key in counts}
    assert verify_counts(problem, counts, devices).objective == (2.0, 1.5)
    found = run_chains(lower(problem), counts, devices, 10.0)
    assert found is not None
    plan, rows, moves = found
    assert verify_counts(problem, plan, rows).objective == (2.0, 2.0)
    assert plan == {("t4", "t0"): 1, ("any", "g0"): 1} and moves["cascade"] == 1


@pytest.mark.parametrize("value", ["of", "yes", ""])
def test_an_unknown_lns_chains_value_is_a_clear_error(value: str) -> None:
    problem = Problem.model_validate(
        {
            "name": "one",
            "bins": [{"name": "n", "capacity": {"cpu": 1}}],
            "items": [{"name": "p", "count": 1, "demand": {"cpu": 1}}],
        }
    )
    with pytest.raises(PlacerError, match="lns_chains must be one of on, off"):
        solve(problem, "cpsat", time_limit=5, threads=1, lns="on", lns_chains=value)
