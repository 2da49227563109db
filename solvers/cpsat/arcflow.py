"""Arc-flow model (Valério de Carvalho 1999, as in VPSolver) for pure one-resource packing.

Each class of identical bins gets a graph whose nodes are fill levels 0..C. Item arcs ``u → u+w``
exist only in non-increasing size order (types sorted by size, each type at most ``count``
times in a row), loss arcs lead every non-empty fill level to C. One unit of flow from 0 to C is
one used bin; its item arcs are the bin's contents. The LP relaxation equals the pattern
(Gilmore–Gomory) bound, far stronger than per-bin counts when many bins are identical.

For plain bin packing (one bin class, every item required, nothing but ``placed`` and
``bins_used`` in the objective) ``solvers.packing.one_dim`` does the work with most of the time
limit (bounds, column generation, the improvement loop, the reduced arc-flow proof): its lower
bound goes into the domain of the bins used and its best packing replaces a weaker starting
plan in ``hint_values``. The CP-SAT model is then just that packing's paths (``restricted``:
its own optimum proves nothing, the backend reports ``packing_bound`` instead); only without a
time limit does an unproved packing get the full graph, an exact model solved to the end.

Graph and model building watch the deadline too: a general arc-flow model (bin costs, several
bin classes) is built only when its estimated size fits the time limit (``ARCS_PER_SECOND``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.solution import Progress

from ..deadline import Deadline, slowdown
from ..lowering import Key, Lowered
from ..packing.arcflow import ArcFlowGraph, arcflow_graph, decompose, paths_graph
from ..packing.heuristics import Packing
from ..packing.one_dim import check_packing
from ..packing.one_dim import solve as solve_one_dim
from ..packing.search import Packed
from .common import Linear, count_of
from .vector_packing import (
    VectorPackingModel,
    better_of,
    keep_back,
    packing_reporter,
    plain_vector_packing,
    plan_rank,
)

ARC_LIMIT = 400_000  # beyond this many arcs the per-bin model is used instead
# Building the CP-SAT arc-flow model and its first search step take about this long per arc
# (measured: ~1 s per 40k arcs on a loaded core); a model that would eat more than a third of
# the time limit is not built.
ARCS_PER_SECOND = 40_000
BUILD_SHARE = 1 / 3
PACKING_TERMS = frozenset({"placed", "bins_used", "cost"})
# Kept back from the one-dimensional solver for CP-SAT to take its packing in (a model of that
# packing's paths), decode and verify it: this and a little per item at today's speed, plus a
# share of the time left, at most half of it. Measured 0.04-0.16 s after the packing for
# 750-1,003 items at slowdown 1.5-1.7; the vector solver's reserve (0.4 s + 5 % + 2 ms an item),
# which this path used, kept 2.9 s of a 10 s limit back there, and the misses ended at 7.2 s.
RESERVE_SECONDS = 0.2
RESERVE_PER_ITEM = 0.0002
RESERVE_SHARE = 0.02


def packing_deadline(deadline: Deadline, items: int) -> Deadline:
    """The one-dimensional solver's deadline: all but the reserve of what is left."""
    return keep_back(
        deadline, (RESERVE_SECONDS + RESERVE_PER_ITEM * items) * slowdown(), RESERVE_SHARE
    )


def arcflow_applies(lowered: Lowered, time_limit: float | None = None) -> str | None:
    """None when the arc-flow model is exact for this problem (and, for a general one, can be
    built within a third of ``time_limit``), else why not."""
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
    if _plain_packing(lowered):
        return None  # the one-dimensional solver; the graph is built only without a limit
    size = _estimate_arcs(lowered)
    if size > ARC_LIMIT:
        return f"the arc-flow graph would have about {size} arcs (limit {ARC_LIMIT})"
    if time_limit is not None and size > ARCS_PER_SECOND * BUILD_SHARE * time_limit:
        return (
            f"the arc-flow graph would have about {size} arcs, more than can be built in "
            f"{BUILD_SHARE:.0%} of the {time_limit:g} s limit"
        )
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

    ``deadline`` bounds the one-dimensional solver of plain bin packing (all but a reserve of
    the time left: ``packing_deadline``); ``on_progress`` hears of its better
    packings. ``presolve=False`` skips it. For plain packing over several resources the
    constructor returns a ``VectorPackingModel`` instead.

    ``restricted`` is true when the graph holds only the packing's paths without a proof: the
    model's optimum is then no bound, and the backend reports ``packing_bound``.
    """

    def __new__(cls, lowered: Lowered, **kwargs: Any) -> Any:
        # Plain packing over several resources: the per-bin model with a vector bound and start
        # (an arc-flow graph over residual vectors would be far too large).
        if lowered.single_resource is None:
            return VectorPackingModel(lowered, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        lowered: Lowered,
        *,
        deadline: Deadline | None = None,
        seed: int = 0,
        presolve: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
        started: float | None = None,
    ) -> None:
        from ortools.sat.python import cp_model

        self.lowered = lowered
        self.problem = problem = lowered.problem
        self.presolved: Packed | None = None
        self.restricted = False
        self.notes: dict[str, Any] = {}  # for the solution's info
        self.packing_bound: int | None = None
        deadline = deadline or Deadline.never()
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
        plain = _plain_packing(lowered) and len(self.classes) == 1
        if presolve and plain:
            cls = self.classes[0]
            groups = [g for g, _, _ in cls.types]
            report = packing_reporter(lowered, groups, cls.bins, on_progress, started)
            self.presolved = _run_one_dim(
                cls, packing_deadline(deadline, sum(n for *_, n in cls.types)), seed, report
            )
            self.packing_bound = self.presolved.lower_bound
            self.notes["packing"] = {
                "bins": len(self.presolved.packing),
                "bound": self.presolved.lower_bound,
                "method": self.presolved.method,
                "seconds": self.presolved.seconds,
                **self.presolved.info,
            }
        for cls in self.classes:
            sizes = [w for _, w, _ in cls.types]
            done = self.presolved
            if done is not None and len(done.packing) <= len(cls.bins):
                if done.proven or deadline.bounded or not _graph_fits(cls):
                    # Proved optimal, or no time (or room) for the full graph: the packing's
                    # own paths (recombined, they may still save a bin).
                    cls.graph = paths_graph(sizes, cls.capacity, done.packing)
                    self.restricted = not done.proven
            if cls.graph is None:
                # Sized by ``arcflow_applies`` to fit the time limit.
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
        return self._as_counts(self.presolved.packing)

    def better_plan(self, counts: Mapping[Key, int] | None) -> dict[Key, int] | None:
        """The packing solver's plan when it is better than ``counts`` (or there is none): what
        the backend answers with when CP-SAT found no plan in time."""
        return better_of(self._presolved_counts(), counts)

    def _as_counts(self, packing: Packing) -> dict[Key, int] | None:
        cls = self.classes[0]
        if len(packing) > len(cls.bins):
            return None
        out: dict[Key, int] = {}
        for b, content in zip(cls.bins, packing, strict=False):
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
        if own is not None and (proven or plan_rank(own) > plan_rank(counts)):
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
                    # A restricted graph has loss arcs only where its own paths end.
                    loss = graph.index.get((u, cls.capacity, -1))
                    if loss is None:
                        return []
                    value[loss] += 1
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


def _plain_packing(lowered: Lowered) -> bool:
    """One resource, one bin class that may hold every item, all required, objective only
    placed/bins_used."""
    problem = lowered.problem
    terms = {t for level in problem.objective for t in level}
    if lowered.single_resource is None or not terms <= {"placed", "bins_used"}:
        return False
    if len(lowered.classes) != 1 or not problem.items:
        return False
    first = lowered.classes[0][0]
    return all(g.required and lowered.bounds(g.name, first) is not None for g in problem.items)


def _graph_fits(cls: _Class) -> bool:
    most = sum(min(n, cls.capacity // max(w, 1)) for _, w, n in cls.types)
    return (cls.capacity + 1) * most <= ARC_LIMIT


def _run_one_dim(
    cls: _Class,
    deadline: Deadline,
    seed: int,
    on_found: Callable[[Packing, int], None] | None,
) -> Packed:
    sizes = [w for _, w, _ in cls.types]
    counts = [n for _, _, n in cls.types]
    result = solve_one_dim(sizes, counts, cls.capacity, deadline, seed=seed, on_found=on_found)
    if not check_packing(result.packing, sizes, counts, cls.capacity):  # pragma: no cover
        raise AssertionError("the packing solver produced an invalid packing")
    return result
