"""Device patterns: what one device holds — a multiset of shares — and the best one for given
profits (the pricing of the device-pattern LP in ``master``).

A device KIND is a class's set of identical slots. A pattern of kind k counts device USES per
group (an item with shares on n devices makes n uses, each ``1/n`` of the item). The best
pattern maximises ``Σ_g uses_g·r_g`` with the shares within the device's room: a bounded
knapsack, solved exactly by dynamic programming over the room when devices have one resource
(GPU milli), by CP-SAT otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...deadline import Deadline, cpsat_solve

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

DP_LIMIT = 200_000  # largest room the dynamic programme walks (else CP-SAT)


@dataclass(frozen=True)
class Pattern:
    uses: tuple[tuple[int, int], ...]  # (group, uses), sorted

    def key(self) -> tuple[tuple[int, int], ...]:
        return self.uses


def best_pattern(
    room: IntArray,
    groups: list[int],
    share: IntArray,
    profit: FloatArray,
    most: IntArray,
    deadline: Deadline,
) -> tuple[Pattern, float, bool]:
    """The most profitable pattern of groups ``groups`` (per use ``profit[g]``, at most
    ``most[g]`` uses, ``share[g]`` each) in ``room``; its profit (an upper bound on it when not
    proven within ``deadline``) and whether that is proven."""
    chosen = [g for g in groups if profit[g] > 0 and most[g] > 0]
    if not chosen:
        return Pattern(()), 0.0, True
    used = [r for r in range(len(room)) if any(share[g, r] > 0 for g in chosen)]
    if len(used) == 1 and room[used[0]] <= DP_LIMIT:
        r = used[0]
        return _knapsack(int(room[r]), chosen, share[:, r], profit, most)
    return _cp_sat(room, chosen, share, profit, most, deadline)


def _knapsack(
    capacity: int, groups: list[int], weight: IntArray, profit: FloatArray, most: IntArray
) -> tuple[Pattern, float, bool]:
    """Bounded knapsack by binary splitting: best[w] over capacities 0..capacity. Groups of
    one weight are taken the most profitable first, so only the first ones whose uses can
    fill the device matter (many groups share a GPU share and differ in CPU or memory)."""
    pieces: list[tuple[int, int]] = []  # (group, copies)
    room_of: dict[int, int] = {}  # per weight: uses still worth offering
    for g in sorted(groups, key=lambda g: (-float(profit[g]), g)):
        w = int(weight[g])
        if w <= 0:
            continue
        room_of.setdefault(w, capacity // w)
        left = min(int(most[g]), room_of[w])
        room_of[w] -= left
        k = 1
        while left > 0:
            take = min(k, left)
            pieces.append((g, take))
            left -= take
            k *= 2
    best = np.zeros(capacity + 1)
    choice = np.full((len(pieces), capacity + 1), False)
    for i, (g, copies) in enumerate(pieces):
        w = int(weight[g]) * copies
        if w > capacity:
            continue
        gain = float(profit[g]) * copies
        candidate = best[: capacity + 1 - w] + gain
        better = candidate > best[w:] + 1e-12
        choice[i, w:] = better
        best[w:] = np.where(better, candidate, best[w:])
    at = int(np.argmax(best))
    value = float(best[at])
    uses: dict[int, int] = {}
    for i in range(len(pieces) - 1, -1, -1):
        if choice[i, at]:
            g, copies = pieces[i]
            uses[g] = uses.get(g, 0) + copies
            at -= int(weight[g]) * copies
    return Pattern(tuple(sorted(uses.items()))), value, True


def _cp_sat(
    room: IntArray,
    groups: list[int],
    share: IntArray,
    profit: FloatArray,
    most: IntArray,
    deadline: Deadline,
) -> tuple[Pattern, float, bool]:
    from ortools.sat.python import cp_model

    scale = 1000
    m = cp_model.CpModel()
    uses = {}
    for g in groups:
        on = share[g] > 0
        fit = int((room[on] // share[g, on]).min()) if on.any() else 0
        uses[g] = m.new_int_var(0, min(int(most[g]), fit), "")
    for r in range(len(room)):
        terms = [(uses[g], int(share[g, r])) for g in groups if share[g, r] > 0]
        if terms:
            m.add(
                cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [w for _, w in terms])
                <= int(room[r])
            )
    coefficients = [int(np.ceil(profit[g] * scale)) for g in groups]
    m.maximize(cp_model.LinearExpr.weighted_sum([uses[g] for g in groups], coefficients))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    status = cpsat_solve(solver, m, deadline)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        upper = sum(c * int(most[g]) for g, c in zip(groups, coefficients, strict=True))
        return Pattern(()), float(upper) / scale, False
    found = tuple(sorted((g, int(solver.value(v))) for g, v in uses.items() if solver.value(v)))
    value = sum(float(profit[g]) * n for g, n in found)
    bound = max(value, solver.best_objective_bound / scale)
    return Pattern(found), bound, status == cp_model.OPTIMAL
