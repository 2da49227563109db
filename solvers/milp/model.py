"""The MILP formulation of the full IR, in PuLP (the ``milp`` backend's model; also what it exports).

One integer count variable per (group, eligible bin), as in the CP-SAT model, linearised:

- capacity, quotas, gang (one shared binary: ``P_g = count_g * on``), anti-affinity per domain and
  spread are linear in the counts; bins used are ``x <= ub(x) * y`` and ``y <= sum x`` (exact both
  ways, with the tightest M: the variable's own upper bound).
- anti-affinity with a target, affinity and the "receives new items" side of spread need a
  binary per domain; their M is always a domain's largest possible count, never a guess.
- balance / moves / soft / traffic are minimised and fairness maximised: their auxiliary
  variables are only bounded on the side the objective pushes against, which is exact at the
  optimum of every level that uses them. A negative weight on such a term would need the other
  side too; the model refuses it with a clear error rather than answering wrongly.
- traffic multiplies counts. McCormick envelopes of two general integers are not exact at interior
  points (x=1, y=1 in [0, 3] gives a lower envelope of 0, not 1), so one factor is expanded into
  binary digits (x = sum 2^k b_k) and each digit times the other count is linearised exactly:
  O(log count) variables per pair, exact for any counts.

Levels are lexicographic: each is a list of *stages* (expressions to minimise, solved and fixed in
order). ``placed`` alone in a level becomes one stage per priority tier, highest first, which is
exactly equivalent to the tier weights of ``Problem.priority_weights()`` (each tier weight exceeds
everything below it) without their large coefficients.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulp

from engine.errors import PlacerError
from engine.ir import (
    MAXIMISED_TERMS,
    Affinity,
    AntiAffinity,
    Gang,
    Problem,
    Quota,
    Spread,
)

from ..deadline import Deadline
from ..lowering import Key, Level, Lowered
from ..lowering.device_model import DeviceModel

# Terms whose linearisation is one-sided (exact only when the objective pushes the natural way).
ONE_SIDED_TERMS = frozenset({"balance", "moves", "soft", "traffic", "fairness"})


@dataclass
class LevelExprs:
    """One objective level of the lowering as expressions to minimise: the whole level, and
    one per stage of it (a tier of a ``placed`` level, or the level itself)."""

    level: Level
    minimise_expr: pulp.LpAffineExpression  # the level as one expression to minimise
    stages: list[pulp.LpAffineExpression]
    # per stage, a value no plan can beat (placing every item), or None: a start that reaches it
    # is optimal without a solve
    floors: list[float | None]

    @property
    def index(self) -> int:
        return self.level.index

    @property
    def maximised(self) -> bool:
        """All-maximised level: reported value = -minimise_expr."""
        return self.level.maximised

    def value(self) -> float:
        v = float(pulp.value(self.minimise_expr) or 0.0)
        return -v if self.maximised else v


@dataclass
class MilpModel:
    lowered: Lowered
    lp: pulp.LpProblem
    x: dict[Key, pulp.LpVariable]
    upper: dict[Key, int]
    levels: list[LevelExprs]
    info: dict[str, Any] = field(default_factory=dict)
    infeasible: list[str] = field(default_factory=list)  # rows false before any solve
    variables: list[pulp.LpVariable] = field(default_factory=list)  # every one (lp.variables()
    # walks every row each call, so it is taken once)
    # the device rows and their z variables (items per device); None: no device requests
    devices: tuple[DeviceModel, list[pulp.LpVariable]] | None = None
    # each soft rule's (weight, violation variable), when soft rules are in the objective
    soft_terms: list[tuple[float, pulp.LpVariable]] = field(default_factory=list)

    def device_rows(self) -> Any:
        """The devices of the plan's items (None when no item requests devices)."""
        if self.devices is None:
            return None
        from .devices import device_rows

        return device_rows(*self.devices, self.counts())

    @property
    def problem(self) -> Problem:
        return self.lowered.problem

    def counts(self) -> dict[Key, int]:
        return self.lowered.plan({key: var.varValue or 0.0 for key, var in self.x.items()})


def _name(*parts: object) -> str:
    """A solver-safe variable/constraint name (LP and MPS forbid spaces and some symbols)."""
    raw = "_".join(str(p) for p in parts)
    return "".join(c if c.isalnum() or c in "_." else "_" for c in raw)


class _Builder:
    def __init__(self, lowered: Lowered, clock: Deadline) -> None:
        self.clock = clock  # checked at every variable and row: raises OutOfTime
        self.lowered = lowered
        self.p = problem = lowered.problem
        self.lp = pulp.LpProblem(_name(problem.name or "placer"), pulp.LpMinimize)
        self.x: dict[Key, pulp.LpVariable] = {}
        self.lo: dict[Key, int] = {}
        self.ub: dict[Key, int] = {}
        self.by_bin: dict[str, list[str]] = defaultdict(list)  # bin -> groups with a variable
        self.placed_expr: dict[str, pulp.LpAffineExpression] = {}
        self.soft_terms: list[tuple[float, pulp.LpAffineExpression]] = []
        self.uses_soft = any("soft" in lvl and lvl["soft"] != 0 for lvl in problem.objective)
        self._n = 0
        self._names: set[str] = set()
        self.created: list[pulp.LpVariable] = []
        self.infeasible: list[str] = []  # constraints false whatever the plan
        self.used: dict[str, pulp.LpVariable] = {}  # bin -> "holds something" (bins_used only)
        self._present: dict[Key, pulp.LpVariable] = {}

    def var(
        self,
        name: str,
        low: float | None = None,
        up: float | None = None,
        cat: str = pulp.LpContinuous,
    ) -> pulp.LpVariable:
        """A new variable with a unique name (sanitised names of distinct things can collide)."""
        self.clock.check()
        if name in self._names:
            name = self.fresh(name)
        self._names.add(name)
        var = self.lp.add_variable(name, low, up, cat)
        self.created.append(var)
        return var

    def fresh(self, *parts: object) -> str:
        self._n += 1
        return _name(*parts, self._n)

    def add(self, constraint: pulp.LpConstraint, *parts: object) -> None:
        self.clock.check()
        if not constraint.keys():  # no variable left: true or false right now
            if not constraint.valid(0):
                self.infeasible.append(_name(*parts))
            return
        self.lp += constraint, self.fresh(*parts)

    # ------------------------------------------------------------------ variables

    def counts(self) -> None:
        """One count per eligible (group, bin), with the lowering's bounds."""
        for key, lo, ub in self.lowered.pairs():
            self.x[key] = self.var(_name("x", *key), lo, ub, pulp.LpInteger)
            self.lo[key], self.ub[key] = lo, ub
            self.by_bin[key[1]].append(key[0])
        for g in self.p.items:
            bins = self.lowered.bins_of(g.name)
            self.placed_expr[g.name] = total = pulp.lpSum(self.x[(g.name, b)] for b in bins)
            if g.required:
                self.add(total == g.count, "required", g.name)
            elif sum(self.ub[(g.name, b)] for b in bins) > g.count:
                self.add(total <= g.count, "count", g.name)

    def mention_every_variable(self) -> None:
        """Put variables no row mentions into one redundant row: PuLP hands a solver only the
        variables its rows (or the objective) use, and MPS lists a variable only under its rows
        (CBC rejects bounds of a variable listed nowhere). Every variable here is bounded."""
        used = {v.name for c in self.lp.constraints() for v in c}
        lonely = [v for v in self.created if v.name not in used]
        if lonely:
            self.add(pulp.lpSum(lonely) <= sum(v.upBound or 0 for v in lonely), "listed")

    def present(self, key: Key) -> pulp.LpVariable:
        """Binary: 1 when at least one item of the group is on the bin (x <= ub * o, o <= x)."""
        if key not in self._present:
            o = self.var(_name("o", *key), cat=pulp.LpBinary)
            self.add(self.x[key] <= self.ub[key] * o, "present_ub", *key)
            self.add(o <= self.x[key], "present_lb", *key)
            self._present[key] = o
        return self._present[key]

    def sum_over(
        self, groups: Iterable[str], bins: Iterable[str]
    ) -> tuple[pulp.LpAffineExpression, int]:
        """Σ x over groups × bins (with variables), and its largest possible value."""
        gs = set(groups)
        keys = [(g, b) for b in bins for g in self.by_bin.get(b, ()) if g in gs]
        return pulp.lpSum(self.x[k] for k in keys), sum(self.ub[k] for k in keys)

    # ------------------------------------------------------------------ hard structure

    def bins_used(self) -> None:
        """y_b = 1 when bin b holds anything: x <= ub(x) * y and y <= sum x (exact both ways)."""
        for b, groups in self.by_bin.items():
            y = self.var(_name("y", b), cat=pulp.LpBinary)
            keys = [(g, b) for g in groups]
            for k in keys:
                self.add(self.x[k] <= self.ub[k] * y, "used", *k)
            self.add(y <= pulp.lpSum(self.x[k] for k in keys), "used_lb", b)
            self.used[b] = y
        # interchangeable bins are used in the lowering's canonical order (symmetry breaking)
        for same in self.lowered.classes:
            for a, b in itertools.pairwise(same):
                if a in self.used and b in self.used:
                    self.add(self.used[a] >= self.used[b], "symmetry", a, b)

    def capacity(self) -> None:
        """Rows divided by the resource's divisor (limits rounded down, exact for integer
        counts): memory in bytes would otherwise put coefficients near 1e10 in a row, which CBC
        solves to wrong "optima"."""
        div = self.lowered.divisors
        for b, groups in self.by_bin.items():
            bin_ = self.p.bin_by_name[b]
            resources = {r for g in groups for r, a in self.p.item_by_name[g].demand.items() if a}
            y = self.used.get(b)
            for r in sorted(resources):
                d = div.get(r, 1)
                terms = [
                    (self.x[(g, b)], self.p.item_by_name[g].demand.get(r, 0) // d)
                    for g in groups
                    if self.p.item_by_name[g].demand.get(r, 0)
                ]
                most = sum(
                    a // d * self.ub[(g, b)]
                    for g in groups
                    for a in [self.p.item_by_name[g].demand.get(r, 0)]
                )
                cap = bin_.capacity.get(r, 0) // d
                load = pulp.lpSum(a * v for v, a in terms)
                if y is not None:  # load <= cap * y: the strong (L1 bound) form of bins used
                    self.add(load <= min(cap, most) * y, "cap", b, r)
                elif most > cap:
                    self.add(load <= cap, "cap", b, r)

    def tenant_quotas(self) -> None:
        for t in self.p.tenants:
            if t.quota:
                self.quota_rows(t.name, t.quota)

    def quota(self, c: Quota, index: int) -> None:
        self.quota_rows(c.tenant, c.limits)

    def quota_rows(self, tenant: str, limits: Mapping[str, int]) -> None:
        div = self.lowered.divisors
        groups = [g for g in self.p.items if g.tenant == tenant]
        for r, limit in sorted(limits.items()):
            d = div.get(r, 1)
            terms = [(self.placed_expr[g.name], g.demand.get(r, 0) // d) for g in groups]
            terms = [(e, a) for e, a in terms if a]
            if terms:
                self.add(pulp.lpSum(a * e for e, a in terms) <= limit // d, "quota", tenant, r)

    def gang(self, c: Gang, index: int) -> None:
        on = self.var(self.fresh("gang"), cat=pulp.LpBinary)
        for name in c.items:
            self.add(self.placed_expr[name] == self.p.item_by_name[name].count * on, "gang", name)

    def violation(
        self, c: Any, upper: float, *parts: object, binary: bool = False
    ) -> pulp.LpVariable | None:
        """A soft constraint's violation variable (None for a hard one), priced in ``soft``."""
        if not c.soft:
            return None
        cat = pulp.LpBinary if binary else pulp.LpContinuous
        v = self.var(self.fresh("viol", *parts), 0, max(upper, 0), cat)
        self.soft_terms.append((float(c.weight), v))
        return v

    def anti_affinity(self, c: AntiAffinity, index: int) -> None:
        doms = self.lowered.domains(c.topology)
        if c.target is None:
            chosen = self.p.selected(c.selector)
            for d, bins in doms.items():
                total, most = self.sum_over(chosen, bins)
                if most <= c.max_per_domain:
                    continue
                v = self.violation(c, most - c.max_per_domain, "aa", index, d)
                self.add(total <= c.max_per_domain + (v if v is not None else 0), "aa", index, d)
            return
        sel, tgt = set(self.p.selected(c.selector)), set(self.p.selected(c.target))
        only_s, only_t, both = sel - tgt, tgt - sel, sel & tgt
        for d, bins in doms.items():
            a, ma = self.sum_over(only_s, bins)
            bt, mb = self.sum_over(only_t, bins)
            cc, mc = self.sum_over(both, bins)
            # violated iff (A>=1 and B>=1) or (C>=1 and A+B>=1) or C>=2 (the distinct-item rule)
            if (ma == 0 or mb == 0) and mc == 0:
                continue
            if ma == 0 and mb == 0 and mc <= 1:
                continue
            pv = self.violation(c, 1, "aat", index, d, binary=True)
            relax = pv if pv is not None else 0
            if ma and mb:
                side = self.var(self.fresh("aat_side", index, d), cat=pulp.LpBinary)
                self.add(a <= ma * side + ma * relax, "aat_s", index, d)
                self.add(bt <= mb * (1 - side) + mb * relax, "aat_t", index, d)
            if mc:
                if pv is None:
                    self.add(cc <= 1, "aat_c", index, d)
                    csum = cc  # 0/1 here
                else:
                    self.add(cc <= 1 + (mc - 1) * pv, "aat_c", index, d)
                    csum = self.var(self.fresh("aat_hasc", index, d), cat=pulp.LpBinary)
                    self.add(cc <= mc * csum, "aat_hasc", index, d)
                if ma:
                    self.add(a <= ma * (1 - csum) + ma * relax, "aat_cs", index, d)
                if mb:
                    self.add(bt <= mb * (1 - csum) + mb * relax, "aat_ct", index, d)

    def affinity(self, c: Affinity, index: int) -> None:
        sel, tgt = set(self.p.selected(c.selector)), set(self.p.selected(c.target))
        only_s, both = sel - tgt, sel & tgt
        if not sel:
            return
        all_bins = [b.name for b in self.p.bins]
        total_t, most_t = self.sum_over(tgt, all_bins)
        solo: pulp.LpVariable | None = None
        if both and most_t >= 2:
            # solo = 1 allows a lone self-target item: then at most one target item exists anywhere
            solo = self.var(self.fresh("aff_solo", index), cat=pulp.LpBinary)
            self.add(total_t <= 1 + (most_t - 1) * (1 - solo), "aff_solo", index)
        doms = self.lowered.domains(c.topology)
        regions: list[tuple[str, tuple[str, ...], bool]] = [(d, bs, True) for d, bs in doms.items()]
        in_domain = {b for bs in doms.values() for b in bs}
        regions += [(f"nodomain_{b}", (b,), False) for b in all_bins if b not in in_domain]
        for d, bins, real in regions:
            a, ma = self.sum_over(only_s, bins)
            cc, mc = self.sum_over(both, bins)
            if ma == 0 and mc == 0:
                continue
            t, _mt = self.sum_over(tgt, bins) if real else (pulp.LpAffineExpression(), 0)
            needs_c = mc > 0 and solo is not None  # else a lone self-target is always exempt
            if ma == 0 and not needs_c:
                continue
            pv = self.violation(c, 1, "aff", index, d, binary=True)
            relax = pv if pv is not None else 0
            if ma:  # a selected-only item needs a target item in its domain
                self.add(a <= ma * t + ma * relax, "aff_s", index, d)
            if needs_c and solo is not None:
                hasc = self.var(self.fresh("aff_hasc", index, d), cat=pulp.LpBinary)
                self.add(cc <= mc * hasc, "aff_hasc", index, d)
                # a domain holding a self-target item needs a second target item there, unless solo
                self.add(t >= 2 * hasc - 2 * solo - 2 * relax, "aff_c", index, d)

    def spread(self, c: Spread, index: int) -> None:
        doms = self.lowered.domains(c.topology, c.bins)
        if not doms:
            return
        chosen = self.p.selected(c.selector)
        counts = {d: self.sum_over(chosen, bins) for d, bins in doms.items()}
        if c.min_domains is not None and len(doms) < c.min_domains:
            low: pulp.LpVariable | int = 0
        else:
            low = self.var(self.fresh("spread_min", index), 0, min(m for _, m in counts.values()))
            for d, (total, _) in counts.items():
                self.add(low <= total, "spread_min", index, d)
        chosen_set = set(chosen)
        for d, (total, most) in counts.items():
            big = most - c.max_skew  # how far above min + max_skew this domain could ever be
            if big <= 0:
                continue
            v = self.violation(c, big, "spread", index, d)
            relax: Any = v if v is not None else 0
            keys = [(g, b) for b in doms[d] for g in self.by_bin.get(b, ()) if g in chosen_set]
            if any(self.p.item_by_name[g].placed.get(b, 0) for g, b in keys):
                # pre-placed items here: the rule binds only if the domain receives a new item
                gets = self.var(self.fresh("spread_recv", index, d), cat=pulp.LpBinary)
                for g, b in keys:
                    before = self.p.item_by_name[g].placed.get(b, 0)
                    room = self.ub[(g, b)] - before
                    if room > 0:
                        self.add(self.x[(g, b)] - before <= room * gets, "spread_recv", g, b)
                self.add(total <= low + c.max_skew + relax + big * (1 - gets), "spread", index, d)
            else:  # an empty domain satisfies the rule anyway, so "receives" can be assumed
                self.add(total <= low + c.max_skew + relax, "spread", index, d)

    def traffic_pairs(self) -> pulp.LpAffineExpression:
        """Hard: no traffic between bins without a delay. Returns the traffic term."""
        expr = pulp.LpAffineExpression()
        digits: dict[Key, list[tuple[int, pulp.LpVariable]]] = {}
        for tr in self.lowered.traffic:
            a, b, pairs = tr.a, tr.b, tr.pairs
            ka = [k for k in self.x if k[0] == a]
            kb = [k for k in self.x if k[0] == b]
            for p_key in ka:
                for q_key in kb:
                    d = self.p.delay(p_key[1], q_key[1])
                    if d is None:
                        self.add(
                            self.present(p_key) + self.present(q_key) <= 1
                            if p_key != q_key
                            else self.x[p_key] <= 0,
                            "nodelay",
                            tr.index,
                        )
                        continue
                    if d == 0 or pairs == 0:
                        continue
                    coef = tr.volume * d / pairs
                    expr += coef * self.product(p_key, q_key, digits)
        return expr

    def product(
        self, p: Key, q: Key, digits: dict[Key, list[tuple[int, pulp.LpVariable]]]
    ) -> pulp.LpAffineExpression:
        """x_p * x_q for minimisation, exactly: binary digits of the smaller factor times the other."""
        if self.ub[p] > self.ub[q]:
            p, q = q, p
        if p not in digits:
            bits, k = [], 0
            while (1 << k) <= self.ub[p]:
                bits.append((1 << k, self.var(_name("bit", *p, k), cat=pulp.LpBinary)))
                k += 1
            self.add(self.x[p] == pulp.lpSum(w * v for w, v in bits), "digits", *p)
            digits[p] = bits
        out = pulp.LpAffineExpression()
        for w, bit in digits[p]:
            z = self.var(self.fresh("prod", *p, *q), 0, self.ub[q])
            self.add(z >= self.x[q] - self.ub[q] * (1 - bit), "prod", *p, *q)  # z >= bit * x_q
            out += w * z
        return out

    # ------------------------------------------------------------------ objective terms

    def term_exprs(self, wanted: set[str]) -> dict[str, pulp.LpAffineExpression]:
        p, out = self.p, {}
        weights = self.lowered.placed_weight
        out["placed"] = pulp.lpSum(weights[g.name] * self.placed_expr[g.name] for g in p.items)
        out["value"] = pulp.lpSum(g.value * self.placed_expr[g.name] for g in p.items)
        out["bins_used"] = pulp.lpSum(p.bin_by_name[b].cost * y for b, y in self.used.items())
        out["cost"] = pulp.lpSum(
            p.item_by_name[g].cost.get(b, 0.0) * v
            for (g, b), v in self.x.items()
            if p.item_by_name[g].cost.get(b, 0.0)
        )
        if "balance" in wanted:
            top = self.var("balance", 0, None)
            ceiling = 0.0
            for node in p.bins:
                for r, cap in node.capacity.items():
                    if cap <= 0:
                        continue
                    load = [
                        (self.x[(g, node.name)], p.item_by_name[g].demand.get(r, 0))
                        for g in self.by_bin.get(node.name, ())
                    ]
                    load = [(v, a) for v, a in load if a]
                    if load:
                        self.add(
                            top >= pulp.lpSum(a / cap * v for v, a in load), "bal", node.name, r
                        )
                        ceiling = max(ceiling, sum(a * v.upBound for v, a in load) / cap)
            top.upBound = ceiling
            out["balance"] = pulp.LpAffineExpression(top)
        if "moves" in wanted:
            moved = []
            for g in p.items:
                if not g.movable:
                    continue
                for b, n in g.placed.items():
                    m = self.var(_name("moved", g.name, b), 0, n)
                    if (g.name, b) in self.x:
                        self.add(m >= n - self.x[(g.name, b)], "moved", g.name, b)
                    else:
                        m.lowBound = n
                    moved.append(m)
            out["moves"] = pulp.lpSum(moved)
        if "fairness" in wanted:
            out["fairness"] = self.fairness()
        out["soft"] = pulp.lpSum(w * v for w, v in self.soft_terms)
        if "traffic" in wanted:
            out["traffic"] = self.traffic_pairs()
        return out

    def fairness(self) -> pulp.LpAffineExpression:
        """min over tenants of (dominant share / weight), for maximisation (dominant: a max, so one
        binary per (tenant, resource) picks which resource's share bounds it; M = 1 >= any share)."""
        p = self.p
        total = p.total_capacity
        tenants = [t for t in p.tenants if any(g.tenant == t.name for g in p.items)]
        if not tenants:
            return pulp.LpAffineExpression()
        top = max(1.0 / t.weight for t in tenants)
        fair = self.var("fairness", 0, top)
        for t in tenants:
            groups = [g for g in p.items if g.tenant == t.name]
            resources = sorted({r for g in groups for r in g.demand if total.get(r, 0) > 0})
            shares = [
                pulp.lpSum(g.demand.get(r, 0) / total[r] * self.placed_expr[g.name] for g in groups)
                for r in resources
            ]
            if not shares:
                fair.upBound = 0
                continue
            dom = self.var(_name("dominant", t.name), 0, 1)
            if len(shares) == 1:
                self.add(dom <= shares[0], "dominant", t.name)
            else:
                pick = [
                    self.var(_name("dominant_pick", t.name, r), cat=pulp.LpBinary)
                    for r in resources
                ]
                self.add(pulp.lpSum(pick) == 1, "dominant_pick", t.name)
                for r, share, z in zip(resources, shares, pick, strict=True):
                    self.add(dom <= share + (1 - z), "dominant", t.name, r)
            self.add(t.weight * fair <= dom, "fair", t.name)
        return pulp.LpAffineExpression(fair)


def _check_directions(problem: Problem) -> None:
    for n, level in enumerate(problem.objective):
        for term, w in level.items():
            if term in ONE_SIDED_TERMS and w < 0:
                raise PlacerError(
                    f"objective[{n}].{term}: the milp backend models {term!r} for its natural "
                    f"direction only (a positive weight); got weight {w}. Use the cpsat backend."
                )


def build(lowered: Lowered, clock: Deadline | None = None) -> MilpModel:
    """The whole model: variables, hard constraints, and each level's stages (``OutOfTime``
    when ``clock`` runs out first)."""
    problem = lowered.problem
    _check_directions(problem)
    bld = _Builder(lowered, clock or Deadline.never())
    bld.counts()
    wanted = {str(t) for level in problem.objective for t, w in level.items() if w != 0}
    if "bins_used" in wanted:
        bld.bins_used()
    bld.capacity()
    devices = None
    if lowered.devices is not None:
        from .devices import encode_devices

        devices = encode_devices(bld)
    bld.tenant_quotas()
    for index, c in enumerate(problem.constraints):
        encoder = ENCODERS.get(type(c))
        if encoder is None:
            raise PlacerError(f"milp has no encoder for {c.kind} constraints")
        if c.soft and not bld.uses_soft:
            continue  # a soft rule outside the objective costs nothing and binds nothing
        encoder(bld, c, index)
    if problem.traffic and "traffic" not in wanted:
        bld.traffic_pairs()  # still forbids traffic between bins without a delay
    terms = bld.term_exprs(wanted)
    levels = [level_exprs(level, terms, bld.placed_expr, lowered) for level in lowered.levels]
    bld.mention_every_variable()
    info = {"variables": bld.lp.numVariables(), "constraints": bld.lp.numConstraints()}
    return MilpModel(
        lowered,
        bld.lp,
        bld.x,
        bld.ub,
        levels,
        info,
        bld.infeasible,
        bld.lp.variables(),
        devices,
        bld.soft_terms,
    )


# How each constraint kind is encoded (``Backend.encoders``; a kind without one fails loudly).
ENCODERS: dict[type, Callable[[_Builder, Any, int], None]] = {
    AntiAffinity: _Builder.anti_affinity,
    Affinity: _Builder.affinity,
    Spread: _Builder.spread,
    Gang: _Builder.gang,
    Quota: _Builder.quota,
}


def level_exprs(
    level: Level,
    terms: Mapping[str, pulp.LpAffineExpression],
    placed: Mapping[str, pulp.LpAffineExpression],
    lowered: Lowered,
) -> LevelExprs:
    """The level to minimise (maximised terms negated) and its stages with their floors."""
    expr = pulp.LpAffineExpression()
    for term, w in level.terms.items():
        if w != 0:
            sign = -1.0 if term in MAXIMISED_TERMS else 1.0
            expr += sign * w * terms[term]
    if level.stages[0].tier is None:
        floor: float | None = None
        if set(level.terms) == {"placed"} and level.terms["placed"] > 0:
            weights = lowered.placed_weight
            floor = -level.terms["placed"] * sum(
                weights[g.name] * g.count for g in lowered.problem.items
            )
        return LevelExprs(level, expr, [expr], [floor])
    stages: list[pulp.LpAffineExpression] = []
    floors: list[float | None] = []
    for stage in level.stages:
        assert stage.tier is not None
        tier = pulp.lpSum(placed[g] for g in stage.tier.groups)
        stages.append(-tier if stage.maximise else tier)
        floors.append(-float(stage.tier.count) if stage.maximise else 0.0)
    return LevelExprs(level, expr, stages, floors)
