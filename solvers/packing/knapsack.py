"""Bounded knapsack over item types: the pricing problem of one-dimensional column generation.

Given a value per type (the master's duals), find the bin pattern — copies of each type, within
the capacity and per-type bounds — of largest total value. OR-Tools' dynamic-programming
knapsack solver does the work (O(items × C), in C++); a type's copies enter as binary chunks
(1, 2, 4, … copies as one item), which keeps the DP exact for bounded copies. Values are
integers there: the duals are scaled by ``SCALE`` and rounded down, so the true value of the
pattern found is within ``items / SCALE`` of the best one, and ``upper`` adds that back.

For large capacities the DP runs on a coarser grid of ``scale`` units: sizes rounded *down*
give a relaxation (every real pattern still fits, so its value is an upper bound on the best
pattern's — what a valid Farley bound needs), sizes rounded *up* give patterns that really fit
(the columns). With ``scale`` 1 both are the exact DP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_CELLS = 60_000_000  # DP items × grid points per pricing call (about 0.1 s)
SCALE = 1 << 30  # dual values (≤ 1) as integers


@dataclass
class Priced:
    value: float  # the pattern's value under the given profits
    pattern: np.ndarray  # copies per type (a pattern that fits the real capacity)
    upper: float  # no pattern is worth more than this


class Knapsack:
    """Pricing for fixed sizes and capacity; profits and copy bounds change per call."""

    def __init__(
        self,
        sizes: Sequence[int] | np.ndarray,
        counts: Sequence[int] | np.ndarray,
        capacity: int,
        max_cells: int = MAX_CELLS,
    ) -> None:
        from ortools.algorithms.python import knapsack_solver

        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.capacity = int(capacity)
        most = [min(n, capacity // max(1, w)) for w, n in zip(sizes, counts, strict=True)]
        chunks = sum(max(1, math.ceil(math.log2(m + 1))) for m in most)
        self.scale = max(1, math.ceil(capacity * max(1, chunks) / max_cells))
        self.exact = self.scale == 1
        self.solver = knapsack_solver.KnapsackSolver(
            knapsack_solver.SolverType.KNAPSACK_DYNAMIC_PROGRAMMING_SOLVER, "pricing"
        )

    def best(self, profits: np.ndarray, bounds: np.ndarray) -> Priced:
        """The most valuable pattern with at most ``bounds[t]`` copies of type t."""
        if self.exact:
            return self._solve(self.sizes, self.capacity, profits, bounds)
        s = self.scale
        grid = self.capacity // s
        found = self._solve((self.sizes + s - 1) // s, grid, profits, bounds)
        relaxed = self._solve(self.sizes // s, grid, profits, bounds)
        found.upper = max(found.value, relaxed.upper)
        return found

    def _solve(
        self, sizes: np.ndarray, capacity: int, profits: np.ndarray, bounds: np.ndarray
    ) -> Priced:
        pattern = np.zeros(len(sizes), dtype=np.int64)
        weights: list[int] = []
        values: list[int] = []
        owner: list[tuple[int, int]] = []  # (type, copies) of each DP item
        most_items = 0
        for t in np.flatnonzero(profits > 1e-12).tolist():
            w = int(sizes[t])
            most = int(bounds[t]) if w == 0 else min(int(bounds[t]), capacity // w)
            if most <= 0:
                continue
            most_items += most
            if w == 0:
                pattern[t] = most
                continue
            p = int(profits[t] * SCALE)
            k = 1
            while most > 0:
                take = min(k, most)
                most -= take
                k *= 2
                weights.append(take * w)
                values.append(take * p)
                owner.append((t, take))
        if weights:
            self.solver.init(values, [weights], [capacity])
            self.solver.solve()
            for i, (t, take) in enumerate(owner):
                if self.solver.best_solution_contains(i):
                    pattern[t] += take
        value = float(pattern @ profits)
        # Rounding each item's value down loses less than 1/SCALE per item.
        integral = sum(int(profits[t] * SCALE) * int(pattern[t]) for t in np.flatnonzero(pattern))
        upper = max(value, (integral + most_items) / SCALE)
        return Priced(value, pattern, upper)
