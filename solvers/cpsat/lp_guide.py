"""LP guidance for the per-bin model's linear stages: a bound, and an LP-rounded plan to hint.

For a stage whose integer objective is linear in the counts (``placed``, ``value``, ``cost`` and
priority tiers: the (group, bin) counts and the groups' placed totals), the LP relaxation of the
model's core — counts within their bounds, group totals, capacities, and every earlier stage held
at the value it was fixed at, exactly as in the CpModel — bounds the stage. The rules it leaves
out (affinity, spread, quotas, devices...) only make it a relaxation, and so do the objective's
other variables (traffic products, violation counters) taken at their cheapest domain end. On assignment problems with
per-item costs (edge placement) that LP is nearly integral: its rounding is a plan close to (often
at) the optimum, which CP-SAT alone reaches slowly on 100,000 counts.

The bound is the LP's dual bound recomputed from HiGHS's row duals in the stage's own integer
units (any duals of the right signs give a valid bound, so HiGHS's tolerances cannot make it
wrong), minus a floating-point error allowance, and rounded up to an integer: the objective is
integral on every plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import interrupt

from ..lowering import Key
from .common import ScaledObjective

LP_SECONDS = 30.0  # an LP's limit when the solve has none


def guide_applies(model: Any) -> str | None:
    """Why the LP guide would not help (None when it would): it pays where items have costs."""
    lowered = model.lowered
    problem = lowered.problem
    if lowered.devices is not None:
        return "items request devices"
    if not any("cost" in level.terms for level in lowered.levels):
        return "no cost level"
    if not any(g.cost for g in problem.items):
        return "no per-item costs"
    return None


@dataclass
class LpAnswer:
    bound: int | None  # proved lower bound on the stage's integer objective (None: no LP optimum)
    counts: dict[Key, int] | None  # the LP's plan rounded (None: none)
    seconds: float
    fractional: int = 0  # counts the LP left fractional


class CoreLp:
    """The LP relaxation of a ``PerBinModel``'s counts, totals and capacities, built once."""

    def __init__(self, model: Any) -> None:
        from scipy.sparse import csc_matrix

        lowered = model.lowered
        problem = lowered.problem
        group_of = lowered.group_index
        eligible = lowered.eligible
        keys = list(model.x)  # built group by group over the eligible pairs, in their order
        if len(keys) != len(eligible):
            raise ValueError("the per-bin model's counts are not the lowering's eligible pairs")
        self.keys = keys
        self.column = {var.index: j for j, var in enumerate(model.x.values())}
        gi, bi = eligible.group, eligible.bin.astype(np.int64)
        self.group, self.bin = gi, bi
        self.low = eligible.low.astype(np.float64)
        self.high = eligible.high.astype(np.float64)
        cols = len(keys)
        self.totals = {var.index: group_of[g] for g, var in model.total.items()}
        self.proto = model.model.proto
        groups, bins = len(problem.items), len(lowered.bins)
        counts = np.array([g.count for g in problem.items], np.float64)
        required = np.array([g.required for g in problem.items])
        self.demand = np.array(model.divided, np.float64).reshape(groups, -1)  # divided units
        self.capacity = np.array(
            [
                [b.capacity.get(r, 0) // model.div[r] for r in lowered.resources]
                for b in problem.bins
            ],
            np.float64,
        ).reshape(bins, -1)
        rows_i, rows_j, vals = [gi], [np.arange(cols)], [np.ones(cols)]
        lower, upper = [np.where(required, counts, 0.0)], [counts]
        row = groups
        for r in range(self.demand.shape[1]):
            d = self.demand[gi, r]
            on = np.flatnonzero(d > 0)
            rows_i.append(row + bi[on])
            rows_j.append(on)
            vals.append(d[on])
            lower.append(np.full(bins, -np.inf))
            upper.append(self.capacity[:, r])
            row += bins
        self.rows = row
        self.matrix = csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(rows_j))),
            shape=(row, cols),
        ).tocsr()
        self.row_lower, self.row_upper = np.concatenate(lower), np.concatenate(upper)

    def costs(self, objective: ScaledObjective) -> tuple[np.ndarray, int]:
        """The objective over the count columns, and its constant. Any other variable (traffic
        products, bins used, violation counters) is relaxed to the end of its domain that
        makes it cheapest: what remains still bounds the objective from below."""
        c = np.zeros(len(self.keys))
        per_group = np.zeros(len(self.demand))
        offset = int(objective.offset)
        variables = self.proto.variables
        for var, coef in zip(objective.variables, objective.coefficients, strict=True):
            j = self.column.get(var.index)
            if j is not None:
                c[j] += coef
                continue
            g = self.totals.get(var.index)
            if g is not None:
                per_group[g] += coef
                continue
            domain = variables[var.index].domain
            offset += int(coef) * int(domain[0] if coef > 0 else domain[len(domain) - 1])
        return c + per_group[self.group], offset

    def guides(self, objective: ScaledObjective) -> bool:
        """Does the objective weigh the counts at all (else the LP has nothing to say)?"""
        return bool(self.costs(objective)[0].any())

    def solve(
        self,
        objective: ScaledObjective,
        fixed: Sequence[tuple[ScaledObjective, int]],
        time_limit: float,
    ) -> LpAnswer:
        """Minimise the stage's integer objective over the relaxation, with each earlier stage's
        objective at most the value it was fixed at (as the CpModel has it)."""
        import highspy
        from scipy.sparse import csr_matrix, vstack

        from ..quiet import solve_lp

        began = time.perf_counter()
        if time_limit <= 0.05 or interrupt.requested():
            return LpAnswer(None, None, 0.0)
        c, offset = self.costs(objective)
        extra_rows, extra_upper = [], []
        for earlier, value in fixed:
            held, constant = self.costs(earlier)  # the count part of a held stage
            if held.any():
                extra_rows.append(held)
                extra_upper.append(value - constant)
        matrix, lower, upper = self.matrix, self.row_lower, self.row_upper
        if extra_rows:
            matrix = vstack([matrix, csr_matrix(np.array(extra_rows))]).tocsr()
            lower = np.concatenate([lower, np.full(len(extra_rows), -np.inf)])
            upper = np.concatenate([upper, np.array(extra_upper, np.float64)])
        csc = matrix.tocsc()
        lp = highspy.HighsLp()
        lp.num_col_ = len(c)
        lp.num_row_ = matrix.shape[0]
        lp.col_cost_ = c
        lp.col_lower_ = self.low
        lp.col_upper_ = self.high
        lp.row_lower_ = lower
        lp.row_upper_ = upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        h = solve_lp(lp, time_limit)
        if h is None or h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return LpAnswer(None, None, time.perf_counter() - began)
        solution = h.getSolution()
        x = np.asarray(solution.col_value, np.float64)
        y = np.asarray(solution.row_dual, np.float64)
        bound = dual_bound(c, matrix, lower, upper, self.low, self.high, y)
        proved = None if bound is None else bound + offset
        counts, fractional = self.rounded(x)
        return LpAnswer(proved, counts, time.perf_counter() - began, fractional)

    def rounded(self, x: np.ndarray) -> tuple[dict[Key, int], int]:
        """The LP plan rounded down, then each group's rounded-off items put back, cheapest LP
        share first, where capacity and bounds allow (the plan is checked by the caller)."""
        base = np.floor(x + 1e-6)
        base = np.clip(base, self.low, self.high)
        fractional = int((np.abs(x - base) > 1e-6).sum())
        groups = len(self.demand)  # the last groups may have no pairs
        placed = np.bincount(self.group, weights=x, minlength=groups)
        left = np.floor(placed + 1e-6) - np.bincount(self.group, weights=base, minlength=groups)
        if (left > 0).any():
            room = self.capacity.copy()
            np.subtract.at(room, self.bin, base[:, None] * self.demand[self.group])
            for g in np.flatnonzero(left > 0).tolist():
                mine = np.flatnonzero(self.group == g)
                order = mine[np.argsort(-(x[mine] - base[mine]), kind="stable")]
                need = int(left[g])
                for j in order.tolist():
                    if need == 0:
                        break
                    b = int(self.bin[j])
                    while need and base[j] < self.high[j] and (room[b] >= self.demand[g]).all():
                        base[j] += 1
                        room[b] -= self.demand[g]
                        need -= 1
        counts = {self.keys[j]: int(n) for j, n in enumerate(base.tolist()) if n > 0}
        return counts, fractional


def dual_bound(
    c: np.ndarray,
    matrix: Any,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    y: np.ndarray,
) -> int | None:
    """A lower bound on min c·x over {row_lower ≤ Ax ≤ row_upper, col bounds}, rounded up to an
    integer, from any row duals ``y``: c·x = y·Ax + (c − Aᵀy)·x, each part at its least over its
    range. Exact: ``c``, ``A`` and the finite bounds are integers; the duals are rounded to a
    dyadic grid (any duals give a bound) and the sums are taken in Python integers. Duals of the
    wrong sign for a row open on that side are set to 0. None when the bound is -inf."""
    y = np.where(np.isneginf(row_lower), np.minimum(y, 0.0), y)
    y = np.where(np.isposinf(row_upper), np.maximum(y, 0.0), y)
    biggest = float(np.abs(y).max(initial=0.0))
    if not math.isfinite(biggest) or float(np.abs(c).max(initial=0.0)) >= 2.0**53:
        return None
    shift = 52 - math.frexp(biggest)[1] if biggest > 0 else 0  # |y|·2^shift < 2^52
    if shift < 0:
        return None
    scale = 2**shift
    scaled = np.rint(np.ldexp(y, shift))  # exact integers in float
    dual = np.array([int(v) for v in scaled.tolist()], dtype=object)
    total = 0  # the bound times 2^shift
    for n, d in enumerate(dual.tolist()):
        if d == 0:
            continue
        side = row_lower[n] if d > 0 else row_upper[n]
        if not math.isfinite(side):
            return None
        total += d * int(side)
    csc = matrix.tocsc()
    data = np.array([int(v) for v in csc.data.tolist()], dtype=object)
    parts = data * dual[csc.indices]
    starts = csc.indptr[:-1]
    used = np.diff(csc.indptr) > 0
    priced = np.zeros(len(c), dtype=object)
    if used.any():
        priced[used] = np.add.reduceat(parts, starts[used])
    for j, (cost, a_y) in enumerate(zip(c.tolist(), priced.tolist(), strict=True)):
        reduced = int(cost) * scale - a_y  # times 2^shift
        if reduced == 0:
            continue
        end = col_lower[j] if reduced > 0 else col_upper[j]
        if not math.isfinite(end):
            return None
        total += reduced * int(end)
    return -((-total) // scale)  # ceil(total / 2^shift)
