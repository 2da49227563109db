"""The pool formulation's driver: when it applies, and the whole run (bounds by column
generation, plans by LP rounding, diving and the integer master, the start never beaten for
worse), with the time shared between its stages.

The formulation applies (``pool_applies``) when the objective has only ``placed`` and
``bins_used`` levels, the start respects every rule, nothing is already placed, and the only
constraints are hard per-bin anti-affinity (every domain a single bin), gangs and quotas (which
the start satisfies and which depend only on per-group totals, fixed at the full counts) and
spread over domains of several bins (pools are split per domain; the master counts items per
domain). Once every item is placed (the best ``placed`` value possible), minimising
``bins_used`` is a vector cutting-stock problem over the pools.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.ir import AntiAffinity, Gang, Quota, Spread
from engine.solution import Progress

from ...lowering import Key, Lowered
from .columns import Columns
from .heuristics import dive, rebalance, round_lp
from .master import Generated, Master

COLUMN_SHARE = 0.6  # share of the time left that column generation may use
DIVE_SHARE = 0.6  # share of the time then left that diving may use (the rest: CP-SAT master)


# What the pool model encodes (``Problem.features`` names). Anything else refuses the pool, so a
# feature added to the IR later can never be silently ignored here.
POOL_FEATURES = frozenset(
    {
        "anti_affinity",
        "spread",
        "gang",
        "quota",
        "required",
        "priority",
        "objective:placed",
        "objective:bins_used",
    }
)
# Rules that depend on how many replicas are placed: the pool model holds them only at the full
# counts (which the start plan shows are feasible), not when the master chooses the counts.
COUNT_RULES = frozenset({"gang", "quota", "spread"})


def pool_applies(lowered: Lowered, start: Mapping[Key, int] | None) -> str | None:
    """Why the pool formulation cannot be used (None when it can)."""
    problem = lowered.problem
    features = problem.features()
    if unknown := features - POOL_FEATURES:
        return f"the pool model does not encode {', '.join(sorted(unknown))}"
    if lowered.devices is not None:
        return "items request devices"
    if start is None:
        return "no start plan that respects every rule (greedy or a given plan)"
    levels = [set(level) for level in problem.objective]
    if not any("bins_used" in level for level in levels):
        return "the objective does not minimise bins_used"
    for level in problem.objective:
        if set(level) not in ({"placed"}, {"bins_used"}) or any(w <= 0 for w in level.values()):
            return "objective levels other than placed or bins_used"
    if "placed" not in problem.objective[0]:
        return "bins_used comes before placed"  # the pool model places every item first
    if problem.traffic or problem.delays:
        return "traffic or delays"
    if any(g.placed for g in problem.items):
        return "items already placed"
    for c in problem.constraints:
        if isinstance(c, Gang | Quota):
            continue  # totals are fixed at the full counts, which the start plan satisfies
        if isinstance(c, Spread):
            if c.soft or c.bins is not None:
                return "soft spread, or spread restricted to some bins"
            if any(len(bins) < 2 for bins in lowered.domains(c.topology).values()):
                return "spread over domains of a single bin"
            continue  # pools are split per domain; the master counts items per domain
        if not isinstance(c, AntiAffinity) or c.target is not None or c.soft:
            return f"{c.kind} constraints"
        if any(len(bins) > 1 for bins in lowered.domains(c.topology).values()):
            return "anti-affinity over domains of several bins"
    placed: dict[str, int] = defaultdict(int)
    for (g, _), n in start.items():
        placed[g] += n
    if any(placed[g.name] < g.count for g in problem.items) and features & COUNT_RULES:
        # Their rules depend on how many replicas are placed, which the master then chooses
        # (tenant quotas included: Problem.features names them "quota" too).
        return "the start plan leaves items unplaced, and gang, quota or spread rules apply"
    if len(lowered.classes) == len(problem.bins):
        return "no pools of identical bins"
    return None


@dataclass
class PoolResult:
    counts: dict[Key, int]
    bins_bound: float | None  # proven lower bound on bins_used (cost-weighted); None: unknown
    info: dict[str, Any] = field(default_factory=dict)
    # Partial mode: an upper bound on the weighted placed value (None: everything is placed,
    # the best possible) and whether the plan's placed value is proven optimal.
    placed_bound: float | None = None
    placed_proven: bool = True


class PoolModel:
    """The configurations (``columns``) and their master (``master``), and the run over them."""

    def __init__(self, lowered: Lowered, start: Mapping[Key, int]) -> None:
        self.lowered = lowered
        self.problem = lowered.problem
        self.columns = Columns(lowered, start)
        self.master = Master(self.columns)

    @property
    def cost_scale(self) -> int:
        return self.columns.cost_scale

    def generate(self, deadline: float) -> Generated:
        """Column generation alone (a relaxation's bound on bins_used)."""
        return self.master.generate(deadline)

    def solve(self, deadline: float, options: Any, started: float) -> PoolResult:
        if self.columns.partial:
            return self.solve_partial(deadline, options, started)
        threads = options.threads or 1
        placed_levels = self._placed_levels()
        start_cost = self.columns.bins_cost(self.columns.start)
        report = options.on_progress

        def progress(value: float, bound: float | None) -> None:
            if report is not None:
                report(
                    Progress(
                        seconds=time.perf_counter() - started,
                        objective=self._levels(placed_levels, value),
                        bound=self._levels(placed_levels, bound),
                    )
                )

        now = time.perf_counter()
        progress(start_cost, None)
        left = deadline - now
        cg_deadline = now + left * COLUMN_SHARE if math.isfinite(left) else math.inf
        generated = self.master.generate(cg_deadline)
        info = generated.info()
        scaled_floor = math.ceil(generated.bound * self.columns.cost_scale - 1e-6)
        bins_bound = scaled_floor / self.columns.cost_scale
        info["bound"] = bins_bound
        info["generate_s"] = round(time.perf_counter() - now, 4)
        progress(start_cost, bins_bound)
        left = deadline - time.perf_counter()
        best = {"value": start_cost}

        def on_value(scaled: float) -> None:
            best["value"] = min(best["value"], scaled / self.columns.cost_scale)
            progress(best["value"], bins_bound)

        counts: Mapping[Key, int] = self.columns.start
        hint = dict(self.columns.start_columns)

        def consider(uses: Mapping[int, int] | None, label: str) -> None:
            nonlocal counts, hint
            if uses is None:
                return
            plan = self.columns.decode(uses)
            info[label] = round(self.columns.bins_cost(plan), 6)
            if not self.columns.valid(plan):
                info[label] = "breaks spread"
                if self.columns.bins_cost(plan) < self.columns.bins_cost(counts) - 1e-9:
                    hint = dict(uses)  # still a good hint: CP-SAT repairs it (repair_hint)
            elif self.columns.bins_cost(plan) < self.columns.bins_cost(counts) - 1e-9:
                counts, hint = plan, dict(uses)
                on_value(self.columns.bins_cost(plan) * self.columns.cost_scale)

        consider(rebalance(self.columns, round_lp(self.master, deadline), deadline), "rounded")
        left = deadline - time.perf_counter()
        if left > 0.1 and bins_bound < self.columns.bins_cost(counts) - 1e-9:
            dived = dive(self.master, time.perf_counter() + left * DIVE_SHARE)
            consider(rebalance(self.columns, dived, deadline), "dived")
        left = deadline - time.perf_counter()
        if left > 0.05 and bins_bound < self.columns.bins_cost(counts) - 1e-9:
            plan = self.master.solve_integer(
                left - 0.02 if math.isfinite(left) else 3600.0,
                threads,
                options.seed,
                scaled_floor,
                hint,
                on_value,
            )
            consider(plan.uses, "master")
        info["kept_start"] = counts is self.columns.start
        return PoolResult(counts=dict(counts), bins_bound=bins_bound, info={"pool": info})

    def solve_partial(self, deadline: float, options: Any, started: float) -> PoolResult:
        """The start leaves items unplaced: maximise placed tier by tier (highest priority
        first; each tier's best found count fixed as a cap on its unplaced replicas before the
        next), then minimise bins_used with every tier fixed. Each stage: column generation
        for its bound, LP rounding and diving, then CP-SAT over the columns; a plan replaces the
        incumbent only when lexicographically better, so the start is never beaten for worse.
        A tier the incumbent places entirely needs no stage, and the time left is shared
        evenly among the stages still open, so a stuck tier cannot starve bins_used."""
        threads = options.threads or 1
        tier_weight = [t.weight for t in self.lowered.tiers]
        tier_count = [t.count for t in self.lowered.tiers]
        best: dict[str, Any] = {
            "counts": self.columns.start,
            "key": self.columns.key(self.columns.start),
        }
        hint: dict[int, int] = dict(self.columns.start_columns)
        info: dict[str, Any] = {"start": list(best["key"]), "tiers": []}

        def placed_value(counts: Mapping[Key, int]) -> float:
            missing = self.columns.unplaced_per_tier(counts)
            return float(
                sum(w * (n - u) for w, n, u in zip(tier_weight, tier_count, missing, strict=True))
            )

        def progress(bound: tuple[float | None, ...]) -> None:
            if options.on_progress is None:
                return
            counts = best["counts"]
            values = {"placed": placed_value(counts), "bins_used": self.columns.bins_cost(counts)}
            objective = tuple(
                sum(w * values[t] for t, w in level.items()) for level in self.problem.objective
            )
            options.on_progress(
                Progress(seconds=time.perf_counter() - started, objective=objective, bound=bound)
            )

        def consider(uses: Mapping[int, int] | None, label: str, stage: dict[str, Any]) -> None:
            nonlocal hint
            if uses is None:
                return
            plan = self.columns.decode(uses)
            key = self.columns.key(plan)
            stage[label] = list(key)
            if key < best["key"]:
                best["counts"], best["key"] = plan, key
                hint = dict(uses)
                progress(tuple(None for _ in self.problem.objective))

        def open_stages(t: int) -> int:
            """Stages from tier t on that still need a solve (the bins_used stage included)."""
            missing = best["key"][: len(self.columns.tiers)]
            return 1 + sum(1 for k in range(t, len(self.columns.tiers)) if missing[k] > 0)

        floors: list[int] = []  # per tier: proven least unplaced, given the tiers above
        for t in range(len(self.columns.tiers)):
            missing = int(best["key"][t])
            stage: dict[str, Any] = {"tier": t, "unplaced": missing}
            info["tiers"].append(stage)
            if missing == 0:  # the incumbent places the whole tier: nothing to gain
                self.master.tier_cap[t] = 0
                floors.append(0)
                continue
            now = time.perf_counter()
            left = deadline - now
            budget = left / open_stages(t) if math.isfinite(left) else 600.0
            self.master.set_stage(t)
            generated = self.master.generate(now + budget * COLUMN_SHARE)
            floor = max(0, math.ceil(generated.bound - 1e-6))
            stage.update(generated.info(), bound=floor)
            if floor < missing:
                consider(round_lp(self.master, deadline), "rounded", stage)
            left = now + budget - time.perf_counter()
            if left > 0.05 and floor < int(best["key"][t]):
                plan = self.master.solve_integer(left, threads, options.seed, floor, hint, None)
                consider(plan.uses, "master", stage)
            floors.append(floor)
            self.master.tier_cap[t] = stage["unplaced"] = int(best["key"][t])
        # Tiers proven in order; the first open tier has its floor (valid: the tiers above are
        # optimal), the ones below it count as all placed (their floors assumed open caps).
        missing_final = [int(u) for u in best["key"][: len(self.columns.tiers)]]
        placed_bound = 0.0
        proven = True
        for t in range(len(self.columns.tiers)):
            if proven:
                placed_bound += tier_weight[t] * (tier_count[t] - floors[t])
                proven = missing_final[t] <= floors[t]
            else:
                placed_bound += tier_weight[t] * tier_count[t]
        self.master.tier_cap[:] = missing_final

        # bins_used with every tier's unplaced count capped at the incumbent's
        self.master.set_stage(None)
        now = time.perf_counter()
        left = deadline - now
        stage = {"tier": None}
        info["bins"] = stage
        generated = self.master.generate(
            now + left * COLUMN_SHARE if math.isfinite(left) else math.inf
        )
        scaled_floor = math.ceil(generated.bound * self.columns.cost_scale - 1e-6)
        bins_bound = scaled_floor / self.columns.cost_scale
        stage.update(generated.info(), bound=bins_bound)
        if bins_bound < best["key"][-1] - 1e-9:
            consider(round_lp(self.master, deadline), "rounded", stage)
        left = deadline - time.perf_counter()
        if left > 0.1 and bins_bound < best["key"][-1] - 1e-9:
            consider(dive(self.master, time.perf_counter() + left * DIVE_SHARE), "dived", stage)
        left = deadline - time.perf_counter()
        if left > 0.05 and bins_bound < best["key"][-1] - 1e-9:
            plan = self.master.solve_integer(
                left - 0.02, threads, options.seed, scaled_floor, hint, None
            )
            consider(plan.uses, "master", stage)
        info["kept_start"] = best["counts"] is self.columns.start
        info["final"] = list(best["key"])
        return PoolResult(
            counts=dict(best["counts"]),
            bins_bound=bins_bound if proven else None,
            info={"pool": info},
            placed_bound=placed_bound,
            placed_proven=proven,
        )

    def _placed_levels(self) -> list[float | None]:
        """Per level: the full weighted placed value for placed levels, None for bins_used."""
        total = sum(t.weight * t.count for t in self.lowered.tiers)
        return [
            level["placed"] * total if "placed" in level else None
            for level in self.problem.objective
        ]

    def _levels(self, placed: list[float | None], bins: float | None) -> Any:
        return tuple(
            p if p is not None else (None if bins is None else bins * w)
            for p, w in zip(
                placed, [lvl.get("bins_used", 0.0) for lvl in self.problem.objective], strict=True
            )
        )
