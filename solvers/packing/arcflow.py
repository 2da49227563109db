"""The arc-flow graph of one-dimensional packing (Valério de Carvalho 1999, as in VPSolver).

Nodes are fill levels 0..C of one bin. Item arcs ``u -> u + w`` exist only in non-increasing
size order (types taken largest first, each at most ``count`` times in a row from every level
reached so far), and a loss arc leads every non-empty level below C to C. One unit of flow from 0
to C is one bin; its item arcs are the bin's contents. The LP relaxation of the flow equals the
Gilmore–Gomory (pattern) bound. The CP-SAT and MILP arc-flow models and the LP dive all build
their graph here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Arc = tuple[int, int, int]  # (from level, to level, type; -1 for a loss arc)
LOSS = -1


@dataclass
class ArcFlowGraph:
    capacity: int
    arcs: list[Arc] = field(default_factory=list)
    index: dict[Arc, int] = field(default_factory=dict)

    def add(self, arc: Arc) -> None:
        if arc not in self.index:
            self.index[arc] = len(self.arcs)
            self.arcs.append(arc)

    def close(self, levels: Iterable[int]) -> None:
        """Loss arcs from every non-empty level below the capacity."""
        for u in sorted(levels):
            if 0 < u < self.capacity:
                self.add((u, self.capacity, LOSS))


def arcflow_graph(sizes: Sequence[int], counts: Sequence[int], capacity: int) -> ArcFlowGraph:
    """The full graph: every packing of these item types into one bin is a path."""
    graph = ArcFlowGraph(capacity)
    levels = {0}
    for t in sorted(range(len(sizes)), key=lambda t: -sizes[t]):
        w = sizes[t]
        if counts[t] <= 0 or w <= 0:
            continue
        reached: set[int] = set()
        for u in sorted(levels):
            v = u
            for _ in range(min(counts[t], capacity // w)):
                if v + w > capacity:
                    break
                graph.add((v, v + w, t))
                v += w
                reached.add(v)
        levels |= reached
    graph.close(levels)
    return graph


def paths_graph(
    sizes: Sequence[int], capacity: int, packing: Iterable[Counter[int]]
) -> ArcFlowGraph:
    """The graph of just these bins' paths (items largest first, then the loss arc): enough
    when the packing is known to be optimal."""
    graph = ArcFlowGraph(capacity)
    levels = set()
    for content in packing:
        u = 0
        for t in sorted(content, key=lambda t: (-sizes[t], t)):
            for _ in range(content[t]):
                graph.add((u, u + sizes[t], t))
                u += sizes[t]
        levels.add(u)
    graph.close(levels)
    return graph


def decompose(graph: ArcFlowGraph, flow: Sequence[int]) -> list[Counter[int]]:
    """An integral 0 -> C flow (one value per arc) as bins: the item types on each path."""
    left = list(flow)
    out_of: dict[int, list[int]] = {}
    for a, (u, _, _) in enumerate(graph.arcs):
        out_of.setdefault(u, []).append(a)
    bins: list[Counter[int]] = []
    while True:
        arc = next((a for a in out_of.get(0, ()) if left[a] > 0), None)
        if arc is None:
            return bins
        content: Counter[int] = Counter()
        while arc is not None:
            left[arc] -= 1
            _, v, t = graph.arcs[arc]
            if t != LOSS:
                content[t] += 1
            arc = next((a for a in out_of.get(v, ()) if left[a] > 0), None)
        bins.append(content)
