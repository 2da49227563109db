"""A neighbourhood's sub-problem is exact: a sub-plan is valid exactly when the merged plan is,
and the objective terms move by the same amounts in both (fairness is equal outright)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.ir import Problem
from engine.verify import term_values, verify_counts
from solvers.base import Options
from solvers.greedy.backend import GreedyBackend
from solvers.lns.subproblem import restrict
from solvers.lowering import lower
from tests.strategies import problems

ADDITIVE = ("cost", "bins_used", "soft", "traffic")


@st.composite
def with_traffic(draw: st.DrawFn) -> Problem:
    """Random problems of every constraint kind, some with traffic between groups and delays."""
    p = draw(problems(max_bins=6, max_groups=4, max_count=3))
    if len(p.items) < 2 or not draw(st.booleans()):
        return p
    names = [b.name for b in p.bins]
    delays: dict[str, dict[str, float]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if draw(st.integers(0, 5)):  # sometimes missing: that pair is forbidden
                delays.setdefault(a, {})[b] = float(draw(st.integers(0, 5)))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(p.items), st.sampled_from(p.items)), min_size=1, max_size=2
        )
    )
    traffic = [
        {"items": [a.name, b.name], "volume": float(draw(st.integers(1, 4)))} for a, b in pairs
    ]
    objective = [*p.model_dump(by_alias=True)["objective"], {"traffic": 1.0}]
    data: dict[str, Any] = {
        **p.model_dump(by_alias=True),
        "traffic": traffic,
        "delays": delays,
        "objective": objective[-3:],
    }
    return Problem.model_validate(data)


def _incumbent(problem: Problem) -> dict[tuple[str, str], int] | None:
    plan = GreedyBackend().solve(problem, Options(time_limit=5))
    if not plan.status.has_plan:
        return None
    counts = plan.counts()
    return counts if verify_counts(problem, counts).ok else None


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(problem=with_traffic(), data=st.data())
def test_sub_plans_are_valid_exactly_when_merged_plans_are(problem: Problem, data: Any) -> None:
    incumbent = _incumbent(problem)
    assume(incumbent is not None)
    assert incumbent is not None
    names = [b.name for b in problem.bins]
    inside = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    lowered = lower(problem)
    sub = restrict(lowered, incumbent, inside)
    hint = sub.hint(incumbent)
    start = verify_counts(sub.problem, hint)
    assert start.ok, start.violations  # the incumbent is a plan of its own neighbourhood
    whole_start = term_values(problem, incumbent)
    sub_start = term_values(sub.problem, hint)
    real = [g for g in sub.problem.items if g.name not in sub.ghosts]
    for _ in range(8):  # random sub-plans, valid or not
        plan = dict(sub.ghost_placements)
        for g in real:
            left = g.count
            for b in sorted(set(g.allowed or ()) | set(g.placed)):
                n = data.draw(st.integers(0, min(left, 2)))
                if n:
                    plan[(g.name, b)] = n
                    left -= n
        merged = sub.merge(plan)
        in_sub, in_whole = verify_counts(sub.problem, plan), verify_counts(problem, merged)
        assert in_sub.ok == in_whole.ok, (in_sub.violations, in_whole.violations)
        if not in_sub.ok:
            continue
        whole, part = term_values(problem, merged), term_values(sub.problem, plan)
        for term in ADDITIVE:
            assert abs((whole[term] - whole_start[term]) - (part[term] - sub_start[term])) < 1e-6
        if any("fairness" in level for level in problem.objective):
            assert abs(whole["fairness"] - part["fairness"]) < 1e-9
        if len({g.priority for g in problem.items}) == 1:
            assert whole["placed"] - whole_start["placed"] == part["placed"] - sub_start["placed"]
