"""What greedy runs on: bins and groups as arrays, the rules of the constraints, quotas, traffic
partners, and the scheduling units (a gang is one unit, all or nothing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import PlacerError
from engine.ir import Affinity, AntiAffinity, Gang, Problem, Quota, Spread

from ..lowering import lower
from ..lowering.devices import Devices
from .interpod import AffinityRule, AntiAffinityRule, AntiAffinityTargetRule
from .rules import BoolArray, IntArray, Rule, domain_index
from .scoring import LEAST_ALLOCATED, MOST_ALLOCATED, NON_ZERO_DEFAULTS
from .spread import SpreadRule


@dataclass
class GreedyModel:
    problem: Problem
    bins: list[str]
    resources: list[str]
    cap: IntArray  # [B, R]
    demand: IntArray  # [G, R]
    score_cols: list[int]  # resources NodeResourcesFit scores
    score_demand: IntArray  # [G, S] demand with kube's non-zero defaults
    allowed: list[BoolArray | None]  # per group, None = every bin
    rules: list[Rule]
    touching: list[list[Rule]]  # per group, the rules whose counts its items change
    quotas: dict[str, dict[int, int]]  # tenant -> {resource column: limit}
    partners: dict[int, list[int]]  # traffic partners per group
    has_delay: BoolArray | None  # [B, B]
    units: list[list[int]]  # groups in scheduling order; a gang is one unit
    gangs: set[int]  # groups in some gang (their unit is all-or-nothing)
    most_allocated: bool
    use_cost: bool
    devices: Devices | None  # the lowering's devices (None: no item requests devices)


class _Masks:
    """Groups matching a selector, as boolean masks over groups."""

    def __init__(self, problem: Problem) -> None:
        self.groups = len(problem.items)
        self.by_label: dict[tuple[str, str], BoolArray] = {}
        for k, group in enumerate(problem.items):
            for key, value in group.labels.items():
                self.by_label.setdefault((key, value), np.zeros(self.groups, bool))[k] = True

    def __call__(self, selector: Mapping[str, str] | None) -> BoolArray:
        nobody = np.zeros(self.groups, bool)
        if selector is None:
            return nobody
        out = np.ones(self.groups, bool)
        for key, value in selector.items():
            out &= self.by_label.get((key, value), nobody)
        return out


@dataclass
class _Context:
    problem: Problem
    mask: _Masks
    domains: dict[tuple[str, tuple[str, ...] | None], tuple[IntArray, int]]

    def common(self, c: Any, bins: tuple[str, ...] | None = None) -> dict[str, Any]:
        """What every domain rule holds: its weight, the bins' domains and the selected groups."""
        if (c.topology, bins) not in self.domains:
            keep = set(bins) if bins is not None else None
            self.domains[c.topology, bins] = domain_index(self.problem, c.topology, keep)
        dom, n = self.domains[c.topology, bins]
        return {"weight": c.weight, "dom": dom, "n_dom": n, "sel": self.mask(c.selector)}


def _anti_affinity(c: AntiAffinity, ctx: _Context) -> Rule:
    common = ctx.common(c)
    dom, n = common["dom"], common["n_dom"]
    zeros = np.zeros(n + 1, np.int64)
    if c.target is not None:
        return AntiAffinityTargetRule(
            **common, tgt=ctx.mask(c.target), s=zeros, t=zeros.copy(), u=zeros.copy()
        )
    sizes = np.bincount(dom, minlength=n + 1)[:n]
    return AntiAffinityRule(
        **common,
        tgt=ctx.mask(None),
        limit=c.max_per_domain,
        count=zeros,
        per_bin=bool(n == 0 or sizes.max() <= 1),
    )


def _affinity(c: Affinity, ctx: _Context) -> Rule:
    common = ctx.common(c)
    return AffinityRule(**common, tgt=ctx.mask(c.target), t=np.zeros(common["n_dom"] + 1, np.int64))


def _spread(c: Spread, ctx: _Context) -> Rule:
    common = ctx.common(c, c.bins)
    zeros = np.zeros(common["n_dom"] + 1, np.int64)
    return SpreadRule(
        **common, tgt=ctx.mask(None), max_skew=c.max_skew, min_domains=c.min_domains, count=zeros
    )


def _no_rule(c: Any, ctx: _Context) -> None:
    """Gangs are scheduling units (``_units``), quotas admission checks (``_quotas``)."""
    return None


# Constraint kind -> its rule (kube's plugin), or None when it is handled outside the filters.
RULES: dict[type, Callable[[Any, _Context], Rule | None]] = {
    AntiAffinity: _anti_affinity,
    Affinity: _affinity,
    Spread: _spread,
    Gang: _no_rule,
    Quota: _no_rule,
}


def _rules(problem: Problem) -> list[Rule]:
    ctx = _Context(problem, _Masks(problem), {})
    rules: list[Rule] = []
    for c in problem.constraints:
        build = RULES.get(type(c))
        if build is None:
            raise PlacerError(f"greedy has no rule for {c.kind} constraints")
        rule = build(c, ctx)
        if rule is not None:
            rules.append(rule)
    return rules


def _touching(rules: list[Rule], groups: int) -> list[list[Rule]]:
    out: list[list[Rule]] = [[] for _ in range(groups)]
    for rule in rules:
        for g in np.flatnonzero(rule.members()):
            out[g].append(rule)
    return out


def _units(problem: Problem) -> list[list[int]]:
    """Scheduling order: gangs (merged when they share groups) are one unit each, by priority."""
    index = {g.name: k for k, g in enumerate(problem.items)}
    units = [[index[g] for g in gang] for gang in lower(problem).gangs]
    ganged = {k for unit in units for k in unit}
    units += [[k] for k in range(len(problem.items)) if k not in ganged]
    for unit in units:
        unit.sort(key=lambda k: (-problem.items[k].priority, k))
    return sorted(units, key=lambda u: (-problem.items[u[0]].priority, u[0]))


def _quotas(problem: Problem, column: Mapping[str, int]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = defaultdict(dict)
    limits = [(t.name, t.quota) for t in problem.tenants if t.quota]
    limits += [(c.tenant, c.limits) for c in problem.constraints if isinstance(c, Quota)]
    for tenant, quota in limits:
        for r, limit in quota.items():
            col = column[r]
            out[tenant][col] = min(limit, out[tenant].get(col, limit))
    return dict(out)


def _delays(problem: Problem) -> BoolArray:
    index = {b.name: k for k, b in enumerate(problem.bins)}
    known = np.eye(len(problem.bins), dtype=bool)
    for a, row in problem.delays.items():
        for b in row:
            known[index[a], index[b]] = known[index[b], index[a]] = True
    return known


def compile_model(problem: Problem, scoring: str = "auto") -> GreedyModel:
    resources = list(problem.resources)
    column = {r: k for k, r in enumerate(resources)}
    B, G, R = len(problem.bins), len(problem.items), len(resources)
    cap = np.zeros((B, R), np.int64)
    for b, bin_ in enumerate(problem.bins):
        for r, amount in bin_.capacity.items():
            cap[b, column[r]] = amount
    demand = np.zeros((G, R), np.int64)
    for g, group in enumerate(problem.items):
        for r, amount in group.demand.items():
            demand[g, column[r]] = amount
    scored: list[str] = [r for r in ("cpu", "memory") if r in column] or [
        r for r in resources if r != "pods"
    ]
    score_cols = [column[r] for r in scored]
    score_demand = demand[:, score_cols].copy()
    for k, r in enumerate(scored):
        if r in NON_ZERO_DEFAULTS:
            zero = score_demand[:, k] == 0
            score_demand[zero, k] = NON_ZERO_DEFAULTS[r]
    bin_index = {b.name: k for k, b in enumerate(problem.bins)}
    allowed: list[BoolArray | None] = []
    for group in problem.items:
        if group.allowed is None:
            allowed.append(None)
        else:
            m = np.zeros(B, bool)
            m[[bin_index[n] for n in group.allowed]] = True
            allowed.append(m)
    item_index = {g.name: k for k, g in enumerate(problem.items)}
    partners: dict[int, list[int]] = defaultdict(list)
    for tr in problem.traffic:
        if tr.volume > 0:
            a, b = (item_index[n] for n in tr.items)
            partners[a].append(b)
            if b != a:
                partners[b].append(a)
    rules = _rules(problem)
    if scoring == "auto":
        consolidate = any("bins_used" in level for level in problem.objective)
        scoring = MOST_ALLOCATED if consolidate else LEAST_ALLOCATED
    return GreedyModel(
        problem=problem,
        bins=[b.name for b in problem.bins],
        resources=resources,
        cap=cap,
        demand=demand,
        score_cols=score_cols,
        score_demand=score_demand,
        allowed=allowed,
        rules=rules,
        touching=_touching(rules, G),
        quotas=_quotas(problem, column),
        partners=dict(partners),
        has_delay=_delays(problem) if partners else None,
        units=_units(problem),
        gangs={
            k
            for k, g in enumerate(problem.items)
            for gang in lower(problem).gangs
            if g.name in gang
        },
        most_allocated=scoring == MOST_ALLOCATED,
        use_cost=any("cost" in level for level in problem.objective),
        devices=lower(problem).devices,
    )
