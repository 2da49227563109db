"""Property tests: random small problems through every available backend, judged by the verifier.

- A backend never calls a plan valid (``verified=True``) that the verifier rejects, and every plan
  that comes out of ``engine.solve`` with a plan status passes the verifier.
- An exact backend never claims ``infeasible`` when greedy found a valid plan, and its
  ``optimal`` objective is never worse than greedy's.
- Greedy never breaks a hard rule it filters: its plan's violations are only ``required`` (it may
  leave items out) or ones the items already placed break by themselves.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.errors import BackendUnavailable
from engine.ir import Problem, minimised_terms
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import verify, verify_counts
from solvers import registry
from solvers.base import Options

from ..strategies import problems, pure_packing_problems

TIME_LIMIT = 2.0
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run (CI stays reproducible)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _available() -> list[str]:
    out = []
    for name in registry.names():
        try:
            if registry.backend_class(name).available():
                out.append(name)
        except BackendUnavailable:
            continue
    return out


BACKENDS = _available()


def _solve(problem: Problem, name: str) -> tuple[Solution, Solution]:
    """(the backend's own answer, the certified answer) for one problem."""
    backend = registry.get(name)
    assume(not backend.missing(problem))
    raw = backend.solve(problem, Options(time_limit=TIME_LIMIT, threads=1, seed=0))
    certified = solve(problem, backend, time_limit=TIME_LIMIT, threads=1, seed=0)
    return raw, certified


def _not_worse(problem: Problem, got: tuple[float, ...], other: tuple[float, ...]) -> bool:
    for level, g, o in zip(problem.objective, got, other, strict=True):
        if math.isclose(g, o, rel_tol=1e-6, abs_tol=1e-6):
            continue
        return g < o if minimised_terms(level) else g > o
    return True


def _check_backend(problem: Problem, name: str) -> None:
    raw, certified = _solve(problem, name)
    if raw.verified:
        assert verify(problem, raw).ok, f"{name} called an invalid plan valid"
    if certified.status.has_plan:
        report = verify(problem, certified)
        assert certified.verified and report.ok, report.violations
        assert certified.objective == pytest.approx(report.objective)
    if name == "greedy" or not registry.backend_class(name).exact:
        return
    greedy = solve(problem, "greedy", seed=0)
    if greedy.verified:
        assert certified.status != Status.INFEASIBLE, (
            f"{name} claimed infeasible; greedy found a plan"
        )
        if certified.status == Status.OPTIMAL:
            assert _not_worse(problem, certified.objective, greedy.objective), (
                f"{name} 'optimal' {certified.objective} is worse than greedy {greedy.objective}"
            )


@pytest.mark.parametrize("name", BACKENDS)
@SETTINGS
@given(problem=problems(max_bins=3, max_groups=3, max_count=3))
def test_every_plan_is_judged_by_the_verifier(name: str, problem: Problem) -> None:
    _check_backend(problem, name)


@pytest.mark.parametrize("name", BACKENDS)
@SETTINGS
@given(problem=pure_packing_problems(max_bins=3, max_groups=3, max_count=4))
def test_pure_packing(name: str, problem: Problem) -> None:
    _check_backend(problem, name)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    problem=problems(max_bins=5, max_groups=4, max_count=4),
    seed=st.integers(0, 3),
)
def test_greedy_never_breaks_a_hard_rule_it_filters(problem: Problem, seed: int) -> None:
    plan = registry.get("greedy").solve(problem, Options(seed=seed))
    pinned = {(g.name, b): n for g in problem.items for b, n in g.placed.items()}
    already = {v.check for v in verify_counts(problem, pinned).violations}
    report = verify(problem, plan)
    broken = [v for v in report.violations if v.check not in already | {"required"}]
    assert not broken, broken
    if plan.status == Status.FEASIBLE and not already:
        assert report.ok  # nothing pinned is wrong and nothing required is missing
