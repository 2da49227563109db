"""The lowering: eligibility bounds, symmetry classes and their canonical order, levels, the
backends' term values (checked against the verifier's independent copy), and the level bounds."""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.strategies import problems
from engine.ir import Problem
from engine.verify import term_values as verifier_terms
from engine.verify import verify_counts
from solvers.lowering import lower
from solvers.lowering.levels import Stage, Tier
from solvers.lowering.lexicographic import StageResult, level_bounds
from solvers.lowering.starts import fair_fill, fair_fill_applies, first_fit_decreasing
from solvers.lowering.terms import term_values
from tests.profiles import examples

from ..cases import HOSTNAME, ZONE, bins, group, problem

# ---------------------------------------------------------------- eligibility, table-driven

ELIGIBILITY: list[tuple[str, Problem, str, str, tuple[int, int, bool] | None]] = [
    ("fits four", problem(bins(1, "4"), [group("a", 5, "1", None)]), "a", "n0", (0, 4, True)),
    ("count caps", problem(bins(1, "4"), [group("a", 2, "1", None)]), "a", "n0", (0, 2, True)),
    ("too big", problem(bins(1, "1"), [group("a", 2, "2", None)]), "a", "n0", None),
    (
        "not allowed",
        problem(bins(2, "4"), [group("a", 2, "1", None, allowed=["n1"])]),
        "a",
        "n0",
        None,
    ),
    (
        "pinned where not allowed: stays, never grows",
        problem(bins(2, "4"), [group("a", 3, "1", None, allowed=["n1"], placed={"n0": 2})]),
        "a",
        "n0",
        (2, 2, False),
    ),
    (
        "movable where not allowed: may stay, may leave",
        problem(
            bins(2, "4"),
            [group("a", 3, "1", None, allowed=["n1"], placed={"n0": 2}, movable=True)],
        ),
        "a",
        "n0",
        (0, 2, False),
    ),
    (
        "pinned beyond what fits: kept (the verifier judges)",
        problem(bins(1, "1"), [group("a", 3, "1", None, placed={"n0": 2})]),
        "a",
        "n0",
        (2, 2, True),
    ),
    (
        "no demand: the whole count",
        problem(bins(1, "1"), [group("a", 7, None, None)]),
        "a",
        "n0",
        (0, 7, True),
    ),
]


@pytest.mark.parametrize(
    ("case", "p", "g", "b", "expected"), ELIGIBILITY, ids=[c[0] for c in ELIGIBILITY]
)
def test_eligibility_bounds(
    case: str, p: Problem, g: str, b: str, expected: tuple[int, int, bool] | None
) -> None:
    bounds = lower(p).bounds(g, b)
    got = None if bounds is None else (bounds.low, bounds.high, bounds.open)
    assert got == expected, case


def _reference_bounds(p: Problem, g: int, b: int) -> tuple[int, int, bool] | None:
    """(low, high, open) of one pair from the IR's words alone, one pair at a time."""
    group_, bin_ = p.items[g], p.bins[b]
    fit = group_.count
    for r, amount in group_.demand.items():
        if amount > 0:
            fit = min(fit, bin_.capacity.get(r, 0) // amount)
    open_ = fit >= 1 and (group_.allowed is None or bin_.name in group_.allowed)
    high = fit if open_ else 0
    k = group_.placed.get(bin_.name, 0)
    if k and not group_.movable:
        return (k, max(high, k), open_)
    if k and not open_:
        high = min(k, fit)
    return (0, high, open_) if high > 0 else None


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems(max_bins=5, max_groups=4, max_count=4, constraints=False))
def test_sparse_eligibility_holds_exactly_the_pairs_that_may_hold_items(p: Problem) -> None:
    lowered = lower(p)
    listed = {key: (low, high) for key, low, high in lowered.pairs()}
    for g, group_ in enumerate(p.items):
        for b, bin_ in enumerate(p.bins):
            expected = _reference_bounds(p, g, b)
            bounds = lowered.bounds(group_.name, bin_.name)
            got = None if bounds is None else (bounds.low, bounds.high, bounds.open)
            assert got == expected, (group_.name, bin_.name)
            assert listed.get((group_.name, bin_.name)) == (expected and expected[:2])
            if expected is not None:  # the dense view agrees where it is asked for
                assert lowered.high[g, b] == expected[1] and lowered.low[g, b] == expected[0]
    assert len(lowered.eligible) == len(listed)


def test_memory_follows_the_eligible_pairs() -> None:
    """1,000 groups x 1,500 bins, each group allowed on 3 bins: 3,000 pairs. Dense bounds would
    take 1,000 x 1,500 x 17 bytes (24 MiB); the lowering, symmetry classes, a first-fit start
    and its terms stay far below."""
    nodes = bins(1500, "64", "256Gi")
    names = [b.name for b in nodes]
    groups_ = [
        group(f"g{k}", 2, "1", "1Gi", allowed=[names[(7 * k + j) % 1500] for j in range(3)])
        for k in range(1000)
    ]
    p = problem(nodes, groups_)
    tracemalloc.start()
    try:
        lowered = lower(p)
        assert len(lowered.classes) > 1000  # bins differ by the groups that may use them
        plan = first_fit_decreasing(lowered)
        terms = term_values(lowered, plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lowered.eligible) == 3000 and terms["placed"] == 2000
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"


# ---------------------------------------------------------------- symmetry classes, table-driven


def _spread(topology: str) -> dict[str, Any]:
    return {"kind": "spread", "selector": {"app": "a"}, "topology": topology}


CLASSES: list[tuple[str, Problem, tuple[tuple[str, ...], ...]]] = [
    ("identical", problem(bins(3), [group("a")]), (("n0", "n1", "n2"),)),
    (
        "zones nobody looks at",
        problem(bins(3, zones=["z0", "z0", "z1"]), [group("a")]),
        (("n0", "n1", "n2"),),
    ),
    (
        "zones a spread looks at",
        problem(bins(3, zones=["z0", "z0", "z1"]), [group("a")], constraints=[_spread(ZONE)]),
        (("n0", "n1"), ("n2",)),
    ),
    (
        "hostnames: each its own domain",
        problem(bins(3), [group("a")], constraints=[_spread(HOSTNAME)]),
        (("n0", "n1", "n2"),),
    ),
    (
        "capacity differs",
        problem([*bins(1, "4"), *bins(1, "8", prefix="m")], [group("a")]),
        (("n0",), ("m0",)),
    ),
    (
        "an allowed list tells them apart",
        problem(bins(3), [group("a", allowed=["n0", "n2"])]),
        (("n0", "n2"), ("n1",)),
    ),
    (
        "a per-bin cost tells them apart",
        problem(bins(3), [group("a", cost={"n1": 2.0})], objective=["placed", "cost"]),
        (("n0", "n2"), ("n1",)),
    ),
    (
        "items already there make a bin unique",
        problem(bins(3), [group("a", 2, placed={"n1": 1})]),
        (("n0", "n2"), ("n1",)),
    ),
    (
        "a spread's bins tell them apart",
        problem(
            bins(3, zones=["z0", "z0", "z0"]),
            [group("a")],
            constraints=[{**_spread(ZONE), "bins": ["n0", "n1"]}],
        ),
        (("n0", "n1"), ("n2",)),
    ),
]


@pytest.mark.parametrize(("case", "p", "expected"), CLASSES, ids=[c[0] for c in CLASSES])
def test_symmetry_classes(case: str, p: Problem, expected: tuple[tuple[str, ...], ...]) -> None:
    assert lower(p).classes == expected, case


def test_canonical_order_puts_fuller_bins_first() -> None:
    lowered = lower(problem(bins(3), [group("a", 3), group("b", 2)]))
    plan = {("a", "n1"): 1, ("a", "n2"): 2, ("b", "n2"): 1}
    assert lowered.canonical(plan) == {("a", "n0"): 2, ("b", "n0"): 1, ("a", "n1"): 1}
    assert lowered.canonical(lowered.canonical(plan)) == lowered.canonical(plan)


def _random_plan(p: Problem, rng: random.Random) -> dict[tuple[str, str], int]:
    """Some of each group's items, each on a random bin it may use (pinned ones stay)."""
    lowered = lower(p)
    plan: dict[tuple[str, str], int] = {}
    for g in p.items:
        room = {b: lowered.bounds(g.name, b) for b in lowered.bins_of(g.name)}
        for b, bounds in room.items():
            if bounds is not None and bounds.low:
                plan[(g.name, b)] = bounds.low
        for _ in range(rng.randint(0, g.count - sum(plan.get((g.name, b), 0) for b in room))):
            options = [b for b, bd in room.items() if bd and plan.get((g.name, b), 0) < bd.high]
            if not options:
                break
            b = rng.choice(options)
            plan[(g.name, b)] = plan.get((g.name, b), 0) + 1
    return plan


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems(max_bins=5, max_groups=3, max_count=3), seed=st.integers(0, 1000))
def test_the_canonical_order_is_a_true_symmetry(p: Problem, seed: int) -> None:
    """Permuting bins inside a class changes neither validity nor any objective term: a class
    that joins two bins a rule or a term can tell apart fails here (the verifier would never
    see an over-tight symmetry cut, which only loses optima)."""
    first = max(p.bins, key=lambda b: sorted(b.capacity.values()))
    # Big classes to get wrong: alike bins, items free to go anywhere; only labels and rules
    # tell bins apart. (Rebuilt, not model_copy'd: that would keep the cached lookups.)
    data = p.model_dump()
    for b in data["bins"]:
        b.update(capacity=first.capacity, cost=first.cost)
    for g in data["items"]:
        g.update(allowed=None, cost={}, placed={})
    p = Problem.model_validate(data)
    rng = random.Random(seed)
    lowered = lower(p)
    for _ in range(10):
        plan = _random_plan(p, rng)
        before = _judged(p, plan)
        for members in lowered.classes:  # any permutation, not only the canonical one
            if len(members) < 2:
                continue
            shuffled = list(members)
            rng.shuffle(shuffled)
            rename = dict(zip(members, shuffled, strict=True))
            assert _judged(p, {(g, rename.get(b, b)): n for (g, b), n in plan.items()}) == before
        assert _judged(p, lowered.canonical(plan)) == before


def _judged(p: Problem, plan: dict[tuple[str, str], int]) -> tuple[Any, ...]:
    """What the verifier says, up to the names of bins: violations by check and size, terms."""
    report = verify_counts(p, plan)
    violations = Counter((v.check, v.constraint, round(v.excess, 6)) for v in report.violations)
    return violations, tuple(round(v, 6) for v in report.terms.values())


# ---------------------------------------------------------------- terms against the verifier


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems(max_bins=4, max_groups=4, max_count=3), seed=st.integers(0, 1000))
def test_term_values_agree_with_the_verifiers_copy(p: Problem, seed: int) -> None:
    plan = _random_plan(p, random.Random(seed))
    mine = term_values(lower(p), plan, soft=verifier_terms(p, plan)["soft"])
    theirs = verifier_terms(p, plan)
    for term in theirs:
        assert mine[term] == pytest.approx(theirs[term], rel=1e-9, abs=1e-9), term


# ---------------------------------------------------------------- levels


@pytest.mark.parametrize("seed", range(6))
def test_traffic_term_agrees_with_the_verifiers_copy(seed: int) -> None:
    """Traffic between two groups and within one (ordered pairs of distinct replicas), a row
    without volume and a group of one talking to itself (no pair): the backends' traffic rows
    give the verifier's value on random plans."""
    rng = random.Random(seed)
    names = ["n0", "n1", "n2"]
    delays = {a: {b: float(rng.randint(0, 6)) for b in names if b > a} for a in names}
    p = problem(
        bins(3, "8"),
        [group("a", rng.randint(1, 4)), group("b", rng.randint(1, 4)), group("c", 1)],
        objective=["placed", "traffic"],
        traffic=[
            {"items": ["a", "b"], "volume": 2.5},
            {"items": ["a", "a"], "volume": 1.0},
            {"items": ["b", "a"], "volume": 0.0},
            {"items": ["c", "c"], "volume": 3.0},
        ],
        delays=delays,
    )
    lowered = lower(p)
    assert [(t.index, t.pairs) for t in lowered.traffic] == [
        (0, p.items[0].count * p.items[1].count),
        (1, p.items[0].count * (p.items[0].count - 1)),
        (3, 0),
    ]
    plan = _random_plan(p, rng)
    assert term_values(lowered, plan)["traffic"] == pytest.approx(
        verifier_terms(p, plan)["traffic"]
    )


def test_placed_over_priorities_is_one_stage_per_tier() -> None:
    p = problem(
        bins(2),
        [group("lo", 2, priority=0), group("hi", 1, priority=5), group("mid", 3, priority=1)],
        objective=["placed", {"bins_used": 1}],
    )
    levels = lower(p).levels
    tiers = [s.tier for s in levels[0].stages]
    assert [(t.priority, t.groups, t.count) for t in tiers if t] == [
        (5, ("hi",), 1),
        (1, ("mid",), 3),
        (0, ("lo",), 2),
    ]
    assert all(s.maximise for s in levels[0].stages)
    assert levels[1].stages == (Stage(1),)


def test_level_bounds_are_given_only_under_proved_levels() -> None:
    p = problem(bins(2), [group("a")], objective=["placed", "bins_used", "cost"])
    levels = lower(p).levels
    results = [StageResult(True, 1.0, 1.0), StageResult(False, 2.0, 1.5), StageResult(True, 0, 0)]
    assert level_bounds(levels, results, (1.0, 2.0, 0.0), [[0], [0], [0]]) == (1.0, 1.5, None)


@pytest.mark.parametrize(
    ("term", "value", "solver_bound", "bound"),
    [
        ("bins_used", 3.0, 3.0000001, 3.0),  # minimised: a bound above the plan is the plan
        ("bins_used", 3.0, 2.5, 2.5),
        ("fairness", 0.25, 0.2499999, 0.25),  # maximised: a bound below the plan is the plan
        ("fairness", 0.25, 0.5, 0.5),
        ("bins_used", 3.0, 3.5, 3.5),  # far past: a defect, left for the property tests to see
    ],
)
def test_no_bound_passes_the_plans_own_value(
    term: str, value: float, solver_bound: float, bound: float
) -> None:
    p = problem(bins(2), [group("a")], objective=[term])
    levels = lower(p).levels
    results = [StageResult(False, value, solver_bound)]
    assert level_bounds(levels, results, (value,), [[0]]) == (bound,)


def test_a_tiered_bound_combines_proved_open_and_untouched_tiers() -> None:
    p = problem(
        bins(1),
        [group("hi", 2, priority=2), group("mid", 4, priority=1), group("lo", 5, priority=0)],
    )
    lowered = lower(p)
    weights = {t.groups[0]: t.weight for t in lowered.tiers}
    results = [StageResult(True, 2, 2), StageResult(False, 1, 2.7)]  # lo never ran
    (bound,) = level_bounds(lowered.levels, results, (0.0,), [[2, 1, 0]])
    assert bound == weights["hi"] * 2 + weights["mid"] * 2 + weights["lo"] * 5


# ---------------------------------------------------------------- starts


def test_first_fit_decreasing_keeps_capacity_and_pinned_items() -> None:
    p = problem(bins(3, "2"), [group("a", 4, "1500m"), group("b", 5, "500m", placed={"n2": 1})])
    plan = first_fit_decreasing(lower(p))
    report = verify_counts(p, plan)
    assert report.ok, report.violations
    assert plan[("b", "n2")] >= 1


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=problems(max_bins=4, max_groups=4, max_count=3, constraints=False, placed=False))
def test_fair_fill_is_valid_where_it_applies(p: Problem) -> None:
    data = p.model_dump()
    for g in data["items"]:
        g["required"] = False
    p = Problem.model_validate(data)
    if not fair_fill_applies(p):
        return
    assert verify_counts(p, fair_fill(lower(p))).ok


def test_every_pair_is_listed_once_in_problem_order() -> None:
    p = problem(bins(2), [group("a", 2), group("b", 1, allowed=["n1"])])
    keys = [k for k, _, _ in lower(p).pairs()]
    assert keys == [("a", "n0"), ("a", "n1"), ("b", "n1")]
    assert len(set(keys)) == len(keys)
    assert list(itertools.chain.from_iterable([lower(p).bins_of("a")])) == ["n0", "n1"]


def test_tiers_weigh_like_the_ir() -> None:
    p = problem(bins(1), [group("a", 3, priority=0), group("b", 1, priority=1)])
    lowered = lower(p)
    assert lowered.placed_weight == p.priority_weights()
    assert isinstance(lowered.tiers[0], Tier)
