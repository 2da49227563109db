"""Bounded knapsack over item types: the pricing problem of column generation (one dimension by
dynamic programming, vectors by CP-SAT: ``VectorKnapsack`` at the end).

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
from dataclasses import dataclass, field

import numpy as np

from ..deadline import Deadline, cpsat_solve
from .vector_pricing import beam_patterns

MAX_CELLS = 60_000_000  # DP items × grid points per pricing call (about 0.1 s)
SCALE = 1 << 30  # dual values (≤ 1) as integers


@dataclass
class Priced:
    value: float  # the pattern's value under the given profits
    pattern: np.ndarray  # copies per type (a pattern that fits the real capacity)
    upper: float  # no pattern is worth more than this
    others: list[np.ndarray] = field(default_factory=list)  # more patterns worth over 1


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


VECTOR_SCALE = 1 << 20  # dual values as integers in the CP-SAT objective (6 decimal digits)
ALTERNATIVE_FILLS = 3  # greedy fills tried without one of the first fill's items
BEAM_KEEP = 8  # beam-search fills returned a round
WIDER_BEAMS = (1024, 8192)  # beam widths tried when the first finds nothing and is not proved
PRICES_OUT = 1.0 + 1e-9  # the beam drops partial patterns that cannot grow past this value
VECTOR_PRICING_SECONDS = 0.5  # one exact vector pricing call at most; its bound stays valid if cut


class VectorKnapsack:
    """Pricing for vector packing: the most valuable pattern within every dimension's
    capacity (a multi-dimensional knapsack: NP-hard, small here).

    Greedy fills first (items by value per normalised size, two orders): when one prices out,
    it is the column, and the bound is the smallest single-dimension Dantzig bound (the
    fractional knapsack of one dimension's constraint alone bounds the whole). Only when no
    greedy fill prices out does CP-SAT solve it exactly (its time capped; stopped early, it
    still returns a pattern that fits and its proven bound, all a Farley bound needs)."""

    def __init__(self, table: np.ndarray, room: np.ndarray) -> None:
        self.table = np.asarray(table, dtype=np.int64)
        self.room = np.asarray(room, dtype=np.int64)
        self.share = self.table / np.maximum(self.room, 1)  # sizes as shares of the capacity
        self.exact_calls = 0
        self.beam = True  # beam-search fills too (``vector_pricing``)

    def best(
        self, profits: np.ndarray, bounds: np.ndarray, deadline: Deadline, exact: bool = True
    ) -> Priced:
        """The best pattern found (exactly, unless ``exact`` is false: then greedy only)."""
        chosen = np.flatnonzero((profits > 1e-12) & (bounds > 0))
        if not len(chosen):
            return Priced(0.0, np.zeros(len(self.table), dtype=np.int64), 0.0)
        upper = self._dantzig(profits, bounds, chosen)
        fills, exhaustive = self._fills(profits, bounds, chosen)
        # Exact pricing: nothing prices out yet, and that is not proved: widen the beam before
        # CP-SAT (greedy rounds, in dives and the first generation, stay quick).
        for width in WIDER_BEAMS:
            if not (self.beam and exact) or exhaustive or deadline.expired():
                break
            if float(fills[0] @ profits) > PRICES_OUT:
                break
            beam = beam_patterns(
                self.table,
                self.room,
                profits,
                bounds,
                chosen,
                BEAM_KEEP,
                width,
                PRICES_OUT,
                deadline,
            )
            fills = sorted([*beam.patterns, *fills], key=lambda p: -float(p @ profits))
            exhaustive = beam.exhaustive
        greedy = fills[0]
        value = float(greedy @ profits)
        if exhaustive:  # the beam met every pattern worth over PRICES_OUT: none beats these
            upper = min(upper, max(value, PRICES_OUT))
        if value > 1.0 + 1e-7 or upper <= 1.0 + 1e-9 or not exact:
            others = [p for p in fills[1:] if float(p @ profits) > 1.0 + 1e-7]
            return Priced(value, greedy, max(value, upper), others)
        return self._exact(profits, bounds, chosen, greedy, deadline)

    def _fills(
        self, profits: np.ndarray, bounds: np.ndarray, chosen: np.ndarray
    ) -> tuple[list[np.ndarray], bool]:
        """Greedy fills, most valuable first: by value per summed and per largest share of
        the capacity, and each again without one of the first items it took (several columns
        per pricing round make the generation converge in far fewer master solves), and the
        beam search's; whether that search was exhaustive above PRICES_OUT."""
        fills: dict[bytes, np.ndarray] = {}
        for weight in ("sum", "max"):
            first = self._greedy(profits, bounds, chosen, weight)
            fills.setdefault(first.tobytes(), first)
            for t in np.flatnonzero(first)[:ALTERNATIVE_FILLS].tolist():
                kept = chosen[chosen != t]
                if len(kept):
                    other = self._greedy(profits, bounds, kept, weight)
                    fills.setdefault(other.tobytes(), other)
        exhaustive = False
        if self.beam:
            beam = beam_patterns(
                self.table, self.room, profits, bounds, chosen, BEAM_KEEP, threshold=PRICES_OUT
            )
            for other in beam.patterns:
                fills.setdefault(other.tobytes(), other)
            exhaustive = beam.exhaustive
        return sorted(fills.values(), key=lambda p: -float(p @ profits)), exhaustive

    def _dantzig(self, profits: np.ndarray, bounds: np.ndarray, chosen: np.ndarray) -> float:
        """min over dimensions of that dimension's fractional knapsack value."""
        best = math.inf
        for d in range(self.table.shape[1]):
            w = self.table[chosen, d]
            free = w == 0  # no size in this dimension: every copy fits it
            value = float(profits[chosen[free]] @ bounds[chosen[free]])
            sized = chosen[~free]
            if len(sized):
                ws = self.table[sized, d].astype(np.float64)
                ratio = profits[sized] / ws
                order = np.argsort(-ratio, kind="stable")
                copies = bounds[sized][order].astype(np.float64)
                fill = np.cumsum(copies * ws[order])
                cap = float(self.room[d])
                whole = fill <= cap
                value += float(profits[sized][order][whole] @ copies[whole])
                k = int(whole.sum())
                if k < len(order):
                    done = fill[k - 1] if k else 0.0
                    value += (cap - done) * ratio[order][k]
            best = min(best, value)
        return best

    def _greedy(
        self, profits: np.ndarray, bounds: np.ndarray, chosen: np.ndarray, weight: str
    ) -> np.ndarray:
        share = self.share[chosen]
        size = share.sum(axis=1) if weight == "sum" else share.max(axis=1)
        order = chosen[np.argsort(-profits[chosen] / np.maximum(size, 1e-12), kind="stable")]
        pattern = np.zeros(len(self.table), dtype=np.int64)
        room = self.room.copy()
        for t in order.tolist():
            w = self.table[t]
            fit = int(bounds[t])
            positive = w > 0
            if positive.any():
                fit = min(fit, int((room[positive] // w[positive]).min()))
            if fit > 0:
                pattern[t] = fit
                room -= fit * w
        return pattern

    def _exact(
        self,
        profits: np.ndarray,
        bounds: np.ndarray,
        chosen: np.ndarray,
        hint: np.ndarray,
        deadline: Deadline,
    ) -> Priced:
        from ortools.sat.python import cp_model

        self.exact_calls += 1
        model = cp_model.CpModel()
        ids = chosen.tolist()
        take = {t: model.new_int_var(0, int(bounds[t]), "") for t in ids}
        for d, cap in enumerate(self.room.tolist()):
            terms = [(int(self.table[t, d]), take[t]) for t in ids if self.table[t, d] > 0]
            if terms:
                model.add(sum(w * x for w, x in terms) <= cap)
        gain = {t: int(profits[t] * VECTOR_SCALE) for t in ids}
        model.maximize(sum(gain[t] * take[t] for t in ids))
        for t in ids:
            model.add_hint(take[t], int(hint[t]))
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        status = cpsat_solve(solver, model, deadline.part(1.0, at_most=VECTOR_PRICING_SECONDS))
        pattern = hint.copy()
        most_items = int(bounds[chosen].sum())
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            pattern = np.zeros(len(self.table), dtype=np.int64)
            for t in ids:
                pattern[t] = solver.value(take[t])
            bound = float(solver.best_objective_bound)
        else:  # nothing in time: the greedy fill, and the trivial bound
            bound = float(sum(gain[t] * int(bounds[t]) for t in ids))
        value = float(pattern @ profits)
        upper = max(
            value, min((bound + most_items) / VECTOR_SCALE, self._dantzig(profits, bounds, chosen))
        )
        return Priced(value, pattern, upper)
