"""CP-SAT backend (OR-Tools): exact, covers the whole IR, lexicographic levels with honest bounds.

Two formulations (``formulation`` parameter, default ``auto``):

- ``arcflow`` — pure packing (capacity, counts, eligibility per bin class, objective over
  placed / bins_used / cost) with one resource: Valério de Carvalho's arc-flow graph per class
  of identical bins, whose LP bound equals the pattern (cutting-stock) bound.
- ``per_bin`` — everything else: one integer count per (group, eligible bin), see ``cpsat_model``.

Levels are solved in order, highest first; each level's optimum (or best found value, when time
runs out) is fixed before the next, and the time limit is shared. A ``placed`` level over several
priorities is solved tier by tier (highest priority first) and reported as Σ tier_weight·count.
The first plan comes from the greedy backend (or first-fit-decreasing), completed by CP-SAT with
the counts fixed, so a verified plan exists early even on large clusters.
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.errors import PlacerError
from engine.ir import ItemGroup, Problem, level_value
from engine.solution import Progress, Solution, Status

from .base import Backend, Compiled, Options, RawResult
from .cpsat_common import RATIO_SCALE, Linear, ScaledObjective, level_sign, scale_level, term_factor

Key = tuple[str, str]

HINT_SHARE = 0.5  # at most this share of the time limit completes the greedy plan
LEVEL_SHARE = 0.6  # a level that is not the last may use this share of the time left


@dataclass
class SubLevel:
    """One CP-SAT solve: a whole objective level, or one priority tier of a ``placed`` level."""

    level: int
    objective: ScaledObjective
    tier: tuple[str, ...] | None = None  # groups of the tier, for tiered ``placed`` levels


@dataclass
class LevelResult:
    proven: bool
    bound: float | None  # in the sub-level's reporting units (level_value convention)
    value: float | None


@dataclass
class Index:
    formulation: str
    sublevels: list[SubLevel]
    model: Any  # PerBinModel | ArcFlowModel
    notes: dict[str, Any] = field(default_factory=dict)


class _Progress:
    """CpSolverSolutionCallback adapter feeding ``Options.on_progress``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - trivial factory
        from ortools.sat.python import cp_model

        class Callback(cp_model.CpSolverSolutionCallback):
            def __init__(
                self,
                report: Any,
                start: float,
                fixed: tuple[float, ...],
                fixed_bounds: tuple[float | None, ...],
                objective: ScaledObjective,
            ) -> None:
                super().__init__()
                self.report, self.start, self.fixed = report, start, fixed
                self.fixed_bounds, self.objective = fixed_bounds, objective

            def on_solution_callback(self) -> None:
                value = self.objective.level_value(self.objective_value)
                bound = self.objective.level_value(self.best_objective_bound)
                self.report(
                    Progress(
                        seconds=time.perf_counter() - self.start,
                        objective=(*self.fixed, value),
                        bound=(*self.fixed_bounds, bound),
                    )
                )

        return Callback(*args, **kwargs)


class CpSatBackend(Backend):
    name: ClassVar[str] = "cpsat"
    exact: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("ortools",)
    parameters: ClassVar[Mapping[str, str]] = {
        "formulation": "auto (default) | per_bin | arcflow: the model to build",
        "start": "greedy (default) | ffd | none: where the starting plan comes from",
        "log": "true: print CP-SAT's search log to stderr",
        "linearization_level": "CP-SAT linearization_level (0-2; default 1, 2 for arcflow)",
    }

    # ------------------------------------------------------------------ compile

    def compile(self, problem: Problem, options: Options) -> Compiled[Any]:
        from .cpsat_arcflow import ArcFlowModel, arcflow_applies

        wanted = str(options.params.get("formulation", "auto"))
        if wanted not in ("auto", "per_bin", "arcflow"):
            raise PlacerError(f"formulation must be auto, per_bin or arcflow, not {wanted!r}")
        reason = arcflow_applies(problem)
        if wanted == "arcflow" and reason is not None:
            raise PlacerError(f"the arcflow formulation does not apply: {reason}")
        formulation = "arcflow" if wanted != "per_bin" and reason is None else "per_bin"
        if formulation == "arcflow":
            model: Any = ArcFlowModel(problem)
        else:
            from .cpsat_model import PerBinModel

            model = PerBinModel(problem)
        sublevels = _sublevels(problem, model)
        notes = {"formulation": formulation}
        if reason is not None:
            notes["arcflow_skipped"] = reason
        return Compiled(problem, model.model, Index(formulation, sublevels, model, notes))

    # ------------------------------------------------------------------ run

    def run(self, compiled: Compiled[Any], options: Options) -> RawResult:
        from ortools.sat.python import cp_model

        problem = compiled.problem
        index: Index = compiled.index
        model = index.model
        cp = model.model
        start = time.perf_counter()
        limit = options.time_limit
        deadline = start + limit if limit is not None else math.inf
        info: dict[str, Any] = dict(index.notes)

        def solver_for(seconds: float) -> Any:
            solver = cp_model.CpSolver()
            prm = solver.parameters
            if math.isfinite(seconds):
                prm.max_time_in_seconds = max(0.01, seconds)
            prm.random_seed = options.seed
            prm.num_workers = options.threads or min(8, os.cpu_count() or 1)
            prm.log_search_progress = bool(options.params.get("log", False))
            level = options.params.get("linearization_level")
            if level is None and index.formulation == "arcflow":
                level = 2
            if level is not None:
                prm.linearization_level = int(level)
            if index.formulation == "arcflow":
                prm.cp_model_probing_level = 0  # probing thousands of flow arcs costs seconds
            return solver

        # 1. A first plan: the greedy (or FFD) counts, completed by CP-SAT with the counts fixed.
        incumbent: list[int] | None = None
        hint_counts = _hint_counts(problem, options)
        first = index.sublevels[0].objective if index.sublevels else None
        if hint_counts is not None:
            cp.clear_hints()
            for var, value in model.hint_values(hint_counts):
                cp.add_hint(var, value)
            if first is not None:
                cp.minimize(first.expression())
            budget = min(deadline - time.perf_counter(), max(1.0, (limit or 10.0) * HINT_SHARE))
            solver = solver_for(budget)
            solver.parameters.fix_variables_to_their_hinted_value = True
            status = solver.solve(cp)
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                incumbent = list(solver.response_proto.solution)
                info["first_plan_s"] = round(time.perf_counter() - start, 4)
            info["hint"] = {
                "source": hint_counts.source,
                "completed": incumbent is not None,
            }

        # 2. Lexicographic levels.
        results: list[LevelResult] = []
        fixed: list[float] = []
        fixed_bounds: list[float | None] = []
        proved_infeasible = False
        stopped = False
        for k, sub in enumerate(index.sublevels):
            left = deadline - time.perf_counter()
            if left <= 0.01:
                stopped = True
                break
            last = k == len(index.sublevels) - 1
            budget = left if last or not math.isfinite(left) else left * LEVEL_SHARE
            cp.clear_hints()
            if incumbent is not None:
                hint = cp.proto.solution_hint
                hint.vars.extend(range(len(incumbent)))
                hint.values.extend(incumbent)
            cp.minimize(sub.objective.expression())
            solver = solver_for(budget)
            callback = None
            if options.on_progress is not None:
                callback = _Progress(
                    options.on_progress,
                    start,
                    tuple(fixed),
                    tuple(fixed_bounds),
                    sub.objective,
                )
            status = solver.solve(cp, callback)
            if status == cp_model.MODEL_INVALID:
                raise PlacerError(f"cpsat built an invalid model: {cp.validate()}")
            if status == cp_model.INFEASIBLE:
                proved_infeasible = incumbent is None and k == 0
                break
            if status == cp_model.UNKNOWN:
                stopped = True
                break
            incumbent = list(solver.response_proto.solution)
            best = round(solver.objective_value)
            cp.add(sub.objective.expression() <= best)
            proven = status == cp_model.OPTIMAL
            level_bound = sub.objective.level_value(solver.best_objective_bound)
            value = sub.objective.level_value(best)
            results.append(LevelResult(proven, level_bound, value))
            fixed.append(value)
            fixed_bounds.append(level_bound)
            if not proven:
                stopped = True  # later levels still run, but their bounds are conditional

        info["cpsat"] = {
            "sublevels": len(index.sublevels),
            "solved": len(results),
            "proven": [r.proven for r in results],
        }
        if incumbent is None:
            status = Status.INFEASIBLE if proved_infeasible else Status.UNKNOWN
            return RawResult(status=status, values={}, info=info)
        value_of = _values_from(incumbent)
        counts = model.counts(value_of)
        soft = _soft_value(model, value_of)
        objective, bound, all_proven = _report(problem, index, results, counts, soft)
        optimal = all_proven and not stopped and len(results) == len(index.sublevels)
        return RawResult(
            status=Status.OPTIMAL if optimal else Status.FEASIBLE,
            values=counts,
            objective=objective,
            bound=bound,
            info=info,
        )

    # ------------------------------------------------------------------ decode

    def decode(self, compiled: Compiled[Any], raw: RawResult) -> Solution:
        problem = compiled.problem
        if not raw.status.has_plan:
            return Solution.failure(problem, self.name, raw.status, **raw.info)
        counts: dict[Key, int] = {k: int(v) for k, v in raw.values.items()}  # type: ignore[misc]
        return Solution.from_counts(
            problem,
            self.name,
            raw.status,
            counts,
            objective=raw.objective or (),
            bound=raw.bound,
            info=raw.info,
        )


# ---------------------------------------------------------------------- levels


def _sublevels(problem: Problem, model: Any) -> list[SubLevel]:
    out: list[SubLevel] = []
    priorities = sorted({g.priority for g in problem.items}, reverse=True)
    for n, level in enumerate(problem.objective):
        if set(level) == {"placed"} and level["placed"] > 0 and len(priorities) > 1:
            for p in priorities:
                groups = tuple(g.name for g in problem.items if g.priority == p)
                out.append(SubLevel(n, scale_level(model.tier(groups), -1), tier=groups))
            continue
        expr = Linear()
        for term in level:
            expr.extend(model.term(term), term_factor(level, term))
        out.append(SubLevel(n, scale_level(expr, level_sign(level))))
    return out


def _report(
    problem: Problem,
    index: Index,
    results: list[LevelResult],
    counts: Mapping[Key, int],
    soft: float,
) -> tuple[tuple[float, ...], tuple[float | None, ...], bool]:
    """Objective values recomputed from the plan, and a bound per level (None when unknown)."""
    terms = term_values(problem, counts, soft)
    objective = tuple(level_value(level, terms) for level in problem.objective)
    bounds: list[float | None] = []
    weights = problem.priority_weights()
    all_proven = True
    k = 0
    for n, level in enumerate(problem.objective):
        subs = [s for s in index.sublevels if s.level == n]
        solved = results[k : k + len(subs)]
        k += len(subs)
        if not all_proven:
            bounds.append(None)  # a bound after an unproven level would be conditional
            continue
        if len(solved) == len(subs) and all(r.proven for r in solved):
            bounds.append(objective[n])
            continue
        all_proven = False
        if subs[0].tier is None:
            bounds.append(solved[0].bound if solved else None)
            continue
        # Tiered ``placed``: proven tiers as placed, the open tier's bound, lower tiers all placed.
        total = 0.0
        for s, r in zip(subs, [*solved, *[None] * (len(subs) - len(solved))], strict=True):
            tier = s.tier or ()
            w = weights[tier[0]] if tier else 0
            if r is not None and r.proven:
                total += w * sum(counts.get((g, b.name), 0) for g in tier for b in problem.bins)
            elif r is not None and r.bound is not None:
                total += w * math.floor(r.bound + 1e-9)
            else:
                total += w * sum(problem.item_by_name[g].count for g in tier)
        bounds.append(level["placed"] * total)
    return objective, tuple(bounds), all_proven


def _values_from(solution: list[int]) -> Any:
    def value(var: Any) -> int:
        return solution[var.index]

    return value


def _soft_value(model: Any, value: Any) -> float:
    soft: Linear | None = getattr(model, "soft", None)
    if soft is None:
        return 0.0
    return soft.constant + sum(coef * value(var) for var, coef in soft.terms)


def term_values(problem: Problem, counts: Mapping[Key, int], soft: float) -> dict[str, float]:
    """Every objective term for a plan, as the IR defines it (``soft`` comes from the model's
    exact violation counters)."""
    placed: dict[str, int] = defaultdict(int)
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cost = 0.0
    for (item, b), n in counts.items():
        group = problem.item_by_name[item]
        placed[item] += n
        cost += n * group.cost.get(b, 0.0)
        for r, amount in group.demand.items():
            load[b][r] += amount * n
    weights = problem.priority_weights()
    used = {b for (_, b), n in counts.items() if n > 0}
    balance = max(
        (
            load[b.name].get(r, 0) / cap
            for b in problem.bins
            for r, cap in b.capacity.items()
            if cap > 0
        ),
        default=0.0,
    )
    moves = sum(
        max(0, n - counts.get((g.name, b), 0))
        for g in problem.items
        if g.movable
        for b, n in g.placed.items()
    )
    return {
        "placed": float(sum(weights[g] * n for g, n in placed.items())),
        "bins_used": float(sum(problem.bin_by_name[b].cost for b in used)),
        "cost": cost,
        "balance": balance,
        "moves": float(moves),
        "fairness": _fairness(problem, placed),
        "soft": soft,
        "traffic": _traffic(problem, counts),
    }


def _fairness(problem: Problem, placed: Mapping[str, int]) -> float:
    total_cap: dict[str, int] = defaultdict(int)
    for b in problem.bins:
        for r, cap in b.capacity.items():
            total_cap[r] += cap
    shares = []
    for t in problem.tenants:
        groups = [g for g in problem.items if g.tenant == t.name]
        if not groups:
            continue
        used: dict[str, int] = defaultdict(int)
        for g in groups:
            for r, amount in g.demand.items():
                used[r] += amount * placed.get(g.name, 0)
        dominant = max(
            (used[r] / total_cap[r] for r in used if total_cap.get(r, 0) > 0 and used[r] > 0),
            default=0.0,
        )
        shares.append(dominant / t.weight)
    return min(shares) if shares else 0.0


def _traffic(problem: Problem, counts: Mapping[Key, int]) -> float:
    total = 0.0
    for tr in problem.traffic:
        a, b = tr.items
        na, nb = problem.item_by_name[a].count, problem.item_by_name[b].count
        pairs = na * nb if a != b else na * (na - 1)
        if pairs == 0 or tr.volume == 0:
            continue
        xa = {bn: k for (i, bn), k in counts.items() if i == a and k > 0}
        xb = {bn: k for (i, bn), k in counts.items() if i == b and k > 0}
        s = 0.0
        for p, kp in xa.items():
            for q, kq in xb.items():
                d = problem.delay(p, q)
                if d is not None:
                    s += kp * kq * d
        total += tr.volume * s / pairs
    return total


# ---------------------------------------------------------------------- hints


class HintCounts(dict[Key, int]):
    source: str = ""


def _hint_counts(problem: Problem, options: Options) -> HintCounts | None:
    """The starting plan: the caller's hint, else the greedy backend, else first-fit-decreasing."""
    choice = str(options.params.get("start", "greedy"))
    out = HintCounts()
    if options.hint is not None and options.hint.status.has_plan:
        out.update(options.hint.counts())
        out.source = "options.hint"
        return out
    if choice == "none":
        return None
    if choice == "greedy":
        try:
            from .greedy import GreedyBackend

            plan = GreedyBackend().solve(problem, Options(seed=options.seed, time_limit=5.0))
            if plan.status.has_plan:
                out.update(plan.counts())
                out.source = "greedy"
                return out
        except Exception:  # greedy missing or unable: FFD below is always available
            pass
    out.update(first_fit_decreasing(problem))
    out.source = "ffd"
    return out


def first_fit_decreasing(problem: Problem) -> dict[Key, int]:
    """Counts from first-fit-decreasing over capacity and eligibility only (priority first,
    largest items first); items already placed stay where they are."""
    remaining = {b.name: dict(b.capacity) for b in problem.bins}
    counts: dict[Key, int] = {}
    for g in problem.items:
        for b, n in g.placed.items():
            counts[(g.name, b)] = n
            for r, amount in g.demand.items():
                remaining[b][r] = remaining[b].get(r, 0) - amount * n

    def size(g: ItemGroup) -> tuple[int, float]:
        fractions = [
            a / max(1, max((b.capacity.get(r, 0) for b in problem.bins), default=1))
            for r, a in g.demand.items()
        ]
        return (-g.priority, -max(fractions, default=0.0))

    for g in sorted(problem.items, key=size):
        left = g.count - g.placed_total
        allowed = set(g.allowed) if g.allowed is not None else None
        for bin_ in problem.bins:
            if left <= 0:
                break
            if (allowed is not None and bin_.name not in allowed) or not problem.fits_empty(
                g, bin_
            ):
                continue
            room = remaining[bin_.name]
            fit = min(
                (room.get(r, 0) // a for r, a in g.demand.items() if a > 0),
                default=left,
            )
            k = max(0, min(left, fit))
            if k:
                counts[(g.name, bin_.name)] = counts.get((g.name, bin_.name), 0) + k
                for r, a in g.demand.items():
                    room[r] = room.get(r, 0) - a * k
                left -= k
    return counts


__all__ = ["RATIO_SCALE", "CpSatBackend", "first_fit_decreasing", "term_values"]
