"""Node pools as configurations: column generation for bounds, CP-SAT over the columns for plans.

A POOL is a class of interchangeable bins (same capacity, cost, speed, eligibility, domains).
Once every item is placed (the start plan places them all, which is the best ``placed`` value
possible), minimising ``bins_used`` is a vector cutting-stock problem over the pools:

- a CONFIGURATION of pool P is a count per group that fits one bin of P (capacity per resource,
  per-bin caps from hostname anti-affinity);
- the master chooses how many bins of each pool use each configuration, covering every group's
  count with at most ``len(P)`` bins per pool, at least total bin cost.

Its LP relaxation is solved by column generation (HiGHS through ``scipy.optimize.linprog`` for
the master, CP-SAT for the pricing knapsack); the Lagrangian bound
``Σ π·count + Σ_P |P|·min(0, cost_P − max_a π·a)`` is valid for ANY duals π ≥ 0 and uses the
pricing solver's proven upper bound, so the reported bound is honest even when the column
generation stops early. CP-SAT then solves the integer master over the generated columns (plus
the start plan's own configurations, so the start is always a feasible hint), and the chosen
configurations are laid onto the pool's bins in problem order, surplus replicas removed.

The formulation applies (``pool_applies``) when the objective has only ``placed`` and
``bins_used`` levels, the start places every item, nothing is already placed, and the only
constraints are hard per-bin anti-affinity (every domain a single bin), gangs and quotas (which
the start satisfies and which depend only on per-group totals, fixed at the full counts).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.ir import AntiAffinity, Gang, Quota, Spread
from engine.solution import Progress

from ..lowering import Key, Lowered
from ..packing.heuristics import first_fit
from ..quiet import quiet_stdout

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

COLUMN_SHARE = 0.6  # share of the time left that column generation may use
REPAIR_STEPS = 200  # improving moves or swaps tried to balance spread domains
DIVE_STEP_SECONDS = 0.1  # column generation per diving step (a few rounds, not convergence)
DIVE_SHARE = 0.6  # share of the time then left that diving may use (the rest: CP-SAT master)
PRICING_SECONDS = 2.0  # at most this long for one pricing knapsack
PRICING_COLUMNS = 5  # improving pricing solutions added per pool and round (the last ones)
PRICE_SCALE = 1_000_000  # duals are scaled (rounded up) to integers for CP-SAT pricing
REDUCED_COST_EPS = 1e-9
COST_DECIMALS = 6


def pool_applies(lowered: Lowered, start: Mapping[Key, int] | None) -> str | None:
    """Why the pool formulation cannot be used (None when it can)."""
    problem = lowered.problem
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
    if any(placed[g.name] < g.count for g in problem.items) and any(
        isinstance(c, Gang | Quota | Spread) for c in problem.constraints
    ):
        # Their rules depend on how many replicas are placed, which the master then chooses.
        return "the start plan leaves items unplaced, and gang, quota or spread rules apply"
    if len(lowered.classes) == len(problem.bins):
        return "no pools of identical bins"
    return None


@dataclass
class Pool:
    bins: list[str]
    cost: float
    capacity: IntArray  # per resource, in divided units
    upper: IntArray  # per group: most replicas one bin of the pool can hold (0: not eligible)
    rules: list[tuple[IntArray, int]]  # Σ a[groups] <= cap (anti-affinity over several groups)


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
    """Pools, group data as arrays, and the column pool (configurations per pool)."""

    def __init__(self, lowered: Lowered, start: Mapping[Key, int]) -> None:
        self.lowered = lowered
        self.problem = problem = lowered.problem
        self.start = {k: v for k, v in start.items() if v > 0}
        self.groups = [g.name for g in problem.items]
        self.group_index = {g: n for n, g in enumerate(self.groups)}
        div = lowered.divisors
        resources = [r for r in problem.resources]
        self.demand = np.array(
            [[g.demand.get(r, 0) // div[r] for r in resources] for g in problem.items],
            dtype=np.int64,
        ).reshape(len(self.groups), len(resources))
        self.count = np.array([g.count for g in problem.items], dtype=np.int64)
        # Per-bin caps: anti-affinity's max_per_domain (every domain is one bin), and for spread
        # floor(N / domains) + max_skew (a bin lies in one domain, which holds at most
        # min + max_skew <= N / domains + max_skew of the N selected items; max_skew alone when
        # min is 0 for lack of domains). Every valid plan obeys them, so bounds stay valid.
        caps: list[tuple[AntiAffinity | Spread, int]] = []
        for c in problem.constraints:
            if isinstance(c, AntiAffinity):
                caps.append((c, c.max_per_domain))
            elif isinstance(c, Spread):
                n = sum(problem.item_by_name[g].count for g in problem.selected(c.selector))
                domains = len(lowered.domains(c.topology))
                many = c.min_domains is None or domains >= c.min_domains
                caps.append((c, (n // max(1, domains) if many else 0) + c.max_skew))
        self.pools: list[Pool] = []
        self.pool_of: dict[str, int] = {}
        for cls in lowered.classes:
            first = problem.bin_by_name[cls[0]]
            capacity = np.array([first.capacity.get(r, 0) // div[r] for r in resources], np.int64)
            upper = self.count.copy()
            for n in range(len(problem.items)):
                if not lowered.open[n, lowered.bin_index[first.name]]:
                    upper[n] = 0
                    continue
                for r, d in enumerate(self.demand[n]):
                    if d > 0:
                        upper[n] = min(upper[n], capacity[r] // d)
            pool_rules: list[tuple[IntArray, int]] = []
            for c, cap in caps:
                if c.topology not in first.labels:
                    continue  # bins without the key are in no domain
                chosen = np.array(
                    [self.group_index[g] for g in problem.selected(c.selector)], np.int64
                )
                if len(chosen) == 1:
                    upper[chosen[0]] = min(upper[chosen[0]], cap)
                elif len(chosen) > 1:
                    pool_rules.append((chosen, cap))
            for b in cls:
                self.pool_of[b] = len(self.pools)
            self.pools.append(Pool(list(cls), first.cost, capacity, upper, pool_rules))
        self.cost_scale = _decimal_scale([p.cost for p in self.pools])
        self.spreads = [self._spread_rule(c) for c in problem.constraints if isinstance(c, Spread)]
        self.exact_groups = np.zeros(len(self.groups), bool)  # no surplus: spread counts them
        for chosen, _, _, _ in self.spreads:
            self.exact_groups[chosen] = True
        self.columns: list[tuple[int, IntArray]] = []
        self._lp: Any = None  # the HiGHS master, grown column by column
        self._lp_columns = 0
        self._lp_ok = False
        self.sizes = np.array([len(p.bins) for p in self.pools], np.int64)
        self.need = self.count.copy()  # demand rows (the residual while diving)
        self.room = self.sizes.copy()  # bins left per pool (the residual while diving)
        self._seen: dict[tuple[int, bytes], int] = {}
        self.start_columns = self._add_plan(self.start)
        # Items may stay unplaced (the start leaves some): an unplaced slack u_g per group, and
        # priority tiers maximised in order before bins_used (see ``solve_partial``).
        self.partial = bool((self.placed_of(self.start) < self.count).any())
        priorities = sorted({g.priority for g in problem.items}, reverse=True)
        self.tiers = [
            np.array([n for n, g in enumerate(problem.items) if g.priority == p], np.int64)
            for p in priorities
        ]
        self.tier_of = np.zeros(len(self.groups), np.int64)
        for t, members in enumerate(self.tiers):
            self.tier_of[members] = t
        self.droppable = np.array([0 if g.required else 1 for g in problem.items], np.int64)
        self.tier_cap = np.full(len(self.tiers), np.inf)  # most unplaced per tier (fixed ones)
        self.stage: int | None = None  # the tier being maximised; None: bins_used

    def _spread_rule(self, c: Spread) -> tuple[IntArray, int, list[str | None], bool]:
        """(selected groups, max_skew, domain of each pool, whether min counts all domains)."""
        chosen = np.array(
            [self.group_index[g] for g in self.problem.selected(c.selector)], np.int64
        )
        domains = [self.problem.bin_by_name[p.bins[0]].labels.get(c.topology) for p in self.pools]
        many = c.min_domains is None or len(self.lowered.domains(c.topology)) >= c.min_domains
        return chosen, c.max_skew, domains, many

    def valid(self, counts: Mapping[Key, int]) -> bool:
        """Spread rules hold (everything else holds by construction of the configurations)."""
        for c in self.problem.constraints:
            if not isinstance(c, Spread):
                continue
            chosen = set(self.problem.selected(c.selector))
            domain_of = {b: d for d, bins in self.lowered.domains(c.topology).items() for b in bins}
            per: dict[str, int] = dict.fromkeys(set(domain_of.values()), 0)
            for (g, b), n in counts.items():
                if g in chosen and b in domain_of:
                    per[domain_of[b]] += n
            many = c.min_domains is None or len(per) >= c.min_domains
            low = min(per.values(), default=0) if many else 0
            if any(n > low + c.max_skew for n in per.values() if n > 0):
                return False
        return True

    # ------------------------------------------------------------------ columns

    def _add(self, pool: int, config: IntArray) -> int:
        key = (pool, config.tobytes())
        known = self._seen.get(key)
        if known is not None:
            return known
        self._seen[key] = len(self.columns)
        self.columns.append((pool, config))
        return len(self.columns) - 1

    def _add_plan(self, counts: Mapping[Key, int]) -> dict[int, int]:
        """Add each used bin's configuration; returns column -> number of bins using it."""
        content: dict[str, IntArray] = {}
        for (g, b), n in counts.items():
            if b not in content:
                content[b] = np.zeros(len(self.groups), np.int64)
            content[b][self.group_index[g]] += n
        uses: dict[int, int] = defaultdict(int)
        for b, config in content.items():
            if config.any():
                uses[self._add(self.pool_of[b], config)] += 1
        return dict(uses)

    # ------------------------------------------------------------------ column generation

    def _master_lp(self) -> tuple[float, FloatArray] | None:
        """LP master over the current columns (HiGHS, warm-started as columns are added):
        (value, duals π >= 0 of the cover rows)."""
        import highspy

        n_groups = len(self.groups)
        if self._lp is None:
            with quiet_stdout():  # HiGHS prints a banner on stdout when first created
                lp = highspy.Highs()
            lp.setOptionValue("output_flag", False)
            lp.setOptionValue("threads", 1)
            lower = np.concatenate([self.need, np.zeros(len(self.pools))]).astype(np.float64)
            upper = np.concatenate([np.full(n_groups, highspy.kHighsInf), self.room]).astype(
                np.float64
            )
            if self.partial:  # Σ_{g in tier} u_g <= cap
                lower = np.concatenate([lower, np.zeros(len(self.tiers))])
                upper = np.concatenate([upper, self._caps()])
            lp.addRows(
                len(lower),
                lower,
                upper,
                0,
                np.array([], np.int32),
                np.array([], np.int32),
                np.array([], np.float64),
            )
            self._lp, self._lp_columns = lp, 0
            if self.partial:  # the unplaced slacks are the first columns
                tier_row = n_groups + len(self.pools) + self.tier_of
                for g in range(n_groups):
                    index = np.array([g, tier_row[g]], np.int32)
                    cost, bound = self._slack_cost(g), float(self.need[g] * self.droppable[g])
                    lp.addCol(cost, 0.0, bound, 2, index, np.ones(2))
        lp = self._lp
        for p, a in self.columns[self._lp_columns :]:
            nz = np.nonzero(a)[0]
            index = np.concatenate([nz, [n_groups + p]]).astype(np.int32)
            value = np.concatenate([a[nz], [1]]).astype(np.float64)
            lp.addCol(self._column_cost(p), 0.0, highspy.kHighsInf, len(index), index, value)
        self._lp_columns = len(self.columns)
        lp.run()
        self._lp_ok = lp.getModelStatus() == highspy.HighsModelStatus.kOptimal
        if not self._lp_ok:
            return None
        duals = np.asarray(lp.getSolution().row_dual[:n_groups], dtype=np.float64)
        return float(lp.getInfo().objective_function_value), np.maximum(0.0, duals)

    def lp_solution(self) -> FloatArray:
        """The LP value of each configuration column (the slack columns left out)."""
        assert self._lp is not None
        values = np.asarray(self._lp.getSolution().col_value, dtype=np.float64)
        return values[self._slacks() :]

    # ------------------------------------------------------------------ stages (partial mode)

    def _slacks(self) -> int:
        return len(self.groups) if self.partial else 0

    def _caps(self) -> FloatArray:
        import highspy

        return np.where(np.isfinite(self.tier_cap), self.tier_cap, highspy.kHighsInf)

    def _column_cost(self, pool: int) -> float:
        """Configurations cost their bin while bins_used is minimised, nothing in tier stages."""
        return self.pools[pool].cost if self.stage is None else 0.0

    def _slack_cost(self, group: int) -> float:
        """An unplaced replica costs 1 in the stage of its own tier, nothing otherwise."""
        return 1.0 if self.stage is not None and self.tier_of[group] == self.stage else 0.0

    def set_stage(self, stage: int | None) -> None:
        """Switch the master's objective: maximise placed of tier ``stage`` (min its slacks),
        or (None) minimise bins_used; tier caps are taken from ``tier_cap``."""
        self.stage = stage
        if self._lp is None:
            return
        n_slacks = self._slacks()
        costs = [self._slack_cost(g) for g in range(n_slacks)]
        costs += [self._column_cost(p) for p, _ in self.columns[: self._lp_columns]]
        index = np.arange(len(costs), dtype=np.int32)
        self._lp.changeColsCost(len(costs), index, np.array(costs, np.float64))
        if self.partial:
            first = len(self.groups) + len(self.pools)
            rows = np.arange(first, first + len(self.tiers), dtype=np.int32)
            lower = np.zeros(len(self.tiers))
            self._lp.changeRowsBounds(len(rows), rows, lower, self._caps().astype(np.float64))

    def _slack_bound(self, duals: FloatArray) -> float:
        """min Σ (cost_g − π_g)·u_g over 0 <= u_g <= need_g, Σ_{g in tier} u_g <= cap: the slack
        columns' share of the Lagrangian bound (greedy per tier: most negative first)."""
        if not self.partial:
            return 0.0
        total = 0.0
        for t, members in enumerate(self.tiers):
            left = float(self.tier_cap[t])
            coefs = [(self._slack_cost(int(g)) - float(duals[g]), int(g)) for g in members]
            for coef, g in sorted(coefs):
                if coef >= 0 or left <= 0:
                    break
                take = min(left, float(self.need[g] * self.droppable[g]))
                total += coef * take
                left -= take
        return total

    def placed_of(self, counts: Mapping[Key, int]) -> IntArray:
        placed = np.zeros(len(self.groups), np.int64)
        for (g, _), n in counts.items():
            placed[self.group_index[g]] += n
        return np.minimum(placed, self.count)

    def unplaced_per_tier(self, counts: Mapping[Key, int]) -> IntArray:
        missing = self.count - self.placed_of(counts)
        return np.array([int(missing[m].sum()) for m in self.tiers], np.int64)

    def key(self, counts: Mapping[Key, int]) -> tuple[float, ...]:
        """Lexicographic key to minimise: unplaced per tier (highest priority first), bins."""
        return (*map(float, self.unplaced_per_tier(counts)), round(self.bins_cost(counts), 9))

    def _price(self, pool: Pool, duals: FloatArray, seconds: float) -> Any:
        """max π·a over one bin of the pool: (improving configurations, proven upper bound,
        whether the maximum was proven)."""
        from ortools.sat.python import cp_model

        weights = np.ceil(duals * PRICE_SCALE).astype(np.int64)  # rounded up: the bound stays valid
        upper = np.minimum(pool.upper, self.need)
        live = np.nonzero((upper > 0) & (weights > 0))[0]
        if len(live) == 0:
            return [], 0.0, True
        m = cp_model.CpModel()
        a = [m.new_int_var(0, int(upper[g]), "") for g in live]
        for r, cap in enumerate(pool.capacity):
            coefs = self.demand[live, r]
            if coefs.any():
                m.add(cp_model.LinearExpr.weighted_sum(a, coefs.tolist()) <= int(cap))
        position = {int(g): k for k, g in enumerate(live)}
        for chosen, cap in pool.rules:
            inside = [a[position[int(g)]] for g in chosen if int(g) in position]
            if inside:  # a rule binds even when only one of its groups is live here
                m.add(cp_model.LinearExpr.sum(inside) <= cap)
        m.maximize(cp_model.LinearExpr.weighted_sum(a, weights[live].tolist()))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, seconds)
        solver.parameters.num_workers = 1  # a small knapsack: extra workers only cost time
        found: list[IntArray] = []
        width = len(self.groups)

        class Collect(cp_model.CpSolverSolutionCallback):
            """Every improving solution is a column worth adding, not only the last."""

            def on_solution_callback(self) -> None:
                config = np.zeros(width, np.int64)
                config[live] = [self.value(v) for v in a]
                found.append(config)

        status = solver.solve(m, Collect())
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            bound = float(solver.best_objective_bound) / PRICE_SCALE
        else:  # stopped before any solution: CP-SAT's bound then reads 0, which proves nothing
            bound = float(np.dot(weights[live], upper[live])) / PRICE_SCALE
        return found[-PRICING_COLUMNS:], bound, status == cp_model.OPTIMAL

    def generate(self, deadline: float, threads: int) -> tuple[float, dict[str, Any]]:
        """Column generation until no column prices out or time is up; the best Lagrangian bound."""
        best_bound = 0.0
        rounds = 0
        converged = False
        lp_value = math.nan
        while time.perf_counter() < deadline:
            solved = self._master_lp()
            if solved is None:
                break
            lp_value, duals = solved
            rounds += 1
            lagrangian = float(duals @ self.need) + self._slack_bound(duals)
            added = 0
            exact = True
            priced: list[int] = []
            for p, pool in enumerate(self.pools):
                left = deadline - time.perf_counter()
                if left <= 0:
                    exact = False
                    break
                priced.append(p)
                configs, upper, optimal = self._price(pool, duals, min(PRICING_SECONDS, left))
                exact = exact and optimal
                cost = self._column_cost(p)
                lagrangian += int(self.room[p]) * min(0.0, cost - upper)
                for config in configs:
                    if cost - float(duals @ config) < -REDUCED_COST_EPS:
                        before = len(self.columns)
                        self._add(p, config)
                        added += len(self.columns) - before
            if len(priced) == len(self.pools):
                best_bound = max(best_bound, lagrangian)  # valid for any duals (pricing bounds)
            if exact and added == 0:  # no column prices out: the LP value is the LP optimum
                converged = True
                best_bound = max(best_bound, lp_value - 1e-9 * max(1.0, abs(lp_value)))
                break
        info = {
            "rounds": rounds,
            "columns": len(self.columns),
            "lp": round(lp_value, 6) if math.isfinite(lp_value) else None,
            "converged": converged,
        }
        return best_bound, info

    def _set_residual(self, need: IntArray, room: IntArray) -> None:
        """Change the master's right-hand sides (demand rows, pool rows) in place."""
        import highspy

        self.need, self.room = need, room
        if self._lp is None:
            return
        n_groups = len(self.groups)
        rows = np.arange(n_groups + len(self.pools), dtype=np.int32)
        lower = np.concatenate([need, np.zeros(len(self.pools))]).astype(np.float64)
        upper = np.concatenate([np.full(n_groups, highspy.kHighsInf), room]).astype(np.float64)
        self._lp.changeRowsBounds(len(rows), rows, lower, upper)
        if self.partial:
            cols = np.arange(n_groups, dtype=np.int32)
            bound = (need * self.droppable).astype(np.float64)
            self._lp.changeColsBounds(n_groups, cols, np.zeros(n_groups), bound)

    def dive(self, deadline: float, threads: int) -> dict[int, int] | None:
        """Price-and-dive: fix the LP's whole bins (or round up its largest fraction), re-solve
        the residual LP with new columns, repeat until everything is covered. None when the
        time runs out or the residual cannot be covered."""
        uses: dict[int, int] = defaultdict(int)
        need, room = self.count.copy(), self.sizes.copy()
        try:
            while time.perf_counter() < deadline:
                self.generate(min(deadline, time.perf_counter() + DIVE_STEP_SECONDS), threads)
                if not self._lp_ok:
                    return None
                z = self.lp_solution()
                whole = np.floor(z + 1e-6).astype(np.int64)
                if not whole.any():  # round up the largest fraction
                    best = int(np.argmax(z)) if len(z) else 0
                    if not len(z) or z[best] <= 1e-9:
                        return dict(uses) if self.partial else None  # the rest stays unplaced
                    whole[best] = 1
                for c in np.nonzero(whole)[0].tolist():
                    p, a = self.columns[c]
                    k = min(int(whole[c]), int(room[p]))
                    if k <= 0:
                        continue
                    uses[c] += k
                    room[p] -= k
                    need = np.maximum(0, need - k * a)
                if not need.any():
                    return dict(uses)
                self._set_residual(need, room)
            return None
        finally:
            self._set_residual(self.count.copy(), self.sizes.copy())

    # ------------------------------------------------------------------ integer master

    def master(
        self,
        seconds: float,
        threads: int,
        seed: int,
        floor: int,
        hint: Mapping[int, int],
        on_value: Any,
    ) -> tuple[dict[int, int], bool]:
        """CP-SAT over the columns: bins per configuration, at least total cost (scaled); in
        partial mode with unplaced slacks under the tier caps, and in a tier stage minimising
        that tier's unplaced replicas (at least ``floor``) instead of the cost."""
        from ortools.sat.python import cp_model

        m = cp_model.CpModel()
        z = [
            m.new_int_var(0, len(self.pools[p].bins), f"z{c}")
            for c, (p, _) in enumerate(self.columns)
        ]
        matrix = np.array([a for _, a in self.columns], np.int64).reshape(len(z), -1)
        slack: list[Any] = []
        if self.partial:
            slack = [
                m.new_int_var(0, int(self.count[g] * self.droppable[g]), f"u{g}")
                for g in range(len(self.groups))
            ]
            for t, tier_groups in enumerate(self.tiers):
                if math.isfinite(self.tier_cap[t]):
                    tier_slack = cp_model.LinearExpr.sum([slack[g] for g in tier_groups])
                    m.add(tier_slack <= int(self.tier_cap[t]))
            hinted = np.zeros(len(self.groups), np.int64)
            for c, n in hint.items():
                hinted += n * matrix[c]
            for g, var in enumerate(slack):
                m.add_hint(var, int(min(var.proto.domain[1], max(0, self.count[g] - hinted[g]))))
        for g in range(len(self.groups)):
            nz = np.nonzero(matrix[:, g])[0]
            covered = cp_model.LinearExpr.weighted_sum([z[c] for c in nz], matrix[nz, g].tolist())
            if slack:
                m.add(covered + slack[g] >= int(self.count[g]))
            elif self.exact_groups[g]:
                m.add(covered == int(self.count[g]))
            else:
                m.add(covered >= int(self.count[g]))
        pool_of_column = [p for p, _ in self.columns]
        for chosen, skew, domains, many in self.spreads:
            sizes = matrix[:, chosen].sum(axis=1)
            per: dict[str, Any] = {}
            for d in sorted({d for d in domains if d is not None}):
                cols = [c for c in range(len(z)) if domains[pool_of_column[c]] == d and sizes[c]]
                per[d] = cp_model.LinearExpr.weighted_sum(
                    [z[c] for c in cols], [int(sizes[c]) for c in cols]
                )
            for d, n_d in per.items():
                if not many:
                    m.add(n_d <= skew)
                    continue
                for e, n_e in per.items():
                    if e != d:
                        m.add(n_d <= n_e + skew)
        for p, pool in enumerate(self.pools):
            members = [z[c] for c, (q, _) in enumerate(self.columns) if q == p]
            if members:
                m.add(cp_model.LinearExpr.sum(members) <= len(pool.bins))
        if self.stage is not None:
            objective = cp_model.LinearExpr.sum([slack[g] for g in self.tiers[self.stage]])
        else:
            costs = [round(self.pools[p].cost * self.cost_scale) for p, _ in self.columns]
            objective = cp_model.LinearExpr.weighted_sum(z, costs)
        m.add(objective >= floor)
        m.minimize(objective)
        for c, var in enumerate(z):
            m.add_hint(var, hint.get(c, 0))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, seconds)
        solver.parameters.num_workers = threads
        solver.parameters.random_seed = seed
        solver.parameters.repair_hint = True

        class Report(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                on_value(self.objective_value)

        status = solver.solve(m, Report() if on_value is not None else None)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return dict(hint), False
        uses = {c: int(solver.value(v)) for c, v in enumerate(z) if solver.value(v) > 0}
        return uses, status == cp_model.OPTIMAL

    def round_lp(self) -> dict[int, int] | None:
        """A plan from the LP: every column's whole bins, then the residual replicas packed by
        first-fit decreasing onto the pools' remaining bins (new configurations become columns).
        None when the residual does not fit (in partial mode what does not fit stays unplaced,
        highest priority packed first)."""
        if self._lp is None:
            return None
        z = self.lp_solution()
        uses: dict[int, int] = {}
        left = np.array([len(p.bins) for p in self.pools], np.int64)
        covered = np.zeros(len(self.groups), np.int64)
        for c, value in enumerate(z[: len(self.columns)]):
            whole = math.floor(value + 1e-9)
            if whole > 0:
                p, a = self.columns[c]
                uses[c] = whole
                left[p] -= whole
                covered += whole * a
        residual = np.maximum(0, self.count - covered)
        total_cap = sum(len(p.bins) * p.capacity.astype(np.float64) for p in self.pools)
        total_cap = np.where(total_cap > 0, total_cap, 1.0)
        size = (self.demand / total_cap).max(axis=1, initial=0.0)
        opened: list[tuple[int, IntArray, IntArray]] = []  # (pool, config, room)

        def fits(bin_: tuple[int, IntArray, IntArray], g: int) -> bool:
            pool, config, room = self.pools[bin_[0]], bin_[1], bin_[2]
            if config[g] >= pool.upper[g] or (self.demand[g] > room).any():
                return False
            return all(config[chosen].sum() < cap for chosen, cap in pool.rules if g in chosen)

        def place(bin_: tuple[int, IntArray, IntArray], g: int) -> None:
            bin_[1][g] += 1
            bin_[2][:] -= self.demand[g]

        def open_bin(g: int) -> tuple[int, IntArray, IntArray] | None:
            """A bin of the pool with the least cost per capacity that can hold g."""
            candidates = [
                p
                for p, pool in enumerate(self.pools)
                if left[p] > 0 and pool.upper[g] > 0 and not (self.demand[g] > pool.capacity).any()
            ]
            if not candidates:
                return None
            p = min(
                candidates,
                key=lambda p: (
                    self.pools[p].cost / float((self.pools[p].capacity / total_cap).sum()),
                    p,
                ),
            )
            left[p] -= 1
            return p, np.zeros(len(self.groups), np.int64), self.pools[p].capacity.copy()

        tier = self.tier_of if self.partial else np.zeros(len(self.groups), np.int64)
        order = sorted(np.nonzero(residual)[0].tolist(), key=lambda g: (tier[g], -size[g], g))
        replicas = [g for g in order for _ in range(int(residual[g]))]
        if first_fit(replicas, opened, fits, place, open_bin) and not self.partial:
            return None  # the residual does not fit (in partial mode it stays unplaced)
        for p, config, _ in opened:
            c = self._add(p, config)
            uses[c] = uses.get(c, 0) + 1
        return uses

    def rebalance(self, uses: Mapping[int, int] | None, deadline: float) -> dict[int, int] | None:
        """Move configurations between sibling pools (the same machine in other domains) so that
        every spread rule sees domains filled evenly: configurations richest in spread items
        first, each to the sibling whose domains hold the fewest of them so far."""
        if uses is None or not self.spreads:
            return None if uses is None else dict(uses)
        family: dict[Any, list[int]] = defaultdict(list)
        for p, pool in enumerate(self.pools):
            key = (pool.capacity.tobytes(), pool.cost, pool.upper.tobytes(), repr(pool.rules))
            family[key].append(p)
        sibling_of = {p: tuple(members) for members in family.values() for p in members}
        load: list[defaultdict[str | None, int]] = [
            defaultdict(int) for _ in self.spreads
        ]  # per rule: domain -> items so far
        room = self.sizes.copy()
        out: dict[int, int] = defaultdict(int)
        configs = [(c, (self.columns[c][0], self.columns[c][1].copy())) for c, n in uses.items()]
        configs = [item for item in configs for _ in range(uses[item[0]])]
        configs = [(c, (p, a.copy())) for c, (p, a) in configs]
        # Drop surplus replicas of spread groups first, so the domains are balanced afterwards.
        total = np.sum([a for _, (_, a) in configs], axis=0) if configs else self.count * 0
        surplus = np.where(self.exact_groups, np.maximum(0, total - self.count), 0)
        for _, (_, a) in reversed(configs):
            if not surplus.any():
                break
            take = np.minimum(a, surplus)
            a -= take
            surplus -= take
        configs = [item for item in configs if item[1][1].any()]

        def weight(config: IntArray) -> int:
            return sum(int(config[chosen].sum()) for chosen, _, _, _ in self.spreads)

        configs.sort(key=lambda item: (-weight(item[1][1]), item[0]))
        placed: list[Any] = []  # [pool, configuration, spread amounts] per bin
        for _, (p, config) in configs:
            amounts = [int(config[chosen].sum()) for chosen, _, _, _ in self.spreads]

            def after(q: int, amounts: list[int] = amounts) -> int:
                return sum(
                    load[k][rule[2][q]] + a
                    for k, (rule, a) in enumerate(zip(self.spreads, amounts, strict=True))
                    if a and rule[2][q] is not None
                )

            options = [q for q in sibling_of[p] if room[q] > 0]
            q = min(options, key=lambda q: (after(q), q))
            room[q] -= 1
            for k, rule in enumerate(self.spreads):
                if amounts[k] and rule[2][q] is not None:
                    load[k][rule[2][q]] += amounts[k]
            placed.append([q, config, np.array(amounts, np.int64)])
        self._repair_spread(placed, room, sibling_of, deadline)
        for q, config, _ in placed:
            out[self._add(q, config)] += 1
        return dict(out)

    def _spread_excess(self, load: IntArray) -> int:
        """Σ over spread rules and domains of the items above min + max_skew."""
        total = 0
        for k, (_, skew, _, many) in enumerate(self.spreads):
            row = load[k]
            low = int(row.min(initial=0)) if many else 0
            total += int(np.maximum(0, row - low - skew).sum())
        return total

    def _repair_spread(
        self, placed: list[Any], room: IntArray, sibling_of: Any, deadline: float
    ) -> None:
        """Local search: move a configuration to an idle sibling bin, or swap two siblings'
        configurations (same machine, other domain), while that lowers the spread excess."""
        domains = sorted({d for _, _, ds, _ in self.spreads for d in ds if d is not None})
        slot = {d: n for n, d in enumerate(domains)}
        where = [
            [slot.get(d, -1) if (d := rule[2][q]) is not None else -1 for rule in self.spreads]
            for q in range(len(self.pools))
        ]
        load = np.zeros((len(self.spreads), len(domains)), np.int64)
        for q, _, amounts in placed:
            for k, a in enumerate(amounts):
                if where[q][k] >= 0:
                    load[k, where[q][k]] += a

        def shift(amounts: IntArray, q_from: int, q_to: int, sign: int) -> None:
            for k, a in enumerate(amounts):
                if a:
                    if where[q_from][k] >= 0:
                        load[k, where[q_from][k]] -= sign * a
                    if where[q_to][k] >= 0:
                        load[k, where[q_to][k]] += sign * a

        excess = self._spread_excess(load)
        for _ in range(REPAIR_STEPS):
            if excess == 0 or time.perf_counter() > deadline:
                return
            # Only (pool, spread amounts) matters to the excess: one representative per pattern.
            patterns: dict[tuple[int, bytes], int] = {}
            for i, (q, _, amounts) in enumerate(placed):
                patterns.setdefault((q, amounts.tobytes()), i)
            by_pool: dict[int, list[int]] = defaultdict(list)
            for (q, _), i in patterns.items():
                by_pool[q].append(i)
            best: tuple[int, Any] | None = None
            for i in patterns.values():
                q, _, amounts = placed[i]
                if not amounts.any():
                    continue
                for q2 in sibling_of[q]:
                    if q2 == q:
                        continue
                    if room[q2] > 0:  # move to an idle bin of the sibling
                        shift(amounts, q, q2, 1)
                        value = self._spread_excess(load)
                        shift(amounts, q, q2, -1)
                        if value < excess and (best is None or value < best[0]):
                            best = (value, ("move", i, q2))
                    for j in by_pool.get(q2, []):
                        other = placed[j][2]
                        shift(amounts, q, q2, 1)
                        shift(other, q2, q, 1)
                        value = self._spread_excess(load)
                        shift(other, q2, q, -1)
                        shift(amounts, q, q2, -1)
                        if value < excess and (best is None or value < best[0]):
                            best = (value, ("swap", i, j))
            if best is None:
                return
            excess, (kind, i, target) = best
            q = placed[i][0]
            if kind == "move":
                shift(placed[i][2], q, target, 1)
                room[q] += 1
                room[target] -= 1
                placed[i][0] = target
            else:
                q2 = placed[target][0]
                shift(placed[i][2], q, q2, 1)
                shift(placed[target][2], q2, q, 1)
                placed[i][0], placed[target][0] = q2, q

    def uses_cost(self, uses: Mapping[int, int]) -> float:
        return sum(self.pools[self.columns[c][0]].cost * n for c, n in uses.items())

    def decode(self, uses: Mapping[int, int]) -> dict[Key, int]:
        """Lay configurations onto each pool's bins in problem order, then drop surplus replicas
        from the last bins holding them (a configuration minus items still fits)."""
        content: list[tuple[str, IntArray]] = []
        for p, pool in enumerate(self.pools):
            chosen = sorted(
                (c for c in uses if self.columns[c][0] == p),
                key=lambda c: (-int(self.columns[c][1].sum()), c),
            )
            slots = iter(pool.bins)
            for c in chosen:
                for _ in range(uses[c]):
                    content.append((next(slots), self.columns[c][1].copy()))
        surplus = (
            np.array([a for _, a in content], np.int64).reshape(len(content), -1).sum(axis=0)
            - self.count
        )
        for _, config in reversed(content):
            if not (surplus > 0).any():
                break
            take = np.minimum(config, np.maximum(surplus, 0))
            config -= take
            surplus -= take
        out: dict[Key, int] = {}
        for b, config in content:
            for g in np.nonzero(config)[0]:
                out[(self.groups[g], b)] = int(config[g])
        return out

    def bins_cost(self, counts: Mapping[Key, int]) -> float:
        used = {b for (_, b), n in counts.items() if n > 0}
        return sum(self.problem.bin_by_name[b].cost for b in used)

    # ------------------------------------------------------------------ the whole run

    def solve(self, deadline: float, options: Any, started: float) -> PoolResult:
        if self.partial:
            return self.solve_partial(deadline, options, started)
        threads = options.threads or 1
        placed_levels = self._placed_levels()
        start_cost = self.bins_cost(self.start)
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
        bound, info = self.generate(cg_deadline, threads)
        scaled_floor = math.ceil(bound * self.cost_scale - 1e-6)
        bins_bound = scaled_floor / self.cost_scale
        info["bound"] = bins_bound
        info["generate_s"] = round(time.perf_counter() - now, 4)
        progress(start_cost, bins_bound)
        left = deadline - time.perf_counter()
        best = {"value": start_cost}

        def on_value(scaled: float) -> None:
            best["value"] = min(best["value"], scaled / self.cost_scale)
            progress(best["value"], bins_bound)

        counts: Mapping[Key, int] = self.start
        hint = dict(self.start_columns)

        def consider(uses: Mapping[int, int] | None, label: str) -> None:
            nonlocal counts, hint
            if uses is None:
                return
            plan = self.decode(uses)
            info[label] = round(self.bins_cost(plan), 6)
            if not self.valid(plan):
                info[label] = "breaks spread"
                if self.bins_cost(plan) < self.bins_cost(counts) - 1e-9:
                    hint = dict(uses)  # still a good hint: CP-SAT repairs it (repair_hint)
            elif self.bins_cost(plan) < self.bins_cost(counts) - 1e-9:
                counts, hint = plan, dict(uses)
                on_value(self.bins_cost(plan) * self.cost_scale)

        consider(self.rebalance(self.round_lp(), deadline), "rounded")
        left = deadline - time.perf_counter()
        if left > 0.1 and bins_bound < self.bins_cost(counts) - 1e-9:
            dived = self.dive(time.perf_counter() + left * DIVE_SHARE, threads)
            consider(self.rebalance(dived, deadline), "dived")
        left = deadline - time.perf_counter()
        if left > 0.05 and bins_bound < self.bins_cost(counts) - 1e-9:
            uses, _ = self.master(
                left - 0.02 if math.isfinite(left) else 3600.0,
                threads,
                options.seed,
                scaled_floor,
                hint,
                on_value,
            )
            consider(uses, "master")
        info["kept_start"] = counts is self.start
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
        weights = self.problem.priority_weights()
        tier_weight = [weights[self.groups[int(m[0])]] for m in self.tiers]
        tier_count = [int(self.count[m].sum()) for m in self.tiers]
        best: dict[str, Any] = {"counts": self.start, "key": self.key(self.start)}
        hint: dict[int, int] = dict(self.start_columns)
        info: dict[str, Any] = {"start": list(best["key"]), "tiers": []}

        def placed_value(counts: Mapping[Key, int]) -> float:
            missing = self.unplaced_per_tier(counts)
            return float(
                sum(w * (n - u) for w, n, u in zip(tier_weight, tier_count, missing, strict=True))
            )

        def progress(bound: tuple[float | None, ...]) -> None:
            if options.on_progress is None:
                return
            counts = best["counts"]
            values = {"placed": placed_value(counts), "bins_used": self.bins_cost(counts)}
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
            plan = self.decode(uses)
            key = self.key(plan)
            stage[label] = list(key)
            if key < best["key"]:
                best["counts"], best["key"] = plan, key
                hint = dict(uses)
                progress(tuple(None for _ in self.problem.objective))

        def open_stages(t: int) -> int:
            """Stages from tier t on that still need a solve (the bins_used stage included)."""
            missing = best["key"][: len(self.tiers)]
            return 1 + sum(1 for k in range(t, len(self.tiers)) if missing[k] > 0)

        floors: list[int] = []  # per tier: proven least unplaced, given the tiers above
        for t in range(len(self.tiers)):
            missing = int(best["key"][t])
            stage: dict[str, Any] = {"tier": t, "unplaced": missing}
            info["tiers"].append(stage)
            if missing == 0:  # the incumbent places the whole tier: nothing to gain
                self.tier_cap[t] = 0
                floors.append(0)
                continue
            now = time.perf_counter()
            left = deadline - now
            budget = left / open_stages(t) if math.isfinite(left) else 600.0
            self.set_stage(t)
            lower, cg = self.generate(now + budget * COLUMN_SHARE, threads)
            floor = max(0, math.ceil(lower - 1e-6))
            stage.update(cg, bound=floor)
            if floor < missing:
                consider(self.round_lp(), "rounded", stage)
            left = now + budget - time.perf_counter()
            if left > 0.05 and floor < int(best["key"][t]):
                uses, _ = self.master(left, threads, options.seed, floor, hint, None)
                consider(uses, "master", stage)
            floors.append(floor)
            self.tier_cap[t] = stage["unplaced"] = int(best["key"][t])
        # Tiers proven in order; the first open tier has its floor (valid: the tiers above are
        # optimal), the ones below it count as all placed (their floors assumed open caps).
        missing_final = [int(u) for u in best["key"][: len(self.tiers)]]
        placed_bound = 0.0
        proven = True
        for t in range(len(self.tiers)):
            if proven:
                placed_bound += tier_weight[t] * (tier_count[t] - floors[t])
                proven = missing_final[t] <= floors[t]
            else:
                placed_bound += tier_weight[t] * tier_count[t]
        self.tier_cap[:] = missing_final

        # bins_used with every tier's unplaced count capped at the incumbent's
        self.set_stage(None)
        now = time.perf_counter()
        left = deadline - now
        stage = {"tier": None}
        info["bins"] = stage
        lower, cg = self.generate(
            now + left * COLUMN_SHARE if math.isfinite(left) else math.inf, threads
        )
        scaled_floor = math.ceil(lower * self.cost_scale - 1e-6)
        bins_bound = scaled_floor / self.cost_scale
        stage.update(cg, bound=bins_bound)
        if bins_bound < best["key"][-1] - 1e-9:
            consider(self.round_lp(), "rounded", stage)
        left = deadline - time.perf_counter()
        if left > 0.1 and bins_bound < best["key"][-1] - 1e-9:
            consider(self.dive(time.perf_counter() + left * DIVE_SHARE, threads), "dived", stage)
        left = deadline - time.perf_counter()
        if left > 0.05 and bins_bound < best["key"][-1] - 1e-9:
            uses, _ = self.master(left - 0.02, threads, options.seed, scaled_floor, hint, None)
            consider(uses, "master", stage)
        info["kept_start"] = best["counts"] is self.start
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
        weights = self.problem.priority_weights()
        total = sum(weights[g.name] * g.count for g in self.problem.items)
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


def _decimal_scale(costs: list[float]) -> int:
    scale = 1
    for _ in range(COST_DECIMALS):
        if all(abs(c * scale - round(c * scale)) <= 1e-9 * max(1.0, c) for c in costs):
            break
        scale *= 10
    return scale
