"""The arc-flow model reduced by the LP's reduced costs: a packing into k bins, or a proof that
none exists.

Take dual-feasible prices π (no pattern worth more than 1) whose demand value is ``B = π·n``. A
packing into k bins is k paths through the arc-flow graph (``arcflow``), and its paths' reduced
costs ``1 − π·a`` are each ≥ 0 and sum to at most ``k − B``. So every arc whose cheapest path
has a reduced cost above ``k − B`` can go: no packing into k bins uses it. Near the LP optimum
that leaves a small fraction of the graph (nothing but the arcs of zero-cost paths when the LP
bound is k exactly), and a CP-SAT or HiGHS model on what is left either finds a packing into k
bins or proves that there is none — the bound then rises to k + 1, which is how instances
without the integer round-up property are closed.

The cheapest path through an arc ``u → u + w_t`` is bounded with two knapsack tables over the
item types taken largest first (as the graph takes them): ``F_t[u]``, the most a path can
collect reaching level u with types up to t, and ``G_t[v]``, the most it can collect from level
v to the end with types from t on. Both drop the per-type copy limit between the two halves,
which only keeps more arcs (the test stays valid). The tables are built in numpy, one vector
operation per copy of a type, and the whole build watches its deadline and its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..deadline import Deadline, OutOfTime, cpsat_solve, slowdown
from .arcflow import LOSS, Arc, ArcFlowGraph, decompose

MAX_CELLS = 30_000_000  # types × (C + 1) of the backward table (float32)
MAX_ARCS = 300_000  # beyond this the reduced model is not built
# Building the CP-SAT model of a graph takes about this long per arc on a quiet core (130,000
# arcs: 0.7 s); a model whose build alone would not fit the time left is not begun.
BUILD_SECONDS_PER_ARC = 5e-6
CHECK_EVERY = 4096  # arcs (nodes) built between deadline checks
TOLERANCE = 1e-5  # on path values (float32 tables)


@dataclass
class Reduced:
    graph: ArcFlowGraph
    bins: int  # the model asks for at most this many bins
    kept: float  # share of the full graph's item arcs kept
    full: bool = False  # ``bins`` bins hold the items only if every one is full: no loss arcs


def reduced_graph(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    prices: np.ndarray,
    bins: int,
    deadline: Deadline,
    max_arcs: int = MAX_ARCS,
) -> Reduced | None:
    """The arcs a packing into ``bins`` bins may use (None: more than ``max_arcs``, or out of
    time).

    ``prices`` must be dual feasible: no pattern is worth more than 1 under them."""
    sizes_a = np.asarray(sizes, dtype=np.int64)
    counts_a = np.asarray(counts, dtype=np.int64)
    order = [t for t in np.argsort(-sizes_a, kind="stable").tolist() if counts_a[t] > 0]
    cap = int(capacity)
    if len(order) * (cap + 1) > MAX_CELLS or any(sizes_a[t] <= 0 for t in order):
        return None
    pi = np.asarray(prices, dtype=np.float64)
    gap = bins - float(pi @ counts_a)
    if gap < -TOLERANCE:
        return Reduced(ArcFlowGraph(cap), bins, 0.0)  # the LP already needs more than ``bins``
    threshold = 1.0 - gap - TOLERANCE  # a kept arc lies on a path worth at least this
    neg = np.float32(-np.inf)
    most = {t: min(int(counts_a[t]), cap // int(sizes_a[t])) for t in order}
    # Backward tables: after[i][v] = most collected from level v with types order[i:].
    after: list[np.ndarray] = [np.zeros(cap + 1, dtype=np.float32)]
    for t in reversed(order):
        if deadline.expired():
            return None
        w, p = int(sizes_a[t]), np.float32(pi[t])
        prev = after[-1]
        cur = prev.copy()
        for j in range(1, most[t] + 1):
            shift = j * w
            np.maximum(cur[: cap + 1 - shift], prev[shift:] + j * p, out=cur[: cap + 1 - shift])
        after.append(cur)
    after.reverse()  # after[i] goes with order[i]; after[len(order)] is all zeros
    forward = np.full(cap + 1, neg, dtype=np.float32)
    forward[0] = 0.0
    arcs: list[Arc] = []
    full = 0
    for i, t in enumerate(order):
        if deadline.expired():
            return None
        w, p = int(sizes_a[t]), np.float32(pi[t])
        cur = forward.copy()
        for j in range(1, most[t] + 1):
            shift = j * w
            np.maximum(cur[shift:], forward[: cap + 1 - shift] + j * p, out=cur[shift:])
        reach = cur[: cap + 1 - w]
        tails = np.isfinite(reach)
        full += int(tails.sum())
        value = reach + p + after[i][w:]
        keep = np.flatnonzero(tails & (value >= threshold))
        arcs.extend((int(u), int(u) + w, t) for u in keep.tolist())
        if len(arcs) > max_arcs:
            return None
        forward = cur
    # Into exactly as many bins as the items fill, every bin is full: no loss arcs, and only
    # the arcs of zero-waste paths are left (a much smaller, tighter model: triplets).
    exact = bins * cap == int(sizes_a @ counts_a)
    graph = _close(cap, arcs, loss=not exact)
    kept = sum(1 for _, _, t in graph.arcs if t != LOSS)
    return Reduced(graph, bins, kept / max(1, full), full=exact)


def _close(capacity: int, item_arcs: list[Arc], loss: bool = True) -> ArcFlowGraph:
    """Loss arcs to C (unless ``loss`` is false), then only the arcs on some 0 → C path
    (levels grow along every arc)."""
    heads = {v for _, v, _ in item_arcs}
    arcs = list(item_arcs)
    if loss:
        arcs += [(v, capacity, LOSS) for v in sorted(heads) if v < capacity]
    reached = {0}
    for u, v, _ in sorted(arcs):
        if u in reached:
            reached.add(v)
    leads = {capacity}
    for u, v, _ in sorted(arcs, key=lambda a: -a[1]):
        if v in leads:
            leads.add(u)
    graph = ArcFlowGraph(capacity)
    for u, v, t in arcs:
        if u in reached and v in leads:
            graph.add((u, v, t))
    return graph


def build_fits(reduced: Reduced, deadline: Deadline) -> bool:
    """Would the CP-SAT model of ``reduced`` be built in the time left? It is built in Python
    (a few microseconds per arc, many times that on a loaded machine): not begun when the build
    at this load would not fit (a 100,000-arc model on a 0.5 s share at load 9 used 1.4 s for
    nothing). As time only shrinks, a build that does not fit now never will."""
    return deadline.left() >= BUILD_SECONDS_PER_ARC * len(reduced.graph.arcs) * slowdown()


def solve_reduced(
    reduced: Reduced,
    counts: Sequence[int],
    deadline: Deadline,
    seed: int = 0,
    hint: tuple[Sequence[int], Sequence[dict[int, int]]] | None = None,
    work: float | None = None,
    linearization: int = 2,
) -> tuple[str, list[dict[int, int]] | None]:
    """CP-SAT on the reduced graph: ("optimal", bins) with the fewest bins (a proof: the graph
    holds every packing into at most ``reduced.bins`` bins), ("found", bins) with at most that
    many, ("infeasible", None) when none exists, ("unknown", None) otherwise. ``hint`` =
    (sizes, packing) starts the search from that packing where its paths are in the graph;
    ``work`` caps CP-SAT's deterministic time (the same search on a loaded machine);
    ``linearization`` is CP-SAT's linearization level (2: the flow's LP in the search)."""
    from ortools.sat.python import cp_model

    graph, k = reduced.graph, reduced.bins
    if not graph.arcs:
        return "infeasible", None
    if not build_fits(reduced, deadline):
        return "unknown", None
    try:
        built = _flow_model(graph, counts, k, reduced.full, deadline)
    except OutOfTime:
        return "unknown", None
    if built is None:
        return "infeasible", None
    model, flows = built
    if hint is not None:
        routed = _route(graph, hint[0], hint[1])
        if routed is not None:
            for f, value in zip(flows, routed, strict=True):
                model.add_hint(f, value)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.linearization_level = linearization
    if work is not None:
        solver.parameters.max_deterministic_time = work
    status = cpsat_solve(solver, model, deadline)
    if status == cp_model.INFEASIBLE:
        return "infeasible", None
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return "unknown", None
    paths = decompose(graph, [int(solver.value(f)) for f in flows])
    return ("optimal" if status == cp_model.OPTIMAL else "found"), [dict(p) for p in paths]


def _flow_model(
    graph: ArcFlowGraph, counts: Sequence[int], k: int, full: bool, deadline: Deadline
) -> tuple[Any, list[Any]] | None:
    """The CP-SAT flow model of ``graph`` covering every item exactly with at most ``k`` paths
    (exactly ``k`` when ``full``); None when some type has no arc. Raises ``OutOfTime``."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    flows = []
    into: dict[int, list[Any]] = {}
    out_of: dict[int, list[Any]] = {}
    per_type: dict[int, list[Any]] = {}
    for a, (u, v, t) in enumerate(graph.arcs):
        if a % CHECK_EVERY == 0:
            deadline.check()
        f = model.new_int_var(0, k if t < 0 else int(counts[t]), "")
        flows.append(f)
        out_of.setdefault(u, []).append(f)
        into.setdefault(v, []).append(f)
        if t >= 0:
            per_type.setdefault(t, []).append(f)
    for t, n in enumerate(counts):
        if n > 0:
            if t not in per_type:
                return None
            model.add(cp_model.LinearExpr.sum(per_type[t]) == int(n))
    deadline.check()
    used = cp_model.LinearExpr.sum(out_of.get(0, []))
    model.add(cp_model.LinearExpr.sum(into.get(graph.capacity, [])) == used)
    for i, node in enumerate(set(into) | set(out_of)):
        if i % CHECK_EVERY == 0:
            deadline.check()
        if node not in (0, graph.capacity):
            inflow = cp_model.LinearExpr.sum(into.get(node, []))
            model.add(inflow == cp_model.LinearExpr.sum(out_of.get(node, [])))
    if full:  # k bins exactly, all full: no fewer can hold the items
        model.add(used == k)
    else:
        model.add(used <= k)
        model.minimize(used)
    return model, flows


def _route(
    graph: ArcFlowGraph, sizes: Sequence[int], packing: Sequence[dict[int, int]]
) -> list[int] | None:
    """Arc flows carrying each bin's items largest first (as the graph orders them), then
    its loss arc; None when a path is not in the graph."""
    flow = [0] * len(graph.arcs)
    for content in packing:
        u = 0
        for t in sorted(content, key=lambda t: (-sizes[t], t)):
            for _ in range(content[t]):
                arc = graph.index.get((u, u + sizes[t], t))
                if arc is None:
                    return None
                flow[arc] += 1
                u += sizes[t]
        if 0 < u < graph.capacity:
            arc = graph.index.get((u, graph.capacity, LOSS))
            if arc is None:
                return None
            flow[arc] += 1
    return flow
