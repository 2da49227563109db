"""``lower(problem)``: what every backend needs from a Problem, computed once per problem.

- eligibility: for every (group, bin) that may hold items the bounds of its count — ``high``
  from capacity and ``allowed``, ``low`` from items that may not move — and whether new items
  may go there, stored sparse (``eligibility``: memory follows the eligible pairs);
- resource divisors: per resource the gcd of all demands, so that rows divided by it (capacities
  and limits floored) stay exact while coefficients stay small (bytes -> MiB);
- symmetry classes: bins that any plan may permute without changing a rule or a term, with the
  one canonical order that symmetry cuts and start plans share (fuller bins first);
- topology domains, priority tiers and objective levels (see ``levels``).

``Lowered.plan`` is the inverse: native count values back to a plan over the IR's names.

Everything a bin offers is read through ``BinView`` (capacity, cost, how many items of a group
an empty bin holds, what symmetry compares): a per-bin sub-structure such as devices goes there.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from engine.ir import Affinity, AntiAffinity, Bin, Gang, ItemGroup, Problem, Spread
from engine.solution import DeviceRows

from .devices import Devices, device_signature
from .eligibility import Eligibility, eligibility
from .levels import Level, Tier, objective_levels, priority_tiers

Key = tuple[str, str]  # (group, bin)
IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class BinView:
    """One bin as the backends see it."""

    bin: Bin
    index: int

    @property
    def name(self) -> str:
        return self.bin.name

    @property
    def cost(self) -> float:
        return self.bin.cost

    def signature(self) -> tuple[Any, ...]:
        """What two bins must share to be interchangeable, apart from their groups' bounds."""
        return (
            tuple(sorted(self.bin.capacity.items())),
            self.bin.cost,
            self.bin.speed,
            device_signature(self.bin),
        )


@dataclass(frozen=True)
class Bounds:
    low: int  # items that may not move stay
    high: int  # capacity, count and ``allowed`` permitting
    open: bool  # may new items go there (allowed, and one fits an empty bin)?


@dataclass(frozen=True)
class TrafficRow:
    """One ``Traffic`` entry with volume: the term averages ``volume`` x delay over ``pairs``
    replica pairs (ordered pairs of distinct replicas when a group talks to itself)."""

    index: int  # in ``problem.traffic``
    a: str
    b: str
    volume: float
    pairs: int  # 0: no replica pair, no term (the rule against bins without a delay stays)


@dataclass
class Lowered:
    problem: Problem
    bins: tuple[BinView, ...]
    resources: tuple[str, ...]
    divisors: dict[str, int]
    demand: IntArray  # [groups, resources], raw units
    capacity: IntArray  # [bins, resources], raw units
    eligible: Eligibility  # the (group, bin) pairs that may hold items, with their bounds
    topologies: tuple[str, ...]
    tiers: tuple[Tier, ...]
    levels: tuple[Level, ...]
    devices: Devices | None = None  # None: no item requests devices
    _domains: dict[Any, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookups

    @cached_property
    def group_index(self) -> dict[str, int]:
        return {g.name: n for n, g in enumerate(self.problem.items)}

    @cached_property
    def placed_weight(self) -> dict[str, int]:
        """Each group's weight in the ``placed`` term (its priority tier's)."""
        return {g: t.weight for t in self.tiers for g in t.groups}

    @cached_property
    def bin_index(self) -> dict[str, int]:
        return {b.name: b.index for b in self.bins}

    def bounds(self, group: str, bin_: str) -> Bounds | None:
        e = self.eligible
        at = e.find(self.group_index[group], self.bin_index[bin_])
        if at is None:
            return None
        return Bounds(int(e.low[at]), int(e.high[at]), bool(e.open[at]))

    def pairs(self) -> Iterator[tuple[Key, int, int]]:
        """Every (group, bin) that may hold items, with (low, high): groups, then bins, in order."""
        e = self.eligible
        names = [b.name for b in self.bins]
        bins, lows, highs = e.bin.tolist(), e.low.tolist(), e.high.tolist()
        for g, group in enumerate(self.problem.items):
            for at in range(int(e.start[g]), int(e.start[g + 1])):
                yield (group.name, names[bins[at]]), lows[at], highs[at]

    def bins_of(self, group: str) -> list[str]:
        """The bins the group may be on, in problem order."""
        return [self.bins[b].name for b in self.eligible.bins_of(self.group_index[group]).tolist()]

    # Dense [groups, bins] views (groups × bins memory, built on first use): for code that
    # indexes whole rows and columns; the backends read ``eligible``.
    @cached_property
    def low(self) -> IntArray:
        return self.eligible.dense(self.eligible.low)

    @cached_property
    def high(self) -> IntArray:
        """0 where the group may not be."""
        return self.eligible.dense(self.eligible.high)

    @cached_property
    def open(self) -> BoolArray:
        return self.eligible.dense(self.eligible.open)

    @cached_property
    def traffic(self) -> tuple[TrafficRow, ...]:
        """The traffic entries with volume, each with its replica pairs."""
        out = []
        for n, tr in enumerate(self.problem.traffic):
            if tr.volume == 0:
                continue
            a, b = tr.items
            na, nb = (self.problem.item_by_name[g].count for g in tr.items)
            out.append(TrafficRow(n, a, b, tr.volume, na * nb if a != b else na * (na - 1)))
        return tuple(out)

    @cached_property
    def demanded_resources(self) -> tuple[str, ...]:
        """The resources some item demands (a bin's other capacities constrain nothing)."""
        return tuple(sorted({r for g in self.problem.items for r, a in g.demand.items() if a > 0}))

    @cached_property
    def single_resource(self) -> str | None:
        """The one resource items demand, when they demand exactly one (1-D packing)."""
        demanded = self.demanded_resources
        return demanded[0] if len(demanded) == 1 else None

    @cached_property
    def gangs(self) -> tuple[tuple[str, ...], ...]:
        """Groups that stand or fall together: gangs merged where they share groups (connected
        components), each in problem order."""
        parent = {g.name: g.name for g in self.problem.items}

        def root(g: str) -> str:
            while parent[g] != g:
                parent[g] = parent[parent[g]]
                g = parent[g]
            return g

        ganged: set[str] = set()
        for c in self.problem.constraints:
            if isinstance(c, Gang):
                ganged.update(c.items)
                for name in c.items[1:]:
                    parent[root(name)] = root(c.items[0])
        members: dict[str, list[str]] = defaultdict(list)
        for group in self.problem.items:
            if group.name in ganged:
                members[root(group.name)].append(group.name)
        return tuple(tuple(m) for m in members.values())

    def divided(self, group: ItemGroup, resource: str) -> int:
        """The group's demand in the resource's divided units."""
        return group.demand.get(resource, 0) // self.divisors.get(resource, 1)

    def divided_capacity(self, bin_: Bin, resource: str) -> int:
        return bin_.capacity.get(resource, 0) // self.divisors.get(resource, 1)

    def domains(
        self, topology: str, bins: tuple[str, ...] | None = None
    ) -> dict[str, tuple[str, ...]]:
        key = (topology, bins)
        if key not in self._domains:
            self._domains[key] = self.problem.domains(topology, bins)
        return self._domains[key]

    # ------------------------------------------------------------------ symmetry

    @cached_property
    def classes(self) -> tuple[tuple[str, ...], ...]:
        """Interchangeable bins, in problem order (every bin in exactly one class).

        Two bins are interchangeable when swapping their contents changes neither feasibility
        nor any objective term: the same signature (capacity, cost, speed), the same bounds and
        item cost for every group, nobody already on them, no delays, and the same domain for
        every topology a rule uses (a domain of a single bin, like a hostname, counts as "its
        own", which is symmetric too) and the same membership in every spread's ``bins``.
        """
        p = self.problem
        sizes = {t: {d: len(bs) for d, bs in self.domains(t).items()} for t in self.topologies}
        fixed = {b for g in p.items for b in g.placed}
        fixed |= set(p.delays) | {b for row in p.delays.values() for b in row}
        spread_bins = [
            frozenset(c.bins) for c in p.constraints if isinstance(c, Spread) and c.bins is not None
        ]
        priced = [g for g in p.items if g.cost]
        columns = self.eligible.column_keys()
        classes: dict[Any, list[str]] = {}
        for view, column in zip(self.bins, columns, strict=True):
            b = view.name
            if b in fixed:
                key: Any = ("unique", b)
            else:
                domains = []
                for t in self.topologies:
                    value = view.bin.labels.get(t)
                    if value is not None and sizes[t][value] == 1:
                        value = "<own>"
                    domains.append(value)
                key = (
                    view.signature(),
                    tuple(domains),
                    tuple(b in s for s in spread_bins),
                    column,
                    tuple(g.cost.get(b, 0.0) for g in priced),
                )
            classes.setdefault(key, []).append(b)
        return tuple(tuple(c) for c in classes.values())

    def canonical(self, counts: Mapping[Key, int]) -> dict[Key, int]:
        """The same plan with bins permuted inside each symmetry class so that fuller bins (more
        items) come first, ties in problem order: the order every symmetry cut assumes."""
        moved = self._bin_order(counts)
        return {(g, moved.get(b, b)): n for (g, b), n in counts.items() if n > 0}

    def canonical_plan(
        self, counts: Mapping[Key, int], devices: DeviceRows | None
    ) -> tuple[dict[Key, int], DeviceRows | None]:
        """``canonical`` for a plan whose items name devices: the device rows move with their
        bins, and identical devices of a bin are put in the canonical device order."""
        moved = self._bin_order(counts)
        out = {(g, moved.get(b, b)): n for (g, b), n in counts.items() if n > 0}
        if devices is None or self.devices is None:
            return out, devices
        rows = {(g, moved.get(b, b)): list(r) for (g, b), r in devices.items()}
        return out, self.devices.canonical_rows(rows)

    def _bin_order(self, counts: Mapping[Key, int]) -> dict[str, str]:
        """Bin -> the bin its content goes to in the canonical order (bins that stay left out)."""
        content: dict[str, int] = defaultdict(int)
        for (_, b), n in counts.items():
            if n > 0:
                content[b] += n
        moved: dict[str, str] = {}
        for members in self.classes:
            if len(members) < 2 or not any(b in content for b in members):
                continue
            order = sorted(range(len(members)), key=lambda i: -content.get(members[i], 0))
            for b, i in zip(members, order, strict=True):
                if members[i] != b:
                    moved[members[i]] = b
        return moved

    # ------------------------------------------------------------------ inverse

    def plan(self, values: Mapping[Any, float]) -> dict[Key, int]:
        """Native count values (keyed by (group, bin)) back to a plan: integers, zeros dropped."""
        out: dict[Key, int] = {}
        for key, value in values.items():
            n = round(value)
            if n > 0:
                out[key] = n
        return out


def resource_divisors(problem: Problem, resources: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in resources:
        g = 0
        for item in problem.items:
            g = math.gcd(g, item.demand.get(r, 0))
        out[r] = g if g > 0 else 1
    return out


def _topologies(problem: Problem) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                c.topology
                for c in problem.constraints
                if isinstance(c, AntiAffinity | Affinity | Spread)
            }
        )
    )


_CACHE: dict[int, Lowered] = {}
CACHED = 4  # problems whose lowering is kept (a backend may lower a relaxation too)


def lower(problem: Problem) -> Lowered:
    """The lowering of ``problem`` (the latest problem's is kept, so every backend and every
    composite around it shares one)."""
    cached = _CACHE.get(id(problem))
    if cached is not None and cached.problem is problem:
        return cached
    resources = problem.resources
    demand = np.array(
        [[g.demand.get(r, 0) for r in resources] for g in problem.items], np.int64
    ).reshape(len(problem.items), len(resources))
    capacity = np.array(
        [[b.capacity.get(r, 0) for r in resources] for b in problem.bins], np.int64
    ).reshape(len(problem.bins), len(resources))
    devices = Devices(problem) if any(g.devices is not None for g in problem.items) else None
    tiers = priority_tiers(problem)
    lowered = Lowered(
        problem=problem,
        bins=tuple(BinView(b, n) for n, b in enumerate(problem.bins)),
        resources=resources,
        divisors=resource_divisors(problem, resources),
        demand=demand,
        capacity=capacity,
        eligible=eligibility(problem, demand, capacity, devices),
        topologies=_topologies(problem),
        tiers=tiers,
        levels=objective_levels(problem, tiers),
        devices=devices,
    )
    while len(_CACHE) >= CACHED:  # keep only the latest problems alive
        del _CACHE[next(iter(_CACHE))]
    _CACHE[id(problem)] = lowered
    return lowered
