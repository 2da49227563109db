"""A second ``value`` level after ``placed`` (e.g. GPUs after pods): bounded honestly with the
first level held at the plan's value, searched by the neighbourhoods, never given up."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.io import problem_from_dict
from engine.ir import Problem
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import verify_counts
from solvers.base import Options
from solvers.composites import quick_plans
from solvers.lns.bound import level_bounds
from solvers.lns.neighbourhoods import Chooser, State
from solvers.lowering import lower
from tests.profiles import examples
from tests.solvers.lns.test_driver import _key
from tests.solvers.lns.test_subproblem import with_traffic
from tests.solvers.test_devices import brute_force, device_problems

PODS_THEN_VALUE = ({"placed": 1.0}, {"value": 1.0})


def _pods_then_gpus(nodes: int = 12, quarters: int | None = None) -> Problem:
    """Nodes of 2 cpu and 2 GPUs; quarter-GPU pods and whole-GPU pods of 1 cpu each, as many
    of each as the cpu holds: every plan on full cpu places 2 pods a node, and the most GPUs
    come with whole pods only (value = GPUs)."""
    data: dict[str, Any] = {
        "name": "pods-then-gpus",
        "bins": [
            {
                "name": f"n{k:03d}",
                "capacity": {"cpu": "2"},
                "devices": [{"name": "gpu", "count": 2, "capacity": {"gpu-milli": 1000}}],
            }
            for k in range(nodes)
        ],
        "items": [
            {
                "name": "quarter",
                "count": 2 * nodes if quarters is None else quarters,
                "demand": {"cpu": "1"},
                "devices": {"share": {"gpu-milli": 250}},
                "value": 0.25,
            },
            {
                "name": "whole",
                "count": 2 * nodes,
                "demand": {"cpu": "1"},
                "devices": {},
                "value": 1,
            },
        ],
        "objective": [dict(level) for level in PODS_THEN_VALUE],
    }
    return problem_from_dict(data)


def test_the_second_level_rises_at_equal_pods_to_its_proved_bound() -> None:
    """Started from the plan with the most pods and the fewest GPUs (quarters only), the search
    keeps the pods and raises the GPUs to the most there are; the LP's value bound, with pods
    held, proves it (and is never given from a neighbourhood)."""
    nodes = 12
    problem = _pods_then_gpus(nodes)
    counts = {("quarter", f"n{k:03d}"): 2 for k in range(nodes)}
    first = problem.bins[0].devices[0].device_names[0]
    devices = {key: [((first,), 2)] for key in counts}  # both quarters on one GPU
    start = verify_counts(problem, counts, devices)
    assert start.ok and start.objective == (24.0, 6.0)
    hint = Solution.from_counts(problem, "test", Status.FEASIBLE, counts, devices=devices)
    plan = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_bins=4, hint=hint)
    info = plan.info["lns"]
    assert info["start"]["objective"] == [24.0, 6.0]
    assert plan.verified and plan.objective == (24.0, 24.0)
    assert plan.bound == (24.0, 24.0) and plan.status == Status.OPTIMAL
    assert all(objective[0] == 24.0 for _, objective in info["trace"])  # pods never traded


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=device_problems(), short=st.integers(0, 2))
def test_the_value_bound_never_cuts_off_the_optimum(problem: Problem, short: int) -> None:
    """On tiny device problems with ``[placed, value]``, for a plan at the optimum's pods or
    below them, the value bound (pods held at the plan's) is at least the optimum's value."""
    lexicographic = problem.model_copy(update={"objective": PODS_THEN_VALUE})
    best = brute_force(lexicographic)
    assume(best is not None)
    assert best is not None
    pods = max(0.0, best[0] - short)
    bounds, _ = level_bounds(lower(lexicographic), (pods, 0.0), time_limit=10)
    assert bounds[0] is not None and bounds[0] >= best[0] - 1e-6
    assert bounds[1] is not None and bounds[1] >= best[1] - 1e-6


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=with_traffic(), data=st.data())
def test_never_worse_than_its_start_with_a_value_level(problem: Problem, data: Any) -> None:
    """Random problems of every constraint kind, their objective led by ``[placed, value]``
    (random values): the plan verifies and is lexicographically no worse than its start."""
    values = data.draw(st.lists(st.sampled_from([0, 0.5, 1, 3]), min_size=len(problem.items)))
    items = tuple(
        g.model_copy(update={"value": float(v)})
        for g, v in zip(problem.items, values, strict=False)
    )
    rest = [lv for lv in problem.objective if "placed" not in lv and "value" not in lv]
    valued = Problem.model_validate(
        {
            **problem.model_dump(by_alias=True),
            "items": [g.model_dump(by_alias=True) for g in items],
            "objective": [*PODS_THEN_VALUE, *rest][:3],
        }
    )
    starts = quick_plans(valued, Options(seed=0))
    start = next((s for s in starts if s.trusted), None)
    plan = solve(valued, "cpsat", time_limit=1.5, threads=1, lns="on", lns_bins=2)
    if start is None or not verify_counts(valued, start.counts).ok:
        return  # the child solves such problems whole (its own tests cover them)
    assert plan.verified and plan.status.has_plan and plan.info["lns"]["used"]
    begun = verify_counts(valued, start.counts).objective
    assert _key(valued, plan.objective) <= _key(valued, begun)


def test_idle_frees_the_bins_whose_pods_are_worth_less_than_a_waiting_one() -> None:
    """Quarters fill n0 and n1 (their cpu), whole pods fill the rest, whole pods wait: ``idle``
    draws a waiting whole pod and frees the bins holding quarters (worth less) first."""
    problem = _pods_then_gpus(10, quarters=4)
    lowered = lower(problem)
    counts = {("quarter", "n000"): 2, ("quarter", "n001"): 2}
    counts.update({("whole", f"n{k:03d}"): 2 for k in range(2, 10)})
    state = State.of(lowered, counts)
    for seed in range(5):
        chooser = Chooser(lowered, np.random.default_rng(seed))
        assert "idle" in chooser.weights
        bins = chooser._idle(state, 4)
        assert bins is not None and set(bins[:2].tolist()) == {0, 1}
        assert chooser.focus == {lowered.group_index["whole"]}


def test_idle_is_not_offered_without_a_value_level() -> None:
    problem = _pods_then_gpus(4).model_copy(update={"objective": ({"placed": 1.0},)})
    assert "idle" not in Chooser(lower(problem), np.random.default_rng(0)).weights


def test_a_value_level_keeps_a_share_of_the_neighbourhoods_for_idle() -> None:
    """Whatever the adaptive weights say (here every other strategy far ahead), about half the
    neighbourhoods are ``idle``'s while it finds swaps."""
    problem = _pods_then_gpus(10, quarters=4)
    lowered = lower(problem)
    counts = {("quarter", "n000"): 2, ("quarter", "n001"): 2}
    counts.update({("whole", f"n{k:03d}"): 2 for k in range(2, 10)})
    state = State.of(lowered, counts)
    chooser = Chooser(lowered, np.random.default_rng(0))
    chooser.weights = {name: (0.01 if name == "idle" else 100.0) for name in chooser.weights}
    names = [chooser.pick(state, 4)[0] for _ in range(200)]
    assert 70 <= names.count("idle") <= 130


def _hogs(nodes: int = 4) -> tuple[Problem, dict[tuple[str, str], int]]:
    """GPU nodes g* (8 cpu, 2 GPUs) each holding an 810-milli share (1 cpu) and a cpu hog
    (6 cpu, no GPU): a GPU idle, 1 cpu free; nodes c* (8 cpu, 1 GPU) holding a whole-GPU pod
    of 1 cpu (their GPU taken, 7 cpu free); whole-GPU pods of 3 cpu wait. They fit only once
    the hogs move to the c nodes (value = GPUs)."""
    data: dict[str, Any] = {
        "name": "hogs",
        "bins": [
            {
                "name": f"{kind}{k}",
                "capacity": {"cpu": "8"},
                "devices": [{"name": "gpu", "count": gpus, "capacity": {"gpu-milli": 1000}}],
            }
            for kind, gpus in (("g", 2), ("c", 1))
            for k in range(nodes)
        ],
        "items": [
            {
                "name": "share",
                "count": nodes,
                "demand": {"cpu": "1"},
                "devices": {"share": {"gpu-milli": 810}},
                "value": 0.81,
            },
            {"name": "hog", "count": nodes, "demand": {"cpu": "6"}, "value": 0},
            {"name": "light", "count": nodes, "demand": {"cpu": "1"}, "devices": {}, "value": 1},
            {"name": "whole", "count": nodes, "demand": {"cpu": "3"}, "devices": {}, "value": 1},
        ],
        "objective": [dict(level) for level in PODS_THEN_VALUE],
    }
    counts = {(name, f"g{k}"): 1 for name in ("share", "hog") for k in range(nodes)}
    counts.update({("light", f"c{k}"): 1 for k in range(nodes)})
    return problem_from_dict(data), counts


def test_relief_frees_gpu_nodes_short_of_cpu_with_the_nodes_that_have_cpu_to_spare() -> None:
    """``relief`` draws a waiting whole-GPU pod and frees the g nodes (their GPU would hold
    it, their cpu would not) — a third of the neighbourhood — and then the c nodes, whose GPU
    is taken but whose cpu would take the hogs: not the other g nodes, which have GPU room
    but no cpu."""
    problem, counts = _hogs()
    lowered = lower(problem)
    state = State.of(lowered, counts)
    g_nodes = {lowered.bin_index[f"g{k}"] for k in range(4)}
    c_nodes = {lowered.bin_index[f"c{k}"] for k in range(4)}
    for seed in range(8):
        chooser = Chooser(lowered, np.random.default_rng(seed))
        assert "relief" in chooser.weights
        bins = chooser._relief(state, 6)
        assert bins is not None and len(bins) == 6
        assert set(bins[:2].tolist()) <= g_nodes
        assert set(bins[2:].tolist()) == c_nodes
        assert chooser.focus == {lowered.group_index["whole"]}


def test_relief_has_nothing_to_free_where_no_gpu_holds_a_waiting_pod_or_the_cpu_is_there() -> None:
    """The lights beside the shares and hogs: no g node's free GPU room holds a whole pod, and
    the c nodes' GPUs and cpu hold one as they are (for ``unplaced``). No hogs at all: the
    waiting pods fit on the g nodes as they are."""
    problem, counts = _hogs()
    lowered = lower(problem)
    chooser = Chooser(lowered, np.random.default_rng(0))
    crowded = {(name, f"g{k}"): 1 for name in ("share", "hog", "light") for k in range(4)}
    assert chooser._relief(State.of(lowered, crowded), 6) is None
    no_hogs = {k: n for k, n in counts.items() if k[0] != "hog"}
    assert chooser._relief(State.of(lowered, no_hogs), 6) is None


def test_the_search_makes_relief_moves_to_the_proved_optimum() -> None:
    """From the plan above (12 pods, 7.24 GPUs) the search reaches every pod placed: the
    hogs beside the lights, the whole pods beside the shares; the bound proves it."""
    problem, counts = _hogs()
    devices = {key: [(("gpu-0",), 1)] for key in counts if key[0] != "hog"}
    start = verify_counts(problem, counts, devices)
    assert start.ok and start.objective == (12.0, 7.24)
    hint = Solution.from_counts(problem, "test", Status.FEASIBLE, counts, devices=devices)
    plan = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_bins=4, hint=hint)
    assert plan.verified and plan.objective == (16.0, 11.24)
    assert plan.status == Status.OPTIMAL and plan.bound == (16.0, 11.24)
