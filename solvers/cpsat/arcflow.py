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

from ..lowering import Key, Lowered
from ..packing.arcflow import ArcFlowGraph, arcflow_graph, decompose, paths_graph
from ..packing.one_dim import Presolved, check_packing, presolve
from .common import Linear, count_of
from .vector_packing import VectorPackingModel, plain_vector_packing

ARC_LIMIT = 400_000  # beyond this many arcs the per-bin model is used instead
PACKING_TERMS = frozenset({"placed", "bins_used", "cost"})
PRESOLVE_SECONDS = 6.0  # presolve budget when the caller gives no time limit
PRESOLVE_SHARE = 0.6  # share of a given time limit the presolve may use


def arcflow_applies(lowered: Lowered) -> str | None:
    """None when the arc-flow model is exact for this problem, else why not."""
    problem = lowered.problem
    if lowered.devices is not None:
        return "items request devices"
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
    if lowered.single_resource is None:
        if plain_vector_packing(lowered):
            return None  # several resources: ArcFlowModel builds a VectorPackingModel
        return "items do not demand exactly one resource"
    if any(not g.demand or max(g.demand.values()) == 0 for g in problem.items):
        return "some items demand nothing"
    if not problem.bins or not problem.items:
        return "nothing to pack"
    size = _estimate_arcs(lowered)
    if size > ARC_LIMIT:
        return f"the arc-flow graph would have about {size} arcs (limit {ARC_LIMIT})"
    return None


def _estimate_arcs(lowered: Lowered) -> int:
    r = lowered.single_resource
    assert r is not None
    cap = max(lowered.divided_capacity(b, r) for b in lowered.problem.bins)
    total = 0
    for g in lowered.problem.items:
        w = lowered.divided(g, r)
        total += (cap + 1) * min(g.count, cap // max(w, 1))
    return total


@dataclass
class _Class:
    """One class of identical bins, its graph, and the item types (group, size, count) in the
    graph's type order (largest first)."""

    bins: tuple[str, ...]
    cost: float
    capacity: int
    types: list[tuple[str, int, int]]
    graph: ArcFlowGraph | None = None
    flows: list[Any] = field(default_factory=list)
    used: Any = None


class ArcFlowModel:
    """Same interface as ``PerBinModel``: ``model``, ``term``, ``tier``, ``hint_values``, ``counts``.

    ``time_limit`` and ``threads`` (optional) size the presolve of plain bin packing; without a
    limit it takes at most ``PRESOLVE_SECONDS``. ``presolve=False`` skips it. For plain packing
    over several resources the constructor returns a ``VectorPackingModel`` instead.
    """

    def __new__(cls, lowered: Lowered, **kwargs: Any) -> Any:
        # Plain packing over several resources: the per-bin model with a vector bound and start
        # (an arc-flow graph over residual vectors would be far too large).
        if lowered.single_resource is None:
            return VectorPackingModel(lowered)
        return super().__new__(cls)

    def __init__(
        self,
        lowered: Lowered,
        *,
        time_limit: float | None = None,
        threads: int | None = None,
        seed: int = 0,
        presolve: bool = True,
    ) -> None:
        from ortools.sat.python import cp_model

        self.lowered = lowered
        self.problem = problem = lowered.problem
        self.presolved: Presolved | None = None
        self.model = cp_model.CpModel()
        m = self.model
        r = lowered.single_resource
        assert r is not None
        item_arcs: dict[str, list[tuple[Any, float]]] = defaultdict(list)  # group -> (var, cost)
        self.classes: list[_Class] = []
        for members in lowered.classes:
            first = problem.bin_by_name[members[0]]
            cap = lowered.divided_capacity(first, r)
            types = sorted(
                (
                    (g.name, lowered.divided(g, r), g.count)
                    for g in problem.items
                    if lowered.bounds(g.name, members[0]) is not None
                ),
                key=lambda t: (-t[1], t[0]),
            )
            if types and cap > 0:
                self.classes.append(_Class(members, first.cost, cap, types))
        if presolve and _plain_packing(problem, self.classes):
            budget = PRESOLVE_SECONDS
            if time_limit is not None:
                budget = min(budget, PRESOLVE_SHARE * time_limit)
            self.presolved = _run_presolve(self.classes[0], budget, threads or 1, seed)
        for cls in self.classes:
            sizes = [w for _, w, _ in cls.types]
            done = self.presolved
            if done is not None and done.proven and len(done.packing) <= len(cls.bins):
                # The optimum is known and proved: a graph of its own bins' paths is enough.
                cls.graph = paths_graph(sizes, cls.capacity, done.packing)
            else:
                cls.graph = arcflow_graph(sizes, [n for *_, n in cls.types], cls.capacity)
            n = len(cls.bins)
            for _, _, t in cls.graph.arcs:
                ub = n if t < 0 else min(n * (cls.capacity // sizes[t]), cls.types[t][2])
                cls.flows.append(m.new_int_var(0, ub, ""))
            cls.used = m.new_int_var(0, n, f"bins[{cls.bins[0]}…]")
            out_of: dict[int, list[Any]] = defaultdict(list)
            into: dict[int, list[Any]] = defaultdict(list)
            for (u, v, t), f in zip(cls.graph.arcs, cls.flows, strict=True):
                out_of[u].append(f)
                into[v].append(f)
                if t >= 0:
                    group = cls.types[t][0]
                    cost = problem.item_by_name[group].cost.get(cls.bins[0], 0.0)
                    item_arcs[group].append((f, cost))
            m.add(sum(out_of[0]) == cls.used)
            m.add(sum(into[cls.capacity]) == cls.used)
            for node in set(out_of) | set(into):
                if node not in (0, cls.capacity):
                    m.add(sum(into[node]) == sum(out_of[node]))
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
            sum(cls.capacity * cls.used for cls in self.classes)
            >= sum(lowered.divided(g, r) * self.total[g.name] for g in problem.items)
        )
        if self.presolved is not None:
            self._bound_bins(self.presolved.lower_bound)

    # ------------------------------------------------------------------ presolve

    def _bound_bins(self, bound: int) -> None:
        """Valid for every plan: all items are required and only this class can hold them. It
        goes into the variable's domain, so a start plan at the bound counts as optimal."""
        cls = self.classes[0]
        n = len(cls.bins)
        if bound <= n:
            domain = self.model.proto.variables[cls.used.index].domain
            domain[0], domain[1] = bound, n
        else:
            self.model.add(cls.used >= bound)  # more bins needed than exist: infeasible

    def _presolved_counts(self) -> dict[Key, int] | None:
        """The presolve packing as (group, bin) counts, None when it needs more bins than exist."""
        if self.presolved is None:
            return None
        cls = self.classes[0]
        if len(self.presolved.packing) > len(cls.bins):
            return None
        out: dict[Key, int] = {}
        for b, content in zip(cls.bins, self.presolved.packing, strict=False):
            for t, j in content.items():
                out[(cls.types[t][0], b)] = j
        return out

    # ------------------------------------------------------------------ objective terms

    def term(self, name: str) -> Linear:
        out = Linear()
        if name == "placed":
            weights = self.lowered.placed_weight
            for g, var in self.total.items():
                out.add(var, float(weights[g]))
        elif name == "bins_used":
            for cls in self.classes:
                out.add(cls.used, cls.cost)
        elif name == "cost":
            for arcs in self.item_arcs.values():
                for f, cost in arcs:
                    out.add(f, cost)
        else:  # pragma: no cover - arcflow_applies rules this out
            raise ValueError(f"arc-flow has no term {name!r}")
        return out

    def tier(self, groups: tuple[str, ...]) -> Linear:
        return count_of(self.total, groups)

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
        for cls in self.classes:
            graph = cls.graph
            assert graph is not None
            value = [0] * len(cls.flows)
            n_used = 0
            for b in cls.bins:
                content = per_bin.get(b)
                if not content:
                    continue
                u = 0
                for t, (g, w, _) in enumerate(cls.types):
                    for _ in range(content.get(g, 0)):
                        arc = graph.index.get((u, u + w, t))
                        if arc is None:
                            return []
                        value[arc] += 1
                        placed[g] += 1
                        u += w
                if u == 0:
                    continue
                if u < cls.capacity:
                    value[graph.index[(u, cls.capacity, -1)]] += 1
                n_used += 1
            out.extend(zip(cls.flows, value, strict=True))
            out.append((cls.used, n_used))
        out.extend((var, placed[g]) for g, var in self.total.items())
        return out

    def counts(self, value: Any) -> dict[Key, int]:
        """Decompose each class's flow into paths, one path per bin of the class."""
        out: dict[Key, int] = defaultdict(int)
        for cls in self.classes:
            assert cls.graph is not None
            paths = decompose(cls.graph, [int(value(f)) for f in cls.flows])
            for b, content in zip(cls.bins, paths, strict=False):
                for t, n in content.items():
                    out[(cls.types[t][0], b)] += n
        return dict(out)


def _bins_and_items(counts: Mapping[Key, int]) -> tuple[int, int]:
    """(items placed, −bins used): larger is the better plain packing."""
    placed = sum(n for n in counts.values() if n > 0)
    used = len({b for (_, b), n in counts.items() if n > 0})
    return placed, -used


def _plain_packing(problem: Any, classes: list[_Class]) -> bool:
    """One bin class holding every item, all required, objective only placed/bins_used."""
    terms = {t for level in problem.objective for t in level}
    if not terms <= {"placed", "bins_used"} or len(classes) != 1:
        return False
    kinds = {g for g, _, _ in classes[0].types}
    return all(g.required and g.name in kinds for g in problem.items)


def _run_presolve(cls: _Class, seconds: float, threads: int, seed: int) -> Presolved:
    sizes = [w for _, w, _ in cls.types]
    counts = [n for _, _, n in cls.types]
    result = presolve(sizes, counts, cls.capacity, seconds, threads, seed)
    if not check_packing(result.packing, sizes, counts, cls.capacity):  # pragma: no cover
        raise AssertionError("packing presolve produced an invalid packing")
    return result
