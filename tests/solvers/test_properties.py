"""Property tests: random small problems through every available backend, judged by the verifier.

- The backend's RAW answer (before ``certify`` could turn a bad plan into ``unknown``) is judged:
  an exact backend's plan is valid, an ``optimal`` claim carries the verifier's objective and its
  bounds are not beaten by its own plan; a heuristic's plan breaks no rule beyond what the items
  already placed break by themselves (and ``required`` ones it could not place, when it says so).
- Every plan that comes out of certification with a plan status passes the verifier.
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

from bench.strategies import problems, pure_packing_problems
from engine.errors import BackendUnavailable
from engine.ir import Problem, minimised_terms
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import certify, verify, verify_counts
from solvers import registry
from solvers.base import Options
from tests.profiles import examples

from .backends import backend_params

TIME_LIMIT = 2.0
SETTINGS = settings(
    max_examples=examples(25),
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
    return raw, certify(problem, raw)


def _check_raw(problem: Problem, name: str, raw: Solution) -> None:
    """The backend's own plan, judged before certification."""
    if not raw.status.has_plan:
        return
    report = verify(problem, raw)
    if registry.backend_class(name).exact:
        assert report.ok, f"{name} returned an invalid plan: {report.violations[:3]}"
    else:
        pinned = {(g.name, b): n for g in problem.items for b, n in g.placed.items()}
        already = {v.check for v in verify_counts(problem, pinned).violations}
        broken = [v for v in report.violations if v.check not in already]
        assert not broken, f"{name} broke a rule it encodes: {broken[:3]}"
    if raw.status == Status.OPTIMAL:
        assert raw.objective == pytest.approx(report.objective, rel=1e-6, abs=1e-6), name
    for n, (level, bound) in enumerate(zip(problem.objective, raw.bound or (), strict=False)):
        if bound is None or not report.ok:
            continue
        value = report.objective[n]
        if minimised_terms(level):
            assert bound <= value + 1e-6 * max(1.0, abs(value)), f"{name} level {n + 1} bound"
        else:
            assert bound >= value - 1e-6 * max(1.0, abs(value)), f"{name} level {n + 1} bound"
        if not math.isclose(bound, value, rel_tol=1e-6, abs_tol=1e-6):
            break  # later bounds hold given this level's value only


def _not_worse(problem: Problem, got: tuple[float, ...], other: tuple[float, ...]) -> bool:
    for level, g, o in zip(problem.objective, got, other, strict=True):
        if math.isclose(g, o, rel_tol=1e-6, abs_tol=1e-6):
            continue
        return g < o if minimised_terms(level) else g > o
    return True


def _check_backend(problem: Problem, name: str) -> None:
    raw, certified = _solve(problem, name)
    assert not raw.verified, "only certification may call a plan verified"
    _check_raw(problem, name, raw)
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


@pytest.mark.parametrize("name", backend_params(BACKENDS))
@SETTINGS
@given(problem=problems(max_bins=3, max_groups=3, max_count=3))
def test_every_plan_is_judged_by_the_verifier(name: str, problem: Problem) -> None:
    _check_backend(problem, name)


@pytest.mark.parametrize("name", backend_params(BACKENDS))
@SETTINGS
@given(problem=pure_packing_problems(max_bins=3, max_groups=3, max_count=4))
def test_pure_packing(name: str, problem: Problem) -> None:
    _check_backend(problem, name)


@settings(max_examples=examples(100), deadline=None, derandomize=True)
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
