"""``smt``: z3 over the lowering (exact, for small problems).

compile → ``model.Encoding`` on a z3 ``Solver``: bounded integer counts per eligible pair, every
rule as a formula, each objective level (and each priority tier of a ``placed`` level) an exact
rational expression; run → the lowering's lexicographic driver, stage by stage: a model, then
"strictly better than the incumbent" until z3 answers unsat (the stage is proved) or the time
runs out, and the stage fixed at the value kept (``placed`` tiers first try every item of the
tier). unsat before any plan proves that no plan meets the hard rules. decode → the plan.

z3's own ``Optimize`` engine was tried first and measured: on a 28-pod, 7-node, two-resource
regression instance it did not prove even the first level in 60 s, while each of these
satisfiability checks takes milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import interrupt
from engine.ir import Problem
from engine.solution import Progress, Solution, Status

from ..base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from ..deadline import Deadline, OutOfTime, not_built
from ..lowering import Key
from ..lowering.levels import Stage
from ..lowering.lexicographic import Attempt, StageResult, level_bounds, solve_levels
from ..lowering.terms import level_values
from .model import ENCODERS, Encoding, as_float, rational

BUILD_SHARE = 0.8  # a model not built within this share of the time limit is abandoned


@dataclass(frozen=True)
class SmtIndex:
    encoding: Encoding | None  # None: not built in time (or a stop was asked for)
    started: float  # perf_counter() when compile began: the time limit starts there


class _Stages:
    """The driver's view of the z3 model: the incumbent model and its stage values."""

    def __init__(
        self,
        encoding: Encoding,
        solver: Any,
        deadline: Deadline,
        report: Callable[[Progress], None] | None = None,
        started: float = 0.0,
    ) -> None:
        self.e = encoding
        self.s = solver
        self.deadline = deadline
        self.model: Any = None
        # the incumbent's plan read out of z3 at once: after a Ctrl-C, z3 may answer nothing
        self.counts: dict[Key, int] = {}
        self.soft = 0.0
        self.report, self.started = report, started
        self._guard = threading.Lock()
        self._checking = False

    def interrupt_check(self) -> None:
        """Ctrl-C: end the check in progress. Only a running check: z3's cancel outside one
        stays on the context, and every later call (reading the incumbent) fails with it."""
        with self._guard:
            if self._checking:
                self.s.ctx.interrupt()

    def _found(self) -> None:
        """A better model: the incumbent, and the live line's (a plan shows while z3 works)."""
        model = self.s.model()
        counts = self.e.counts(model)
        soft = as_float(model.eval(self.e.soft_total(), model_completion=True))
        # all three or none: a cancel while reading leaves the last incumbent whole
        self.model, self.counts, self.soft = model, counts, soft
        if self.report is not None:
            values = level_values(self.e.lowered, self.counts, self.soft)
            self.report(Progress(time.perf_counter() - self.started, values, None))

    def expr(self, stage: Stage) -> tuple[Any, bool]:
        if stage.tier is not None:
            return self.e.tier_total(stage.tier.groups), stage.maximise
        return self.e.levels[stage.level]

    def _check(self, until: float) -> Any:
        left = min(until - time.perf_counter(), self.deadline.left())  # 0 after a stop request
        if left <= 0:
            import z3

            return z3.unknown
        self.s.set(timeout=max(1, int(left * 1000)))
        with self._guard:
            if interrupt.requested():
                return z3.unknown
            self._checking = True
        try:
            return self.s.check()
        finally:
            with self._guard:
                self._checking = False

    def reached(self, stage: Stage) -> StageResult | None:
        return None

    def attempt(self, stage: Stage, seconds: float) -> Attempt:
        import z3

        try:
            return self._attempt(stage, seconds)
        except z3.Z3Exception:
            if not interrupt.requested():
                raise
            # a Ctrl-C that reached z3 just as its check ended: the context is cancelled for
            # good; the incumbent read out at ``_found`` answers
            return Attempt("nothing")

    def _attempt(self, stage: Stage, seconds: float) -> Attempt:
        import z3

        until = time.perf_counter() + seconds
        if self.model is None:
            result = self._check(until)
            if result == z3.unsat:
                return Attempt("infeasible")
            if result != z3.sat:
                return Attempt("nothing")
            self._found()
        expr, maximise = self.expr(stage)
        proven = False
        if stage.tier is not None and maximise:  # every item of the tier, first
            self.s.push()
            self.s.add(expr >= stage.tier.count)
            if self._check(until) == z3.sat:
                self._found()
            self.s.pop()
        while True:
            value = self.model.eval(expr, model_completion=True)
            self.s.push()
            self.s.add(expr > value if maximise else expr < value)
            result = self._check(until)
            if result == z3.sat:
                self._found()
            self.s.pop()
            if result == z3.unsat:
                proven = True
            if result != z3.sat:
                break
        value = self.model.eval(expr, model_completion=True)
        self.s.add(expr == value)  # fixed before the next stage
        number = as_float(value)
        return Attempt("solved", StageResult(proven, number, number if proven else None))


class SmtBackend(Backend):
    name = "smt"
    supports = ALL_FEATURES - {"devices"}
    exact = True
    requires = ("z3",)
    install_hint = "pip install 'placer[smt]'"
    encoders = ENCODERS
    parameters: Mapping[str, str] = {}

    def compile(self, problem: Problem, options: Options) -> Compiled[Any, SmtIndex]:
        import z3

        started = time.perf_counter()  # the time limit covers building the formulas too
        solver = z3.Solver()
        # z3 installs its own SIGINT handler during a check, which ends that check but hides
        # the Ctrl-C from placer (the next stage would run on): placer's watcher interrupts it
        solver.set(ctrl_c=False)
        try:
            by = Deadline.within(started, options.time_limit, BUILD_SHARE)
            encoding: Encoding | None = Encoding(problem, solver, by)
        except OutOfTime:
            encoding = None
        return Compiled(problem=problem, model=solver, index=SmtIndex(encoding, started))

    def run(self, compiled: Compiled[Any, SmtIndex], options: Options) -> RawResult:
        solver, encoding = compiled.model, compiled.index.encoding
        if encoding is None:
            reason = not_built("z3", BUILD_SHARE, options.time_limit)
            return RawResult(Status.UNKNOWN, {}, info={"reason": reason})
        checking = time.perf_counter()
        deadline = Deadline.within(compiled.index.started, options.time_limit)
        started = compiled.index.started
        stages = _Stages(encoding, solver, deadline, options.on_progress, started)
        all_stages = [s for level in encoding.lowered.levels for s in level.stages]
        with interrupt.on_stop(stages.interrupt_check):  # Ctrl-C stops the check in progress
            outcome = solve_levels(all_stages, stages, deadline.at, has_incumbent=False)
        info: dict[str, Any] = {"check_s": round(time.perf_counter() - checking, 6)}
        if interrupt.requested():
            info["stopped"] = "interrupted"
        if outcome.infeasible:
            return RawResult(Status.INFEASIBLE, {}, info=info)
        if stages.model is None:
            info["reason"] = "z3 found no plan in the time given"
            return RawResult(Status.UNKNOWN, {}, info=info)
        counts, soft = stages.counts, stages.soft
        objective = level_values(encoding.lowered, counts, soft)
        tiers = [
            [
                sum(counts.get((g, b), 0) for (g, b) in counts if g in set(s.tier.groups))
                for s in level.stages
                if s.tier is not None
            ]
            for level in encoding.lowered.levels
        ]
        bound = level_bounds(encoding.lowered.levels, outcome.results, objective, tiers)
        status = Status.OPTIMAL if outcome.proven else Status.FEASIBLE
        values: dict[Any, float] = {k: float(n) for k, n in counts.items()}
        return RawResult(status, values, objective=objective, bound=bound, info=info)

    def decode(self, compiled: Compiled[Any, Any], raw: RawResult) -> Solution:
        counts = {k: round(v) for k, v in raw.values.items() if isinstance(k, tuple)}
        return self.plan(compiled.problem, raw, counts)


__all__ = ["SmtBackend", "rational"]
