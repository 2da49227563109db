"""Pools, groups as arrays, priority tiers, and the configurations (columns) found so far.

A POOL is a class of interchangeable bins of the lowering. A CONFIGURATION of a pool is a count
per group that fits one of its bins: capacity per resource, per-bin caps from anti-affinity over
single-bin domains and from spread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ir import AntiAffinity, Spread

from ...lowering import Key, Lowered

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

COST_DECIMALS = 6


@dataclass(frozen=True)
class BinRule:
    """At most ``cap`` items of these groups together on one bin (anti-affinity, spread)."""

    groups: IntArray
    cap: int


@dataclass
class Pool:
    bins: list[str]
    cost: float
    capacity: IntArray  # per resource, in divided units
    upper: IntArray  # per group: most replicas one bin of the pool can hold (0: not eligible)
    rules: list[BinRule]  # rules over several groups


@dataclass(frozen=True)
class SpreadRule:
    groups: IntArray  # the selected groups
    max_skew: int
    domains: list[str | None]  # the domain of each pool's bins (None: none)
    all_domains: bool  # does ``min`` count every domain (min_domains met)?


@dataclass(frozen=True)
class Column:
    pool: int
    config: IntArray  # items per group on one bin of the pool


class Columns:
    def __init__(self, lowered: Lowered, start: Mapping[Key, int]) -> None:
        self.lowered = lowered
        self.problem = problem = lowered.problem
        self.start = {k: v for k, v in start.items() if v > 0}
        self.groups = [g.name for g in problem.items]
        self.group_index = {g: n for n, g in enumerate(self.groups)}
        div = lowered.divisors
        resources = list(problem.resources)
        self.demand = np.array(
            [[g.demand.get(r, 0) // div[r] for r in resources] for g in problem.items],
            dtype=np.int64,
        ).reshape(len(self.groups), len(resources))
        self.count = np.array([g.count for g in problem.items], dtype=np.int64)
        self.pools: list[Pool] = []
        self.pool_of: dict[str, int] = {}
        caps = self._bin_caps()
        for cls in lowered.classes:
            self._add_pool(list(cls), caps)
        self.sizes = np.array([len(p.bins) for p in self.pools], np.int64)
        self.cost_scale = _decimal_scale([p.cost for p in self.pools])
        self.spreads = [self._spread_rule(c) for c in problem.constraints if isinstance(c, Spread)]
        self.exact_groups = np.zeros(len(self.groups), bool)  # no surplus: spread counts them
        for rule in self.spreads:
            self.exact_groups[rule.groups] = True
        self.columns: list[Column] = []
        self._seen: dict[tuple[int, bytes], int] = {}
        self.start_columns = self.add_plan(self.start)
        # Items may stay unplaced (the start leaves some): priority tiers are then maximised in
        # order before bins_used.
        self.partial = bool((self.placed_of(self.start) < self.count).any())
        self.tiers = [
            np.array([lowered.group_index[g] for g in t.groups], np.int64) for t in lowered.tiers
        ]
        self.tier_of = np.zeros(len(self.groups), np.int64)
        for t, members in enumerate(self.tiers):
            self.tier_of[members] = t
        self.droppable = np.array([0 if g.required else 1 for g in problem.items], np.int64)

    # ------------------------------------------------------------------ pools

    def _bin_caps(self) -> list[tuple[AntiAffinity | Spread, int]]:
        """Per-bin caps: anti-affinity's max_per_domain (every domain is one bin), and for spread
        floor(N / domains) + max_skew (a bin lies in one domain, which holds at most
        min + max_skew <= N / domains + max_skew of the N selected items; max_skew alone when
        min is 0 for lack of domains). Every valid plan obeys them, so bounds stay valid."""
        problem = self.problem
        caps: list[tuple[AntiAffinity | Spread, int]] = []
        for c in problem.constraints:
            if isinstance(c, AntiAffinity):
                caps.append((c, c.max_per_domain))
            elif isinstance(c, Spread):
                n = sum(problem.item_by_name[g].count for g in problem.selected(c.selector))
                domains = len(self.lowered.domains(c.topology))
                many = c.min_domains is None or domains >= c.min_domains
                caps.append((c, (n // max(1, domains) if many else 0) + c.max_skew))
        return caps

    def _add_pool(self, bins: list[str], caps: list[tuple[AntiAffinity | Spread, int]]) -> None:
        lowered, problem = self.lowered, self.problem
        first = problem.bin_by_name[bins[0]]
        capacity = np.array(
            [lowered.divided_capacity(first, r) for r in problem.resources], np.int64
        )
        upper = self.count.copy()
        column = lowered.bin_index[first.name]
        for n in range(len(problem.items)):
            at = lowered.eligible.find(n, column)
            if at is None or not lowered.eligible.open[at]:
                upper[n] = 0
                continue
            for r, d in enumerate(self.demand[n]):
                if d > 0:
                    upper[n] = min(upper[n], capacity[r] // d)
        rules: list[BinRule] = []
        for c, cap in caps:
            if c.topology not in first.labels:
                continue  # bins without the key are in no domain
            chosen = np.array([self.group_index[g] for g in problem.selected(c.selector)], np.int64)
            if len(chosen) == 1:
                upper[chosen[0]] = min(upper[chosen[0]], cap)
            elif len(chosen) > 1:
                rules.append(BinRule(chosen, cap))
        for b in bins:
            self.pool_of[b] = len(self.pools)
        self.pools.append(Pool(bins, first.cost, capacity, upper, rules))

    def _spread_rule(self, c: Spread) -> SpreadRule:
        chosen = np.array(
            [self.group_index[g] for g in self.problem.selected(c.selector)], np.int64
        )
        domains = [self.problem.bin_by_name[p.bins[0]].labels.get(c.topology) for p in self.pools]
        many = c.min_domains is None or len(self.lowered.domains(c.topology)) >= c.min_domains
        return SpreadRule(chosen, c.max_skew, domains, many)

    # ------------------------------------------------------------------ columns

    def add(self, pool: int, config: IntArray) -> int:
        key = (pool, config.tobytes())
        known = self._seen.get(key)
        if known is not None:
            return known
        self._seen[key] = len(self.columns)
        self.columns.append(Column(pool, config))
        return len(self.columns) - 1

    def add_plan(self, counts: Mapping[Key, int]) -> dict[int, int]:
        """Add each used bin's configuration; returns column -> number of bins using it."""
        content: dict[str, IntArray] = {}
        for (g, b), n in counts.items():
            if b not in content:
                content[b] = np.zeros(len(self.groups), np.int64)
            content[b][self.group_index[g]] += n
        uses: dict[int, int] = defaultdict(int)
        for b, config in content.items():
            if config.any():
                uses[self.add(self.pool_of[b], config)] += 1
        return dict(uses)

    def decode(self, uses: Mapping[int, int]) -> dict[Key, int]:
        """Lay configurations onto each pool's bins in problem order, then drop surplus replicas
        from the last bins holding them (a configuration minus items still fits)."""
        content: list[tuple[str, IntArray]] = []
        for p, pool in enumerate(self.pools):
            chosen = sorted(
                (c for c in uses if self.columns[c].pool == p),
                key=lambda c: (-int(self.columns[c].config.sum()), c),
            )
            slots = iter(pool.bins)
            for c in chosen:
                for _ in range(uses[c]):
                    content.append((next(slots), self.columns[c].config.copy()))
        placed = np.zeros(len(self.count), np.int64)  # nothing placed: an empty plan
        for _, a in content:
            placed += a
        surplus = placed - self.count
        for _, config in reversed(content):
            if not (surplus > 0).any():
                break
            take = np.minimum(config, np.maximum(surplus, 0))
            config -= take
            surplus -= take
        out: dict[Key, int] = {}
        for b, config in content:
            for g in np.nonzero(config)[0]:
                out[(self.groups[g], b)] = int(config[g])
        return out

    # ------------------------------------------------------------------ judging plans

    def valid(self, counts: Mapping[Key, int]) -> bool:
        """Spread rules hold (everything else holds by construction of the configurations)."""
        for c in self.problem.constraints:
            if not isinstance(c, Spread):
                continue
            chosen = set(self.problem.selected(c.selector))
            domain_of = {b: d for d, bins in self.lowered.domains(c.topology).items() for b in bins}
            per: dict[str, int] = dict.fromkeys(set(domain_of.values()), 0)
            for (g, b), n in counts.items():
                if g in chosen and b in domain_of:
                    per[domain_of[b]] += n
            many = c.min_domains is None or len(per) >= c.min_domains
            low = min(per.values(), default=0) if many else 0
            if any(n > low + c.max_skew for n in per.values() if n > 0):
                return False
        return True

    def placed_of(self, counts: Mapping[Key, int]) -> IntArray:
        placed = np.zeros(len(self.groups), np.int64)
        for (g, _), n in counts.items():
            placed[self.group_index[g]] += n
        return np.minimum(placed, self.count)

    def unplaced_per_tier(self, counts: Mapping[Key, int]) -> IntArray:
        missing = self.count - self.placed_of(counts)
        return np.array([int(missing[m].sum()) for m in self.tiers], np.int64)

    def bins_cost(self, counts: Mapping[Key, int]) -> float:
        used = {b for (_, b), n in counts.items() if n > 0}
        return sum(self.problem.bin_by_name[b].cost for b in used)

    def key(self, counts: Mapping[Key, int]) -> tuple[float, ...]:
        """Lexicographic key to minimise: unplaced per tier (highest priority first), bins."""
        return (*map(float, self.unplaced_per_tier(counts)), round(self.bins_cost(counts), 9))

    def spread_excess(self, load: IntArray) -> int:
        """Σ over spread rules and domains of the items above min + max_skew (``load``: items per
        rule and domain)."""
        total = 0
        for k, rule in enumerate(self.spreads):
            row = load[k]
            low = int(row.min(initial=0)) if rule.all_domains else 0
            total += int(np.maximum(0, row - low - rule.max_skew).sum())
        return total


def _decimal_scale(costs: list[float]) -> int:
    scale = 1
    for _ in range(COST_DECIMALS):
        if all(abs(c * scale - round(c * scale)) <= 1e-9 * max(1.0, c) for c in costs):
            break
        scale *= 10
    return scale
