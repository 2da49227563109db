"""Arc-flow MILP (Valério de Carvalho 1999) for pure one-resource bin packing.

The graph is ``solvers.packing.arcflow``'s (fill levels of one bin, item arcs in non-increasing
size order, loss arcs to C); one unit of flow from 0 to C is one used bin. Its LP relaxation is
the Gilmore-Gomory bound, which for the Falkenauer sets almost always equals the optimum, where the
per-bin count model's bound is the weaker L1 and its identical bins make the search symmetric.

It applies to exactly what ``engine.formats.read_bpplib`` produces: identical bins (one resource,
same capacity and cost, nothing bin-specific), every group required, no constraints, no placed
items, and the objective ``bins_used`` alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pulp

from ..lowering import Key, Lowered
from ..packing.arcflow import ArcFlowGraph, arcflow_graph, decompose
from .model import LevelExprs

ARC_LIMIT = 200_000  # beyond this the per-bin model is used


def arcflow_applies(lowered: Lowered) -> str | None:
    """None when the arc-flow model is exact for this problem, else why not."""
    problem = lowered.problem
    if lowered.devices is not None:
        return "items request devices"
    if not problem.bins or not problem.items:
        return "nothing to pack"
    if problem.constraints or problem.traffic or problem.tenants:
        return "the problem has constraints, traffic or tenants"
    if [dict(level) for level in problem.objective] != [{"bins_used": 1.0}]:
        return "the objective is not bins_used alone"
    r = lowered.single_resource
    if r is None:
        return "items do not demand exactly one resource"
    first = problem.bins[0]
    if any(
        b.capacity.get(r, 0) != first.capacity.get(r, 0) or b.cost != first.cost
        for b in problem.bins
    ):
        return "bins differ"
    for g in problem.items:
        if not g.required or g.placed or g.allowed is not None or g.cost:
            return "items are optional, placed, restricted or priced per bin"
        if g.demand.get(r, 0) <= 0 or g.demand[r] > first.capacity.get(r, 0):
            return "an item demands nothing or more than a bin"
    capacity = lowered.divided_capacity(first, r)
    if (capacity + 1) * (len(problem.items) + 1) > ARC_LIMIT:
        return "the arc-flow graph would be too large"
    return None


@dataclass
class ArcFlowModel:
    lowered: Lowered
    lp: pulp.LpProblem
    levels: list[LevelExprs]
    graph: ArcFlowGraph
    flows: list[pulp.LpVariable]  # one per arc of the graph
    groups: list[str]  # the graph's item types
    info: dict[str, Any] = field(default_factory=dict)
    infeasible: list[str] = field(default_factory=list)
    variables: list[pulp.LpVariable] = field(default_factory=list)
    x: dict[Key, pulp.LpVariable] = field(default_factory=dict)  # none: no warm start by counts

    def counts(self) -> dict[Key, int]:
        """The integer flow as bins (0 -> C paths) in the problem's bin order, surplus items
        (the demand rows are ``>=``) left out."""
        bins = [b.name for b in self.lowered.problem.bins]
        need = {g.name: g.count for g in self.lowered.problem.items}
        flow = [round(f.varValue or 0.0) for f in self.flows]
        counts: dict[Key, int] = defaultdict(int)
        for b, content in zip(bins, decompose(self.graph, flow), strict=False):
            for t, n in content.items():
                g = self.groups[t]
                take = min(n, need[g])
                if take:
                    counts[(g, b)] += take
                    need[g] -= take
        return dict(counts)


def build_arcflow(lowered: Lowered) -> ArcFlowModel:
    problem = lowered.problem
    r = lowered.single_resource
    assert r is not None
    cap = lowered.divided_capacity(problem.bins[0], r)
    lp = pulp.LpProblem("arcflow", pulp.LpMinimize)
    groups = [g.name for g in problem.items]
    sizes = [lowered.divided(g, r) for g in problem.items]
    graph = arcflow_graph(sizes, [g.count for g in problem.items], cap)
    flows = []
    for n, (u, _, t) in enumerate(graph.arcs):
        if t < 0:
            flows.append(lp.add_variable(f"loss_{u}", 0, None, pulp.LpInteger))
        else:
            flows.append(lp.add_variable(f"f_{n}", 0, problem.items[t].count, pulp.LpInteger))
    bins = lp.add_variable("bins", 0, len(problem.bins), pulp.LpInteger)
    into: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    outof: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    per_group: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    for (u, v, t), var in zip(graph.arcs, flows, strict=True):
        outof[u].append(var)
        into[v].append(var)
        if t >= 0:
            per_group[t].append(var)
    lp += pulp.lpSum(outof[0]) == bins, "source"
    for u in sorted(set(into) | set(outof)):
        if u not in (0, cap):
            lp += pulp.lpSum(into[u]) == pulp.lpSum(outof[u]), f"node_{u}"
    for t, g in enumerate(problem.items):
        lp += pulp.lpSum(per_group[t]) >= g.count, f"demand_{len(per_group[t])}_{g.name}"
    cost = problem.bins[0].cost
    expr = pulp.LpAffineExpression([(bins, cost)]) if cost else pulp.LpAffineExpression()
    only = LevelExprs(lowered.levels[0], expr, [expr], [None])
    nodes = len({u for u, _, _ in graph.arcs} | {cap})
    info = {"formulation": "arcflow", "arcs": len(graph.arcs), "nodes": nodes}
    return ArcFlowModel(lowered, lp, [only], graph, flows, groups, info, variables=lp.variables())
