"""CP-SAT backend (OR-Tools): exact, covers the whole IR, lexicographic levels with honest bounds.

Three formulations (``formulation`` parameter, default ``auto``, tried in this order):

- ``arcflow`` — pure packing (capacity, counts, eligibility per bin class, objective over
  placed / bins_used / cost) with one resource: Valério de Carvalho's arc-flow graph per class
  of identical bins, whose LP bound equals the pattern (cutting-stock) bound.
- ``pool`` — node pools (classes of identical bins) with ``placed`` and ``bins_used`` levels:
  configurations by column generation, see ``pool``. When the start plan leaves items
  unplaced, the pool master first maximises placed per priority tier (unplaced slacks).
- ``per_bin`` — everything else: one integer count per (group, eligible bin), see ``per_bin``.

The time limit runs from the start of ``compile`` and covers every level. Levels are solved in
order, highest first; each level's optimum (or best found value, when time runs out) is fixed
before the next. A ``placed`` level over several priorities is solved tier by tier (highest
priority first) and reported as Σ tier_weight·count.

The start plan comes from the greedy backend (progressive filling when the first level maximises
``fairness``; first-fit-decreasing when greedy fails), permuted inside each class of identical
bins to satisfy the symmetry breaking and completed by CP-SAT with the counts fixed. It is the
incumbent: a level CP-SAT does not improve keeps the start's value, a level the start already
reaches at its best possible value is not solved at all, and when CP-SAT finds nothing in time
the start plan itself is returned. So cpsat is never worse than its start on any level.
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

from ..base import Backend, Compiled, Options, RawResult
from .common import (
    RATIO_SCALE,
    Linear,
    ScaledObjective,
    fair_fill,
    fair_fill_applies,
    level_sign,
    scale_level,
    term_factor,
)

Key = tuple[str, str]

HINT_SHARE = 0.5  # at most this share of the time limit completes the starting plan
LEVEL_SHARE = 0.6  # a level that is not the last may use this share of the time left
FORMULATIONS = ("auto", "per_bin", "arcflow", "pool")
RELAXATION_SHARE = 0.25  # of the time left: column generation for a relaxation's bound
RELAXATION_SECONDS = 30.0  # the same without a time limit
DECODE_SECONDS_PER_BIN = 1.5e-4  # time kept back from the limit for decoding and verifying


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
    model: Any  # PerBinModel | ArcFlowModel | PoolModel
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0  # perf_counter() when compile began: the time limit starts there
    start: HintCounts | None = None  # the starting plan (greedy, FFD or the caller's hint)
    relaxed: Any = None  # PoolModel of a relaxation, for a bins_used bound (per_bin only)


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
        "formulation": "auto (default) | per_bin | arcflow | pool: the model to build",
        "start": "greedy (default) | ffd | none: where the starting plan comes from",
        "log": "true: print CP-SAT's search log to stderr",
        "linearization_level": "CP-SAT linearization_level (0-2; default 1, 2 for arcflow)",
    }
    parameter_types: ClassVar[Mapping[str, type]] = {
        "formulation": str,
        "start": str,
        "log": bool,
        "linearization_level": int,
    }

    # ------------------------------------------------------------------ compile

    def compile(self, problem: Problem, options: Options) -> Compiled[Any]:
        from .arcflow import ArcFlowModel, arcflow_applies
        from .pool import PoolModel, pool_applies

        started = time.perf_counter()  # the time limit covers compile and every level
        wanted = str(options.params.get("formulation", "auto"))
        if wanted not in FORMULATIONS:
            raise PlacerError(
                f"formulation must be one of {', '.join(FORMULATIONS)}, not {wanted!r}"
            )
        start_plan = _hint_counts(problem, options)
        notes: dict[str, Any] = {}
        reason = arcflow_applies(problem)
        pool_reason = pool_applies(problem, start_plan if _trusted(start_plan) else None)
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
        if formulation == "pool":
            assert start_plan is not None
            pool = PoolModel(problem, start_plan)
            notes["formulation"] = formulation
            index = Index(formulation, [], pool, notes, started, start_plan)
            return Compiled(problem, None, index)
        if formulation == "arcflow":
            model: Any = ArcFlowModel(
                problem, time_limit=options.time_limit, threads=options.threads, seed=options.seed
            )
        else:
            from .per_bin import PerBinModel

            model = PerBinModel(problem)
            if reason is not None:
                notes["arcflow_skipped"] = reason
            if pool_reason is not None:
                notes["pool_skipped"] = pool_reason
        notes["formulation"] = formulation
        sublevels = _sublevels(problem, model)
        index = Index(formulation, sublevels, model, notes, started, start_plan)
        if formulation == "per_bin" and start_plan is not None and _trusted(start_plan):
            index.relaxed = _relaxed_pool(problem, start_plan)
        return Compiled(problem, model.model, index)

    # ------------------------------------------------------------------ run

    def run(self, compiled: Compiled[Any], options: Options) -> RawResult:
        index: Index = compiled.index
        limit = options.time_limit
        # Decoding and verifying the plan take time too: stop a little early on big clusters.
        deadline = math.inf
        if limit is not None:
            bins = len(compiled.problem.bins)
            deadline = index.started + limit - min(0.1 * limit, DECODE_SECONDS_PER_BIN * bins)
        if index.formulation == "pool":
            return _run_pool(compiled.problem, index, options, deadline)
        return _Levels(compiled.problem, index, options, deadline).run()

    # ------------------------------------------------------------------ decode

    def decode(self, compiled: Compiled[Any], raw: RawResult) -> Solution:
        counts: dict[Key, int] = {k: int(v) for k, v in raw.values.items()}  # type: ignore[misc]
        return self.plan(compiled.problem, raw, counts)


# ---------------------------------------------------------------------- the level loop


class _Levels:
    """Solve the levels in order on one CP-SAT model, never ending worse than the start plan.

    The start plan (completed by CP-SAT with its counts fixed) is the incumbent: each level is
    hinted with it, a level CP-SAT cannot improve in its time keeps the incumbent's value, and
    the level is then fixed at the better of the two values before the next one.
    """

    def __init__(self, problem: Problem, index: Index, options: Options, deadline: float) -> None:
        self.problem, self.index, self.options, self.deadline = problem, index, options, deadline
        self.model = index.model
        self.cp = self.model.model
        self.info: dict[str, Any] = dict(index.notes)
        self.start_rejected = False
        self.relaxed_bound: float | None = None

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

    def _complete(self, counts: Mapping[Key, int]) -> list[int] | None:
        """A full assignment for the start plan: CP-SAT with every count fixed to the plan."""
        from ortools.sat.python import cp_model

        cp = self.cp
        cp.clear_hints()
        pairs = self.model.hint_values(counts)
        if not pairs:
            return None
        for var, value in pairs:
            cp.add_hint(var, value)
        if self.index.sublevels:
            cp.minimize(self.index.sublevels[0].objective.expression())
        limit = self.options.time_limit
        budget = min(self._left(), max(1.0, (limit or 10.0) * HINT_SHARE))
        if budget <= 0.01:
            return None
        solver = self._solver(budget)
        solver.parameters.fix_variables_to_their_hinted_value = True
        status = solver.solve(cp)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return list(solver.response_proto.solution)
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

    def _relaxed_bound(self, k: int) -> float | None:
        """A bound for sublevel k on bins_used levels: from the relaxed pool model, or from the
        vector packing bound (plain packing: identical bins, every item required)."""
        level = self.problem.objective[self.index.sublevels[k].level]
        if set(level) != {"bins_used"} or not self.problem.bins:
            return None
        found: list[float] = []
        if self.relaxed_bound is not None:
            found.append(level["bins_used"] * self.relaxed_bound)
        packing_bound = getattr(self.model, "vector_bound", None)
        if isinstance(packing_bound, int):
            found.append(
                level["bins_used"] * packing_bound * min(b.cost for b in self.problem.bins)
            )
        return max(found) if found else None

    def _bound_by_relaxation(self) -> None:
        """Column generation on the pool model of a relaxation (constraints the pool model
        cannot express dropped): its bound on bins_used holds for the real problem too, given
        that every item is placed, which the start plan shows is the best placed value."""
        relaxed = self.index.relaxed
        if relaxed is None:
            return
        left = self._left()
        share = RELAXATION_SHARE * left if math.isfinite(left) else RELAXATION_SECONDS
        bound, info = relaxed.generate(time.perf_counter() + share, self.options.threads or 1)
        scale = relaxed.cost_scale
        self.relaxed_bound = math.ceil(bound * scale - 1e-6) / scale
        self.info["relaxation"] = {"bound": self.relaxed_bound, **info}

    def run(self) -> RawResult:
        from ortools.sat.python import cp_model

        problem, index, options, cp = self.problem, self.index, self.options, self.cp
        info = self.info
        start_counts: dict[Key, int] | None = None
        incumbent: list[int] | None = None
        if index.start is not None:
            canonical = getattr(self.model, "canonical", None)
            start_counts = canonical(index.start) if canonical is not None else dict(index.start)
            incumbent = self._complete(start_counts)
            if incumbent is not None:
                info["first_plan_s"] = round(time.perf_counter() - index.started, 4)
            info["hint"] = {"source": index.start.source, "completed": incumbent is not None}
        self._bound_by_relaxation()

        results: list[LevelResult] = []
        fixed: list[float] = []
        fixed_bounds: list[float | None] = []
        proved_infeasible = False
        stopped = False
        for k, sub in enumerate(index.sublevels):
            left = self._left()
            if left <= 0.01:
                stopped = True
                break
            objective = sub.objective
            expr = objective.expression()
            mine = _evaluate(objective, incumbent) if incumbent is not None else None
            if mine is not None and mine <= self._trivial_bound(objective):
                # The start already reaches this level's best possible value (e.g. all placed).
                cp.add(expr <= mine)
                value = objective.level_value(mine)
                results.append(LevelResult(True, value, value))
                fixed.append(value)
                fixed_bounds.append(value)
                continue
            last = k == len(index.sublevels) - 1
            budget = left if last or not math.isfinite(left) else left * LEVEL_SHARE
            if incumbent is not None:
                self._hint(incumbent)
            else:
                cp.clear_hints()
            cp.minimize(expr)
            solver = self._solver(budget)
            callback = None
            if options.on_progress is not None:
                callback = _Progress(
                    options.on_progress, index.started, tuple(fixed), tuple(fixed_bounds), objective
                )
            status = solver.solve(cp, callback)
            if status == cp_model.MODEL_INVALID:
                raise PlacerError(f"cpsat built an invalid model: {cp.validate()}")
            if status == cp_model.INFEASIBLE:
                proved_infeasible = incumbent is None and k == 0
                break
            found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
            if not found and incumbent is None:
                stopped = True
                break
            best = round(solver.objective_value) if found else None
            # Ties keep the incumbent: it is the start (or an earlier level's plan) whose later
            # levels are known, while CP-SAT's tie may be arbitrarily bad on them.
            if best is not None and (mine is None or best < mine):
                incumbent = list(solver.response_proto.solution)
                value_int = best
            else:
                assert mine is not None
                value_int = mine  # CP-SAT did not beat the incumbent: keep it
            cp.add(expr <= value_int)
            proven = status == cp_model.OPTIMAL
            # Without a solution CP-SAT's response carries no meaningful bound (it reads 0): fall
            # back to the trivial one rather than report a bound the incumbent already beats.
            # When CP-SAT stops before its own presolve its bound can be weaker than the variable
            # domains already prove (e.g. the packing presolve's bound on bins used): take the best.
            trivial = float(self._trivial_bound(objective))
            raw_bound = max(solver.best_objective_bound, trivial) if found else trivial
            level_bound = objective.level_value(raw_bound) if math.isfinite(raw_bound) else None
            value = objective.level_value(value_int)
            extra = self._relaxed_bound(k)
            if extra is not None and not proven:
                level_bound = extra if level_bound is None else max(level_bound, extra)
                proven = value <= level_bound + 1e-9
            results.append(LevelResult(proven, level_bound if not proven else value, value))
            fixed.append(value)
            fixed_bounds.append(level_bound)
            if not proven:
                stopped = True  # later levels still run, but their bounds are conditional

        info["cpsat"] = {
            "sublevels": len(index.sublevels),
            "solved": len(results),
            "proven": [r.proven for r in results],
        }
        fallback = _trusted(index.start) and not self.start_rejected and not proved_infeasible
        if incumbent is None and (start_counts is None or not fallback):
            status_ = Status.INFEASIBLE if proved_infeasible else Status.UNKNOWN
            return RawResult(status=status_, values={}, info=info)
        if incumbent is not None:
            value_of = _values_from(incumbent)
            counts = self.model.counts(value_of)
            soft: float | None = _soft_value(self.model, value_of)
        else:  # CP-SAT found nothing (not even the completion): the start plan stands
            assert start_counts is not None
            counts = {k: v for k, v in start_counts.items() if v > 0}
            soft = None if "soft" in _objective_terms(problem) else 0.0
            info["fallback"] = "start plan (CP-SAT found no plan in time)"
        values, bound, all_proven = _report(problem, index, results, counts, soft or 0.0)
        optimal = all_proven and not stopped and len(results) == len(index.sublevels)
        return RawResult(
            status=Status.OPTIMAL if optimal and incumbent is not None else Status.FEASIBLE,
            values=counts,
            objective=values if soft is not None else None,
            bound=bound,
            info=info,
        )


def _relaxed_pool(problem: Problem, start: Mapping[Key, int]) -> Any:
    """The pool model of the problem without the constraints it cannot express (a relaxation),
    or None when even that does not apply."""
    from engine.ir import AntiAffinity, Gang, Quota

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
    relaxed = problem.model_copy(update={"constraints": kept})
    if pool_applies(relaxed, start) is not None:
        return None
    return PoolModel(relaxed, start)


def _trusted(start: HintCounts | None) -> bool:
    """A start plan that respects every hard rule by construction (FFD only packs capacity)."""
    return start is not None and start.source in ("greedy", "fair_fill", "options.hint")


def _evaluate(objective: ScaledObjective, solution: list[int]) -> int:
    """The integer objective of a full assignment."""
    return objective.offset + sum(
        c * solution[v.index]
        for v, c in zip(objective.variables, objective.coefficients, strict=True)
    )


def _objective_terms(problem: Problem) -> set[str]:
    return {t for level in problem.objective for t in level}


def _run_pool(problem: Problem, index: Index, options: Options, deadline: float) -> RawResult:
    """The pool (configuration) model: placed per priority tier (when the start leaves items
    unplaced), then bins_used."""
    pool = index.model
    info: dict[str, Any] = dict(index.notes)
    result = pool.solve(deadline, options, index.started)
    info.update(result.info)
    counts = result.counts
    objective, _, _ = _report(problem, index, [], counts, 0.0)
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
    total_cap = problem.total_capacity
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
    if choice == "greedy" and any("fairness" in level for level in problem.objective[:1]):
        if fair_fill_applies(problem):  # greedy may starve tenants; progressive filling won't
            out.update(fair_fill(problem))
            out.source = "fair_fill"
            return out
    if choice == "greedy":
        try:
            from ..greedy.backend import GreedyBackend

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
