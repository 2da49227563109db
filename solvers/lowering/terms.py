"""Objective terms of a plan, for the backends (the verifier keeps its own, independent copy).

A backend reports its objective from the plan it returns; ``soft`` comes from its model's exact
violation counters (the backends encode soft rules, so they know the violations).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.ir import level_value

from .model import Key, Lowered


@dataclass(frozen=True)
class PlanPairs:
    """A plan's nonzero counts as parallel arrays: ``n`` items of ``group`` on ``bin``."""

    group: np.ndarray
    bin: np.ndarray
    n: np.ndarray

    @classmethod
    def of(cls, lowered: Lowered, counts: Mapping[Key, int]) -> PlanPairs:
        gi, bi = lowered.group_index, lowered.bin_index
        kept = [(gi[g], bi[b], n) for (g, b), n in counts.items() if n > 0]
        table = np.array(kept, np.int64).reshape(len(kept), 3)
        return cls(table[:, 0], table[:, 1], table[:, 2])

    def per_group(self, groups: int) -> np.ndarray:
        out = np.zeros(groups, np.int64)
        np.add.at(out, self.group, self.n)
        return out

    def per_bin(self, bins: int) -> np.ndarray:
        out = np.zeros(bins, np.int64)
        np.add.at(out, self.bin, self.n)
        return out


def term_values(lowered: Lowered, counts: Mapping[Key, int], soft: float = 0.0) -> dict[str, float]:
    p = lowered.problem
    x = PlanPairs.of(lowered, counts)
    placed = x.per_group(len(p.items))
    load = np.zeros(lowered.capacity.shape, np.int64)  # [bins, resources]
    np.add.at(load, x.bin, x.n[:, None] * lowered.demand[x.group])
    # Tier weights grow as (items per tier)^tiers: exact Python integers, not int64.
    weighted = sum(
        t.weight * int(placed[lowered.group_index[g]]) for t in lowered.tiers for g in t.groups
    )
    bin_cost = np.array([b.cost for b in lowered.bins])
    item_cost = math.fsum(
        n * p.items[g].cost.get(lowered.bins[b].name, 0.0)
        for g, b, n in zip(x.group.tolist(), x.bin.tolist(), x.n.tolist(), strict=True)
        if p.items[g].cost
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lowered.capacity > 0, load / np.maximum(lowered.capacity, 1), 0.0)
    on: dict[tuple[int, int], int] = defaultdict(int)
    for g, b, n in zip(x.group.tolist(), x.bin.tolist(), x.n.tolist(), strict=True):
        on[(g, b)] += n
    moves = 0
    for g, group in enumerate(p.items):
        if group.movable:
            for b, n in group.placed.items():
                moves += max(0, n - on.get((g, lowered.bin_index[b]), 0))
    value = np.array([g.value for g in p.items], np.float64)
    return {
        "placed": float(weighted),
        "value": math.fsum((value * placed).tolist()),
        "bins_used": math.fsum(bin_cost[x.per_bin(len(lowered.bins)) > 0].tolist()),
        "cost": float(item_cost),
        "balance": float(ratio.max(initial=0.0)),
        "moves": float(moves),
        "fairness": _fairness(lowered, placed),
        "soft": soft,
        "traffic": _traffic(lowered, on),
    }


def level_values(
    lowered: Lowered, counts: Mapping[Key, int], soft: float = 0.0
) -> tuple[float, ...]:
    terms = term_values(lowered, counts, soft)
    return tuple(level_value(level, terms) for level in lowered.problem.objective)


def _fairness(lowered: Lowered, placed: np.ndarray) -> float:
    """Smallest weighted dominant share over tenants that have items."""
    p = lowered.problem
    total = lowered.capacity.sum(axis=0)
    used_by: dict[str, np.ndarray] = {}
    for g, group in enumerate(p.items):
        if group.tenant is not None:
            used = used_by.setdefault(group.tenant, np.zeros(len(lowered.resources)))
            used += placed[g] * lowered.demand[g]
    shares = []
    for t in p.tenants:
        if t.name not in used_by:
            continue
        used = used_by[t.name]
        share = np.where(total > 0, used / np.maximum(total, 1), 0.0)
        shares.append(float(share.max(initial=0.0)) / t.weight)
    return min(shares) if shares else 0.0


def _traffic(lowered: Lowered, on: Mapping[tuple[int, int], int]) -> float:
    """Σ volume × delay over replica pairs, averaged per pair (bins without a delay add 0)."""
    p = lowered.problem
    if not p.traffic:
        return 0.0
    names = [b.name for b in lowered.bins]
    where: dict[int, list[tuple[int, int]]] = defaultdict(
        list
    )  # group -> (bin, items), bins in order
    for (g, b), n in sorted(on.items()):
        where[g].append((b, n))
    total = 0.0
    for tr in lowered.traffic:
        if tr.pairs == 0:
            continue
        a, b = lowered.group_index[tr.a], lowered.group_index[tr.b]
        s = 0.0
        for i, xa in where.get(a, []):
            for j, xb in where.get(b, []):
                d = p.delay(names[i], names[j])
                if d:
                    s += xa * xb * d
        total += tr.volume * s / tr.pairs
    return total
