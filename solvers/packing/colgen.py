"""Gilmore–Gomory column generation for one-dimensional bin packing (HiGHS master, DP pricing).

The master LP chooses pattern copies covering every item type, ``min Σ λ_p`` subject to
``Σ a_tp λ_p ≥ d_t``; its optimum is the Gilmore–Gomory bound, which rounded up equals the
optimum on nearly every benchmark instance (the IRUP property). Pricing is the bounded knapsack
of ``knapsack``. Duals are smoothed (Wentges): prices are taken between the best duals seen and
the master's current ones, falling back to the latter when that misprices, which cuts the
tailing-off of plain column generation.

Every iteration yields a valid lower bound, the Farley bound ``Σ d π / max(1, z(π))``, where
``z(π)`` bounds the best pattern's value: dividing the duals by it makes them dual feasible.
So a generation stopped by its deadline still reports a bound, and one whose rounded-up bound
meets its rounded-up master value stops there (nothing more can be proved in whole bins).

The same master serves residual problems (``demand`` below the counts: a dive fixing bins) and
keeps every column it ever priced, for the pattern-based integer models.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..deadline import Deadline, highs_run
from ..quiet import quiet_stdout
from .knapsack import Knapsack

EPS = 1e-7
CONVERGED = 1e-6  # the best pattern is worth at most 1 + this: the master is optimal
SMOOTHING = 0.5  # weight of the best duals so far in the prices (Wentges)
MAX_ITERATIONS = 100_000


@dataclass
class LpSolution:
    value: float  # the master's objective: the LP optimum when converged, above it otherwise
    bound: float  # a valid lower bound on the LP optimum (equals ``value`` when converged)
    converged: bool
    primal: np.ndarray  # λ per column
    duals: np.ndarray  # dual feasible prices per type whose demand value is ``bound``
    iterations: int = 0

    @property
    def bins_bound(self) -> int:
        return math.ceil(self.bound - 1e-6)

    @property
    def integral_gap_closed(self) -> bool:
        """No more bins can be proved: the rounded-up bound meets the rounded-up value."""
        return self.converged or self.bins_bound >= math.ceil(self.value - 1e-6)


@dataclass
class ColumnGeneration:
    sizes: np.ndarray
    counts: np.ndarray
    capacity: int
    columns: list[np.ndarray] = field(default_factory=list)
    iterations: int = 0  # pricing rounds over the whole life of the master

    def __post_init__(self) -> None:
        import highspy

        self.sizes = np.asarray(self.sizes, dtype=np.int64)
        self.counts = np.asarray(self.counts, dtype=np.int64)
        self.keys: set[bytes] = set()
        self.pricer = Knapsack(self.sizes, self.counts, self.capacity)
        n = len(self.sizes)
        with quiet_stdout():  # HiGHS prints a banner on stdout when first created
            self.highs = highspy.Highs()
        h = self.highs
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("presolve", "off")  # re-solves warm start from the last basis
        h.setOptionValue("simplex_strategy", 4)  # primal: a new column keeps the basis feasible
        inf = highspy.kHighsInf
        for t in range(n):
            h.addRow(float(self.counts[t]), inf, 0, np.array([], dtype=np.int32), np.array([]))
        self.demand = self.counts.copy()
        columns, self.columns = self.columns, []
        # Dual-optimal inequalities π_t ≥ π_t+1 (types largest first): a bin holding a larger
        # item can hold a smaller one instead. As columns: "cover t+1 by a slot of t", free.
        order = np.argsort(-self.sizes, kind="stable")
        for a, b in zip(order[:-1].tolist(), order[1:].tolist(), strict=True):
            if self.sizes[a] >= self.sizes[b]:
                h.addCol(0.0, 0.0, 1e30, 2, np.array([a, b], dtype=np.int32), np.array([-1.0, 1.0]))
        self.offset = h.getNumCol()  # master columns before the first pattern
        for t in range(n):  # single-type patterns keep the master feasible for any demand
            single = np.zeros(n, dtype=np.int64)
            single[t] = max(
                1, min(int(self.counts[t]), self.capacity // max(1, int(self.sizes[t])))
            )
            self.add(single)
        self.add_many(columns)

    # ------------------------------------------------------------------ columns

    def add(self, pattern: np.ndarray) -> bool:
        pattern = np.asarray(pattern, dtype=np.int64)
        if not pattern.any() or int(pattern @ self.sizes) > self.capacity:
            return False
        key = pattern.tobytes()
        if key in self.keys:
            return False
        self.keys.add(key)
        self.columns.append(pattern)
        rows = np.flatnonzero(pattern).astype(np.int32)
        self.highs.addCol(1.0, 0.0, 1e30, len(rows), rows, pattern[rows].astype(np.float64))
        return True

    def add_many(self, patterns: Iterable[np.ndarray]) -> int:
        return sum(self.add(p) for p in patterns)

    def pattern_of(self, content: dict[int, int]) -> np.ndarray:
        out = np.zeros(len(self.sizes), dtype=np.int64)
        for t, j in content.items():
            out[t] = j
        return out

    # ------------------------------------------------------------------ the LP

    def set_demand(self, demand: Sequence[int] | np.ndarray) -> None:
        demand = np.asarray(demand, dtype=np.int64)
        changed = np.flatnonzero(demand != self.demand)
        if len(changed):
            inf = 1e30
            for t in changed.tolist():
                self.highs.changeRowBounds(int(t), float(demand[t]), inf)
            self.demand = demand.copy()
            self.highs.setOptionValue("simplex_strategy", 1)  # dual simplex after bound changes

    def _master(self, deadline: Deadline) -> tuple[float, np.ndarray, np.ndarray] | None:
        import highspy

        h = self.highs
        if not highs_run(h, deadline):
            return None
        h.setOptionValue("simplex_strategy", 4)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = h.getSolution()
        primal = np.asarray(solution.col_value)[self.offset :]
        duals = np.maximum(0.0, np.asarray(solution.row_dual))
        return float(h.getInfo().objective_function_value), primal, duals

    def solve(
        self,
        deadline: Deadline,
        demand: Sequence[int] | np.ndarray | None = None,
        stop_at: int | None = None,
        converge: bool = False,
    ) -> LpSolution | None:
        """Column generation to the LP optimum of ``demand`` (default: every item), or until the
        rounded-up bound can rise no further (unless ``converge``), or reaches ``stop_at`` bins,
        or the deadline. None when not even the first master solve finished in time."""
        self.set_demand(self.counts if demand is None else demand)
        bounds = np.minimum(self.demand, self.capacity // np.maximum(self.sizes, 1))
        total = self.demand.astype(np.float64)
        best_bound, center = 0.0, np.zeros(len(self.sizes))
        result: LpSolution | None = None
        for _ in range(MAX_ITERATIONS):
            solved = self._master(deadline)
            if solved is None:
                return result
            value, primal, duals = solved
            result = LpSolution(value, best_bound, False, primal, center, self.iterations)
            if not self.demand.any():
                result.bound, result.converged = 0.0, True
                return result
            prices = SMOOTHING * center + (1 - SMOOTHING) * duals if best_bound else duals
            while True:  # until a column prices out under the master's duals, or convergence
                self.iterations += 1
                priced = self.pricer.best(prices, bounds)
                farley = float(total @ prices) / max(1.0, priced.upper)
                if farley > best_bound:
                    best_bound, center = farley, prices / max(1.0, priced.upper)
                    result.bound, result.duals = best_bound, center
                if priced.value > 1.0 + EPS and 1.0 - float(duals @ priced.pattern) < -EPS:
                    self.add(priced.pattern)
                    break
                if prices is duals:  # nothing prices out under the master's own duals
                    if priced.upper <= 1.0 + CONVERGED:
                        result.bound, result.duals = value, duals
                        result.converged = True
                        return result
                    # Only the coarse relaxation still prices: no column to add, the bound
                    # stays Farley's.
                    return result
                prices = duals  # a misprice: smoothing overshot, price the master's duals
            if (result.integral_gap_closed and not converge) or (
                stop_at is not None and result.bins_bound >= stop_at
            ):
                return result
            if deadline.expired():
                return result
        return result
