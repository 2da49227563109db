"""Composites: backends that wrap another backend and add one concern (dimod's composites).

``QuickStart(child)`` starts an exact backend from the best quick plan: the caller's hint; else
progressive filling when the first level maximises fairness (a one-pod-at-a-time scheduler may
starve whole tenants) or else the greedy backend; and first-fit decreasing last, as a fallback.
They reach the child as ``Options.starts``, best first; its time limit is what is left after them.
When the child ends without a plan of its own (the time ran out while it built its model or before
its first solution), the best trusted start plan is the answer, marked as such in ``info``: the
caller asked for a plan within the limit, and the start is one (the verifier still checks it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from engine.errors import PlacerError
from engine.ir import Problem
from engine.solution import Solution, Status

from .base import Backend, Compiled, Options, RawResult, StartPlan
from .deadline import import_seconds

STARTS = ("greedy", "ffd", "none")
GREEDY_SECONDS = 5.0
# The child's native library is still loaded when that would end at most this much past its
# limit (the promise's fixed slack): the estimate (idle cost times the pace since the process
# began, its start-up included) said 1.7-1.9 s where the whole solve took 2.4 s beside it
LOADING_OVER_S = 0.5


@dataclass
class Started:
    """The child's compiled model, and the options it runs with (its starts, its time left)."""

    child: Compiled[Any, Any] | None  # None: not compiled (``skipped`` says why)
    options: Options
    seconds: float  # spent finding the start plans
    skipped: str | None = None


class Composite(Backend):
    """A backend around a child backend: the child's name, features and parameters."""

    own_parameters: Mapping[str, str] = {}
    own_parameter_types: Mapping[str, type] = {}

    def __init__(self, child: Backend) -> None:
        self.child = child
        self.name = child.name
        self.supports = child.supports
        self.exact = child.exact
        self.requires = child.requires
        self.native, self.native_import_s = child.native, child.native_import_s
        self.install_hint = child.install_hint
        self.exports = child.exports
        self.encoders = child.encoders
        self.parameters = {**child.parameters, **self.own_parameters}
        self.parameter_types = {**child.parameter_types, **self.own_parameter_types}

    def child_options(self, options: Options) -> Options:
        params = {k: v for k, v in options.params.items() if k not in self.own_parameters}
        return replace(options, params=params)

    def export(self, problem: Problem, fmt: str) -> bytes:
        return self.child.export(problem, fmt)


class QuickStart(Composite):
    own_parameters: Mapping[str, str] = {
        "start": "greedy (default) | ffd | none: where the starting plan comes from",
    }
    own_parameter_types: Mapping[str, type] = {"start": str}

    def compile(
        self, problem: Problem, options: Options
    ) -> Compiled[Compiled[Any, Any] | None, Started]:
        began = time.perf_counter()
        # A composite around this one may have found the start plans already.
        starts = options.starts or quick_plans(problem, options)
        seconds = time.perf_counter() - began
        limit = options.time_limit
        child_options = replace(
            self.child_options(options),
            starts=starts,
            time_limit=None if limit is None else max(0.0, limit - seconds),
        )
        left, loading = child_options.time_limit, import_seconds(self.native, self.native_import_s)
        if left is not None and left + LOADING_OVER_S < loading and any(s.trusted for s in starts):
            # the child's native library would not load within the time left: the start answers
            why = f"{self.name}'s library not loaded: about {loading:.2g} s now, {left:.2g} s left"
            return Compiled(problem, None, Started(None, child_options, round(seconds, 6), why))
        child = self.child.compile(problem, child_options)
        return Compiled(problem, child, Started(child, child_options, round(seconds, 6)))

    def run(
        self, compiled: Compiled[Compiled[Any, Any] | None, Started], options: Options
    ) -> RawResult:
        started = compiled.index
        if started.child is None:
            raw = RawResult(Status.UNKNOWN, {}, info={"skipped": started.skipped})
        else:
            raw = self.child.run(started.child, started.options)
        sources = [s.source for s in started.options.starts]
        raw.info.setdefault("starts", {"sources": sources, "seconds": started.seconds})
        return raw

    def decode(
        self, compiled: Compiled[Compiled[Any, Any] | None, Started], raw: RawResult
    ) -> Solution:
        child = compiled.index.child
        if child is None:
            solution = Solution.failure(compiled.problem, self.name, raw.status, **raw.info)
        else:
            solution = self.child.decode(child, raw)
        if solution.status.has_plan or solution.status == Status.INFEASIBLE:
            return solution
        start = next((s for s in compiled.index.options.starts if s.trusted), None)
        if start is None:
            return solution
        limit = compiled.index.options.time_limit
        within = "" if limit is None else f" within its {limit + compiled.index.seconds:.3g} s"
        info = {
            **solution.info,
            "returned_start": start.source,
            "note": f"{self.name} found no plan of its own{within}; this is its {start.source} "
            "start plan, unimproved",
        }
        return Solution.from_counts(
            compiled.problem,
            solution.backend,
            Status.FEASIBLE,
            start.counts,
            devices=start.devices,
            bound=solution.bound,
            seconds=solution.seconds,
            info=info,
        )


def quick_plans(
    problem: Problem, options: Options, greedy_seconds: float = GREEDY_SECONDS
) -> tuple[StartPlan, ...]:
    """Start plans, best first (see the module docstring); the greedy plan gets at most
    ``greedy_seconds`` (cut short, it leaves the groups it did not reach unplaced)."""
    from .lowering import lower
    from .lowering.starts import fair_fill, fair_fill_applies, first_fit_decreasing

    choice = str(options.params.get("start", "greedy"))
    if choice not in STARTS:
        raise PlacerError(f"start must be one of {', '.join(STARTS)}, not {choice!r}")
    if options.hint is not None and options.hint.status.has_plan:
        hint = options.hint
        plans = [StartPlan(hint.counts(), "options.hint", hint.device_rows() or None)]
    elif choice == "none":
        return ()
    elif choice == "ffd":
        plans = []
    elif any("fairness" in level for level in problem.objective[:1]) and fair_fill_applies(problem):
        plans = [StartPlan(fair_fill(lower(problem)), "fair_fill")]
    else:
        plans = [p for p in [_greedy(problem, options, greedy_seconds)] if p is not None]
    plans.append(StartPlan(first_fit_decreasing(lower(problem)), "ffd"))
    return tuple(plans)


def _greedy(problem: Problem, options: Options, seconds: float) -> StartPlan | None:
    from .greedy.backend import GreedyBackend

    limit = seconds if options.time_limit is None else min(seconds, options.time_limit)
    plan = GreedyBackend().solve(problem, Options(seed=options.seed, time_limit=limit, threads=1))
    if not plan.status.has_plan:
        return None
    return StartPlan(plan.counts(), "greedy", plan.device_rows() or None)
