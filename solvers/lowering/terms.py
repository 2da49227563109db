"""Objective terms of a plan, for the backends (the verifier keeps its own, independent copy).

A backend reports its objective from the plan it returns; ``soft`` comes from its model's exact
violation counters (the backends encode soft rules, so they know the violations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from engine.ir import level_value

from .model import Key, Lowered


def placement_matrix(lowered: Lowered, counts: Mapping[Key, int]) -> np.ndarray:
    """counts as a [groups, bins] integer matrix."""
    x = np.zeros(lowered.high.shape, np.int64)
    gi, bi = lowered.group_index, lowered.bin_index
    for (g, b), n in counts.items():
        if n > 0:
            x[gi[g], bi[b]] += n
    return x


def term_values(lowered: Lowered, counts: Mapping[Key, int], soft: float = 0.0) -> dict[str, float]:
    p = lowered.problem
    x = placement_matrix(lowered, counts)
    placed = x.sum(axis=1)
    load = x.T @ lowered.demand  # [bins, resources]
    # Tier weights grow as (items per tier)^tiers: exact Python integers, not int64.
    weighted = sum(
        t.weight * int(placed[lowered.group_index[g]]) for t in lowered.tiers for g in t.groups
    )
    bin_cost = np.array([b.cost for b in lowered.bins])
    item_cost = math.fsum(
        int(x[g, b]) * p.items[g].cost.get(lowered.bins[b].name, 0.0)
        for g, b in zip(*np.nonzero(x), strict=True)
        if p.items[g].cost
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lowered.capacity > 0, load / np.maximum(lowered.capacity, 1), 0.0)
    moves = 0
    for g, group in enumerate(p.items):
        if group.movable:
            for b, n in group.placed.items():
                moves += max(0, n - int(x[g, lowered.bin_index[b]]))
    value = np.array([g.value for g in p.items], np.float64)
    return {
        "placed": float(weighted),
        "value": math.fsum((value * placed).tolist()),
        "bins_used": math.fsum(bin_cost[x.sum(axis=0) > 0].tolist()),
        "cost": float(item_cost),
        "balance": float(ratio.max(initial=0.0)),
        "moves": float(moves),
        "fairness": _fairness(lowered, placed),
        "soft": soft,
        "traffic": _traffic(lowered, x),
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


def _traffic(lowered: Lowered, x: np.ndarray) -> float:
    """Σ volume × delay over replica pairs, averaged per pair (bins without a delay add 0)."""
    p = lowered.problem
    if not p.traffic:
        return 0.0
    names = [b.name for b in lowered.bins]
    total = 0.0
    for tr in p.traffic:
        a, b = (lowered.group_index[n] for n in tr.items)
        na, nb = p.items[a].count, p.items[b].count
        pairs = na * nb if a != b else na * (na - 1)
        if pairs == 0 or tr.volume == 0:
            continue
        on_a, on_b = np.flatnonzero(x[a]), np.flatnonzero(x[b])
        s = 0.0
        for i in on_a.tolist():
            for j in on_b.tolist():
                d = p.delay(names[i], names[j])
                if d:
                    s += int(x[a, i]) * int(x[b, j]) * d
        total += tr.volume * s / pairs
    return total
