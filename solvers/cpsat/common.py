"""Shared pieces of the CP-SAT models: objective terms as linear sums, integer scaling, bin classes.

Objective levels mix terms with float weights and costs; CP-SAT wants integer objectives. Every
term is kept as a float-weighted linear sum over integer variables (``Linear``); a level is turned
into integers by multiplying by the smallest power of ten that makes every coefficient integral,
capped at ``DECIMALS`` decimals (the stated precision: weights and costs are rounded to 1e-6).
Ratios (``balance``, ``fairness``) are modelled in units of ``1 / RATIO_SCALE`` (precision 1e-4).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.ir import MAXIMISED_TERMS, Problem

DECIMALS = 6  # float weights and costs are rounded to this many decimals in the model
RATIO_SCALE = 10_000  # balance and fairness are optimised in steps of 1e-4


@dataclass
class Linear:
    """Σ coef·var + constant, with float coefficients (var is a CP-SAT IntVar or BoolVar)."""

    terms: list[tuple[Any, float]] = field(default_factory=list)
    constant: float = 0.0

    def add(self, var: Any, coef: float) -> None:
        if coef != 0:
            self.terms.append((var, coef))

    def extend(self, other: Linear, factor: float) -> None:
        self.terms.extend((v, c * factor) for v, c in other.terms)
        self.constant += other.constant * factor


@dataclass
class ScaledObjective:
    """An integer objective to minimise: Σ coefs·vars + offset, equal to ``multiplier`` × level."""

    variables: list[Any]
    coefficients: list[int]
    offset: int
    multiplier: float  # integer objective / multiplier = level value in minimisation form
    sign: int  # +1: level is minimised; -1: level is maximised (we minimise its negation)

    def expression(self) -> Any:
        from ortools.sat.python import cp_model

        return cp_model.LinearExpr.weighted_sum(self.variables, self.coefficients) + self.offset

    def level_value(self, integer_value: float) -> float:
        """Convert an integer objective value (or bound) back to the level's reporting form."""
        return self.sign * integer_value / self.multiplier


def scale_level(level_expr: Linear, sign: int) -> ScaledObjective:
    """Make a float-weighted sum integral (see module docstring for the precision)."""
    merged: dict[int, list[Any]] = {}
    for var, coef in level_expr.terms:
        key = id(var)
        if key in merged:
            merged[key][1] += coef * sign
        else:
            merged[key] = [var, coef * sign]
    items = [(v, c) for v, c in merged.values() if c != 0]
    constant = level_expr.constant * sign
    values = [c for _, c in items] + [constant]
    multiplier = 1
    for _ in range(DECIMALS + 1):
        if all(
            abs(v * multiplier - round(v * multiplier)) <= 1e-9 * max(1.0, abs(v)) for v in values
        ):
            break
        multiplier *= 10
    else:
        multiplier = 10**DECIMALS
    coefficients = [round(c * multiplier) for _, c in items]
    offset = round(constant * multiplier)
    divisor = math.gcd(*coefficients, offset) if coefficients else 0
    if divisor > 1:
        coefficients = [c // divisor for c in coefficients]
        offset //= divisor
        scale = multiplier / divisor
    else:
        scale = float(multiplier)
    return ScaledObjective(
        variables=[v for v, _ in items],
        coefficients=coefficients,
        offset=offset,
        multiplier=scale,
        sign=sign,
    )


def level_sign(level: Mapping[Any, float]) -> int:
    """-1 when every term of the level is maximised (we minimise the negation), else +1."""
    return -1 if all(t in MAXIMISED_TERMS for t in level) else 1


def term_factor(level: Mapping[Any, float], term: str) -> float:
    """The coefficient of a term inside a level, in the level's reporting form (see ir.level_value)."""
    weight = level[term]
    if level_sign(level) < 0:
        return weight
    return -weight if term in MAXIMISED_TERMS else weight


def resource_divisors(problem: Problem) -> dict[str, int]:
    """Per resource, the gcd of all demands: dividing demands by it (and flooring capacities and
    limits) keeps every constraint exact while making coefficients small (bytes → MiB...)."""
    out: dict[str, int] = {}
    for r in problem.resources:
        g = 0
        for item in problem.items:
            g = math.gcd(g, item.demand.get(r, 0))
        out[r] = g if g > 0 else 1
    return out


_CLASSES_CACHE: dict[Any, tuple[Problem, list[list[str]]]] = {}


def bin_classes(problem: Problem, topologies: Iterable[str] = ()) -> list[list[str]]:
    """Groups of interchangeable bins, in problem order.

    Two bins are interchangeable when swapping their contents changes neither feasibility nor
    any objective term: same capacity, cost, speed, eligibility and item costs for every group,
    no items already placed, no delays, and the same domain for every topology used (a domain
    holding a single bin, like a hostname, counts as "its own", which is symmetric too).
    """
    topologies = tuple(topologies)
    key = (id(problem), topologies)
    cached = _CLASSES_CACHE.get(key)
    if cached is not None and cached[0] is problem:
        return [list(c) for c in cached[1]]
    classes = _bin_classes(problem, topologies)
    _CLASSES_CACHE.clear()  # keep only the latest problem alive
    _CLASSES_CACHE[key] = (problem, classes)
    return [list(c) for c in classes]


def _bin_classes(problem: Problem, topologies: tuple[str, ...]) -> list[list[str]]:
    domain_sizes: dict[str, dict[str, int]] = {}
    for t in topologies:
        sizes: dict[str, int] = defaultdict(int)
        for b in problem.bins:
            if t in b.labels:
                sizes[b.labels[t]] += 1
        domain_sizes[t] = sizes
    placed_bins = {b for item in problem.items for b in item.placed}
    delay_bins = set(problem.delays) | {b for row in problem.delays.values() for b in row}
    spread_bins: list[frozenset[str]] = []
    for c in problem.constraints:
        bins = getattr(c, "bins", None)
        if bins is not None:
            spread_bins.append(frozenset(bins))
    # Eligibility of an item on an empty bin depends on the bin's capacity only, except for
    # items with an ``allowed`` list or per-bin costs: those are looked at bin by bin.
    plain = [i for i in problem.items if i.allowed is None and not i.cost and not i.placed]
    special = [i for i in problem.items if i.allowed is not None or i.cost or i.placed]
    allowed = {i.name: set(i.allowed) if i.allowed is not None else None for i in special}
    by_capacity: dict[Any, tuple[bool, ...]] = {}
    classes: dict[Any, list[str]] = {}
    for b in problem.bins:
        if b.name in placed_bins or b.name in delay_bins:
            key: Any = ("unique", b.name)
        else:
            capacity = tuple(sorted(b.capacity.items()))
            fits = by_capacity.get(capacity)
            if fits is None:
                fits = tuple(problem.fits_empty(i, b) for i in plain)
                by_capacity[capacity] = fits
            domains = []
            for t in topologies:
                value = b.labels.get(t)
                if value is not None and domain_sizes[t][value] == 1:
                    value = "<own>"
                domains.append((t, value))
            key = (
                capacity,
                b.cost,
                b.speed,
                tuple(domains),
                tuple(b.name in s for s in spread_bins),
                fits,
                tuple(
                    (
                        b.name in (allowed[i.name] or (b.name,)) and problem.fits_empty(i, b),
                        i.cost.get(b.name, 0.0),
                    )
                    for i in special
                ),
            )
        classes.setdefault(key, []).append(b.name)
    return list(classes.values())


def fair_fill_applies(problem: Problem) -> bool:
    """Whether ``fair_fill`` gives a valid plan: only capacity, eligibility and tenant quotas
    matter (no constraints other than quotas, nothing required, nothing already placed)."""
    return (
        bool(problem.tenants)
        and all(c.kind == "quota" for c in problem.constraints)
        and not problem.traffic
        and not any(g.required or g.placed for g in problem.items)
    )


def fair_fill(problem: Problem) -> dict[tuple[str, str], int]:
    """Progressive filling (DRF): one task at a time to the tenant with the smallest weighted
    dominant share, on the first bin where it fits, within quotas. A start plan for levels that
    maximise ``fairness``, where a one-pod-at-a-time scheduler may starve whole tenants."""
    import heapq

    import numpy as np

    resources = list(problem.resources)
    bins = list(problem.bins)
    room = np.array([[b.capacity.get(r, 0) for r in resources] for b in bins], np.int64).reshape(
        len(bins), len(resources)
    )
    total = room.sum(axis=0).astype(np.float64)
    total = np.where(total > 0, total, np.inf)
    quota_left: dict[str, dict[str, int]] = {t.name: dict(t.quota or {}) for t in problem.tenants}
    for c in problem.constraints:
        limits = getattr(c, "limits", None)
        tenant = getattr(c, "tenant", None)
        if limits is not None and tenant is not None:
            for r, v in limits.items():
                quota_left[tenant][r] = min(quota_left[tenant].get(r, v), v)
    groups: dict[str, list[Any]] = defaultdict(list)
    for g in problem.items:
        if g.tenant is not None:
            groups[g.tenant].append(g)
    weight = {t.name: t.weight for t in problem.tenants}
    used = {t: np.zeros(len(resources)) for t in groups}
    left = {g.name: g.count for g in problem.items}
    mask = {
        g.name: np.array([g.allowed is None or b.name in set(g.allowed) for b in bins])
        for g in problem.items
    }
    demand = {
        g.name: np.array([g.demand.get(r, 0) for r in resources], np.int64) for g in problem.items
    }
    counts: dict[tuple[str, str], int] = defaultdict(int)
    heap = [(0.0, n, t) for n, t in enumerate(sorted(groups))]
    turn = dict.fromkeys(groups, 0)
    while heap:
        _, n, t = heapq.heappop(heap)
        live = [g for g in groups[t] if left[g.name] > 0]
        placed = False
        for k in range(len(live)):
            g = live[(turn[t] + k) % len(live)]
            d = demand[g.name]
            if any(d[resources.index(r)] > v for r, v in quota_left[t].items() if r in resources):
                left[g.name] = 0
                continue
            fits = np.nonzero(mask[g.name] & (room >= d).all(axis=1))[0]
            if len(fits) == 0:
                left[g.name] = 0
                continue
            b = int(fits[0])
            room[b] -= d
            used[t] += d
            left[g.name] -= 1
            for r in quota_left[t]:
                if r in resources:
                    quota_left[t][r] -= int(d[resources.index(r)])
            counts[(g.name, bins[b].name)] += 1
            turn[t] += 1
            placed = True
            break
        if placed:
            share = float((used[t] / total).max(initial=0.0)) / weight[t]
            heapq.heappush(heap, (share, n, t))
    return dict(counts)
