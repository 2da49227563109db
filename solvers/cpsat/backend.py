"""CP-SAT backend (OR-Tools): exact, covers the whole IR, lexicographic levels with honest bounds.

Three formulations (``formulation`` parameter, default ``auto``, tried in this order):

- ``arcflow`` — pure packing (capacity, counts, eligibility per bin class, objective over
  placed / bins_used / cost) with one resource: Valério de Carvalho's arc-flow graph per class
  of identical bins, whose LP bound equals the pattern (cutting-stock) bound.
- ``pool`` — node pools (classes of identical bins) with ``placed`` and ``bins_used`` levels:
  configurations by column generation, see ``pool``. When the start plan leaves items
  unplaced, the pool master first maximises placed per priority tier (unplaced slacks).
- ``per_bin`` — everything else: one integer count per (group, eligible bin), see ``per_bin``.

The models are built on the lowering (``solvers.lowering``): eligible pairs and their bounds,
divisors, symmetry classes, levels and their stages. The time limit runs from the start of
``compile`` and covers every level; the stages run through the shared lexicographic driver.

The start plan is the first of ``Options.starts`` (``QuickStart`` puts the greedy plan there),
permuted into the lowering's canonical order and completed by CP-SAT with its counts fixed. It is
the incumbent: a stage CP-SAT does not improve keeps the start's value, a stage the start already
solves at its best possible value is not solved at all, and when CP-SAT finds nothing in time a
trusted start plan itself is returned. So cpsat is never worse than its start on any level.
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import interrupt
from engine.errors import PlacerError
from engine.ir import AntiAffinity, Gang, Problem, Quota
from engine.solution import DeviceRows, Progress, Solution, Status

from ..base import Backend, Compiled, Options, RawResult, StartPlan
from ..deadline import Deadline, OutOfTime, cpsat_solve, slowdown
from ..lowering import Key, Lowered, Stage, lower
from ..lowering.lexicographic import (
    Attempt,
    StageResult,
    level_bounds,
    solve_levels,
)
from ..lowering.terms import level_values
from .common import Linear, ScaledObjective, scale_level
from .lp_guide import LP_SECONDS, CoreLp, guide_applies
from .per_bin import ENCODERS

HINT_SHARE = 0.5  # at most this share of the time limit completes the starting plan
LP_SHARE = 0.3  # of the time left, for the LP guide's relaxation of a stage
FORMULATIONS = ("auto", "per_bin", "arcflow", "pool", "fill")
FILL_SECONDS = 60.0  # the filling formulation's budget without a time limit
RELAXATION_SHARE = 0.25  # of the time left: column generation for a relaxation's bound
RELAXATION_SECONDS = 30.0  # the same without a time limit
DECODE_SECONDS_PER_BIN = 1.5e-4  # time kept back from the limit for decoding and verifying
BUILD_SHARE = 0.8  # a model not built within this share of the time limit is abandoned
PROGRESS_EVERY_S = 0.2  # on models above PROGRESS_PAIRS counts, progress at most this often
PROGRESS_PAIRS = 20_000


@dataclass
class CpSatIndex:
    """What run and decode need besides the CpModel."""

    lowered: Lowered
    formulation: str
    model: Any  # PerBinModel | ArcFlowModel | VectorPackingModel | PoolModel
    objectives: list[ScaledObjective]  # one per stage of the lowering, in order
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0  # perf_counter() when compile began: the time limit starts there
    start: StartPlan | None = None
    relaxed: Any = None  # PoolModel of a relaxation, for a bins_used bound (per_bin only)
    chosen: bool = False  # the formulation was chosen by ``auto`` (not asked for by name)

    @property
    def stages(self) -> list[Stage]:
        return [s for level in self.lowered.levels for s in level.stages]


class _Progress:
    """CpSolverSolutionCallback adapter feeding ``Options.on_progress`` with the plan's exact
    level values (from its counts: the stage's scaled objective rounds ratios to 1e-4 and counts
    a tier, not the level), at most every ``PROGRESS_EVERY_S`` on large models. Bounds are given
    when every level is one stage (the fixed stages' bounds, then the search's)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - trivial factory
        from ortools.sat.python import cp_model

        class Callback(cp_model.CpSolverSolutionCallback):
            def __init__(self, report: Any, stages: _Stages, objective: ScaledObjective) -> None:
                super().__init__()
                self.report, self.stages, self.objective = report, stages, objective
                self.fixed_bounds = tuple(stages.fixed_bounds)
                self.last = -math.inf

            def on_solution_callback(self) -> None:
                now = time.perf_counter()
                stages = self.stages
                if (
                    now - self.last < PROGRESS_EVERY_S
                    and len(getattr(stages.model, "x", ())) > PROGRESS_PAIRS
                ):
                    return
                self.last = now
                counts = stages.model.counts(self.value)
                soft = _soft_value(stages.model, self.value)
                values = level_values(stages.lowered, counts, soft)
                bound = None
                if len(stages.stages) == len(values):
                    current = self.objective.level_value(self.best_objective_bound)
                    bound = (*self.fixed_bounds, current)
                self.report(
                    Progress(seconds=now - stages.index.started, objective=values, bound=bound)
                )

        return Callback(*args, **kwargs)


class CpSatBackend(Backend):
    name = "cpsat"
    exact = True
    requires = ("ortools",)
    native = ("ortools.sat.python.cp_model",)  # it loads pandas: 0.3 s of CPU
    native_import_s = 0.3
    parameters: Mapping[str, str] = {
        "formulation": "auto (default) | per_bin | arcflow | pool | fill: the model to build",
        "log": "true: print CP-SAT's search log to stderr",
        "linearization_level": "CP-SAT linearization_level (0-2; default 1, 2 for arcflow)",
    }
    parameter_types: Mapping[str, type] = {
        "formulation": str,
        "log": bool,
        "linearization_level": int,
    }
    encoders = ENCODERS  # the per-bin model's; arcflow and pool apply only where it is not needed

    # ------------------------------------------------------------------ compile

    def compile(self, problem: Problem, options: Options) -> Compiled[Any, CpSatIndex]:
        from .arcflow import ArcFlowModel, arcflow_applies
        from .pool import PoolModel, pool_applies

        started = time.perf_counter()  # the time limit covers compile and every level
        wanted = str(options.params.get("formulation", "auto"))
        if wanted not in FORMULATIONS:
            raise PlacerError(
                f"formulation must be one of {', '.join(FORMULATIONS)}, not {wanted!r}"
            )
        lowered = lower(problem)
        start = options.starts[0] if options.starts else None
        trusted = start.counts if start is not None and start.trusted else None
        notes: dict[str, Any] = {}
        fill = self._fill(lowered, wanted, notes)
        if fill is not None:
            index = CpSatIndex(lowered, "fill", fill, [], notes, started, start)
            return Compiled(problem, None, index)
        reason = arcflow_applies(lowered, options.time_limit)
        pool_reason = pool_applies(lowered, trusted)
        if wanted == "arcflow" and reason is not None:
            raise PlacerError(f"the arcflow formulation does not apply: {reason}")
        if wanted == "pool" and pool_reason is not None:
            raise PlacerError(f"the pool formulation does not apply: {pool_reason}")
        if wanted == "pool" or (wanted == "auto" and reason is not None and pool_reason is None):
            formulation = "pool"
        elif wanted in ("auto", "arcflow") and reason is None:
            formulation = "arcflow"
        else:
            formulation = "per_bin"
        notes["formulation"] = formulation
        if formulation == "pool":
            assert trusted is not None
            pool = PoolModel(lowered, trusted)
            index = CpSatIndex(lowered, formulation, pool, [], notes, started, start)
            index.chosen = wanted == "auto"
            return Compiled(problem, None, index)
        if formulation == "arcflow":
            limit = options.time_limit
            deadline = Deadline(started + limit) if limit is not None else Deadline.never()
            model: Any = ArcFlowModel(
                lowered,
                deadline=deadline,
                seed=options.seed,
                on_progress=options.on_progress,
                started=started,
            )
            notes.update(getattr(model, "notes", {}))
        else:
            from .per_bin import PerBinModel

            try:
                model = PerBinModel(
                    lowered, Deadline.within(started, options.time_limit, BUILD_SHARE)
                )
            except OutOfTime:  # no model: QuickStart answers with the start plan
                notes["stopped"] = (
                    f"the per-bin model ({len(lowered.problem.items)} groups x "
                    f"{len(lowered.problem.bins)} bins) could not be built within "
                    f"{BUILD_SHARE:.0%} of the time limit"
                )
                index = CpSatIndex(lowered, "unbuilt", None, [], notes, started, start)
                return Compiled(problem, None, index)
            if reason is not None:
                notes["arcflow_skipped"] = reason
            if pool_reason is not None:
                notes["pool_skipped"] = pool_reason
        objectives = [
            _stage_objective(lowered, model, s) for level in lowered.levels for s in level.stages
        ]
        index = CpSatIndex(lowered, formulation, model, objectives, notes, started, start)
        if formulation == "per_bin" and trusted is not None:
            index.relaxed = _relaxed_pool(problem, trusted)
        return Compiled(problem, model.model, index)

    @staticmethod
    def _fill(lowered: Lowered, wanted: str, notes: dict[str, Any]) -> Any:
        """The filling model when it applies and is wanted (``fill``, or ``auto`` on device
        problems with many alike nodes), else None with the reason in ``notes``."""
        from .fill import FillModel, fill_applies, fill_worthwhile

        if wanted not in ("auto", "fill"):
            return None
        reason = fill_applies(lowered)
        if wanted == "fill" and reason is not None:
            raise PlacerError(f"the fill formulation does not apply: {reason}")
        if wanted == "auto" and reason is None:
            reason = fill_worthwhile(lowered)
        if reason is not None:
            notes["fill_skipped"] = reason
            return None
        notes["formulation"] = "fill"
        return FillModel(lowered)

    # ------------------------------------------------------------------ run

    def run(self, compiled: Compiled[Any, CpSatIndex], options: Options) -> RawResult:
        index = compiled.index
        limit = options.time_limit
        # Decoding and verifying the plan take time too: stop a little early on big clusters.
        deadline = math.inf
        if limit is not None:
            bins = len(compiled.problem.bins)
            deadline = (
                index.started + limit - min(0.1 * limit, DECODE_SECONDS_PER_BIN * bins * slowdown())
            )
        if index.model is None:
            return RawResult(status=Status.UNKNOWN, values={}, info=dict(index.notes))
        if index.formulation == "pool":
            pooled = _run_pool(index, options, deadline)
            if pooled.status == Status.OPTIMAL or not index.chosen:
                return pooled
            return _per_bin_after_pool(index, options, deadline, pooled)
        if index.formulation == "fill":  # it keeps its own decoding time back (pods, not bins)
            ends = index.started + (FILL_SECONDS if limit is None else limit)
            return _run_fill(index, Deadline(ends))
        return _Stages(index, options, deadline).run()

    # ------------------------------------------------------------------ decode

    def decode(self, compiled: Compiled[Any, CpSatIndex], raw: RawResult) -> Solution:
        return self.plan(compiled.problem, raw, compiled.index.lowered.plan(raw.values))


def _stage_objective(lowered: Lowered, model: Any, stage: Stage) -> ScaledObjective:
    if stage.tier is not None:
        return scale_level(model.tier(stage.tier.groups), -1 if stage.maximise else 1)
    level = lowered.levels[stage.level]
    expr = Linear()
    for term in level.terms:
        expr.extend(model.term(term), level.factor(term))
    return scale_level(expr, level.sign)


# ---------------------------------------------------------------------- the stages


class _Stages:
    """The CP-SAT side of the lexicographic driver: one CpModel, the incumbent assignment in it.

    The start plan (completed by CP-SAT with its counts fixed) is the first incumbent; each
    stage is hinted with the incumbent, and fixed at the better of CP-SAT's value and the
    incumbent's before the next.
    """

    def __init__(self, index: CpSatIndex, options: Options, deadline: float) -> None:
        self.index, self.options, self.deadline = index, options, deadline
        self.lowered = index.lowered
        self.model = index.model
        self.cp = self.model.model
        self.info: dict[str, Any] = dict(index.notes)
        self.start_rejected = False
        self.relaxed_bound: float | None = None
        self.incumbent: list[int] | None = None
        self.stages = index.stages
        self.position = {id(s): k for k, s in enumerate(self.stages)}
        self.fixed: list[float] = []
        self.fixed_bounds: list[float | None] = []
        self.held: list[tuple[ScaledObjective, int]] = []  # stages fixed: objective <= value
        self.guide = _guide(index)
        self.lp_bounds: dict[int, int | None] = {}  # the guide's bound per stage solved so far

    def _solver(self, seconds: float) -> Any:
        from ortools.sat.python import cp_model

        options = self.options
        solver = cp_model.CpSolver()
        prm = solver.parameters
        if math.isfinite(seconds):
            prm.max_time_in_seconds = max(0.01, seconds)
        prm.random_seed = options.seed
        prm.num_workers = options.threads or min(8, os.cpu_count() or 1)
        prm.log_search_progress = bool(options.params.get("log", False))
        level = options.params.get("linearization_level")
        if level is None and self.index.formulation == "arcflow":
            level = 2
        if level is not None:
            prm.linearization_level = int(level)
        if self.index.formulation == "arcflow":
            prm.cp_model_probing_level = 0  # probing thousands of flow arcs costs seconds
        return solver

    def _left(self) -> float:
        return self.deadline - time.perf_counter()

    def _hint(self, values: list[int]) -> None:
        self.cp.clear_hints()
        hint = self.cp.proto.solution_hint
        hint.vars.extend(range(len(values)))
        hint.values.extend(values)

    def _complete(
        self, counts: Mapping[Key, int], devices: DeviceRows | None = None, *, start: bool = True
    ) -> list[int] | None:
        """A full assignment for the start plan (or, ``start`` False, another candidate): CP-SAT
        with every count (and the devices the plan names) fixed to the plan."""
        from ortools.sat.python import cp_model

        cp = self.cp
        cp.clear_hints()
        pairs = (
            self.model.hint_values(counts, devices)
            if devices is not None
            else self.model.hint_values(counts)
        )
        if not pairs:
            return None
        for var, value in pairs:
            cp.add_hint(var, value)
        if self.index.objectives:
            cp.minimize(self.index.objectives[0].expression())
        limit = self.options.time_limit
        budget = min(self._left(), max(1.0, (limit or 10.0) * HINT_SHARE))
        if budget <= 0.01:
            return None
        solver = self._solver(budget)
        solver.parameters.fix_variables_to_their_hinted_value = True
        status = cpsat_solve(solver, cp)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return list(solver.response_proto.solution)
        if start:
            self.start_rejected = status == cp_model.INFEASIBLE  # the start breaks a hard rule
        return None

    def _trivial_bound(self, objective: ScaledObjective) -> int:
        """The objective's value with every variable at its best domain end (e.g. all placed)."""
        variables = self.cp.proto.variables
        total = objective.offset
        for var, coef in zip(objective.variables, objective.coefficients, strict=True):
            domain = variables[var.index].domain
            total += coef * (domain[0] if coef > 0 else domain[len(domain) - 1])
        return total

    def _relaxed_bound(self, stage: Stage) -> float | None:
        """A bound for bins_used levels: from the relaxed pool model, or from the vector packing
        bound (plain packing: identical bins, every item required)."""
        problem = self.lowered.problem
        level = problem.objective[stage.level]
        if set(level) != {"bins_used"} or not problem.bins:
            return None
        found: list[float] = []
        if self.relaxed_bound is not None:
            found.append(level["bins_used"] * self.relaxed_bound)
        packing_bound = getattr(self.model, "packing_bound", None)
        if isinstance(packing_bound, int):
            found.append(level["bins_used"] * packing_bound * min(b.cost for b in problem.bins))
        return max(found) if found else None

    def _packing_bounds(
        self, bounds: tuple[float | None, ...], values: Sequence[float]
    ) -> tuple[float | None, ...]:
        """``bounds`` with a missing one filled in from the packing or relaxation bound (a
        stage cut short before it began reports none): for a one-stage bins_used level whose
        earlier levels are all proved at the plan's values."""
        out = list(bounds)
        for n, level in enumerate(self.lowered.levels):
            if any(out[m] is None or out[m] != values[m] for m in range(n)):
                break
            if out[n] is None and len(level.stages) == 1:
                extra = self._relaxed_bound(level.stages[0])
                if extra is not None:
                    out[n] = extra
        return tuple(out)

    def _bound_by_relaxation(self) -> None:
        """Column generation on the pool model of a relaxation (constraints the pool model
        cannot express dropped): its bound on bins_used holds for the real problem too, given
        that every item is placed, which the start plan shows is the best placed value."""
        relaxed = self.index.relaxed
        if relaxed is None:
            return
        left = self._left()
        share = RELAXATION_SHARE * left if math.isfinite(left) else RELAXATION_SECONDS
        generated = relaxed.generate(time.perf_counter() + share)
        scale = relaxed.cost_scale
        self.relaxed_bound = math.ceil(generated.bound * scale - 1e-6) / scale
        self.info["relaxation"] = {"bound": self.relaxed_bound, **generated.info()}

    def _objective(self, stage: Stage) -> ScaledObjective:
        return self.index.objectives[self.position[id(stage)]]

    def _hold(self, objective: ScaledObjective, value: int) -> None:
        """Fix the stage: its objective at most ``value`` from now on."""
        self.cp.add(objective.expression() <= value)
        self.held.append((objective, value))

    def _lp_bound(self, stage: Stage) -> int | None:
        """The LP guide's bound on the stage's integer objective (solved once per stage; its
        rounded plan becomes the incumbent when CP-SAT completes it and it is better)."""
        guide, position = self.guide, self.position[id(stage)]
        if guide is None:
            return None
        if position in self.lp_bounds:
            return self.lp_bounds[position]
        self.lp_bounds[position] = None
        objective = self._objective(stage)
        if not guide.guides(objective):
            return None
        left = self._left()
        seconds = min(LP_SECONDS, LP_SHARE * left) if math.isfinite(left) else LP_SECONDS
        answer = guide.solve(objective, self.held, seconds)
        self.lp_bounds[position] = answer.bound
        note: dict[str, Any] = {"seconds": round(answer.seconds, 3)}
        if answer.bound is not None:
            note["bound"] = objective.level_value(answer.bound)
            note["fractional"] = answer.fractional
        if answer.counts is not None:
            mine = _evaluate(objective, self.incumbent) if self.incumbent is not None else None
            candidate = self._complete(answer.counts, start=False)
            better = candidate is not None and (
                mine is None or _evaluate(objective, candidate) < mine
            )
            if better:
                self.incumbent = candidate
            note["rounded"] = "kept" if better else ("not better" if candidate else "rejected")
        self.info.setdefault("lp_guide", []).append(note)
        return answer.bound

    def _keep(self, value: float, bound: float | None, proven: bool) -> StageResult:
        self.fixed.append(value)
        self.fixed_bounds.append(bound)
        return StageResult(proven, value, value if proven else bound)

    # -- the driver's side

    def reached(self, stage: Stage) -> StageResult | None:
        if self.incumbent is None:
            return None
        objective = self._objective(stage)
        mine = _evaluate(objective, self.incumbent)
        if mine > self._trivial_bound(objective):
            lp = self._lp_bound(stage)
            assert self.incumbent is not None
            mine = _evaluate(objective, self.incumbent)  # the LP's plan may have replaced it
            if lp is None or mine > lp:
                return None
            bound: float | None = objective.level_value(lp)
        else:
            bound = None
        self._hold(objective, mine)  # the incumbent is already at the best possible
        return self._keep(objective.level_value(mine), bound, True)

    def attempt(self, stage: Stage, seconds: float) -> Attempt:
        from ortools.sat.python import cp_model

        cp, objective = self.cp, self._objective(stage)
        expr = objective.expression()
        lp = self._lp_bound(stage)
        mine = _evaluate(objective, self.incumbent) if self.incumbent is not None else None
        if mine is not None and lp is not None and mine <= lp:  # the LP's plan meets its bound
            self._hold(objective, mine)
            value = objective.level_value(mine)
            return Attempt("solved", self._keep(value, objective.level_value(lp), True))
        if self.incumbent is not None:
            self._hint(self.incumbent)
        else:
            cp.clear_hints()
        cp.minimize(expr)
        solver = self._solver(seconds)
        callback = None
        # A restricted model's bound is no bound: its progress would report a false one.
        restricted = getattr(self.model, "restricted", False)
        if self.options.on_progress is not None and not restricted:
            callback = _Progress(self.options.on_progress, self, objective)
        status = cpsat_solve(solver, cp, callback=callback)
        if status == cp_model.MODEL_INVALID:
            raise PlacerError(f"cpsat built an invalid model: {cp.validate()}")
        if status == cp_model.INFEASIBLE:
            return Attempt("infeasible")
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        if not found and mine is None:
            return Attempt("nothing")
        best = round(solver.objective_value) if found else None
        # Ties keep the incumbent: it is the start (or an earlier stage's plan) whose later
        # stages are known, while CP-SAT's tie may be arbitrarily bad on them.
        if best is not None and (mine is None or best < mine):
            self.incumbent = list(solver.response_proto.solution)
            value_int = best
        else:
            assert mine is not None
            value_int = mine
        self._hold(objective, value_int)
        proven = status == cp_model.OPTIMAL
        # Without a solution CP-SAT's response carries no meaningful bound (it reads 0): fall
        # back to the trivial one rather than report a bound the incumbent already beats.
        # When CP-SAT stops before its own presolve its bound can be weaker than the variable
        # domains already prove (e.g. the packing presolve's bound on bins used): take the best.
        trivial = float(self._trivial_bound(objective))
        if lp is not None:
            trivial = max(trivial, float(lp))
        raw_bound = max(solver.best_objective_bound, trivial) if found else trivial
        proven = proven or value_int <= trivial
        bound = objective.level_value(raw_bound) if math.isfinite(raw_bound) else None
        value = objective.level_value(value_int)
        extra = self._relaxed_bound(stage)
        if restricted:
            # A model of one packing's paths: its optimum bounds nothing beyond the trivial.
            bound = objective.level_value(trivial)
            proven = value <= bound + 1e-9
        if extra is not None and not proven:
            bound = extra if bound is None else max(bound, extra)
            proven = value <= bound + 1e-9
        return Attempt("solved", self._keep(value, bound, proven))

    # -- the whole run

    def run(self) -> RawResult:
        index, info = self.index, self.info
        start_counts: dict[Key, int] | None = None
        start_devices: DeviceRows | None = None
        if index.start is not None:
            start_counts, start_devices = self.lowered.canonical_plan(
                index.start.counts, index.start.devices
            )
            self.incumbent = self._complete(start_counts, start_devices)
            if self.incumbent is not None:
                info["first_plan_s"] = round(time.perf_counter() - index.started, 4)
            info["hint"] = {"source": index.start.source, "completed": self.incumbent is not None}
        self._bound_by_relaxation()
        outcome = solve_levels(
            self.stages, self, self.deadline, has_incumbent=self.incumbent is not None
        )
        info["cpsat"] = {
            "sublevels": len(self.stages),
            "solved": len(outcome.results),
            "proven": [r.proven for r in outcome.results],
        }
        trusted = index.start is not None and index.start.trusted
        fallback = trusted and not self.start_rejected and not outcome.infeasible
        # Plain packing: the packing solver's own plan (checked when it was made) stands in for
        # a start plan CP-SAT had no time to take in, when it is better.
        better_plan = getattr(self.model, "better_plan", None)
        own = None
        if self.incumbent is None and better_plan is not None and not outcome.infeasible:
            own = better_plan(start_counts if fallback else None)
        if self.incumbent is None and own is None and (start_counts is None or not fallback):
            status = Status.INFEASIBLE if outcome.infeasible else Status.UNKNOWN
            return RawResult(status=status, values={}, info=info)
        if self.incumbent is not None:
            value_of = _values_from(self.incumbent)
            counts = self.model.counts(value_of)
            devices = getattr(self.model, "device_rows", lambda *_: None)(value_of, counts)
            soft: float | None = _soft_value(self.model, value_of)
        elif own is not None:  # no soft terms in plain packing
            counts, devices, soft = own, None, 0.0
            info["fallback"] = "the packing solver's plan (CP-SAT found no plan in time)"
        else:  # CP-SAT found nothing (not even the completion): the start plan stands
            assert start_counts is not None
            counts = start_counts
            devices = start_devices
            terms = {t for level in self.lowered.problem.objective for t in level}
            soft = None if "soft" in terms else 0.0
            info["fallback"] = "start plan (CP-SAT found no plan in time)"
        values = level_values(self.lowered, counts, soft or 0.0)
        from_start = self.incumbent is None
        soft_level = any("soft" in level for level in self.lowered.problem.objective)
        if not from_start and fallback and start_counts is not None and not soft_level:
            # a start CP-SAT could not complete in time (a loaded machine) is no incumbent, and
            # what the stages found may then be worse than it: never answer below the start
            mine = level_values(self.lowered, start_counts)
            if _lex_better(self.lowered, mine, values):
                counts, devices, values, from_start = start_counts, start_devices, mine, True
                info["fallback"] = "start plan (better than what CP-SAT found in time)"
        bound = self._packing_bounds(
            level_bounds(
                self.lowered.levels, outcome.results, values, _tier_counts(self.lowered, counts)
            ),
            values,
        )
        optimal = outcome.proven and not from_start
        return RawResult(
            status=Status.OPTIMAL if optimal else Status.FEASIBLE,
            values=counts,
            objective=values if soft is not None else None,
            bound=bound,
            info=info,
            devices=devices,
        )


def _lex_better(lowered: Lowered, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Are level values ``a`` lexicographically better than ``b`` (beyond rounding)?"""
    for level, x, y in zip(lowered.levels, a, b, strict=True):
        if math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9):
            continue
        return x > y if level.maximised else x < y
    return False


def _guide(index: CpSatIndex) -> CoreLp | None:
    """The LP guide of a per-bin model where it applies (see ``lp_guide``)."""
    if index.formulation != "per_bin" or index.model is None:
        return None
    return CoreLp(index.model) if guide_applies(index.model) is None else None


def _tier_counts(lowered: Lowered, counts: Mapping[Key, int]) -> list[list[int]]:
    """Per level, the plan's items placed per tier of its stages (tier stages only)."""
    placed: dict[str, int] = defaultdict(int)
    for (g, _), n in counts.items():
        placed[g] += n
    return [
        [sum(placed[g] for g in s.tier.groups) if s.tier is not None else 0 for s in level.stages]
        for level in lowered.levels
    ]


def _relaxed_pool(problem: Problem, start: Mapping[Key, int]) -> Any:
    """The pool model of the problem without the constraints it cannot express (a relaxation),
    or None when even that does not apply."""
    from .pool import PoolModel, pool_applies

    kept = tuple(
        c
        for c in problem.constraints
        if isinstance(c, Gang | Quota)
        or (
            isinstance(c, AntiAffinity)
            and c.target is None
            and not c.soft
            and all(len(b) == 1 for b in problem.domains(c.topology).values())
        )
    )
    if len(kept) == len(problem.constraints):
        return None  # nothing dropped: pool_applies already refused this problem
    placed: dict[str, int] = defaultdict(int)
    for (g, _), n in start.items():
        placed[g] += n
    if any(placed[g.name] < g.count for g in problem.items):
        return None  # the relaxation's bound assumes every item placed, as the start shows
    relaxed = lower(problem.model_copy(update={"constraints": kept}))
    if pool_applies(relaxed, start) is not None:
        return None
    return PoolModel(relaxed, start)


def _evaluate(objective: ScaledObjective, solution: list[int]) -> int:
    """The integer objective of a full assignment."""
    return objective.offset + sum(
        c * solution[v.index]
        for v, c in zip(objective.variables, objective.coefficients, strict=True)
    )


def _run_pool(index: CpSatIndex, options: Options, deadline: float) -> RawResult:
    """The pool (configuration) model: placed per priority tier (when the start leaves items
    unplaced), then bins_used."""
    pool, lowered = index.model, index.lowered
    problem = lowered.problem
    info: dict[str, Any] = dict(index.notes)
    result = pool.solve(deadline, options, index.started)
    info.update(result.info)
    counts = result.counts
    objective = level_values(lowered, counts)
    bound: list[float | None] = []
    for n, level in enumerate(problem.objective):
        if set(level) == {"placed"}:
            if result.placed_bound is None:
                bound.append(objective[n])  # the start places every item: the best possible
            else:
                bound.append(level["placed"] * result.placed_bound)
        elif result.bins_bound is None:
            bound.append(None)  # after an unproven placed value a bound would be conditional
        else:
            bound.append(level.get("bins_used", 0.0) * result.bins_bound)
    proven = result.placed_proven and all(
        b is not None and abs(b - v) <= 1e-6 for b, v in zip(bound, objective, strict=True)
    )
    return RawResult(
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        values=counts,
        objective=objective,
        bound=tuple(bound),
        info=info,
    )


def _run_fill(index: CpSatIndex, deadline: Deadline) -> RawResult:
    """The filling model (placed/value levels on many alike nodes); the start plan stands when
    it is better on the objective (it is the incumbent, as everywhere in cpsat)."""
    lowered, model = index.lowered, index.model
    result = model.solve(deadline)
    info: dict[str, Any] = {**index.notes, "fill": result.info}
    counts, devices = result.counts, result.devices
    values = level_values(lowered, counts)
    start = index.start
    if start is not None and start.trusted:
        mine = level_values(lowered, start.counts)
        if _better(lowered, mine, values):
            counts, devices, values = dict(start.counts), start.devices, mine
            info["fallback"] = f"the {start.source} start plan is better than the filling"
    bound: list[float | None] = [None] * len(values)
    proven = False
    if values and result.bound is not None:
        bound[0] = result.bound
        gap = abs(result.bound - values[0])
        proven = len(values) == 1 and gap <= 1e-6 * max(1.0, abs(values[0]))
    return RawResult(
        status=Status.OPTIMAL if proven else Status.FEASIBLE,
        values=counts,
        objective=values,
        bound=tuple(bound),
        info=info,
        devices=devices,
    )


def _better(lowered: Lowered, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Is ``a`` lexicographically better than ``b`` (every fill level is maximised)?"""
    for x, y in zip(a, b, strict=True):
        if abs(x - y) > 1e-9 * max(1.0, abs(x), abs(y)):
            return x > y
    return False


PER_BIN_AFTER_POOL_S = 0.2  # time left below which the per-bin model is not worth building


def _per_bin_after_pool(
    index: CpSatIndex, options: Options, deadline: float, pooled: RawResult
) -> RawResult:
    """The pool model stops when its integer master is optimal over the columns it generated,
    which need not be the optimum (nor prove it): with time left, the per-bin model continues
    from the pool's plan (never worse than it) and may prove what the pool could not."""
    from .per_bin import PerBinModel

    if deadline - time.perf_counter() < PER_BIN_AFTER_POOL_S or interrupt.requested():
        return pooled
    lowered = index.lowered
    try:
        model = PerBinModel(lowered, Deadline(deadline))
    except OutOfTime:
        return pooled
    objectives = [
        _stage_objective(lowered, model, s) for level in lowered.levels for s in level.stages
    ]
    notes = {**pooled.info, "formulation": "pool, then per_bin", "pool_status": str(pooled.status)}
    start = StartPlan(lowered.plan(pooled.values), "pool")
    per_bin = CpSatIndex(lowered, "per_bin", model, objectives, notes, index.started, start)
    raw = _Stages(per_bin, options, deadline).run()
    improved = (
        raw.objective is not None
        and pooled.objective is not None
        and any(a != b for a, b in zip(raw.objective, pooled.objective, strict=True))
    )
    if raw.status == Status.OPTIMAL or (raw.status.has_plan and improved):
        return raw
    pooled.info["then"] = "per_bin: no better plan, no proof in the time left"
    return pooled


def _values_from(solution: list[int]) -> Any:
    def value(var: Any) -> int:
        return solution[var.index]

    return value


def _soft_value(model: Any, value: Any) -> float:
    soft: Linear | None = getattr(model, "soft", None)
    if soft is None:
        return 0.0
    return soft.constant + sum(coef * value(var) for var, coef in soft.terms)


__all__ = ["CpSatBackend", "CpSatIndex"]
