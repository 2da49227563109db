"""The one entry point: problem in, verified plan out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solvers import registry
from solvers.base import Backend, Options

from .errors import UnsupportedProblem
from .ir import Problem
from .solution import Progress, Solution
from .verify import certify


def solve(
    problem: Problem,
    backend: str | Backend = "cpsat",
    *,
    time_limit: float | None = None,
    seed: int = 0,
    threads: int | None = None,
    hint: Solution | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    **params: Any,
) -> Solution:
    """Solve with a backend and certify the answer with the independent verifier."""
    be = registry.get(backend) if isinstance(backend, str) else backend
    if gaps := be.missing(problem):
        raise UnsupportedProblem(be.name, gaps)
    options = Options(
        time_limit=time_limit,
        seed=seed,
        threads=threads,
        hint=hint,
        on_progress=on_progress,
        params=params,
    )
    solution = be.solve(problem, options)
    return certify(problem, solution)
