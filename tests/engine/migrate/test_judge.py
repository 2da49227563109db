"""The step-by-step check judges only what a step touched (``StateJudge``): it must list, after
every step, exactly what the whole verifier lists for that state, on sequences built to break
every rule (random problems with every constraint kind, tenants, quotas, pinned items)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.strategies import problems
from engine.ir import Problem
from engine.migrate.check import CheckCut, StateJudge, check_plan, start_counts, state_violations
from engine.migrate.model import MigrationPlan, plan_from_dict

from ...cases import bins, group, problem
from ...profiles import examples

Key = tuple[str, str]


@st.composite
def _walk(draw: st.DrawFn, p: Problem) -> list[tuple[dict[Key, int], dict[Key, int]]]:
    """Random steps (evictions of rows that exist, binds anywhere): (evict, bind) per step."""
    counts: dict[Key, int] = defaultdict(int, start_counts(p))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        evict: dict[Key, int] = {}
        held = sorted(k for k, n in counts.items() if n > 0)
        for key in draw(st.lists(st.sampled_from(held), max_size=3, unique=True)) if held else []:
            evict[key] = draw(st.integers(1, counts[key]))
            counts[key] -= evict[key]
        bind: dict[Key, int] = {}
        names = [g.name for g in p.items]
        for _ in range(draw(st.integers(0, 3))):
            key = (draw(st.sampled_from(names)), draw(st.sampled_from([b.name for b in p.bins])))
            bind[key] = bind.get(key, 0) + draw(st.integers(1, 2))
            counts[key] += bind[key]
        steps.append((evict, bind))
    return steps


def _same(a: list[str], b: list[str]) -> bool:
    return Counter(a) == Counter(b)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_judge_lists_what_the_whole_verifier_lists_after_every_step(
    data: st.DataObject,
) -> None:
    p = data.draw(problems(max_bins=4, max_groups=4, max_count=4, objectives=False))
    counts: dict[Key, int] = defaultdict(int, start_counts(p))
    judge = StateJudge(p, counts)
    assert _same(judge.violations(), state_violations(p, counts))
    for evict, bind in data.draw(_walk(p)):
        for key, n in evict.items():
            counts[key] -= n
        for key, n in bind.items():
            counts[key] += n
        live = {k: n for k, n in counts.items() if n > 0}
        assert _same(judge.after(counts, set(evict) | set(bind)), state_violations(p, live))


def _traffic_problem() -> Problem:
    return problem(
        bins(3, cpu="4"),
        [
            group("a", 1, cpu="1", placed={"n0": 1}, movable=True),
            group("b", 1, cpu="1", placed={"n0": 1}, movable=True),
        ],
        traffic=[{"items": ["a", "b"], "volume": 1.0}],
        delays={"n0": {"n1": 1.0}},
    )


def test_traffic_without_a_delay_is_caught_in_the_step_that_makes_it() -> None:
    p = _traffic_problem()
    counts: dict[Key, int] = defaultdict(int, start_counts(p))
    judge = StateJudge(p, counts)
    counts[("a", "n0")] = 0
    counts[("a", "n2")] = 1  # no delay between n2 and n0
    found = judge.after(counts, {("a", "n0"), ("a", "n2")})
    live = {k: n for k, n in counts.items() if n > 0}
    assert found and _same(found, state_violations(p, live))


def _plan(name: str, steps: list[tuple[dict[Key, int], dict[Key, int]]]) -> MigrationPlan:
    rows = [
        {
            "evict": [{"item": i, "bin": b, "count": n} for (i, b), n in evict.items()],
            "bind": [{"item": i, "bin": b, "count": n} for (i, b), n in bind.items()],
        }
        for evict, bind in steps
    ]
    return plan_from_dict(
        {"kind": "MigrationPlan", "problem": name, "status": "feasible", "steps": rows}, "<test>"
    )


def test_a_check_past_its_deadline_says_how_far_it_got() -> None:
    p = _traffic_problem()
    plan = _plan(p.name, [({("a", "n0"): 1}, {("a", "n1"): 1})])
    with pytest.raises(CheckCut) as cut:
        check_plan(p, {("a", "n1"): 1, ("b", "n0"): 1}, plan, deadline=0.0)
    assert cut.value.steps_checked == 0
    assert check_plan(p, {("a", "n1"): 1, ("b", "n0"): 1}, plan) == []
