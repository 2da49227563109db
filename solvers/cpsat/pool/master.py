"""The configuration master: choose how many bins of each pool use each configuration, covering
every group's count with at most ``len(P)`` bins per pool, at least total bin cost.

Its LP relaxation is solved by column generation (HiGHS for the master, kept in memory and grown
column by column; CP-SAT for the pricing knapsack). The Lagrangian bound
``Σ π·count + Σ_P |P|·min(0, cost_P − max_a π·a)`` is valid for ANY duals π ≥ 0 and uses the
pricing solver's proven upper bound, so the reported bound is honest even when the column
generation stops early. The integer master is CP-SAT over the generated columns.

In partial mode (the start leaves items unplaced) each group has an unplaced slack ``u_g`` and
the master is solved in stages: per priority tier, highest first, minimise the tier's unplaced
replicas (each tier's result then caps its slacks), then bins_used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import interrupt

from ...deadline import cpsat_solve
from ...quiet import quiet_stdout, run_highs
from .columns import Columns, FloatArray, IntArray, Pool

PRICING_SECONDS = 2.0  # at most this long for one pricing knapsack
PRICING_COLUMNS = 5  # improving pricing solutions added per pool and round (the last ones)
PRICE_SCALE = 1_000_000  # duals are scaled (rounded up) to integers for CP-SAT pricing
REDUCED_COST_EPS = 1e-9


@dataclass
class LpSolution:
    value: float
    duals: FloatArray  # π >= 0 of the cover rows


@dataclass
class Priced:
    """One pricing knapsack: improving configurations and a proven upper bound on max π·a."""

    configs: list[IntArray]
    bound: float
    proven: bool


@dataclass
class Generated:
    """A column generation run: the best Lagrangian bound and how it went."""

    bound: float
    rounds: int
    columns: int
    lp: float | None
    converged: bool

    def info(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "columns": self.columns,
            "lp": self.lp,
            "converged": self.converged,
        }


@dataclass
class MasterPlan:
    uses: dict[int, int] = field(default_factory=dict)  # column -> bins using it
    optimal: bool = False


class Master:
    def __init__(self, cols: Columns) -> None:
        self.cols = cols
        self._lp: Any = None  # the HiGHS master, grown column by column
        self._lp_columns = 0
        self.lp_ok = False
        self.need = cols.count.copy()  # demand rows (the residual while diving)
        self.room = cols.sizes.copy()  # bins left per pool (the residual while diving)
        self.tier_cap = np.full(len(cols.tiers), np.inf)  # most unplaced per tier (fixed ones)
        self.stage: int | None = None  # the tier being maximised; None: bins_used

    # ------------------------------------------------------------------ the LP

    def solve_lp(self) -> LpSolution | None:
        """LP master over the current columns (HiGHS, warm-started as columns are added)."""
        import highspy

        cols = self.cols
        n_groups = len(cols.groups)
        if self._lp is None:
            with quiet_stdout():  # HiGHS prints a banner on stdout when first created
                lp = highspy.Highs()
            lp.setOptionValue("output_flag", False)
            lp.setOptionValue("threads", 1)
            lower = np.concatenate([self.need, np.zeros(len(cols.pools))]).astype(np.float64)
            upper = np.concatenate([np.full(n_groups, highspy.kHighsInf), self.room]).astype(
                np.float64
            )
            if cols.partial:  # Σ_{g in tier} u_g <= cap
                lower = np.concatenate([lower, np.zeros(len(cols.tiers))])
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
            if cols.partial:  # the unplaced slacks are the first columns
                tier_row = n_groups + len(cols.pools) + cols.tier_of
                for g in range(n_groups):
                    index = np.array([g, tier_row[g]], np.int32)
                    cost, bound = self._slack_cost(g), float(self.need[g] * cols.droppable[g])
                    lp.addCol(cost, 0.0, bound, 2, index, np.ones(2))
        lp = self._lp
        for column in cols.columns[self._lp_columns :]:
            a = column.config
            nz = np.nonzero(a)[0]
            index = np.concatenate([nz, [n_groups + column.pool]]).astype(np.int32)
            value = np.concatenate([a[nz], [1]]).astype(np.float64)
            cost = self._column_cost(column.pool)
            lp.addCol(cost, 0.0, highspy.kHighsInf, len(index), index, value)
        self._lp_columns = len(cols.columns)
        run_highs(lp)
        self.lp_ok = lp.getModelStatus() == highspy.HighsModelStatus.kOptimal
        if not self.lp_ok:
            return None
        duals = np.asarray(lp.getSolution().row_dual[:n_groups], dtype=np.float64)
        return LpSolution(float(lp.getInfo().objective_function_value), np.maximum(0.0, duals))

    def lp_values(self) -> FloatArray | None:
        """The LP value of each configuration column (the slack columns left out)."""
        if self._lp is None:
            return None
        values = np.asarray(self._lp.getSolution().col_value, dtype=np.float64)
        return values[self._slacks() :]

    def _slacks(self) -> int:
        return len(self.cols.groups) if self.cols.partial else 0

    def _caps(self) -> FloatArray:
        import highspy

        return np.where(np.isfinite(self.tier_cap), self.tier_cap, highspy.kHighsInf)

    def _column_cost(self, pool: int) -> float:
        """Configurations cost their bin while bins_used is minimised, nothing in tier stages."""
        return self.cols.pools[pool].cost if self.stage is None else 0.0

    def _slack_cost(self, group: int) -> float:
        """An unplaced replica costs 1 in the stage of its own tier, nothing otherwise."""
        return 1.0 if self.stage is not None and self.cols.tier_of[group] == self.stage else 0.0

    def set_stage(self, stage: int | None) -> None:
        """Switch the master's objective: maximise placed of tier ``stage`` (min its slacks),
        or (None) minimise bins_used; tier caps are taken from ``tier_cap``."""
        self.stage = stage
        if self._lp is None:
            return
        cols = self.cols
        costs = [self._slack_cost(g) for g in range(self._slacks())]
        costs += [self._column_cost(c.pool) for c in cols.columns[: self._lp_columns]]
        index = np.arange(len(costs), dtype=np.int32)
        self._lp.changeColsCost(len(costs), index, np.array(costs, np.float64))
        if cols.partial:
            first = len(cols.groups) + len(cols.pools)
            rows = np.arange(first, first + len(cols.tiers), dtype=np.int32)
            lower = np.zeros(len(cols.tiers))
            self._lp.changeRowsBounds(len(rows), rows, lower, self._caps().astype(np.float64))

    def set_residual(self, need: IntArray, room: IntArray) -> None:
        """Change the master's right-hand sides (demand rows, pool rows) in place."""
        import highspy

        cols = self.cols
        self.need, self.room = need, room
        if self._lp is None:
            return
        n_groups = len(cols.groups)
        rows = np.arange(n_groups + len(cols.pools), dtype=np.int32)
        lower = np.concatenate([need, np.zeros(len(cols.pools))]).astype(np.float64)
        upper = np.concatenate([np.full(n_groups, highspy.kHighsInf), room]).astype(np.float64)
        self._lp.changeRowsBounds(len(rows), rows, lower, upper)
        if cols.partial:
            columns = np.arange(n_groups, dtype=np.int32)
            bound = (need * cols.droppable).astype(np.float64)
            self._lp.changeColsBounds(n_groups, columns, np.zeros(n_groups), bound)

    def _slack_bound(self, duals: FloatArray) -> float:
        """min Σ (cost_g − π_g)·u_g over 0 <= u_g <= need_g, Σ_{g in tier} u_g <= cap: the slack
        columns' share of the Lagrangian bound (greedy per tier: most negative first)."""
        cols = self.cols
        if not cols.partial:
            return 0.0
        total = 0.0
        for t, members in enumerate(cols.tiers):
            left = float(self.tier_cap[t])
            coefs = [(self._slack_cost(int(g)) - float(duals[g]), int(g)) for g in members]
            for coef, g in sorted(coefs):
                if coef >= 0 or left <= 0:
                    break
                take = min(left, float(self.need[g] * cols.droppable[g]))
                total += coef * take
                left -= take
        return total

    # ------------------------------------------------------------------ pricing

    def price(self, pool: Pool, duals: FloatArray, seconds: float) -> Priced:
        """max π·a over one bin of the pool."""
        from ortools.sat.python import cp_model

        cols = self.cols
        weights = np.ceil(duals * PRICE_SCALE).astype(np.int64)  # rounded up: the bound stays valid
        upper = np.minimum(pool.upper, self.need)
        live = np.nonzero((upper > 0) & (weights > 0))[0]
        if len(live) == 0:
            return Priced([], 0.0, True)
        m = cp_model.CpModel()
        a = [m.new_int_var(0, int(upper[g]), "") for g in live]
        for r, cap in enumerate(pool.capacity):
            coefs = cols.demand[live, r]
            if coefs.any():
                m.add(cp_model.LinearExpr.weighted_sum(a, coefs.tolist()) <= int(cap))
        position = {int(g): k for k, g in enumerate(live)}
        for rule in pool.rules:
            inside = [a[position[int(g)]] for g in rule.groups if int(g) in position]
            if inside:  # a rule binds even when only one of its groups is live here
                m.add(cp_model.LinearExpr.sum(inside) <= rule.cap)
        m.maximize(cp_model.LinearExpr.weighted_sum(a, weights[live].tolist()))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, seconds)
        solver.parameters.num_workers = 1  # a small knapsack: extra workers only cost time
        found: list[IntArray] = []
        width = len(cols.groups)

        class Collect(cp_model.CpSolverSolutionCallback):
            """Every improving solution is a column worth adding, not only the last."""

            def on_solution_callback(self) -> None:
                config = np.zeros(width, np.int64)
                config[live] = [self.value(v) for v in a]
                found.append(config)

        status = cpsat_solve(solver, m, callback=Collect())
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            bound = float(solver.best_objective_bound) / PRICE_SCALE
        else:  # stopped before any solution: CP-SAT's bound then reads 0, which proves nothing
            bound = float(np.dot(weights[live], upper[live])) / PRICE_SCALE
        return Priced(found[-PRICING_COLUMNS:], bound, status == cp_model.OPTIMAL)

    def generate(self, deadline: float) -> Generated:
        """Column generation until no column prices out or time is up; the best Lagrangian bound."""
        cols = self.cols
        best_bound = 0.0
        rounds = 0
        converged = False
        lp_value = math.nan
        while time.perf_counter() < deadline and not interrupt.requested():
            solved = self.solve_lp()
            if solved is None:
                break
            lp_value, duals = solved.value, solved.duals
            rounds += 1
            lagrangian = float(duals @ self.need) + self._slack_bound(duals)
            added = 0
            exact = True
            priced: list[int] = []
            for p, pool in enumerate(cols.pools):
                left = deadline - time.perf_counter()
                if left <= 0:
                    exact = False
                    break
                priced.append(p)
                result = self.price(pool, duals, min(PRICING_SECONDS, left))
                exact = exact and result.proven
                cost = self._column_cost(p)
                lagrangian += int(self.room[p]) * min(0.0, cost - result.bound)
                for config in result.configs:
                    if cost - float(duals @ config) < -REDUCED_COST_EPS:
                        before = len(cols.columns)
                        cols.add(p, config)
                        added += len(cols.columns) - before
            if len(priced) == len(cols.pools):
                best_bound = max(best_bound, lagrangian)  # valid for any duals (pricing bounds)
            if exact and added == 0:  # no column prices out: the LP value is the LP optimum
                converged = True
                best_bound = max(best_bound, lp_value - 1e-9 * max(1.0, abs(lp_value)))
                break
        lp = round(lp_value, 6) if math.isfinite(lp_value) else None
        return Generated(best_bound, rounds, len(cols.columns), lp, converged)

    # ------------------------------------------------------------------ the integer master

    def solve_integer(
        self,
        seconds: float,
        threads: int,
        seed: int,
        floor: int,
        hint: Mapping[int, int],
        on_value: Callable[[float], None] | None,
    ) -> MasterPlan:
        """CP-SAT over the columns: bins per configuration, at least total cost (scaled); in
        partial mode with unplaced slacks under the tier caps, and in a tier stage minimising
        that tier's unplaced replicas (at least ``floor``) instead of the cost."""
        from ortools.sat.python import cp_model

        cols = self.cols
        if not cols.columns or interrupt.requested():  # nothing to choose from, or stopped
            return MasterPlan(dict(hint), False)
        m = cp_model.CpModel()
        z = [
            m.new_int_var(0, len(cols.pools[c.pool].bins), f"z{k}")
            for k, c in enumerate(cols.columns)
        ]
        matrix = np.array([c.config for c in cols.columns], np.int64).reshape(len(z), -1)
        slack: list[Any] = []
        if cols.partial:
            slack = [
                m.new_int_var(0, int(cols.count[g] * cols.droppable[g]), f"u{g}")
                for g in range(len(cols.groups))
            ]
            for t, tier_groups in enumerate(cols.tiers):
                if math.isfinite(self.tier_cap[t]):
                    tier_slack = cp_model.LinearExpr.sum([slack[g] for g in tier_groups])
                    m.add(tier_slack <= int(self.tier_cap[t]))
            hinted = np.zeros(len(cols.groups), np.int64)
            for c, n in hint.items():
                hinted += n * matrix[c]
            for g, var in enumerate(slack):
                m.add_hint(var, int(min(var.proto.domain[1], max(0, cols.count[g] - hinted[g]))))
        for g in range(len(cols.groups)):
            nz = np.nonzero(matrix[:, g])[0]
            covered = cp_model.LinearExpr.weighted_sum([z[c] for c in nz], matrix[nz, g].tolist())
            if slack:
                m.add(covered + slack[g] >= int(cols.count[g]))
            elif cols.exact_groups[g]:
                m.add(covered == int(cols.count[g]))
            else:
                m.add(covered >= int(cols.count[g]))
        pool_of_column = [c.pool for c in cols.columns]
        for rule in cols.spreads:
            sizes = matrix[:, rule.groups].sum(axis=1)
            per: dict[str, Any] = {}
            for d in sorted({d for d in rule.domains if d is not None}):
                ks = [k for k in range(len(z)) if rule.domains[pool_of_column[k]] == d and sizes[k]]
                per[d] = cp_model.LinearExpr.weighted_sum(
                    [z[k] for k in ks], [int(sizes[k]) for k in ks]
                )
            for d, n_d in per.items():
                if not rule.all_domains:
                    m.add(n_d <= rule.max_skew)
                    continue
                for e, n_e in per.items():
                    if e != d:
                        m.add(n_d <= n_e + rule.max_skew)
        for p, pool in enumerate(cols.pools):
            members = [z[k] for k, c in enumerate(cols.columns) if c.pool == p]
            if members:
                m.add(cp_model.LinearExpr.sum(members) <= len(pool.bins))
        if self.stage is not None:
            objective = cp_model.LinearExpr.sum([slack[g] for g in cols.tiers[self.stage]])
        else:
            costs = [round(cols.pools[c.pool].cost * cols.cost_scale) for c in cols.columns]
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
                assert on_value is not None
                on_value(self.objective_value)

        status = cpsat_solve(solver, m, callback=Report() if on_value is not None else None)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return MasterPlan(dict(hint), False)
        uses = {c: int(solver.value(v)) for c, v in enumerate(z) if solver.value(v) > 0}
        return MasterPlan(uses, status == cp_model.OPTIMAL)
