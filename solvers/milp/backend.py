"""``milp``: the full IR as a mixed-integer linear program (PuLP), solved by HiGHS or CBC.

The formulation lives in ``model`` and the solver drivers in ``drivers``; this module is the
backend: warm start, the lexicographic loop over objective levels with one shared time limit,
honest status and bounds, and LP/MPS export.

Levels are solved in order; after each stage its optimum (or, when the time ran out, its best
value) is fixed as a constraint before the next. ``bound`` holds a proven bound for a level only
while every level before it was proved optimal (a bound under a non-optimal earlier level would
not bound the lexicographic optimum); otherwise ``None``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import replace
from typing import Any, ClassVar

import pulp

from engine.errors import PlacerError
from engine.ir import Problem
from engine.solution import Progress, Solution, Status

from ..base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from .arcflow import ArcFlowModel, arcflow_applies, build_arcflow
from .drivers import RunSettings, StageResult, Stages
from .model import Key, MilpModel, build

SOLVERS = ("highs", "cbc")
# slack when fixing a level at its value: the solver's own feasibility tolerance (1e-7) stays the
# larger one, so later levels cannot trade away a visible amount of an earlier one
FIX_TOL = 1e-9
START_SHARE = 0.1  # at most this share of the time limit goes to finding a warm start


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


def first_fit_decreasing(problem: Problem) -> dict[Key, int]:
    """A capacity-feasible start: pinned items first, then groups by size, each on the first bin
    with room. Constraints beyond capacity are left to the solver (a rejected start costs little)."""
    free = {b.name: dict(b.capacity) for b in problem.bins}
    counts: dict[Key, int] = {}
    for g in problem.items:
        for b, n in g.placed.items():
            counts[(g.name, b)] = n
            for r, a in g.demand.items():
                free[b][r] = free[b].get(r, 0) - a * n

    def size(g: Any) -> float:
        return sum(
            a / max(1, sum(b.capacity.get(r, 0) for b in problem.bins)) for r, a in g.demand.items()
        )

    for g in sorted(problem.items, key=lambda g: (-g.priority, -size(g))):
        left = g.count - g.placed_total
        for b in problem.eligible(g.name):
            while left > 0 and all(free[b].get(r, 0) >= a for r, a in g.demand.items()):
                counts[(g.name, b)] = counts.get((g.name, b), 0) + 1
                for r, a in g.demand.items():
                    free[b][r] = free[b].get(r, 0) - a
                left -= 1
                if not g.demand or not any(g.demand.values()):
                    counts[(g.name, b)] += left
                    left = 0
    return counts


class MilpBackend(Backend):
    name: ClassVar[str] = "milp"
    supports: ClassVar[frozenset[str]] = ALL_FEATURES
    exact: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("pulp", "highspy")
    install_hint: ClassVar[str] = "pip install pulp highspy"
    parameters: ClassVar[dict[str, str]] = {
        "solver": "highs (default, in process) | cbc (subprocess; PuLP's bundled CBC)",
        "gap": "relative MIP gap at which each level may stop (default 0: prove optimality)",
        "warm_start": "start from the greedy plan (default true)",
        "cbc_path": "path of a CBC binary to use instead of the detected one",
        "formulation": "auto (default) | per_bin | arcflow (pure 1-D packing: arc-flow model)",
    }
    parameter_types: ClassVar[dict[str, type]] = {
        "solver": str,
        "gap": float,
        "warm_start": bool,
        "cbc_path": str,
        "formulation": str,
    }
    exports: ClassVar[frozenset[str]] = frozenset({"lp", "mps"})

    # ------------------------------------------------------------------ compile

    def compile(self, problem: Problem, options: Options) -> Compiled[MilpModel | ArcFlowModel]:
        settings = replace(_settings(options), began=time.monotonic())
        if settings.solver == "cbc":
            from .drivers import cbc_path

            cbc_path(settings.cbc_path)  # fail now, clearly, when no CBC binary exists
        wanted = str(options.params.get("formulation", "auto"))
        if wanted not in ("auto", "per_bin", "arcflow"):
            raise PlacerError(f"milp: formulation must be auto, per_bin or arcflow, not {wanted!r}")
        reason = arcflow_applies(problem) if wanted != "per_bin" else "per_bin asked"
        if wanted == "arcflow" and reason is not None:
            raise PlacerError(f"milp: the arcflow formulation does not apply: {reason}")
        model = build_arcflow(problem) if reason is None else build(problem)
        return Compiled(problem, model, index=settings)

    # ------------------------------------------------------------------ run

    def run(self, compiled: Compiled[Any], options: Options) -> RawResult:
        model: MilpModel | ArcFlowModel = compiled.model
        settings: RunSettings = compiled.index
        began = settings.began if settings.began is not None else time.monotonic()
        if model.infeasible:  # e.g. a required group with no bin that could ever hold it
            return RawResult(Status.INFEASIBLE, {}, info={"infeasible": model.infeasible[:10]})
        deadline = None if options.time_limit is None else began + options.time_limit

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        stages = Stages(model.lp, settings)
        start = None
        if options.params.get("warm_start", True) and isinstance(model, MilpModel):
            start = self._warm_start(model, stages, options, remaining)
        values: dict[str, float] | None = start
        objective: list[float] = []
        bounds: list[float | None] = []
        proved_so_far = True
        info: dict[str, Any] = {"solver": settings.solver, "warm_start": start is not None}
        info.update(model.info)
        stages_log: list[dict[str, Any]] = []
        for level in model.levels:
            level_proved, level_bound = True, None
            for s, stage in enumerate(level.stages):
                expr = stage.copy()
                constant = float(expr.constant)
                expr.constant = 0
                floor = level.floors[s] if s < len(level.floors) else None
                if values is not None and floor is not None and _reaches(expr, values, floor):
                    # the start already places every item this stage counts: nothing to beat
                    value = _value(expr, values)
                    result = StageResult("optimal", value, value, values, {"floor": "reached"})
                else:
                    result = stages.solve(expr, remaining(), values)
                stages_log.append(
                    {"level": level.index, "stage": s, "outcome": result.outcome, **result.info}
                )
                if result.outcome == "infeasible" and level.index == 0 and s == 0:
                    return RawResult(Status.INFEASIBLE, {}, info={**info, "stages": stages_log})
                if result.outcome in ("none", "infeasible") or result.value is None:
                    level_proved = False
                    if values is None:
                        break
                    result = StageResult("feasible", _value(expr, values), None, values)
                values = result.values
                assert result.value is not None
                tol = FIX_TOL * max(1.0, abs(result.value))
                stages.fix(expr, result.value + tol, f"fix_level{level.index}_stage{s}")
                if result.outcome != "optimal":
                    level_proved = False
                if len(level.stages) == 1 and result.bound is not None:
                    level_bound = level.to_level_sign(result.bound + constant)
            if values is None:
                break
            _assign(model, values)
            objective.append(level.value())
            if proved_so_far and level_proved:
                bounds.append(level.value())
            else:
                bounds.append(level_bound if proved_so_far else None)
            proved_so_far = proved_so_far and level_proved
            if options.on_progress is not None:
                options.on_progress(
                    Progress(time.monotonic() - began, tuple(objective), tuple(bounds))
                )
        info["stages"] = stages_log
        if values is None:
            return RawResult(Status.UNKNOWN, {}, info=info)
        _assign(model, values)
        objective = [lvl.value() for lvl in model.levels]
        bounds += [None] * (len(model.levels) - len(bounds))
        status = Status.OPTIMAL if proved_so_far else Status.FEASIBLE
        counts: dict[Hashable, float] = {k: float(n) for k, n in model.counts().items()}
        return RawResult(status, counts, tuple(objective), tuple(bounds), info)

    def _warm_start(
        self, model: MilpModel, stages: Stages, options: Options, remaining: Any
    ) -> dict[str, float] | None:
        """A complete feasible start: candidate counts (hint, greedy plan, first-fit decreasing),
        with every auxiliary variable filled in by a solve with the counts fixed."""
        budget = None if options.time_limit is None else START_SHARE * options.time_limit
        objective = model.levels[0].stages[0].copy() if model.levels else None
        if objective is not None:
            objective.constant = 0
        for counts in self._start_candidates(model.problem, options, budget):
            left = remaining()
            limit = budget if left is None else min(left, budget or left)
            if limit is not None and limit <= 0:
                return None
            fixed = _as_fixed_counts(model, model.canonical(counts))
            if fixed is None:
                continue
            completed = stages.complete(fixed, objective or pulp.LpAffineExpression(), limit)
            if completed is not None:
                return completed
        return None

    def _start_candidates(
        self, problem: Problem, options: Options, budget: float | None
    ) -> list[dict[Key, int]]:
        out = []
        if options.hint is not None:
            out.append(options.hint.counts())
        else:
            try:
                from ..registry import get

                greedy = get("greedy")
                if not greedy.missing(problem):
                    plan = greedy.solve(
                        problem,
                        Options(time_limit=budget, seed=options.seed, threads=1),
                    )
                    if plan.status.has_plan:
                        out.append(plan.counts())
            except PlacerError:
                pass  # no greedy backend here: first-fit decreasing below
        out.append(first_fit_decreasing(problem))
        return out

    # ------------------------------------------------------------------ decode

    def decode(self, compiled: Compiled[Any], raw: RawResult) -> Solution:
        counts = {k: round(v) for k, v in raw.values.items() if isinstance(k, tuple)}
        return self.plan(compiled.problem, raw, counts)

    # ------------------------------------------------------------------ export

    def export(self, problem: Problem, fmt: str) -> bytes:
        from .export import export_model

        if fmt not in self.exports:
            return super().export(problem, fmt)
        return export_model(problem, fmt)


def _reaches(expr: Any, values: dict[str, float], floor: float) -> bool:
    return _value(expr, values) <= floor + FIX_TOL * max(1.0, abs(floor))


def _value(expr: Any, values: dict[str, float]) -> float:
    return float(sum(c * values.get(v.name, 0.0) for v, c in expr.items()))


def _assign(model: MilpModel | ArcFlowModel, values: dict[str, float]) -> None:
    for v in model.variables:  # integers rounded: level values then match the verifier's exactly
        value = values.get(v.name, 0.0)
        v.varValue = round(value) if v.cat == pulp.LpInteger else value


def _as_fixed_counts(model: MilpModel, counts: dict[Key, int]) -> dict[pulp.LpVariable, int] | None:
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
