"""The one entry point: problem in, verified plan out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from solvers import registry
from solvers.base import Backend, Options
from solvers.deadline import paced, slowdown

from . import interrupt, limits
from .errors import UnsupportedProblem
from .ir import Problem
from .sizing.report import with_sizing
from .solution import Progress, Solution, Status
from .verify import certify, seconds_to_certify

CERTIFY_SHARE = 0.3  # at most this share of a time limit is kept back for certifying the plan


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
    """Solve with a backend and certify the answer with the independent verifier.

    ``time_limit`` is the budget left for this call, certifying included (callers with an earlier
    start pass what remains of theirs). A stop request (``engine.interrupt``: Ctrl-C in the CLI) makes the
    backend return its best plan so far; ``info['interrupted']`` then says so.
    """
    with paced():  # the pace since the command began (the CLI), else since this call
        began = time.perf_counter()  # the limit counts from here: loading the backend is in it
        limits.check_time_limit(time_limit, "time_limit")
        limits.check_seed(seed, "seed")
        limits.check_threads(threads, "threads")
        be = registry.get(backend) if isinstance(backend, str) else backend
        if gaps := be.missing(problem):
            raise UnsupportedProblem(be.name, gaps)
        if be.exact:
            size = limits.ModelSize.of(problem)
            limits.require_size(
                size.pairs,
                limits.MAX_PAIRS,
                "(item group, bin) variables",
                "group identical items, restrict `allowed`, or use the greedy backend",
            )
        budget: dict[str, float] = {}
        if time_limit is not None:  # the answer is certified within the same budget, at the pace
            pace = slowdown()
            kept = min(CERTIFY_SHARE * time_limit, seconds_to_certify(problem) * pace)
            time_limit = max(0.0, time_limit - kept - (time.perf_counter() - began))
            # the plan says what its search had: under a tight limit or starved, little
            budget = {"search_s": round(time_limit, 3), "kept_s": round(kept, 3)}
            budget["pace"] = round(pace, 2)
        options = Options(
            time_limit=time_limit,
            seed=seed,
            threads=threads,
            hint=hint,
            on_progress=on_progress,
            params=params,
        )
        solution = be.solve(problem, options)
        if budget:
            solution = solution.model_copy(update={"info": {**solution.info, "budget": budget}})
        if interrupt.requested():
            solution = solution.model_copy(update={"info": {**solution.info, "interrupted": True}})
        return with_sizing(problem, certify(problem, solution))


def unsearched(problem: Problem, backend: str, reason: str) -> Solution | None:
    """The plan that keeps the running items where they are and places nothing more, certified,
    for a command whose limit was spent before any search could begin (None where it breaks a
    rule: a required item, a running one that must move). A backend given no time still runs
    its fixed work (its imports, the lowering, a start plan: about 0.9 s of CPU on 3,000 nodes,
    seconds when starved) for the same nothing."""
    counts = {(g.name, b): n for g in problem.items for b, n in g.placed.items()}
    info = {"note": reason, "budget": {"search_s": 0.0, "pace": round(slowdown(), 2)}}
    plan = Solution.from_counts(problem, backend, Status.FEASIBLE, counts, info=info)
    plan = certify(problem, plan)
    return with_sizing(problem, plan) if plan.verified else None
