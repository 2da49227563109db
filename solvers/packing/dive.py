"""LP diving on the arc-flow relaxation (HiGHS): a packing heuristic for instances with slack.

Solve the arc-flow LP of the items left, split its flow into bin patterns, keep every pattern
the LP uses at least half a time (rounded to nearest, while its items last) — or the single most
used one when none does — and repeat on what is left. On instances whose optimum is the rounded-up LP value (nearly all
benchmarks), the dive loses less than one bin in total more often than bin-by-bin heuristics,
which pick each bin without looking at what the rest will need.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..quiet import quiet_stdout
from .arcflow import Arc, arcflow_graph
from .heuristics import Packing, first_fit_decreasing


def _solve_lp(arcs: list[Arc], counts: Sequence[int], capacity: int) -> list[float] | None:
    import highspy
    import numpy as np
    from scipy.sparse import csc_matrix

    nodes = sorted({u for u, _, _ in arcs} | {v for _, v, _ in arcs} | {0, capacity})
    row_of = {u: i for i, u in enumerate(nodes)}
    types = sorted({t for _, _, t in arcs if t >= 0})
    demand_row = {t: len(nodes) + i for i, t in enumerate(types)}
    rows, cols, vals = [], [], []
    for a, (u, v, t) in enumerate(arcs):
        rows += [row_of[u], row_of[v]]
        cols += [a, a]
        vals += [-1.0, 1.0]
        if t >= 0:
            rows.append(demand_row[t])
            cols.append(a)
            vals.append(1.0)
    z = len(arcs)  # feedback arc C -> 0: the number of bins
    rows += [row_of[0], row_of[capacity]]
    cols += [z, z]
    vals += [1.0, -1.0]
    n_rows, n_cols = len(nodes) + len(types), z + 1
    matrix = csc_matrix((vals, (rows, cols)), shape=(n_rows, n_cols))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    cost = np.zeros(n_cols)
    cost[z] = 1.0
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = np.full(n_cols, highspy.kHighsInf)
    bounds = np.zeros(n_rows)
    for t, r in demand_row.items():
        bounds[r] = counts[t]
    lp.row_lower_ = bounds
    lp.row_upper_ = bounds
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    with quiet_stdout():  # HiGHS prints a banner on stdout when first created
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return list(h.getSolution().col_value[: len(arcs)])


def _patterns(
    arcs: list[Arc], flow: list[float], capacity: int
) -> list[tuple[float, Counter[int]]]:
    """Split a 0 → C flow into paths: (flow value, items on the path)."""
    left = list(flow)
    out_of: dict[int, list[int]] = defaultdict(list)
    for a, (u, _, _) in enumerate(arcs):
        out_of[u].append(a)
    paths: list[tuple[float, Counter[int]]] = []
    while True:
        start = max(out_of[0], key=lambda a: left[a], default=None)
        if start is None or left[start] < 1e-7:
            return paths
        path = [start]
        u = arcs[start][1]
        while u != capacity:
            a = max(out_of[u], key=lambda a: left[a])
            path.append(a)
            u = arcs[a][1]
        value = min(left[a] for a in path)
        for a in path:
            left[a] -= value
        content: Counter[int] = Counter(arcs[a][2] for a in path if arcs[a][2] >= 0)
        if content:
            paths.append((value, content))


@dataclass
class Dive:
    lp_bound: int | None  # ceil of the first (whole-problem) LP: a valid lower bound
    packing: Packing | None  # None when the dive did not finish in time


def lp_dive(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    seconds: float,
    nearest: bool = True,
) -> Dive:
    """A packing by LP diving and the Gilmore–Gomory bound (both None without HiGHS).

    ``nearest`` keeps patterns used at least half a time (fewer, faster LP solves); otherwise
    only those used at least once, rounded down (slower, sometimes closer to the optimum)."""
    deadline = time.perf_counter() + seconds
    left = list(counts)
    packing: Packing = []
    lp_bound: int | None = None
    while any(left):
        if time.perf_counter() > deadline:
            return Dive(lp_bound, None)
        arcs = arcflow_graph(sizes, left, capacity).arcs
        try:
            flow = _solve_lp(arcs, left, capacity)
        except ImportError:
            return Dive(None, None)
        if flow is None:
            return Dive(lp_bound, None)
        if lp_bound is None:
            bins = sum(f for f, (u, _, _) in zip(flow, arcs, strict=True) if u == 0)
            lp_bound = math.ceil(bins - 1e-6)
        paths = _patterns(arcs, flow, capacity)
        # Keep each pattern about as often as the LP uses it (rounded to nearest, most used
        # first, while the items last): few LP solves, and the residual stays small.
        paths.sort(key=lambda p: -p[0])
        if nearest:
            chosen = [(round(v), c) for v, c in paths if v >= 0.5]
        else:
            chosen = [(int(v + 1e-6), c) for v, c in paths if v >= 1 - 1e-6]
        if not chosen and paths:
            chosen = [(1, max(paths, key=lambda p: p[0])[1])]
        progress = False
        for copies, content in chosen:
            for _ in range(copies):
                if all(left[t] >= j for t, j in content.items()):
                    for t, j in content.items():
                        left[t] -= j
                    packing.append(Counter(content))
                    progress = True
        if not progress:
            break
    if any(left):  # numerical leftovers: pack them first-fit decreasing
        packing.extend(first_fit_decreasing([(w,) for w in sizes], left, (capacity,)))
    return Dive(lp_bound, packing)
