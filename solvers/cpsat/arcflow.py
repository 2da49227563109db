"""Arc-flow model (Valério de Carvalho 1999, as in VPSolver) for pure one-resource packing.

Each class of identical bins gets a graph whose nodes are fill levels 0..C. Item arcs ``u → u+w``
exist only in non-increasing size order (types sorted by size, each type at most ``count``
times in a row), loss arcs lead every non-empty fill level to C. One unit of flow from 0 to C is
one used bin; its item arcs are the bin's contents. The LP relaxation equals the pattern
(Gilmore–Gomory) bound, far stronger than per-bin counts when many bins are identical.

For plain bin packing (one bin class, every item required, nothing but ``placed`` and
``bins_used`` in the objective) the model first runs ``solvers.packing.one_dim``: the L2 lower bound
becomes a constraint on the bins used, and the best packing found (pattern model, bin
completion, MBS') replaces a weaker starting plan in ``hint_values``. When the two meet, CP-SAT
proves the optimum at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.ir import Problem

from ..packing.heuristics import Packing
from ..packing.one_dim import Presolved, check_packing, presolve
from .common import Linear, bin_classes, resource_divisors
from .vector_packing import VectorPackingModel, plain_vector_packing

Key = tuple[str, str]

ARC_LIMIT = 400_000  # beyond this many arcs the per-bin model is used instead
PACKING_TERMS = frozenset({"placed", "bins_used", "cost"})
PRESOLVE_SECONDS = 6.0  # presolve budget when the caller gives no time limit
PRESOLVE_SHARE = 0.6  # share of a given time limit the presolve may use


def _resource(problem: Problem) -> str | None:
    demanded = {r for g in problem.items for r, a in g.demand.items() if a > 0}
    return next(iter(demanded)) if len(demanded) == 1 else None


def arcflow_applies(problem: Problem) -> str | None:
    """None when the arc-flow model is exact for this problem, else why not."""
    if problem.constraints:
        return "the problem has constraints"
    if problem.traffic:
        return "the problem has traffic"
    if any(t.quota for t in problem.tenants):
        return "tenants have quotas"
    if any(g.placed for g in problem.items):
        return "items are already placed"
    terms = {t for level in problem.objective for t in level}
    if not terms <= PACKING_TERMS:
        return f"objective terms {sorted(terms - PACKING_TERMS)} are not packing terms"
    if _resource(problem) is None:
        if plain_vector_packing(problem):
            return None  # several resources: ArcFlowModel builds a VectorPackingModel
        return "items do not demand exactly one resource"
    if any(not g.demand or max(g.demand.values()) == 0 for g in problem.items):
        return "some items demand nothing"
    if not problem.bins or not problem.items:
        return "nothing to pack"
    size = _estimate_arcs(problem)
    if size > ARC_LIMIT:
        return f"the arc-flow graph would have about {size} arcs (limit {ARC_LIMIT})"
    return None


def _estimate_arcs(problem: Problem) -> int:
    r = _resource(problem)
    assert r is not None
    div = resource_divisors(problem)[r]
    cap = max(b.capacity.get(r, 0) for b in problem.bins) // div
    total = 0
    for g in problem.items:
        w = g.demand[r] // div
        total += (cap + 1) * min(g.count, cap // max(w, 1))
    return total


@dataclass
class _Graph:
    capacity: int
    bins: list[str]
    types: list[tuple[str, int]]  # (group, size), largest first
    arcs: list[tuple[int, int, int]] = field(default_factory=list)  # (u, v, type or -1 = loss)
    index: dict[tuple[int, int, int], int] = field(default_factory=dict)


def _build_graph(capacity: int, bins: list[str], types: list[tuple[str, int, int]]) -> _Graph:
    graph = _Graph(capacity, bins, [(g, w) for g, w, _ in types])
    nodes = {0}
    for t, (_, w, count) in enumerate(types):
        repeat = min(count, capacity // w)
        new: set[int] = set()
        for u in sorted(nodes):
            v = u
            for _ in range(repeat):
                if v + w > capacity:
                    break
                arc = (v, v + w, t)
                if arc not in graph.index:
                    graph.index[arc] = len(graph.arcs)
                    graph.arcs.append(arc)
                new.add(v + w)
                v += w
        nodes |= new
    for u in sorted(nodes):
        if 0 < u < capacity:
            arc = (u, capacity, -1)
            graph.index[arc] = len(graph.arcs)
            graph.arcs.append(arc)
    return graph


class ArcFlowModel:
    """Same interface as ``PerBinModel``: ``model``, ``term``, ``tier``, ``hint_values``, ``counts``.

    ``time_limit`` and ``threads`` (optional) size the presolve of plain bin packing; without a
    limit it takes at most ``PRESOLVE_SECONDS``. ``presolve=False`` skips it. For plain packing
    over several resources the constructor returns a ``VectorPackingModel`` instead.
    """

    def __new__(cls, problem: Problem, **kwargs: Any) -> Any:
        # Plain packing over several resources: the per-bin model with a vector bound and start
        # (an arc-flow graph over residual vectors would be far too large).
        if _resource(problem) is None:
            return VectorPackingModel(problem)
        return super().__new__(cls)

    def __init__(
        self,
        problem: Problem,
        *,
        time_limit: float | None = None,
        threads: int | None = None,
        seed: int = 0,
        presolve: bool = True,
    ) -> None:
        from ortools.sat.python import cp_model

        self.problem = problem
        self.presolved: Presolved | None = None
        self.model = cp_model.CpModel()
        m = self.model
        r = _resource(problem)
        assert r is not None
        div = resource_divisors(problem)[r]
        self.graphs: list[_Graph] = []
        self.flow: list[list[Any]] = []
        self.bins_of_class: list[Any] = []
        item_arcs: dict[str, list[tuple[Any, float]]] = defaultdict(list)  # group -> (var, cost)
        self.cut_terms: list[tuple[Any, int]] = []
        eligible = {g.name: set(problem.eligible(g.name)) for g in problem.items}
        classes = []
        for cls in bin_classes(problem):
            first = problem.bin_by_name[cls[0]]
            cap = first.capacity.get(r, 0) // div
            types = sorted(
                (
                    (g.name, g.demand[r] // div, g.count)
                    for g in problem.items
                    if cls[0] in eligible[g.name]
                ),
                key=lambda t: (-t[1], t[0]),
            )
            if types and cap > 0:
                classes.append((cls, first, cap, types))
        if presolve and _plain_packing(problem, [types for *_, types in classes]):
            budget = PRESOLVE_SECONDS
            if time_limit is not None:
                budget = min(budget, PRESOLVE_SHARE * time_limit)
            _, _, cap, types = classes[0]
            self.presolved = _run_presolve(cap, types, budget, threads or 1, seed)
        for cls, first, cap, types in classes:
            done = self.presolved
            if done is not None and done.proven and len(done.packing) <= len(cls):
                # The optimum is known and proved: a graph of its own bins' paths is enough.
                graph = _plan_graph(cap, cls, types, done.packing)
            else:
                graph = _build_graph(cap, cls, types)
            n = len(cls)
            flows = []
            for _, _, t in graph.arcs:
                ub = n if t < 0 else min(n * (cap // graph.types[t][1]), types[t][2])
                flows.append(m.new_int_var(0, ub, ""))
            used = m.new_int_var(0, n, f"bins[{cls[0]}…]")
            out_of: dict[int, list[Any]] = defaultdict(list)
            into: dict[int, list[Any]] = defaultdict(list)
            for (u, v, t), f in zip(graph.arcs, flows, strict=True):
                out_of[u].append(f)
                into[v].append(f)
                if t >= 0:
                    group = graph.types[t][0]
                    item_arcs[group].append((f, problem.item_by_name[group].cost.get(cls[0], 0.0)))
            m.add(sum(out_of[0]) == used)
            m.add(sum(into[cap]) == used)
            for node in set(out_of) | set(into):
                if node not in (0, cap):
                    m.add(sum(into[node]) == sum(out_of[node]))
            self.graphs.append(graph)
            self.flow.append(flows)
            self.cut_terms.append((used, cap))
            self.bins_of_class.append((used, first.cost))
        self.total: dict[str, Any] = {}
        self.item_arcs = item_arcs
        for g in problem.items:
            total = m.new_int_var(0, g.count, f"placed[{g.name}]")
            m.add(total == sum(f for f, _ in item_arcs.get(g.name, [])))
            if g.required:
                m.add(total == g.count)
            self.total[g.name] = total
        # Capacity lower bound: the bins used hold everything placed (L1 bound, for propagation).
        m.add(
            sum(cap * used for used, cap in self.cut_terms)
            >= sum((g.demand[r] // div) * self.total[g.name] for g in problem.items)
        )
        if self.presolved is not None:
            self._bound_bins(self.presolved.lower_bound)

    # ------------------------------------------------------------------ presolve

    def _bound_bins(self, bound: int) -> None:
        """Valid for every plan: all items are required and only this class can hold them. It
        goes into the variable's domain, so a start plan at the bound counts as optimal."""
        used, _ = self.bins_of_class[0]
        n = len(self.graphs[0].bins)
        if bound <= n:
            domain = self.model.proto.variables[used.index].domain
            domain[0], domain[1] = bound, n
        else:
            self.model.add(used >= bound)  # more bins needed than exist: infeasible

    def _presolved_counts(self) -> dict[Key, int] | None:
        """The presolve packing as (group, bin) counts, None when it needs more bins than exist."""
        if self.presolved is None:
            return None
        graph = self.graphs[0]
        if len(self.presolved.packing) > len(graph.bins):
            return None
        out: dict[Key, int] = {}
        for b, content in zip(graph.bins, self.presolved.packing, strict=False):
            for t, j in content.items():
                out[(graph.types[t][0], b)] = j
        return out

    # ------------------------------------------------------------------ objective terms

    def term(self, name: str) -> Linear:
        out = Linear()
        if name == "placed":
            weights = self.problem.priority_weights()
            for g, var in self.total.items():
                out.add(var, float(weights[g]))
        elif name == "bins_used":
            for used, cost in self.bins_of_class:
                out.add(used, cost)
        elif name == "cost":
            for arcs in self.item_arcs.values():
                for f, cost in arcs:
                    out.add(f, cost)
        else:  # pragma: no cover - arcflow_applies rules this out
            raise ValueError(f"arc-flow has no term {name!r}")
        return out

    def tier(self, groups: tuple[str, ...]) -> Linear:
        out = Linear()
        for g in groups:
            out.add(self.total[g], 1.0)
        return out

    # ------------------------------------------------------------------ hints and decoding

    def hint_values(self, counts: Mapping[Key, int]) -> list[tuple[Any, int]]:
        """Flows that route each hinted bin's contents along its path (empty when not routable).

        For plain bin packing the presolve packing replaces ``counts`` when it is proved optimal
        (the graph then holds only its paths), uses fewer bins, or ``counts`` leaves items out
        (every item is required there, so fewer bins is better).
        """
        own = self._presolved_counts()
        proven = self.presolved is not None and self.presolved.proven
        if own is not None and (proven or _bins_and_items(own) > _bins_and_items(counts)):
            counts = own
        per_bin: dict[str, dict[str, int]] = defaultdict(dict)
        for (g, b), n in counts.items():
            if n > 0:
                per_bin[b][g] = n
        out: list[tuple[Any, int]] = []
        placed: dict[str, int] = defaultdict(int)
        for graph, flows, (used, _) in zip(self.graphs, self.flow, self.bins_of_class, strict=True):
            value = [0] * len(flows)
            n_used = 0
            for b in graph.bins:
                content = per_bin.get(b)
                if not content:
                    continue
                u = 0
                for t, (g, w) in enumerate(graph.types):
                    for _ in range(content.get(g, 0)):
                        arc = graph.index.get((u, u + w, t))
                        if arc is None:
                            return []
                        value[arc] += 1
                        placed[g] += 1
                        u += w
                if u == 0:
                    continue
                if u < graph.capacity:
                    value[graph.index[(u, graph.capacity, -1)]] += 1
                n_used += 1
            out.extend(zip(flows, value, strict=True))
            out.append((used, n_used))
        out.extend((var, placed[g]) for g, var in self.total.items())
        return out

    def counts(self, value: Any) -> dict[Key, int]:
        """Decompose each class's flow into paths, one path per bin of the class."""
        out: dict[Key, int] = defaultdict(int)
        for graph, flows in zip(self.graphs, self.flow, strict=True):
            left = [int(value(f)) for f in flows]
            out_of: dict[int, list[int]] = defaultdict(list)
            for a, (u, _, _) in enumerate(graph.arcs):
                out_of[u].append(a)
            for b in graph.bins:
                u = 0
                arc = next((a for a in out_of[0] if left[a] > 0), None)
                if arc is None:
                    break
                while arc is not None:
                    left[arc] -= 1
                    _, v, t = graph.arcs[arc]
                    if t >= 0:
                        out[(graph.types[t][0], b)] += 1
                    u = v
                    arc = next((a for a in out_of[u] if left[a] > 0), None)
        return dict(out)


def _bins_and_items(counts: Mapping[Key, int]) -> tuple[int, int]:
    """(items placed, −bins used): larger is the better plain packing."""
    placed = sum(n for n in counts.values() if n > 0)
    used = len({b for (_, b), n in counts.items() if n > 0})
    return placed, -used


def _plain_packing(problem: Problem, class_types: list[list[tuple[str, int, int]]]) -> bool:
    """One bin class holding every item, all required, objective only placed/bins_used."""
    terms = {t for level in problem.objective for t in level}
    if not terms <= {"placed", "bins_used"} or len(class_types) != 1:
        return False
    kinds = {g for g, _, _ in class_types[0]}
    return all(g.required and g.name in kinds for g in problem.items)


def _run_presolve(
    capacity: int, types: list[tuple[str, int, int]], seconds: float, threads: int, seed: int
) -> Presolved:
    sizes = [w for _, w, _ in types]
    counts = [n for _, _, n in types]
    result = presolve(sizes, counts, capacity, seconds, threads, seed)
    if not check_packing(result.packing, sizes, counts, capacity):  # pragma: no cover
        raise AssertionError("packing presolve produced an invalid packing")
    return result


def _plan_graph(
    capacity: int, bins: list[str], types: list[tuple[str, int, int]], packing: Packing
) -> _Graph:
    """The arc-flow graph of just these bins' paths (items largest first, then the loss arc)."""
    graph = _Graph(capacity, bins, [(g, w) for g, w, _ in types])

    def arc(a: tuple[int, int, int]) -> None:
        if a not in graph.index:
            graph.index[a] = len(graph.arcs)
            graph.arcs.append(a)

    for content in packing:
        u = 0
        for t in sorted(content):  # types are indexed largest first
            for _ in range(content[t]):
                w = graph.types[t][1]
                arc((u, u + w, t))
                u += w
        if 0 < u < capacity:
            arc((u, capacity, -1))
    return graph
