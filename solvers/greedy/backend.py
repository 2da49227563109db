"""``greedy``: an imitation of the default kube-scheduler, one pod at a time.

Replicas are taken in priority order (higher first, then problem order). For each replica every
bin goes through the FILTERS in kube-scheduler's plugin order — NodeAffinity (``allowed``),
NodeResourcesFit (with items already placed), traffic (a delay must be known to every partner),
PodTopologySpread (``spread``), InterPodAffinity (``anti_affinity``, ``affinity`` with the
first-pod rule) — and tenant quotas are checked like ResourceQuota admission. As in kube, a
spread or affinity never places a selected item on a bin without the topology key (or, for a
spread with ``bins``, outside those bins), although the IR would allow it there. Surviving bins are
SCORED 0..100 per plugin and the weighted sum picks the bin; ties are broken by a seeded RNG:

- NodeResourcesFit: LeastAllocated by default, MostAllocated when an objective level contains
  ``bins_used`` (consolidation); zero cpu/memory requests score as 100m / 200Mi like kube does.
- NodeResourcesBalancedAllocation (with LeastAllocated only, as kube's bin-packing guide advises).
- item ``cost`` per bin when the objective has ``cost`` (cheaper bins score higher).
- soft constraints: bins where a soft rule would break score lower (weight 2, as kube weighs
  PodTopologySpread and InterPodAffinity scoring).

Gang groups are placed all-or-nothing (rolled back otherwise). Items already placed stay where
they are, movable or not. Groups that cannot be placed get kube's ``FitError`` text in
``Unplaced.reasons`` and ``info["unschedulable"]``.

Speed: bins are vectorised with numpy. A group no rule touches is placed with a heap over bins
whose score for its k-th replica is precomputed (only the chosen bin's score changes between
replicas), so 10,000 pods on 1,000 nodes take a fraction of a second.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from engine.ir import Affinity, AntiAffinity, Gang, Problem, Quota, Spread
from engine.quantity import format_quantity
from engine.solution import Placement, Solution, Status, Unplaced

from ..base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from ..lowering import lower

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
# kube-scheduler scores a pod without requests as if it asked for this much (NonZeroRequested)
NON_ZERO_DEFAULTS = {"cpu": 100, "memory": 200 * 1024 * 1024}
FIT_WEIGHT, BALANCED_WEIGHT, COST_WEIGHT, SOFT_WEIGHT = 1, 1, 1, 2
MAX_SCORE = 100
HEAP_CELLS = 4_000_000  # largest bins x replicas score table the heap path precomputes

NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
SPREAD_MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
SPREAD_SKEW = "node(s) didn't match pod topology spread constraints"
EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
POD_ANTI = "node(s) didn't match pod anti-affinity rules"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
NO_DELAY = "node(s) had no known delay to the pods this pod exchanges traffic with"


# ---------------------------------------------------------------- constraint rules


@dataclass
class _Rule:
    """One anti-affinity / affinity / spread constraint over domains.

    ``dom[b]`` is bin b's domain index; ``n_dom`` (one past the last) means "no domain".
    ``ok(g)`` is the per-bin filter for one more item of group g; ``place`` updates the counts.
    """

    weight: float | None
    dom: IntArray
    n_dom: int
    sel: BoolArray
    tgt: BoolArray

    def members(self) -> BoolArray:
        """Groups whose items change this rule's counts (and are filtered by it)."""
        return self.sel | self.tgt

    def ok(self, g: int) -> BoolArray:
        raise NotImplementedError

    def failures(self, g: int) -> list[tuple[BoolArray, str]]:
        return [(~self.ok(g), self.reason(g))]

    def reason(self, g: int) -> str:
        raise NotImplementedError

    def place(self, g: int, b: int, n: int) -> None:
        raise NotImplementedError

    def save(self) -> Any:
        raise NotImplementedError

    def load(self, state: Any) -> None:
        raise NotImplementedError


@dataclass
class _SelectedPerDomain(_Rule):
    """A rule that counts the selected items in each domain."""

    count: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def place(self, g: int, b: int, n: int) -> None:
        if self.sel[g]:
            self.count[self.dom[b]] += n

    def save(self) -> Any:
        return self.count.copy()

    def load(self, state: Any) -> None:
        self.count = state


@dataclass
class _AntiAffinity(_SelectedPerDomain):
    """At most ``limit`` selected items per domain."""

    limit: int = 1
    per_bin: bool = False  # every domain is a single bin (hostname)

    def ok(self, g: int) -> BoolArray:
        if not self.sel[g]:
            return np.ones(len(self.dom), bool)
        fine = self.count + 1 <= self.limit
        fine[self.n_dom] = True
        return fine[self.dom]

    def reason(self, g: int) -> str:
        return POD_ANTI


@dataclass
class _AntiAffinityTarget(_Rule):
    """No domain holds a selected item together with a different target item."""

    s: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    t: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    u: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def ok(self, g: int) -> BoolArray:
        in_s, in_t = int(self.sel[g]), int(self.tgt[g])
        if not (in_s or in_t):
            return np.ones(len(self.dom), bool)
        bad = (self.s + in_s >= 1) & (self.t + in_t >= 1) & (self.u + 1 >= 2)
        bad[self.n_dom] = False
        return ~bad[self.dom]

    def reason(self, g: int) -> str:
        return POD_ANTI if self.sel[g] else EXISTING_ANTI

    def place(self, g: int, b: int, n: int) -> None:
        d = self.dom[b]
        self.s[d] += n * int(self.sel[g])
        self.t[d] += n * int(self.tgt[g])
        self.u[d] += n * int(self.sel[g] or self.tgt[g])

    def save(self) -> Any:
        return (self.s.copy(), self.t.copy(), self.u.copy())

    def load(self, state: Any) -> None:
        self.s, self.t, self.u = state


@dataclass
class _Affinity(_Rule):
    """Selected items go to domains holding a target (kube's first-pod rule for self-targets)."""

    t: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # slot n_dom: no domain
    total_t: int = 0
    both_total: int = 0

    def ok(self, g: int) -> BoolArray:
        in_s, in_t = bool(self.sel[g]), bool(self.tgt[g])
        fine = np.ones(len(self.dom), bool)
        if in_s and (not in_t or self.total_t >= 1):
            has_target = self.t >= 1
            has_target[self.n_dom] = False
            fine &= has_target[self.dom]
        if in_t and self.total_t == 1 and self.both_total == 1:
            # the only target so far is a self-target placed by the first-pod rule: a second
            # target anywhere else would leave it alone in its domain
            lone = int(np.argmax(self.t))
            fine &= self.dom == lone if lone != self.n_dom else False
        return fine

    def reason(self, g: int) -> str:
        return POD_AFFINITY

    def place(self, g: int, b: int, n: int) -> None:
        if self.tgt[g]:
            self.t[self.dom[b]] += n
            self.total_t += n
            if self.sel[g]:
                self.both_total += n

    def save(self) -> Any:
        return (self.t.copy(), self.total_t, self.both_total)

    def load(self, state: Any) -> None:
        self.t, self.total_t, self.both_total = state


@dataclass
class _Spread(_SelectedPerDomain):
    """A domain may receive a selected item while it stays within min + max_skew."""

    max_skew: int = 1
    min_domains: int | None = None

    def members(self) -> BoolArray:
        return self.sel

    def _skew_ok(self) -> BoolArray:
        real = self.count[: self.n_dom]
        low = int(real.min()) if self.n_dom else 0
        if self.min_domains is not None and self.n_dom < self.min_domains:
            low = 0
        fine = self.count + 1 - low <= self.max_skew
        fine[self.n_dom] = False
        return fine

    def ok(self, g: int) -> BoolArray:
        if not self.sel[g]:
            return np.ones(len(self.dom), bool)
        return self._skew_ok()[self.dom]

    def failures(self, g: int) -> list[tuple[BoolArray, str]]:
        if not self.sel[g]:
            return []
        missing = self.dom == self.n_dom
        return [(missing, SPREAD_MISSING), (~self._skew_ok()[self.dom], SPREAD_SKEW)]

    def reason(self, g: int) -> str:
        return SPREAD_SKEW


# ---------------------------------------------------------------- the model greedy runs on


@dataclass
class _Model:
    problem: Problem
    bins: list[str]
    resources: list[str]
    cap: IntArray  # [B, R]
    demand: IntArray  # [G, R]
    score_cols: list[int]  # resources NodeResourcesFit scores
    score_demand: IntArray  # [G, S] demand with kube's non-zero defaults
    allowed: list[BoolArray | None]  # per group, None = every bin
    rules: list[_Rule]
    touching: list[list[_Rule]]  # per group, the rules whose counts its items change
    quotas: dict[str, dict[int, int]]  # tenant -> {resource column: limit}
    partners: dict[int, list[int]]  # traffic partners per group
    has_delay: BoolArray | None  # [B, B]
    units: list[list[int]]  # groups in scheduling order; a gang is one unit
    gangs: set[int]  # groups in some gang (their unit is all-or-nothing)
    most_allocated: bool
    use_cost: bool


def _domain_index(
    problem: Problem, topology: str, keep: set[str] | None = None
) -> tuple[IntArray, int]:
    values: dict[str, int] = {}
    raw = []
    for b in problem.bins:
        v = b.labels.get(topology)
        if v is None or (keep is not None and b.name not in keep):
            raw.append(-1)
        else:
            raw.append(values.setdefault(v, len(values)))
    n = len(values)
    dom = np.array([n if d < 0 else d for d in raw], np.int64)
    return dom, n


def _rules(problem: Problem) -> list[_Rule]:
    G = len(problem.items)

    by_label: dict[tuple[str, str], BoolArray] = {}
    for k, group in enumerate(problem.items):
        for key, value in group.labels.items():
            by_label.setdefault((key, value), np.zeros(G, bool))[k] = True
    nobody = np.zeros(G, bool)

    def mask(selector: Mapping[str, str] | None) -> BoolArray:
        if selector is None:
            return nobody.copy()
        out = np.ones(G, bool)
        for key, value in selector.items():
            out &= by_label.get((key, value), nobody)
        return out

    rules: list[_Rule] = []
    domains: dict[tuple[str, tuple[str, ...] | None], tuple[IntArray, int]] = {}
    for c in problem.constraints:
        if isinstance(c, Gang | Quota):
            continue
        bins = c.bins if isinstance(c, Spread) else None
        if (c.topology, bins) not in domains:
            keep = set(bins) if bins is not None else None
            domains[c.topology, bins] = _domain_index(problem, c.topology, keep)
        dom, n = domains[c.topology, bins]
        zeros = np.zeros(n + 1, np.int64)
        common: dict[str, Any] = {
            "weight": c.weight,
            "dom": dom,
            "n_dom": n,
            "sel": mask(c.selector),
        }
        if isinstance(c, AntiAffinity) and c.target is None:
            sizes = np.bincount(dom, minlength=n + 1)[:n]
            rules.append(
                _AntiAffinity(
                    **common,
                    tgt=mask(None),
                    limit=c.max_per_domain,
                    count=zeros,
                    per_bin=bool(n == 0 or sizes.max() <= 1),
                )
            )
        elif isinstance(c, AntiAffinity):
            rules.append(
                _AntiAffinityTarget(
                    **common, tgt=mask(c.target), s=zeros, t=zeros.copy(), u=zeros.copy()
                )
            )
        elif isinstance(c, Affinity):
            rules.append(_Affinity(**common, tgt=mask(c.target), t=zeros))
        elif isinstance(c, Spread):
            rules.append(
                _Spread(
                    **common,
                    tgt=mask(None),
                    max_skew=c.max_skew,
                    min_domains=c.min_domains,
                    count=zeros,
                )
            )
    return rules


def _touching(rules: list[_Rule], groups: int) -> list[list[_Rule]]:
    out: list[list[_Rule]] = [[] for _ in range(groups)]
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


def compile_model(problem: Problem, scoring: str = "auto") -> _Model:
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
    return _Model(
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
    )


# ---------------------------------------------------------------- scoring


def _fit_scores(req: IntArray, cap: IntArray, most: bool, balanced: bool) -> IntArray:
    """NodeResourcesFit (+ BalancedAllocation) over the last axis, kube's integer arithmetic."""
    has = cap > 0
    safe = np.where(has, cap, 1)
    within = has & (req <= cap)
    per = np.where(within, (req if most else cap - req) * MAX_SCORE // safe, 0)
    score = FIT_WEIGHT * (per.sum(axis=-1) // max(req.shape[-1], 1))
    if balanced and req.shape[-1] > 1:
        frac = np.where(has, np.minimum(req / safe, 1.0), 1.0)
        # the usual cpu + memory: the std of two values is half their difference
        two = frac.shape[-1] == 2
        std = np.abs(frac[..., 0] - frac[..., 1]) / 2 if two else frac.std(axis=-1)
        score = score + BALANCED_WEIGHT * ((1.0 - std) * MAX_SCORE).astype(np.int64)
    return score.astype(np.int64)


def _cost_scores(problem: Problem, g: int, bins: list[str]) -> IntArray:
    costs = problem.items[g].cost
    if not costs:
        return np.full(len(bins), COST_WEIGHT * MAX_SCORE, np.int64)
    c = np.array([costs.get(b, 0.0) for b in bins])
    low, high = c.min(), c.max()
    if high == low:
        return np.full(len(bins), COST_WEIGHT * MAX_SCORE, np.int64)
    return (COST_WEIGHT * MAX_SCORE * (high - c) / (high - low)).astype(np.int64)


# ---------------------------------------------------------------- the scheduling loop


class _Scheduler:
    def __init__(self, model: _Model, seed: int) -> None:
        self.m = model
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        p = model.problem
        B = len(model.bins)
        self.used = np.zeros((B, len(model.resources)), np.int64)
        self.score_used = np.zeros((B, len(model.score_cols)), np.int64)
        self.counts: list[dict[int, int]] = [{} for _ in p.items]
        self.tenant_used: dict[str, IntArray] = {
            t: np.zeros(len(model.resources), np.int64) for t in model.quotas
        }
        self.reasons: dict[str, str] = {}
        bin_index = {b: k for k, b in enumerate(model.bins)}
        for g, group in enumerate(p.items):  # items already placed stay where they are
            for name, n in group.placed.items():
                self._commit(g, bin_index[name], n)

    # -- state
    def _commit(self, g: int, b: int, n: int) -> None:
        m = self.m
        self.used[b] += n * m.demand[g]
        self.score_used[b] += n * m.score_demand[g]
        self.counts[g][b] = self.counts[g].get(b, 0) + n
        for rule in m.touching[g]:
            rule.place(g, b, n)
        tenant = m.problem.items[g].tenant
        if tenant in self.tenant_used:
            self.tenant_used[tenant] += n * m.demand[g]

    def _save(self) -> Any:
        return (
            self.used.copy(),
            self.score_used.copy(),
            [dict(c) for c in self.counts],
            {t: u.copy() for t, u in self.tenant_used.items()},
            [r.save() for r in self.m.rules],
        )

    def _load(self, state: Any) -> None:
        self.used, self.score_used, self.counts, self.tenant_used, rules = state
        for rule, saved in zip(self.m.rules, rules, strict=True):
            rule.load(saved)

    # -- quotas (ResourceQuota admission: not per node)
    def _quota_room(self, g: int) -> int:
        """How many more items of g the tenant's quota admits."""
        tenant = self.m.problem.items[g].tenant
        limits = self.m.quotas.get(tenant or "")
        if not limits:
            return 1 << 62
        room = 1 << 62
        used = self.tenant_used[tenant or ""]
        for col, limit in limits.items():
            d = int(self.m.demand[g, col])
            if int(used[col]) + d > limit:
                return 0
            if d > 0:
                room = min(room, (limit - int(used[col])) // d)
        return room

    def _quota_reason(self, g: int) -> str:
        m = self.m
        tenant = m.problem.items[g].tenant or ""
        used = self.tenant_used[tenant]
        cols = sorted(m.quotas[tenant])

        def show(values: Mapping[int, int]) -> str:
            return ",".join(
                f"{m.resources[c]}={format_quantity(m.resources[c], int(values[c]))}" for c in cols
            )

        return (
            f"exceeded quota: {tenant}, requested: {show(dict(enumerate(m.demand[g])))}, "
            f"used: {show(dict(enumerate(used)))}, limited: {show(m.quotas[tenant])}"
        )

    # -- filters
    def _fits(self, g: int, rows: slice | IntArray = slice(None)) -> BoolArray:
        d = self.m.demand[g]
        cols = np.flatnonzero(d)
        if not len(cols):
            return np.ones(len(self.m.cap[rows]), bool)
        return (self.used[rows][:, cols] + d[cols] <= self.m.cap[rows][:, cols]).all(axis=1)

    def _traffic_ok(self, g: int) -> BoolArray | None:
        known = self.m.has_delay
        if known is None or g not in self.m.partners:
            return None
        fine = np.ones(len(self.m.bins), bool)
        for h in self.m.partners[g]:
            on = [b for b, n in self.counts[h].items() if n > 0]
            if on:
                fine &= known[:, on].all(axis=1)
        return fine

    def _static_ok(self, g: int) -> BoolArray:
        allowed = self.m.allowed[g]
        fits = self._fits(g)
        return fits if allowed is None else fits & allowed

    def _dynamic_ok(self, g: int, hard: list[_Rule]) -> BoolArray | None:
        fine = self._traffic_ok(g)
        for rule in hard:
            ok = rule.ok(g)
            fine = ok if fine is None else fine & ok
        return fine

    def _unschedulable(self, g: int, hard: list[_Rule]) -> str:
        """kube's FitError text: each bin counted under the first filter that rejects it."""
        B = len(self.m.bins)
        if B == 0:
            return "0/0 nodes are available: no nodes available to schedule pods."
        histogram: dict[str, int] = defaultdict(int)
        open_ = np.ones(B, bool)
        allowed = self.m.allowed[g]
        if allowed is not None:
            histogram[NODE_AFFINITY] += int((open_ & ~allowed).sum())
            open_ &= allowed
        d = self.m.demand[g]
        short = np.zeros(B, bool)
        for col in np.flatnonzero(d):
            lacking = open_ & (self.used[:, col] + d[col] > self.m.cap[:, col])
            r = self.m.resources[col]
            text = "Too many pods" if r == "pods" else f"Insufficient {r}"
            if lacking.any():
                histogram[text] += int(lacking.sum())
            short |= lacking
        open_ &= ~short
        failures: list[tuple[BoolArray, str]] = []
        traffic = self._traffic_ok(g)
        if traffic is not None:
            failures.append((~traffic, NO_DELAY))
        ordered = sorted(hard, key=lambda r: not isinstance(r, _Spread))  # kube plugin order
        for rule in ordered:
            failures.extend(rule.failures(g))
        for failed, text in failures:
            hit = open_ & failed
            if hit.any():
                histogram[text] += int(hit.sum())
            open_ &= ~failed
        if open_.any():  # cannot happen when called on failure; say so rather than lie
            histogram["node(s) were available but not chosen"] += int(open_.sum())
        parts = sorted(f"{n} {text}" for text, n in histogram.items())
        return f"0/{B} nodes are available: {', '.join(parts)}."

    # -- placing one group
    def place_group(self, g: int) -> int:
        """Place the group's remaining items; returns how many could not be placed."""
        group = self.m.problem.items[g]
        todo = group.count - group.placed_total
        if todo <= 0:
            return 0
        touching = self.m.touching[g]
        hard = [r for r in touching if r.weight is None]
        soft = [r for r in touching if r.weight is not None]
        admitted = min(todo, self._quota_room(g))
        per_bin = self._per_bin_limits(g, hard) if not soft and g not in self.m.partners else None
        if per_bin is not None:
            placed = self._place_by_heap(g, admitted, per_bin, hard)
        else:
            placed = self._place_one_by_one(g, admitted, hard, soft)
        left = todo - placed
        if left:
            if placed == admitted and admitted < todo:
                self.reasons[group.name] = self._quota_reason(g)
            else:
                self.reasons[group.name] = self._unschedulable(g, hard)
        return left

    def _per_bin_limits(self, g: int, hard: list[_Rule]) -> IntArray | None:
        """How many more items of g each bin may take, when every rule on g is per bin.

        True for no rules at all, and for anti-affinity over a topology whose domains are single
        bins (hostname): then only the chosen bin's state changes and the batched paths apply.
        None when some rule couples bins (zones, spread, affinity).
        """
        limit = np.full(len(self.m.bins), 1 << 40, np.int64)
        for rule in hard:
            if not (isinstance(rule, _AntiAffinity) and rule.per_bin and rule.sel[g]):
                return None
            room = np.maximum(rule.limit - rule.count, 0)
            room[rule.n_dom] = 1 << 40
            limit = np.minimum(limit, room[rule.dom])
        return limit

    def _base_scores(self, g: int, rows: IntArray, k: IntArray | int = 1) -> IntArray:
        """Score of each bin in ``rows`` if it received its k-th more replica of g."""
        m = self.m
        kk = np.asarray(k)
        cap = m.cap[rows][:, m.score_cols]
        if kk.ndim == 1:  # a table: rows x k
            req = self.score_used[rows][:, None, :] + kk[None, :, None] * m.score_demand[g]
            cap = cap[:, None, :]
        else:
            req = self.score_used[rows] + int(kk) * m.score_demand[g]
        return _fit_scores(req, cap, m.most_allocated, balanced=not m.most_allocated)

    def _place_by_heap(self, g: int, todo: int, per_bin: IntArray, hard: list[_Rule]) -> int:
        """No rule touches g, so between two replicas only the chosen bin's score changes.

        The score of each bin for its 1st, 2nd, ... next replica is one table. When every row
        falls (LeastAllocated) one-at-a-time greedy takes the ``todo`` best cells; when every
        row rises (MostAllocated) it fills bins one after another, best first; otherwise a heap
        replays the one-at-a-time choice exactly. Ties go to seeded random keys.
        """
        m = self.m
        rows = np.flatnonzero(self._static_ok(g) & (per_bin > 0))
        if not len(rows) or todo <= 0:
            return 0
        kmax = np.minimum(self._room(g, rows, todo), per_bin[rows])
        depth = int(kmax.max())
        if depth <= 0:
            return 0
        if len(rows) * depth > HEAP_CELLS:
            return self._place_one_by_one(g, todo, hard, [])
        cost = (
            _cost_scores(m.problem, g, m.bins)[rows]
            if m.use_cost
            else np.zeros(len(rows), np.int64)
        )
        if m.most_allocated:  # a bin's score only rises as it fills: provably fill in turn
            first = self._base_scores(g, rows) + cost
            taken = self._fill_in_turn(first, kmax, todo)
            for i in np.flatnonzero(taken):
                self._commit(g, int(rows[i]), int(taken[i]))
            return int(taken.sum())
        table = self._base_scores(g, rows, np.arange(1, depth + 1))
        table = table + cost[:, None]
        valid = np.arange(depth)[None, :] < kmax[:, None]
        step = np.diff(table, axis=1)
        later = valid[:, 1:]
        if np.all((step <= 0) | ~later):
            taken = self._best_cells(table, valid, todo)
        elif np.all((step >= 0) | ~later):
            taken = self._fill_in_turn(table[:, 0], kmax, todo)
        else:
            taken = self._replay(table, kmax, todo)
        for i in np.flatnonzero(taken):
            self._commit(g, int(rows[i]), int(taken[i]))
        return int(taken.sum())

    def _best_cells(self, table: IntArray, valid: BoolArray, todo: int) -> IntArray:
        keys = np.where(valid, table + self.np_rng.random(table.shape), -np.inf).ravel()
        n = min(todo, int(valid.sum()))
        best = np.argpartition(-keys, n - 1)[:n] if n < len(keys) else np.arange(len(keys))
        return np.bincount(best // table.shape[1], minlength=table.shape[0])[: table.shape[0]]

    def _fill_in_turn(self, first: IntArray, kmax: IntArray, todo: int) -> IntArray:
        order = np.lexsort((self.np_rng.random(len(first)), -first))
        filled = np.minimum(np.cumsum(kmax[order]), todo)
        taken = np.zeros(len(first), np.int64)
        taken[order] = np.diff(filled, prepend=0)
        return taken

    def _replay(self, table: IntArray, kmax: IntArray, todo: int) -> IntArray:
        scores = table.tolist()
        limits = kmax.tolist()
        rand = self.rng.random
        heap = [(-scores[i][0], rand(), i) for i in range(len(limits)) if limits[i] > 0]
        heapq.heapify(heap)
        taken = [0] * len(limits)
        left = todo
        while left and heap:
            _, _, i = heapq.heappop(heap)
            taken[i] += 1
            left -= 1
            if taken[i] < limits[i]:
                heapq.heappush(heap, (-scores[i][taken[i]], rand(), i))
        return np.array(taken, np.int64)

    def _place_one_by_one(self, g: int, todo: int, hard: list[_Rule], soft: list[_Rule]) -> int:
        """Rules couple bins (zones, spread, affinity, soft rules, traffic): filter and score
        every bin again for each replica, as kube-scheduler does."""
        m = self.m
        B = len(m.bins)
        all_rows = np.arange(B)
        ok_static = self._static_ok(g)
        kmax = self._room(g, all_rows, todo)
        cost = _cost_scores(m.problem, g, m.bins) if m.use_cost else np.zeros(B, np.int64)
        depth = int(kmax.max()) if B else 0
        table = None
        if depth > 0 and B * depth <= HEAP_CELLS:  # each bin's score for its k-th replica
            table = self._base_scores(g, all_rows, np.arange(1, depth + 1)) + cost[:, None]
            base = table[:, 0].copy()
        else:
            base = self._base_scores(g, all_rows) + cost
        taken = np.zeros(B, np.int64)
        placed = 0
        while placed < todo:
            ok = ok_static
            dynamic = self._dynamic_ok(g, hard)
            if dynamic is not None:
                ok = ok & dynamic
            candidates = np.flatnonzero(ok)
            if not len(candidates):
                break
            total = base[candidates]
            if soft:
                penalty = np.zeros(B)
                for rule in soft:
                    penalty += (rule.weight or 0.0) * ~rule.ok(g)
                worst = penalty[candidates].max()
                if worst > 0:
                    soft_score = SOFT_WEIGHT * MAX_SCORE * (1.0 - penalty[candidates] / worst)
                    total = total + soft_score.astype(np.int64)
                else:
                    total = total + SOFT_WEIGHT * MAX_SCORE
            best = np.flatnonzero(total == total.max())
            b = int(candidates[best[self.rng.randrange(len(best))]])
            self._commit(g, b, 1)
            placed += 1
            # only bin b changed: refresh its fit and score (both arrays are ours)
            taken[b] += 1
            if taken[b] >= kmax[b]:
                ok_static[b] = False
            elif table is not None:
                base[b] = table[b, taken[b]]
            else:
                base[b] = self._base_scores(g, np.array([b]))[0] + cost[b]
        return placed

    def _room(self, g: int, rows: IntArray, todo: int) -> IntArray:
        """How many more items of g fit on each bin of ``rows`` (at most ``todo``)."""
        d = self.m.demand[g]
        cols = np.flatnonzero(d)
        if not len(cols):
            return np.full(len(rows), todo, np.int64)
        room = (self.m.cap[rows][:, cols] - self.used[rows][:, cols]) // d[cols]
        return np.clip(room.min(axis=1), 0, todo)

    def place_unit(self, unit: list[int]) -> None:
        if unit[0] not in self.m.gangs:
            self.place_group(unit[0])
            return
        state = self._save()
        for g in unit:
            if self.place_group(g):
                failed = self.m.problem.items[g].name
                why = self.reasons.get(failed, "")
                self._load(state)
                names = ", ".join(self.m.problem.items[k].name for k in unit)
                for k in unit:
                    self.reasons[self.m.problem.items[k].name] = (
                        f"gang [{names}] rolled back: {failed}: {why}"
                    )
                return


# ---------------------------------------------------------------- the backend


class GreedyBackend(Backend):
    """kube-scheduler's default policy (filter, score, bind one pod at a time), vectorised."""

    name = "greedy"
    supports = ALL_FEATURES
    exact = False
    requires = ("numpy",)
    parameters: Mapping[str, str] = {
        "scoring": "auto | LeastAllocated | MostAllocated (auto: MostAllocated when an "
        "objective level has bins_used)",
    }
    parameter_types: Mapping[str, type] = {"scoring": str}

    def compile(self, problem: Problem, options: Options) -> Compiled[_Model, None]:
        scoring = str(options.params.get("scoring", "auto"))
        if scoring not in ("auto", LEAST_ALLOCATED, MOST_ALLOCATED):
            from engine.errors import PlacerError

            raise PlacerError(
                f"greedy: scoring must be auto, {LEAST_ALLOCATED} or {MOST_ALLOCATED}, "
                f"got {scoring!r}"
            )
        return Compiled(problem=problem, model=compile_model(problem, scoring), index=None)

    def run(self, compiled: Compiled[_Model, None], options: Options) -> RawResult:
        model = compiled.model
        scheduler = _Scheduler(model, options.seed)
        for unit in model.units:
            scheduler.place_unit(unit)
        values: dict[Hashable, float] = {}
        short = []
        for g, per_bin in enumerate(scheduler.counts):
            group = model.problem.items[g]
            for b, n in per_bin.items():
                if n > 0:
                    values[(group.name, model.bins[b])] = n
            if group.required and sum(per_bin.values()) < group.count:
                short.append(group.name)
        info: dict[str, Any] = {
            "scoring": MOST_ALLOCATED if model.most_allocated else LEAST_ALLOCATED,
            "unschedulable": dict(scheduler.reasons),
        }
        status = Status.FEASIBLE
        if short:
            status = Status.UNKNOWN
            info["required_unplaced"] = short
        return RawResult(status=status, values=values, info=info)

    def decode(self, compiled: Compiled[_Model, None], raw: RawResult) -> Solution:
        problem = compiled.problem
        order = {b.name: k for k, b in enumerate(problem.bins)}
        per_item: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for key, n in raw.values.items():
            item, b = cast(tuple[str, str], key)
            per_item[item].append((b, int(n)))
        placements = []
        unplaced = []
        reasons = raw.info.get("unschedulable", {})
        for group in problem.items:  # problem order of items, then bins (as from_counts)
            rows = sorted(per_item.get(group.name, []), key=lambda row: order[row[0]])
            placements += [Placement(item=group.name, bin=b, count=n) for b, n in rows]
            left = group.count - sum(n for _, n in rows)
            if left > 0:
                unplaced.append(
                    Unplaced(item=group.name, count=left, reasons=reasons.get(group.name))
                )
        return Solution.model_validate(
            {
                "problem": problem.name,
                "backend": self.name,
                "status": raw.status,
                "placements": placements,
                "unplaced": unplaced,
                "info": raw.info,
            }
        )
