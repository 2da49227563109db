"""Arc-flow MILP (Valério de Carvalho 1999) for pure one-resource bin packing.

Nodes are fill levels 0..C of one bin; an item arc ``u -> u + w`` per item type, built in
non-increasing size order from the levels reachable so far (each type at most ``count`` times in a
row), and loss arcs ``u -> C``. One unit of flow from 0 to C is one used bin. Its LP relaxation is
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

from engine.ir import Problem

from .model import Key, Level

ARC_LIMIT = 200_000  # beyond this the per-bin model is used


def _resource(problem: Problem) -> str | None:
    demanded = {r for g in problem.items for r, a in g.demand.items() if a > 0}
    return next(iter(demanded)) if len(demanded) == 1 else None


def arcflow_applies(problem: Problem) -> str | None:
    """None when the arc-flow model is exact for this problem, else why not."""
    if not problem.bins or not problem.items:
        return "nothing to pack"
    if problem.constraints or problem.traffic or problem.tenants:
        return "the problem has constraints, traffic or tenants"
    if [dict(level) for level in problem.objective] != [{"bins_used": 1.0}]:
        return "the objective is not bins_used alone"
    r = _resource(problem)
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
    if sum(g.count for g in problem.items) > 0 and _estimate(problem, r) > ARC_LIMIT:
        return "the arc-flow graph would be too large"
    return None


def _estimate(problem: Problem, r: str) -> int:
    return (problem.bins[0].capacity[r] + 1) * (len(problem.items) + 1)


@dataclass
class ArcFlowModel:
    problem: Problem
    lp: pulp.LpProblem
    levels: list[Level]
    arcs: dict[tuple[int, int, str | None], pulp.LpVariable]  # (from, to, group or None: loss)
    capacity: int
    info: dict[str, Any] = field(default_factory=dict)
    infeasible: list[str] = field(default_factory=list)
    symmetric: list[list[str]] = field(default_factory=list)
    variables: list[pulp.LpVariable] = field(default_factory=list)
    x: dict[Key, pulp.LpVariable] = field(default_factory=dict)  # none: no warm start by counts

    def canonical(self, counts: dict[Key, int]) -> dict[Key, int]:
        return counts

    def counts(self) -> dict[Key, int]:
        """Decompose the integer flow into 0 -> C paths, one per bin, in the problem's bin order."""
        flow = defaultdict(int)
        out: dict[int, list[tuple[int, int, str | None]]] = defaultdict(list)
        for key, var in self.arcs.items():
            n = round(var.varValue or 0.0)
            if n > 0:
                flow[key] = n
                out[key[0]].append(key)
        counts: dict[Key, int] = defaultdict(int)
        bins = [b.name for b in self.problem.bins]
        need = {g.name: g.count for g in self.problem.items}
        used = 0
        while any(flow[a] > 0 for a in out[0]):
            node, path = 0, []
            while node != self.capacity:
                arc = next(a for a in out[node] if flow[a] > 0)
                flow[arc] -= 1
                path.append(arc)
                node = arc[1]
            for _, _, group in path:
                if group is not None and need[group] > 0 and used < len(bins):
                    counts[(group, bins[used])] += 1
                    need[group] -= 1
            used += 1
        return dict(counts)


def build_arcflow(problem: Problem) -> ArcFlowModel:
    r = _resource(problem)
    assert r is not None
    cap = problem.bins[0].capacity[r]
    lp = pulp.LpProblem("arcflow", pulp.LpMinimize)
    groups = sorted(problem.items, key=lambda g: -g.demand[r])
    reach = {0}
    arcs: dict[tuple[int, int, str | None], pulp.LpVariable] = {}
    for g in groups:
        w, new = g.demand[r], set()
        for u in sorted(reach):
            level = u
            for _ in range(g.count):  # a run of this type starting at u
                if level + w > cap:
                    break
                key = (level, level + w, g.name)
                if key not in arcs:
                    arcs[key] = lp.add_variable(f"f_{len(arcs)}", 0, g.count, pulp.LpInteger)
                level += w
                new.add(level)
        reach |= new
    nodes = sorted(reach | {cap})
    for u in nodes:
        if u != cap:
            arcs[(u, cap, None)] = lp.add_variable(f"loss_{u}", 0, None, pulp.LpInteger)
    bins = lp.add_variable("bins", 0, len(problem.bins), pulp.LpInteger)
    into: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    outof: dict[int, list[pulp.LpVariable]] = defaultdict(list)
    for (u, v, _), var in arcs.items():
        outof[u].append(var)
        into[v].append(var)
    lp += pulp.lpSum(outof[0]) == bins, "source"
    for u in nodes:
        if u not in (0, cap):
            lp += pulp.lpSum(into[u]) == pulp.lpSum(outof[u]), f"node_{u}"
    per_group: dict[str, list[pulp.LpVariable]] = defaultdict(list)
    for (_, _, g_name), var in arcs.items():
        if g_name is not None:
            per_group[g_name].append(var)
    for g in problem.items:
        lp += pulp.lpSum(per_group[g.name]) >= g.count, f"demand_{len(per_group[g.name])}_{g.name}"
    cost = problem.bins[0].cost
    expr = pulp.LpAffineExpression([(bins, cost)]) if cost else pulp.LpAffineExpression()
    only = Level(0, {"bins_used": 1.0}, [expr], expr, False)
    info = {"formulation": "arcflow", "arcs": len(arcs), "nodes": len(nodes)}
    return ArcFlowModel(problem, lp, [only], arcs, cap, info, variables=lp.variables())
