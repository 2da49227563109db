"""``milp``: the full IR as a mixed-integer linear program (PuLP), solved by HiGHS or CBC.

The formulation lives in ``model`` and the solver drivers in ``drivers``; this module is the
backend: warm start, the lexicographic loop over objective levels with one shared time limit,
honest status and bounds, and LP/MPS export.

The model is built on the lowering (eligible pairs and bounds, divisors, symmetry classes, levels
and their stages); the stages run through the shared lexicographic driver: after each stage its
optimum (or, when the time ran out, its best value) is fixed as a constraint before the next.
``bound`` holds a proven bound for a level only while every level before it was proved optimal
(a bound under a non-optimal earlier level would not bound the lexicographic optimum).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulp

from engine.errors import PlacerError
from engine.ir import Problem
from engine.solution import Progress, Solution, Status

from ..base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from ..deadline import Deadline, OutOfTime
from ..lowering import Key, Lowered, Stage, lower
from ..lowering.lexicographic import Attempt, StageResult, level_bounds, solve_levels
from ..lowering.terms import level_values
from .arcflow import ArcFlowModel, arcflow_applies, build_arcflow
from .drivers import RunSettings, Stages, closed
from .drivers import StageResult as MilpStage
from .model import ENCODERS, LevelExprs, MilpModel, build

SOLVERS = ("highs", "cbc")
# slack when fixing a level at its value: the solver's own feasibility tolerance (1e-7) stays the
# larger one, so later levels cannot trade away a visible amount of an earlier one
FIX_TOL = 1e-9
# at most this long for the LP that gives a stage's plan its exact value (all integers fixed:
# HiGHS's presolve usually removes the whole model)
TIGHTEN_S = 1.0
START_SHARE = 0.1  # at most this share of the time limit goes to finding a warm start
BUILD_SHARE = 0.7  # a model not built within this share of the time limit is abandoned
LOAD_SHARE = 0.3  # loading a model into HiGHS takes up to this share of its build time
# Each stage may use all the time left: a stage HiGHS or CBC cannot finish keeps its incumbent,
# and a proved earlier level is worth more than time for a later one.
STAGE_SHARE = 1.0


@dataclass
class MilpIndex:
    lowered: Lowered
    settings: RunSettings  # solver, limits; ``began`` is when compile began
    build_s: float = 0.0  # building the PuLP model
    unbuilt: str | None = None  # why there is no model (not built within the time limit)


def _settings(options: Options) -> RunSettings:
    params = options.params
    solver = str(params.get("solver", "highs")).lower()
    if solver not in SOLVERS:
        raise PlacerError(f"milp: solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    gap = params.get("gap", 0.0)
    if not isinstance(gap, int | float) or isinstance(gap, bool) or not 0 <= gap < 1:
        raise PlacerError(f"milp: gap must be a number in [0, 1), got {gap!r}")
    return RunSettings(
        solver="cbc" if solver == "cbc" else "highs",
        time_limit=options.time_limit,
        threads=options.threads,
        seed=options.seed,
        gap=float(gap),
        cbc_path=params.get("cbc_path"),
    )


class MilpBackend(Backend):
    name = "milp"
    supports = ALL_FEATURES
    exact = True
    requires = ("pulp", "highspy")
    native = requires  # 0.1 s at load 10
    native_import_s = 0.03
    install_hint = "pip install pulp highspy"
    parameters: Mapping[str, str] = {
        "solver": "highs (default, in process) | cbc (subprocess; PuLP's bundled CBC)",
        "gap": "relative MIP gap at which each level may stop (default 0: prove optimality)",
        "warm_start": "start from the start plans (default true)",
        "cbc_path": "path of a CBC binary to use instead of the detected one",
        "formulation": "auto (default) | per_bin | arcflow (pure 1-D packing: arc-flow model)",
    }
    parameter_types: Mapping[str, type] = {
        "solver": str,
        "gap": float,
        "warm_start": bool,
        "cbc_path": str,
        "formulation": str,
    }
    exports = frozenset({"lp", "mps"})
    encoders = ENCODERS

    # ------------------------------------------------------------------ compile

    def compile(
        self, problem: Problem, options: Options
    ) -> Compiled[MilpModel | ArcFlowModel, MilpIndex]:
        settings = replace(_settings(options), began=time.monotonic())
        if settings.solver == "cbc":
            from .drivers import cbc_path

            cbc_path(settings.cbc_path)  # fail now, clearly, when no CBC binary exists
        wanted = str(options.params.get("formulation", "auto"))
        if wanted not in ("auto", "per_bin", "arcflow"):
            raise PlacerError(f"milp: formulation must be auto, per_bin or arcflow, not {wanted!r}")
        lowered = lower(problem)
        _check_magnitudes(lowered)
        reason = arcflow_applies(lowered) if wanted != "per_bin" else "per_bin asked"
        if wanted == "arcflow" and reason is not None:
            raise PlacerError(f"milp: the arcflow formulation does not apply: {reason}")
        building = time.perf_counter()
        clock = Deadline.within(building, options.time_limit, BUILD_SHARE)
        try:
            model = build_arcflow(lowered) if reason is None else build(lowered, clock)
        except OutOfTime:  # no model: QuickStart answers with the start plan
            why = (
                f"the model ({len(problem.items)} groups x {len(problem.bins)} bins) could not "
                f"be built within {BUILD_SHARE:.0%} of the time limit"
            )
            return Compiled(problem, None, MilpIndex(lowered, settings, unbuilt=why))  # type: ignore[arg-type]
        _check_objective(model)
        index = MilpIndex(lowered, settings, build_s=time.perf_counter() - building)
        return Compiled(problem, model, index)

    # ------------------------------------------------------------------ run

    def run(
        self, compiled: Compiled[MilpModel | ArcFlowModel, MilpIndex], options: Options
    ) -> RawResult:
        model, settings = compiled.model, compiled.index.settings
        began = settings.began if settings.began is not None else time.monotonic()
        if compiled.index.unbuilt is not None:
            return RawResult(Status.UNKNOWN, {}, info={"stopped": compiled.index.unbuilt})
        left = (
            math.inf
            if options.time_limit is None
            else began + options.time_limit - time.monotonic()
        )
        if settings.solver == "highs" and left < LOAD_SHARE * compiled.index.build_s:
            # handing the model to HiGHS takes about a fifth of building it, and cannot be stopped
            why = f"no time left to load the model into HiGHS ({left:.1f} s left)"
            return RawResult(Status.UNKNOWN, {}, info={"stopped": why})
        if model.infeasible:  # e.g. a required group with no bin that could ever hold it
            return RawResult(Status.INFEASIBLE, {}, info={"infeasible": model.infeasible[:10]})
        deadline = math.inf if options.time_limit is None else began + options.time_limit
        stages = Stages(model.lp, settings)
        start = None
        if options.params.get("warm_start", True) and isinstance(model, MilpModel):
            start = _warm_start(model, stages, options, deadline)
        if start is not None and options.on_progress is not None:  # the first plan, at once
            _assign(model, start)
            objective = _plan_values(model, model.levels)
            options.on_progress(Progress(time.monotonic() - began, objective, None))
        info: dict[str, Any] = {"solver": settings.solver, "warm_start": start is not None}
        info.update(model.info)
        driver = _MilpStages(model, stages, start, options.on_progress, began)
        # the driver reads perf_counter; HiGHS and CBC are timed on the monotonic clock
        left = deadline - time.monotonic()
        outcome = solve_levels(
            driver.order,
            driver,
            time.perf_counter() + left,
            has_incumbent=start is not None,
            share=STAGE_SHARE,
        )
        info["stages"] = driver.log
        if outcome.infeasible:
            return RawResult(Status.INFEASIBLE, {}, info=info)
        if driver.values is None:
            return RawResult(Status.UNKNOWN, {}, info=info)
        _assign(model, driver.values)
        objective = _plan_values(model, model.levels)
        bounds = level_bounds(
            [lvl.level for lvl in model.levels],
            outcome.results,
            objective,
            _tier_counts(model),
        )
        status = Status.OPTIMAL if outcome.proven else Status.FEASIBLE
        counts: dict[Hashable, float] = {k: float(n) for k, n in model.counts().items()}
        devices = model.device_rows() if isinstance(model, MilpModel) else None
        return RawResult(status, counts, objective, bounds, info, devices)

    # ------------------------------------------------------------------ decode

    def decode(self, compiled: Compiled[Any, MilpIndex], raw: RawResult) -> Solution:
        return self.plan(compiled.problem, raw, compiled.index.lowered.plan(raw.values))

    # ------------------------------------------------------------------ export

    def export(self, problem: Problem, fmt: str) -> bytes:
        from .export import export_model

        if fmt not in self.exports:
            return super().export(problem, fmt)
        return export_model(lower(problem), fmt)


def _plan_values(model: MilpModel | ArcFlowModel, levels: list[LevelExprs]) -> tuple[float, ...]:
    """The levels' values computed from the assigned plan's counts, as the verifier computes them:
    the solver's values sit up to its tolerances off (a proved level's bound read from them once
    passed the plan by 2e-9). A soft violation counts pods or domains: it is the nearest integer
    to the solver's value (exact where the level is proved; above the plan's own count where the
    solver left slack, which certification corrects)."""
    terms = model.soft_terms if isinstance(model, MilpModel) else []
    soft = math.fsum(w * round(v.varValue or 0.0) for w, v in terms)
    exact = level_values(model.lowered, model.counts(), soft)
    return tuple(exact[lvl.index] for lvl in levels)


class _MilpStages:
    """The MILP side of the lexicographic driver: the model's stage expressions, the incumbent's
    variable values, and a row fixing each stage at the value kept."""

    def __init__(
        self,
        model: MilpModel | ArcFlowModel,
        stages: Stages,
        values: dict[str, float] | None,
        on_progress: Any,
        began: float,
    ) -> None:
        self.model, self.stages, self.values = model, stages, values
        self.on_progress, self.began = on_progress, began
        self.order: list[Stage] = []
        self.where: dict[int, tuple[LevelExprs, int]] = {}
        for level in model.levels:
            for k, stage in enumerate(level.level.stages):
                self.order.append(stage)
                self.where[id(stage)] = (level, k)
        self.log: list[dict[str, Any]] = []
        self.results: list[StageResult] = []

    def _expr(self, stage: Stage) -> tuple[LevelExprs, int, pulp.LpAffineExpression, float]:
        level, k = self.where[id(stage)]
        expr = level.stages[k].copy()
        constant = float(expr.constant)
        expr.constant = 0
        return level, k, expr, constant

    @staticmethod
    def _report(level: LevelExprs, stage: Stage, value: float) -> float:
        """A minimise-form value in the stage's reporting form (tier count or level value)."""
        maximised = stage.maximise if stage.tier is not None else level.maximised
        return -value if maximised else value

    def _keep(self, level: LevelExprs, stage: Stage, k: int, result: StageResult) -> StageResult:
        self.results.append(result)
        if k == len(level.stages) - 1 and self.on_progress is not None and self.values:
            _assign(self.model, self.values)
            done = self.model.levels[: level.index + 1]
            objective = _plan_values(self.model, done)
            bounds = level_bounds(
                [lvl.level for lvl in done], self.results, objective, _tier_counts(self.model)
            )
            self.on_progress(Progress(time.monotonic() - self.began, objective, bounds))
        return result

    def _fix(self, level: LevelExprs, k: int, expr: pulp.LpAffineExpression, value: float) -> None:
        tol = FIX_TOL * max(1.0, abs(value))
        self.stages.fix(expr, value + tol, f"fix_level{level.index}_stage{k}")

    def reached(self, stage: Stage) -> StageResult | None:
        level, k, expr, constant = self._expr(stage)
        floor = level.floors[k]
        if self.values is None or floor is None or not _reaches(expr, self.values, floor):
            return None
        # the plan places every item this stage counts: its exact value is the floor (values a
        # solver gave may sit up to its integrality tolerance below it, and a row fixed there
        # would cut off every exact plan)
        value = floor
        self.log.append(
            {"level": level.index, "stage": k, "outcome": "optimal", "floor": "reached"}
        )
        self._fix(level, k, expr, value)
        report = self._report(level, stage, value + constant)
        return self._keep(level, stage, k, StageResult(True, report, report))

    def attempt(self, stage: Stage, seconds: float) -> Attempt:
        level, k, expr, constant = self._expr(stage)
        began = time.monotonic()
        result: MilpStage = self.stages.solve(expr, seconds, self.values)
        self.log.append(
            {"level": level.index, "stage": k, "outcome": result.outcome, **result.info}
        )
        if result.outcome == "infeasible" and self.values is None:
            return Attempt("infeasible")
        if result.outcome in ("none", "infeasible") or result.value is None:
            if self.values is None:
                return Attempt("nothing")
            result = MilpStage("feasible", _value(expr, self.values), None, self.values)
        self.values = result.values
        assert result.value is not None
        kept = result.value
        exact = None
        if result.values is not None:  # what is left of the stage's seconds, a little at least
            left = seconds - (time.monotonic() - began)
            exact = self.stages.tighten(expr, result.values, min(TIGHTEN_S, max(0.05, left)))
        if exact is not None and exact > kept:
            kept = exact  # the plan's own value, not one the integrality tolerance lowered
        self._fix(level, k, expr, kept)
        proven = result.outcome == "optimal" and (
            result.bound is None or closed(kept, result.bound)
        )
        value = self._report(level, stage, kept + constant)
        bound = None
        if result.bound is not None:
            bound = self._report(level, stage, result.bound + constant)
        return Attempt("solved", self._keep(level, stage, k, StageResult(proven, value, bound)))


# HiGHS treats matrix values above 1e15 as errors (its ``large_matrix_value``) and both solvers
# work in doubles: larger coefficients give plans that break capacity (the verifier catches
# them, but no plan is then found). Refuse them up front instead.
LARGEST_COEFFICIENT = 1e15


def _check_magnitudes(lowered: Lowered) -> None:
    for k, r in enumerate(lowered.resources):
        div = lowered.divisors.get(r, 1)
        largest = max(
            int(lowered.demand[:, k].max(initial=0)), int(lowered.capacity[:, k].max(initial=0))
        )
        if largest // div > LARGEST_COEFFICIENT:
            raise PlacerError(
                f"milp: {r} quantities reach {largest // div:.3g} units (after dividing by their "
                f"common divisor {div}), beyond the 1e15 HiGHS accepts in a matrix; state them "
                "in larger units, or use cpsat"
            )


def _check_objective(model: MilpModel | ArcFlowModel) -> None:
    """Objective weights beyond 1e15 (priority tiers mixed with other terms in one level) would be
    rounded away in doubles, or read as infinite costs (HiGHS: 1e20)."""
    for level in model.levels:
        for expr in level.stages:
            largest = max((abs(c) for c in expr.values()), default=0.0)
            if largest > LARGEST_COEFFICIENT:
                raise PlacerError(
                    f"milp: objective level {level.index + 1} weighs a term by {largest:.3g}, "
                    "beyond the 1e15 doubles hold exactly beside unit weights; give placed a "
                    "level of its own (its priority tiers are then solved one by one) or use "
                    "fewer priority classes"
                )


def _tier_counts(model: MilpModel | ArcFlowModel) -> list[list[int]]:
    """Per level, items placed per tier of its stages, from the current variable values."""
    placed: dict[str, int] = defaultdict(int)
    for (g, _), n in model.counts().items():
        placed[g] += n
    return [
        [
            sum(placed[g] for g in s.tier.groups) if s.tier is not None else 0
            for s in lvl.level.stages
        ]
        for lvl in model.levels
    ]


def _warm_start(
    model: MilpModel, stages: Stages, options: Options, deadline: float
) -> dict[str, float] | None:
    """A complete feasible start: the first start plan whose counts every auxiliary variable
    can be filled in for (a solve with the counts fixed), in the lowering's canonical order."""
    budget = None if options.time_limit is None else START_SHARE * options.time_limit
    objective = model.levels[0].stages[0].copy() if model.levels else None
    if objective is not None:
        objective.constant = 0
    for start in options.starts:
        left = deadline - time.monotonic()
        limit = budget if not math.isfinite(left) else min(left, budget or left)
        if limit is not None and limit <= 0:
            return None
        fixed = _as_fixed_counts(model, model.lowered.canonical(start.counts))
        if fixed is None:
            continue
        completed = stages.complete(fixed, objective or pulp.LpAffineExpression(), limit)
        if completed is not None:
            return completed
    return None


def _reaches(expr: Any, values: dict[str, float], floor: float) -> bool:
    return _value(expr, values) <= floor + FIX_TOL * max(1.0, abs(floor))


def _value(expr: Any, values: dict[str, float]) -> float:
    return float(sum(c * values.get(v.name, 0.0) for v, c in expr.items()))


def _assign(model: MilpModel | ArcFlowModel, values: dict[str, float]) -> None:
    for v in model.variables:  # integers rounded: level values then match the verifier's exactly
        value = values.get(v.name, 0.0)
        v.varValue = round(value) if v.cat == pulp.LpInteger else value


def _as_fixed_counts(
    model: MilpModel, counts: Mapping[Key, int]
) -> dict[pulp.LpVariable, int] | None:
    """Every count variable with its value in ``counts`` (None when a count is out of range)."""
    if any(n > 0 and key not in model.x for key, n in counts.items()):
        return None
    fixed = {}
    for key, var in model.x.items():
        n = counts.get(key, 0)
        if not (var.lowBound or 0) <= n <= (var.upBound if var.upBound is not None else math.inf):
            return None
        fixed[var] = n
    return fixed
