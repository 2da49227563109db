"""cpsat and milp agree: same optimum on every level when both prove it, and an ``infeasible``
from one is confirmed by the other. Also, on problems small enough to enumerate, milp's optimum
equals a brute-force lexicographic optimum over every plan the verifier accepts."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings

from bench.strategies import problems
from engine.errors import BackendUnavailable
from engine.ir import Problem, minimised_terms
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import verify_counts
from solvers import registry
from tests.profiles import examples

LIMIT = 10.0
FAST = settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _cpsat_available() -> bool:
    try:
        return registry.backend_class("cpsat").available()
    except BackendUnavailable:
        return False


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
    )


def _agree(p: Problem, a: Solution, b: Solution) -> None:
    for s in (a, b):
        assert s.verified or not s.status.has_plan, (s.backend, s.info)
    if Status.INFEASIBLE in (a.status, b.status):
        other = b if a.status == Status.INFEASIBLE else a
        assert other.status in (Status.INFEASIBLE, Status.UNKNOWN), (
            f"{other.backend} found a plan for a problem the other proved infeasible"
        )
    if a.status == b.status == Status.OPTIMAL:
        assert _same(a.objective, b.objective), (a.objective, b.objective)


@pytest.mark.skipif(not _cpsat_available(), reason="the cpsat backend is not there yet")
@FAST
@given(problems(max_bins=3, max_groups=3, max_count=3))
def test_cpsat_and_milp_agree(p: Problem) -> None:
    a = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    b = solve(p, "milp", time_limit=LIMIT, threads=1)
    _agree(p, a, b)


@pytest.mark.skipif(not _cpsat_available(), reason="the cpsat backend is not there yet")
@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_bins=3, max_groups=3, max_count=3))
def test_cpsat_and_milp_cbc_agree(p: Problem) -> None:
    a = solve(p, "cpsat", time_limit=LIMIT, threads=1)
    b = solve(p, "milp", time_limit=LIMIT, threads=1, solver="cbc")
    _agree(p, a, b)


def _brute_force(p: Problem) -> tuple[float, ...] | None:
    """The lexicographic optimum over every valid plan (None: no valid plan)."""
    names = [b.name for b in p.bins]
    choices = []
    for g in p.items:
        options = []
        for combo in itertools.product(range(g.count + 1), repeat=len(names)):
            if sum(combo) <= g.count:
                options.append({(g.name, b): n for b, n in zip(names, combo, strict=True) if n})
        choices.append(options)
    best: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    for pick in itertools.product(*choices):
        counts = {k: n for part in pick for k, n in part.items()}
        report = verify_counts(p, counts)
        if not report.ok:
            continue
        key = tuple(
            v if minimised_terms(level) else -v
            for v, level in zip(report.objective, p.objective, strict=True)
        )
        if best is None or _lex_less(key, best[0]):
            best = (key, report.objective)
    return None if best is None else best[1]


def _lex_less(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    for x, y in zip(a, b, strict=True):
        if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
            return x < y
    return False


@FAST
@given(problems(max_bins=2, max_groups=3, max_count=2))
def test_milp_matches_brute_force(p: Problem) -> None:
    expected = _brute_force(p)
    sol = solve(p, "milp", time_limit=LIMIT, threads=1)
    if expected is None:
        assert sol.status == Status.INFEASIBLE
    else:
        assert sol.status == Status.OPTIMAL, sol.info
        assert _same(sol.objective, expected), (sol.objective, expected)
