"""The LP guide of cpsat's per-bin model (``solvers.cpsat.lp_guide``): its dual bound is a bound
for any duals, its rounded plan keeps capacities and is kept only when every rule holds, and on
edge placement it proves the optimum that CP-SAT alone reaches slowly."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix

from bench.strategies import problems
from engine.edge.generate import generate_topology
from engine.edge.topology import build_problem, parse_topology
from engine.ir import Problem
from engine.solution import Status
from engine.solve import solve
from solvers.cpsat.lp_guide import CoreLp, dual_bound
from solvers.cpsat.per_bin import PerBinModel
from solvers.lowering import lower
from tests.cases import HOSTNAME, bins, group, problem
from tests.profiles import examples

LIMIT = 20.0


@st.composite
def small_lps(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    cols = draw(st.integers(1, 3))
    rows = draw(st.integers(1, 3))
    ints = st.integers(-4, 4)
    c = np.array(draw(st.lists(ints, min_size=cols, max_size=cols)), np.float64)
    a = np.array(
        draw(st.lists(st.integers(0, 3), min_size=rows * cols, max_size=rows * cols)), np.float64
    ).reshape(rows, cols)
    lower = np.array(
        [draw(st.sampled_from([-math.inf, 0.0, 1.0, 2.0])) for _ in range(rows)], np.float64
    )
    upper = np.array(
        [draw(st.sampled_from([math.inf, 2.0, 4.0, 6.0])) for _ in range(rows)], np.float64
    )
    high = np.array([draw(st.integers(0, 3)) for _ in range(cols)], np.float64)
    low = np.array([draw(st.integers(0, int(h))) for h in high], np.float64)
    finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
    y = np.array(draw(st.lists(finite, min_size=rows, max_size=rows)), np.float64)
    return c, a, lower, upper, low, high, y


@settings(max_examples=examples(300), deadline=None)
@given(small_lps())
def test_dual_bound_is_below_every_integer_point(lp: tuple[np.ndarray, ...]) -> None:
    c, a, lower, upper, low, high, y = lp
    bound = dual_bound(c, csr_matrix(a), lower, upper, low, high, y)
    ranges = [range(int(lo), int(hi) + 1) for lo, hi in zip(low, high, strict=True)]
    for point in itertools.product(*ranges):
        x = np.array(point, np.float64)
        ax = a @ x
        if (ax >= lower).all() and (ax <= upper).all() and bound is not None:
            assert bound <= c @ x + 1e-9, (bound, point)


def test_dual_bound_is_exact_at_the_lp_duals() -> None:
    # min x0 + 3 x1, x0 + x1 = 2, x0 <= 1: optimum 4 at (1, 1); duals y = (3, -2)
    a = csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0]]))
    args = (
        np.array([1.0, 3.0]),
        a,
        np.array([2.0, -math.inf]),
        np.array([2.0, 1.0]),
        np.zeros(2),
        np.full(2, 2.0),
    )
    assert dual_bound(*args, np.array([3.0, -2.0])) == 4
    assert dual_bound(*args, np.array([2.9, -1.9])) == 4  # ceil(3.9): still a bound, rounded up
    assert dual_bound(*args, np.array([3.0, 0.5])) == 2  # a wrong-signed dual is set to 0


def _edge(devices: int, edge: int, cloud: int, seed: int) -> Problem:
    return build_problem(parse_topology(generate_topology(devices, edge, cloud, seed=seed)))


def test_edge_topology_is_proved_by_the_lp_and_agrees_with_milp() -> None:
    p = _edge(60, 6, 1, seed=5)
    plan = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    assert plan.status == Status.OPTIMAL and plan.verified, plan.info
    assert plan.bound is not None
    assert all(
        math.isclose(b or 0, v, rel_tol=1e-12)
        for b, v in zip(plan.bound, plan.objective, strict=True)
    )
    cost_stage = plan.info["lp_guide"][-1]
    assert math.isclose(cost_stage["bound"], plan.objective[1], rel_tol=0, abs_tol=1e-6)
    exact = solve(p, "milp", time_limit=LIMIT, threads=1)
    assert exact.status == Status.OPTIMAL
    assert math.isclose(plan.objective[1], exact.objective[1], rel_tol=1e-9)


def test_a_rounded_plan_that_breaks_a_rule_is_not_kept() -> None:
    # both replicas are cheapest on n0; the LP ignores the anti-affinity and puts them there
    cost = {"n0": 1.0, "n1": 5.0, "n2": 9.0}
    rule = {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": HOSTNAME}
    p = problem(
        bins(3, cpu="4"),
        [group("web", 2, cpu="1", memory=None, cost=cost)],
        constraints=[rule],
        objective=["placed", "cost"],
    )
    plan = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    assert plan.status == Status.OPTIMAL and plan.verified
    assert plan.objective == (2.0, 6.0)
    assert plan.info["lp_guide"][-1]["bound"] == 2.0  # the relaxation's: a bound, not the value
    assert plan.info["lp_guide"][-1]["rounded"] in ("rejected", "not better")


def test_group_without_bins_caps_its_placed_total() -> None:
    p = problem(
        bins(2, cpu="2"),
        [
            group("web", 3, cpu="1", memory=None, cost={"n0": 1.0, "n1": 2.0}),
            group("big", 2, cpu="8", memory=None),  # fits no bin
        ],
        objective=["placed", "cost"],
    )
    model = PerBinModel(lower(p))
    domains = {g: list(model.model.proto.variables[v.index].domain) for g, v in model.total.items()}
    assert domains == {"web": [0, 3], "big": [0, 0]}
    plan = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    assert plan.status == Status.OPTIMAL and plan.objective == (3.0, 4.0)
    assert plan.info["cpsat"]["proven"] == [True, True]


def test_rounding_puts_back_what_it_rounded_off_within_capacity() -> None:
    p = problem(
        bins(3, cpu="2"),
        [group("web", 3, cpu="1", memory=None, cost={"n0": 1.0, "n1": 1.0, "n2": 2.0})],
        objective=["placed", "cost"],
    )
    core = CoreLp(PerBinModel(lower(p)))
    counts, fractional = core.rounded(np.array([1.5, 1.5, 0.0]))
    assert fractional == 2
    assert sum(counts.values()) == 3 and max(counts.values()) <= 2


def _with_costs(p: Problem) -> Problem:
    items = [
        g.model_copy(
            update={"cost": {b.name: float(1 + (k * 7 + n * 3) % 5) for k, b in enumerate(p.bins)}}
        )
        for n, g in enumerate(p.items)
    ]
    objective = [{"placed": 1.0}, {"cost": 1.0}]
    return Problem.model_validate({**p.model_dump(), "items": items, "objective": objective})


FAST = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(problems(max_bins=4, max_groups=3, max_count=3), st.booleans())
def test_cost_bounds_never_pass_milps_optimum(p: Problem, constrained: bool) -> None:
    """Per-item costs on every group, objective [placed, cost]: cpsat (with the guide) never
    reports a bound beyond milp's proved optimum, nor an optimum milp does not share."""
    q = _with_costs(p)
    if not constrained:
        q = q.model_copy(update={"constraints": ()})
    a = solve(q, "cpsat", time_limit=10.0, threads=1)
    b = solve(q, "milp", time_limit=10.0, threads=1)
    assert a.verified or not a.status.has_plan
    assert "invalid_bound" not in a.info and "downgraded" not in a.info, a.info
    if b.status != Status.OPTIMAL or not a.status.has_plan:
        return
    assert a.bound is not None
    if a.bound[0] is not None:
        assert a.bound[0] >= b.objective[0] - 1e-9
    if a.bound[1] is not None and math.isclose(a.objective[0], b.objective[0]):
        assert a.bound[1] <= b.objective[1] + 1e-6
    if a.status == Status.OPTIMAL:
        assert all(
            math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
            for x, y in zip(a.objective, b.objective, strict=True)
        )


@FAST
@given(problems(max_bins=4, max_groups=3, max_count=3))
def test_stage_bounds_hold_at_milps_optimum(p: Problem) -> None:
    """Each stage's LP bound (earlier stages held at milp's optimal values) is at most milp's
    optimal plan's value on that stage, in the stage's integer units."""
    from solvers.cpsat.backend import _stage_objective

    q = _with_costs(p)
    exact = solve(q, "milp", time_limit=10.0, threads=1)
    if exact.status != Status.OPTIMAL:
        return
    lowered = lower(q)
    model = PerBinModel(lowered)
    core = CoreLp(model)
    counts = exact.counts()
    held = []
    for level in lowered.levels:
        for stage in level.stages:
            objective = _stage_objective(lowered, model, stage)
            value = objective.offset
            for var, coef in zip(objective.variables, objective.coefficients, strict=True):
                key = next((k for k, v in model.x.items() if v.index == var.index), None)
                if key is not None:
                    value += coef * counts.get(key, 0)
                else:
                    g = next(g for g, v in model.total.items() if v.index == var.index)
                    value += coef * sum(n for (i, _), n in counts.items() if i == g)
            answer = core.solve(objective, held, 10.0)
            if answer.bound is not None:
                assert answer.bound <= value, (stage, answer.bound, value)
            held.append((objective, value))


def test_rounding_with_a_last_group_that_fits_nowhere() -> None:
    p = problem(
        bins(2, cpu="2"),
        [group("web", 2, cpu="1", memory=None, cost={"n0": 1.0}), group("big", 1, cpu="8")],
        objective=["placed", "cost"],
    )
    core = CoreLp(PerBinModel(lower(p)))
    assert core.rounded(np.array([1.5, 0.5])) == ({("web", "n0"): 2}, 2)  # ties: first bin


def test_traffic_is_relaxed_not_dropped_from_the_bound() -> None:
    """A level of cost and traffic: the LP bounds it by the cost part (traffic at its least)."""
    topology = generate_topology(20, 3, 1, graph_density=0.6, seed=2)
    p = build_problem(parse_topology(topology))
    assert p.traffic
    plan = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    exact = solve(p, "milp", time_limit=LIMIT, threads=1)
    assert plan.verified and exact.status == Status.OPTIMAL
    guided = plan.info["lp_guide"][-1]
    assert 0 < guided["bound"] <= exact.objective[1] + 1e-6
    assert plan.bound is not None and plan.bound[1] is not None
    assert plan.bound[1] <= exact.objective[1] + 1e-6


def test_never_below_a_start_it_could_not_complete(monkeypatch: Any) -> None:
    """On a loaded machine the start's completion can run out of time; whatever the stages find
    after that must not replace a better start plan."""
    from solvers.cpsat import backend
    from solvers.lowering.lexicographic import Levels

    def completion_timed_out(self: Any, counts: Any, devices: Any = None, *, start: bool = True):
        if start:
            return None
        return original(self, counts, devices, start=start)

    def stages_find_an_empty_plan(stages: Any, solver: Any, deadline: float, **_: Any) -> Levels:
        solver.incumbent = solver._complete({}, start=False)
        return Levels(results=[], complete=False)

    original = backend._Stages._complete
    monkeypatch.setattr(backend._Stages, "_complete", completion_timed_out)
    monkeypatch.setattr(backend, "solve_levels", stages_find_an_empty_plan)
    p = _edge(20, 3, 1, seed=4)
    plan = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    greedy = solve(p, "greedy", time_limit=LIMIT)
    assert plan.status == Status.FEASIBLE and plan.verified
    assert plan.objective == greedy.objective
    assert plan.info["fallback"].startswith("start plan")
