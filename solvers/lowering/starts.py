"""Quick start plans the exact backends begin from: first-fit decreasing and progressive filling.

Both run on the lowering (eligibility, capacities) in milliseconds. ``first_fit_decreasing``
packs capacity and eligibility only (a start the backends complete or reject); ``fair_fill``
also keeps tenant quotas and is valid whenever ``fair_fill_applies``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

import numpy as np

from engine.ir import Problem

from .model import Key, Lowered


def first_fit_decreasing(lowered: Lowered) -> dict[Key, int]:
    """Items already placed stay; then groups by priority, largest first (the largest share of
    the biggest bin's capacity), each on the first bins in problem order with room."""
    p = lowered.problem
    room = lowered.capacity.copy()
    counts: dict[Key, int] = {}
    names = [b.name for b in lowered.bins]
    for k, group in enumerate(p.items):
        for b, n in group.placed.items():
            counts[(group.name, b)] = n
            room[lowered.bin_index[b]] -= n * lowered.demand[k]
    biggest = np.maximum(lowered.capacity.max(axis=0, initial=1), 1)
    share = (lowered.demand / biggest).max(axis=1, initial=0.0)
    order = sorted(range(len(p.items)), key=lambda k: (-p.items[k].priority, -share[k]))
    for k in order:
        group = p.items[k]
        left = group.count - group.placed_total
        if left <= 0:
            continue
        demand = lowered.demand[k]
        on = demand > 0
        bins = lowered.eligible.open_bins(k)
        if on.any():
            fit = np.maximum((room[np.ix_(bins, np.flatnonzero(on))] // demand[on]).min(axis=1), 0)
        else:
            fit = np.full(len(bins), left, np.int64)
        # first fit, bin after bin: each takes what fits of what is still left
        before = np.cumsum(fit) - fit
        take = np.minimum(fit, np.maximum(left - before, 0))
        for i, n in zip(bins[take > 0].tolist(), take[take > 0].tolist(), strict=True):
            key = (group.name, names[i])
            counts[key] = counts.get(key, 0) + n
            room[i] -= n * demand
    return counts


def fair_fill_applies(problem: Problem) -> bool:
    """Whether ``fair_fill`` gives a valid plan: only capacity, eligibility and tenant quotas
    matter (no constraints other than quotas, nothing required, nothing already placed)."""
    return (
        bool(problem.tenants)
        and all(c.kind == "quota" for c in problem.constraints)
        and not problem.traffic
        and not any(g.required or g.placed for g in problem.items)
    )


def fair_fill(lowered: Lowered) -> dict[Key, int]:
    """Progressive filling (DRF): one task at a time to the tenant with the smallest weighted
    dominant share, on the first bin where it fits, within quotas. A start plan for levels that
    maximise ``fairness``, where a one-pod-at-a-time scheduler may starve whole tenants."""
    problem = lowered.problem
    resources = list(lowered.resources)
    column = {r: k for k, r in enumerate(resources)}
    room = lowered.capacity.copy()
    total = room.sum(axis=0).astype(np.float64)
    total = np.where(total > 0, total, np.inf)
    quota_left: dict[str, dict[int, int]] = {}
    for tenant_ in problem.tenants:
        quota = tenant_.quota or {}
        quota_left[tenant_.name] = {column[r]: v for r, v in quota.items() if r in column}
    for c in problem.constraints:
        limits = getattr(c, "limits", None)
        tenant = getattr(c, "tenant", None)
        if limits is not None and tenant is not None:
            for r, v in limits.items():
                if r in column:
                    quota_left[tenant][column[r]] = min(quota_left[tenant].get(column[r], v), v)
    groups: dict[str, list[int]] = defaultdict(list)
    for g, group in enumerate(problem.items):
        if group.tenant is not None:
            groups[group.tenant].append(g)
    weight = {tenant_.name: tenant_.weight for tenant_ in problem.tenants}
    used = {t: np.zeros(len(resources)) for t in groups}
    left = [g.count for g in problem.items]
    allowed = [
        np.array([g.allowed is None or b.name in set(g.allowed) for b in problem.bins])
        for g in problem.items
    ]
    names = [b.name for b in problem.bins]
    counts: dict[Key, int] = defaultdict(int)
    heap: list[tuple[float, int, str]] = [(0.0, n, t) for n, t in enumerate(sorted(groups))]
    turn = dict.fromkeys(groups, 0)
    while heap:
        _, n, t = heapq.heappop(heap)
        live = [g for g in groups[t] if left[g] > 0]
        placed = False
        for k in range(len(live)):
            g = live[(turn[t] + k) % len(live)]
            d = lowered.demand[g]
            if any(d[col] > v for col, v in quota_left[t].items()):
                left[g] = 0
                continue
            fits = np.nonzero(allowed[g] & (room >= d).all(axis=1))[0]
            if len(fits) == 0:
                left[g] = 0
                continue
            b = int(fits[0])
            room[b] -= d
            used[t] += d
            left[g] -= 1
            for col in quota_left[t]:
                quota_left[t][col] -= int(d[col])
            counts[(problem.items[g].name, names[b])] += 1
            turn[t] += 1
            placed = True
            break
        if placed:
            share = float((used[t] / total).max(initial=0.0)) / weight[t]
            heapq.heappush(heap, (share, n, t))
    return dict(counts)
