"""Gilmore–Gomory column generation for bin packing (HiGHS master; DP pricing in one
dimension, CP-SAT pricing for vectors).

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

Vector packing (sizes of shape (types, d), one capacity per dimension) uses the same master
without the exchange columns, which hold in one dimension only, and prices with the
multi-dimensional knapsack of ``knapsack.VectorKnapsack``.

The same master serves residual problems (``demand`` below the counts: a dive fixing bins) and
keeps every column it ever priced, for the pattern-based integer models.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..deadline import Deadline, highs_run
from ..quiet import quiet_stdout
from .knapsack import Knapsack, Priced, VectorKnapsack

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
    sizes: Any  # per type: an int (one dimension) or a row of d ints
    counts: np.ndarray
    capacity: Any  # an int, or d ints
    columns: list[np.ndarray] = field(default_factory=list)
    iterations: int = 0  # pricing rounds over the whole life of the master
    pricing_seconds: float = 0.0  # the last pricing call's duration (DP calls are not cut)
    complete: bool = False  # every pattern is a column (``add_every``): no pricing
    # No pricing here for now: the caller prices (its optimum is then no bound, unless complete).
    frozen: bool = False

    def __post_init__(self) -> None:
        import highspy

        self.counts = np.asarray(self.counts, dtype=np.int64)
        n = len(self.counts)
        self.table = np.asarray(self.sizes, dtype=np.int64).reshape(n, -1)
        self.room = np.atleast_1d(np.asarray(self.capacity, dtype=np.int64))
        self.vector = self.table.shape[1] > 1
        if not self.vector:
            self.sizes, self.capacity = self.table[:, 0], int(self.room[0])
        self.per_bin = np.minimum(self.counts, _copies_per_bin(self.table, self.room))
        self.keys: set[bytes] = set()
        self.pricer: Knapsack | VectorKnapsack = (
            VectorKnapsack(self.table, self.room)
            if self.vector
            else Knapsack(self.sizes, self.counts, self.capacity)
        )
        self.order = np.argsort(-self.table.max(axis=1), kind="stable")  # largest first
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
        # (One dimension only: a vector may be larger in one resource and smaller in another.)
        order = self.order
        for a, b in zip(order[:-1].tolist(), order[1:].tolist(), strict=True):
            if not self.vector and self.sizes[a] >= self.sizes[b]:
                h.addCol(0.0, 0.0, 1e30, 2, np.array([a, b], dtype=np.int32), np.array([-1.0, 1.0]))
        self.offset = h.getNumCol()  # master columns before the first pattern
        for t in range(n):  # single-type patterns keep the master feasible for any demand
            single = np.zeros(n, dtype=np.int64)
            single[t] = max(1, int(self.per_bin[t]))
            self.add(single)
        self.add_many(columns)

    # ------------------------------------------------------------------ columns

    def add(self, pattern: np.ndarray) -> bool:
        pattern = np.asarray(pattern, dtype=np.int64)
        if not pattern.any() or not self.fits(pattern):
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

    def add_every(self, sets: Sequence[np.ndarray]) -> None:
        """Every pattern that fits, as item sets (one array per size, rows of types, a type
        repeated for its copies; the caller listed them all, so they are not checked one by
        one): the master is then the whole LP, priced no more. Call it once."""
        n = len(self.counts)
        for level in sets:
            block = np.zeros((len(level), n), dtype=np.int64)
            rows = np.arange(len(level))
            for j in range(level.shape[1]):  # (a row's copies of a type sit in distinct places)
                block[rows, level[:, j]] += 1
            if not len(block):
                continue
            # Not checked against the columns so far (the few bins of a packing may come
            # twice: harmless), nor keyed (hashing 20,000 rows took a second under load).
            self.columns.extend(block)
            pattern, kind = np.nonzero(block)  # row-major: each pattern's entries together
            self.highs.addCols(
                len(block),
                np.ones(len(block)),
                np.zeros(len(block)),
                np.full(len(block), 1e30),
                len(kind),
                np.searchsorted(pattern, np.arange(len(block))).astype(np.int32),
                kind.astype(np.int32),
                block[pattern, kind].astype(np.float64),
            )
        self.complete = True

    def fits(self, pattern: np.ndarray) -> bool:
        return bool(np.all(pattern @ self.table <= self.room))

    def best_pattern(
        self,
        prices: np.ndarray,
        bounds: np.ndarray,
        deadline: Deadline | None = None,
        exact: bool = True,
    ) -> Priced:
        """The most valuable pattern under ``prices`` with at most ``bounds[t]`` copies (for
        vectors without ``exact``: the best greedy fill, with a weaker ``upper``)."""
        if isinstance(self.pricer, VectorKnapsack):
            return self.pricer.best(prices, bounds, deadline or Deadline.never(), exact)
        return self.pricer.best(prices, bounds)

    def realize(self, pattern: np.ndarray, left: np.ndarray) -> np.ndarray:
        """The bin a master pattern stands for given the items left. A vector pattern takes
        what is left of its types; in one dimension each slot of a type takes that type while
        it lasts, else the next smaller type left (the exchange columns let a larger item's
        slot cover a smaller one)."""
        if self.vector:
            return np.minimum(pattern, left)
        order = self.order
        take = np.zeros_like(pattern)
        avail = left.copy()
        pos = 0  # index into ``order``: slots are filled in that order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        for a in order[pattern[order] > 0].tolist():
            pos = max(pos, int(rank[a]))
            for _ in range(int(pattern[a])):
                while pos < len(order) and avail[order[pos]] == 0:
                    pos += 1
                if pos == len(order):
                    return take
                b = int(order[pos])
                take[b] += 1
                avail[b] -= 1
        return take

    def pattern_of(self, content: dict[int, int]) -> np.ndarray:
        out = np.zeros(len(self.counts), dtype=np.int64)
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
        exact: bool = True,
    ) -> LpSolution | None:
        """Column generation to the LP optimum of ``demand`` (default: every item), or until the
        rounded-up bound can rise no further (unless ``converge``), or reaches ``stop_at`` bins,
        or the deadline. None when not even the first master solve finished in time."""
        self.set_demand(self.counts if demand is None else demand)
        bounds = np.minimum(self.demand, self.per_bin)
        total = self.demand.astype(np.float64)
        best_bound, center = 0.0, np.zeros(len(self.counts))
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
            if self.complete:  # the master is the LP over every pattern: its optimum
                result.bound, result.duals, result.converged = value, duals, True
                return result
            if self.frozen:  # the master's optimum and duals, no claim on the whole LP
                result.duals = duals
                return result
            prices = SMOOTHING * center + (1 - SMOOTHING) * duals if best_bound else duals
            while True:  # until a column prices out under the master's duals, or convergence
                if deadline.left() < self.pricing_seconds:  # the next call would overrun
                    return result
                self.iterations += 1
                began = time.perf_counter()
                priced = self.best_pattern(prices, bounds, deadline, exact)
                self.pricing_seconds = time.perf_counter() - began
                farley = float(total @ prices) / max(1.0, priced.upper)
                if farley > best_bound:
                    best_bound, center = farley, prices / max(1.0, priced.upper)
                    result.bound, result.duals = best_bound, center
                if priced.value > 1.0 + EPS and 1.0 - float(duals @ priced.pattern) < -EPS:
                    self.add(priced.pattern)
                    self.add_many(p for p in priced.others if 1.0 - float(duals @ p) < -EPS)
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


def _copies_per_bin(table: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Per type, how many copies fit one empty bin (by the tightest dimension)."""
    big = np.iinfo(np.int64).max
    with np.errstate(divide="ignore"):
        per_dim = np.where(table > 0, room // np.maximum(table, 1), big)
    return per_dim.min(axis=1)
