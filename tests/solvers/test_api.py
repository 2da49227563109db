"""Every registered backend honours the backend interface and the standard cases."""

from __future__ import annotations

import math

import pytest

from engine.errors import BackendUnavailable
from engine.ir import minimised_terms
from engine.solve import solve
from engine.verify import verify, verify_counts
from solvers import registry
from solvers.base import Backend
from solvers.testing import STANDARD_CASES, StandardCase, assert_backend_api

from .backends import backend_params


def backend_or_skip(name: str) -> type[Backend]:
    """The backend class, or a skip naming why it cannot be loaded here."""
    try:
        cls = registry.backend_class(name)
    except BackendUnavailable as exc:
        pytest.skip(f"{name}: module not there yet ({exc})")
    if not cls.available():
        pytest.skip(f"{name}: not available ({cls.install_hint})")
    return cls


@pytest.mark.parametrize("name", backend_params(registry.names()))
def test_backend_api(name: str) -> None:
    backend_or_skip(name)
    assert_backend_api(name, time_limit=2.0)


@pytest.mark.parametrize("case", STANDARD_CASES, ids=[c.name for c in STANDARD_CASES])
def test_standard_case_witness_is_valid_and_optimal(case: StandardCase) -> None:
    report = verify_counts(case.problem, case.witness, case.witness_devices)
    if case.feasible:
        assert report.ok, report.violations
        assert report.objective == pytest.approx(case.optimum)


def no_better(
    problem_levels: list[dict[str, float]], got: tuple[float, ...], best: tuple[float, ...]
) -> bool:
    """Is ``got`` lexicographically no better than the optimum ``best``?"""
    for level, g, b in zip(problem_levels, got, best, strict=True):
        if math.isclose(g, b, rel_tol=1e-6, abs_tol=1e-6):
            continue
        return g > b if minimised_terms(level) else g < b
    return True


@pytest.mark.parametrize("name", backend_params(registry.names()))
@pytest.mark.parametrize("case", STANDARD_CASES, ids=[c.name for c in STANDARD_CASES])
def test_standard_cases(name: str, case: StandardCase) -> None:
    cls = backend_or_skip(name)
    backend = registry.get(name)  # as shipped: with its composites
    if backend.missing(case.problem):
        pytest.skip(f"{name} does not support {sorted(backend.missing(case.problem))}")
    solution = solve(case.problem, backend, time_limit=5.0, threads=1, seed=0)
    if solution.verified:
        assert verify(case.problem, solution).ok
    if not case.feasible:
        assert not solution.verified, "a plan for a problem with no valid plan"
        return
    assert case.optimum is not None
    if solution.verified:
        levels = [dict(level) for level in case.problem.objective]
        assert no_better(levels, solution.objective, case.optimum), (
            f"{name} beat the proved optimum {case.optimum} with {solution.objective}"
        )
    if cls.exact:
        assert solution.status == "optimal", f"{name}: {solution.status} {solution.info}"
        assert solution.objective == pytest.approx(case.optimum), case.why
