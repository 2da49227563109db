"""The per-bin CP-SAT model: one integer count per (item group, eligible bin), every IR feature.

Constraint semantics follow the ``engine.ir`` docstring exactly (the verifier is the judge):
soft rules get exact violation counters, so ``weight × violations`` equals the verifier's
``soft`` term for every plan, not only for optimal ones.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from engine.errors import PlacerError
from engine.ir import Affinity, AntiAffinity, Gang, Quota, Spread
from engine.limits import require_int64
from engine.solution import DeviceRows

from ..deadline import Deadline
from ..lowering import Key, Lowered
from .common import RATIO_SCALE, Linear, count_of

BALANCE = "cpsat: balance in 1e-4 steps of these capacities"
FAIRNESS = "cpsat: fairness in 1e-4 steps of these demands"
UNITS = "state the quantities in larger units (Mi rather than bytes), or use milp"


def _lsum(variables: list[Any]) -> Any:
    from ortools.sat.python import cp_model

    return cp_model.LinearExpr.sum(variables)


def _wsum(variables: list[Any], coefficients: list[int]) -> Any:
    from ortools.sat.python import cp_model

    return cp_model.LinearExpr.weighted_sum(variables, coefficients)


class PerBinModel:
    """Builds the CP-SAT model; ``term(name)`` gives each objective term as a ``Linear``."""

    def __init__(self, lowered: Lowered, clock: Deadline | None = None) -> None:
        from ortools.sat.python import cp_model

        # raises OutOfTime when the build runs too long or a stop is requested; None: built
        # whole (a caller that cannot answer without the model, e.g. the packing solver's plan)
        self.clock = clock
        self.lowered = lowered
        self.problem = lowered.problem
        self.model = cp_model.CpModel()
        self.div = lowered.divisors
        self.x: dict[Key, Any] = {}
        self.ub: dict[Key, int] = {}
        self.by_bin: dict[str, list[str]] = defaultdict(list)
        self.by_bin_index: dict[str, list[int]] = defaultdict(list)  # group positions
        self.soft = Linear()
        self._terms: dict[str, Linear] = {}
        self._positive: dict[int, Any] = {}
        self._min_coef = self._objective_directions()
        self._counts()
        self._capacity_and_usage()
        self.device_encoding = self._devices()
        self._constraints()
        self._traffic_pairs()

    def _check(self) -> None:
        if self.clock is not None:
            self.clock.check()

    # ------------------------------------------------------------------ variables

    def _objective_directions(self) -> dict[str, list[float]]:
        """Coefficient of each term in the minimised form of every level that uses it."""
        out: dict[str, list[float]] = defaultdict(list)
        for level in self.lowered.levels:
            for t in level.terms:
                out[t].append(level.factor(t) * level.sign)
        return out

    def _counts(self) -> None:
        """One count per eligible (group, bin), with the lowering's bounds."""
        p, lw = self.problem, self.lowered
        m = self.model
        self.divided = [[lw.divided(g, r) for r in lw.resources] for g in p.items]
        names = [b.name for b in p.bins]
        self.total: dict[str, Any] = {}
        for n, g in enumerate(p.items):
            self._check()
            span = lw.eligible.span(n)
            lows, highs = lw.eligible.low[span].tolist(), lw.eligible.high[span].tolist()
            mine = []
            for i, low, ub in zip(lw.eligible.bin[span].tolist(), lows, highs, strict=True):
                b = names[i]
                var = m.new_int_var(low, ub, "")
                mine.append(var)
                self.x[(g.name, b)] = var
                self.ub[(g.name, b)] = ub
                self.by_bin[b].append(g.name)
                self.by_bin_index[b].append(n)
            # at most what its bins can take: the domain is then the placed term's trivial bound
            total = m.new_int_var(0, min(g.count, sum(highs)), f"placed[{g.name}]")
            m.add(total == _lsum(mine))
            if g.required:
                m.add(total == g.count)
            self.total[g.name] = total

    def _capacity_and_usage(self) -> None:
        p = self.problem
        m = self.model
        resources = p.resources
        self.used: dict[str, Any] = {}
        self.load: dict[tuple[str, str], Any] = {}  # (bin, resource) -> expr in divided units
        self.bin_total: dict[str, Any] = {}
        demanding = [any(d > 0 for d in row) for row in self.divided]
        for bin_ in p.bins:
            self._check()
            name = bin_.name
            groups = self.by_bin.get(name, [])
            if not groups:
                continue
            indices = self.by_bin_index[name]
            y = m.new_bool_var(f"used[{name}]")
            self.used[name] = y
            xs = [self.x[(g, name)] for g in groups]
            self.bin_total[name] = _lsum(xs)
            m.add(self.bin_total[name] >= 1).only_enforce_if(y)
            for g, n, var in zip(groups, indices, xs, strict=True):
                if not demanding[n]:  # capacity·y below links demanding items; the rest need this
                    m.add(var <= self.ub[(g, name)] * y)
            for k, r in enumerate(resources):
                coefs = [self.divided[n][k] for n in indices]
                terms = [(v, c) for v, c in zip(xs, coefs, strict=True) if c > 0]
                if not terms:
                    continue
                expr = _wsum([v for v, _ in terms], [c for _, c in terms])
                cap = bin_.capacity.get(r, 0) // self.div[r]
                m.add(expr <= cap * y)
                self.load[(name, r)] = expr
        # Symmetry: in each class of interchangeable bins, fuller bins come first (the
        # lowering's canonical order, which start plans are put in).
        for cls in self.lowered.classes:
            members = [b for b in cls if b in self.used]
            for a, b in itertools.pairwise(members):
                m.add(self.used[a] >= self.used[b])
                m.add(self.bin_total[a] >= self.bin_total[b])
        # Capacity cut: the bins used must hold the total demand (gives the LP the trivial bound).
        if "bins_used" in self._min_coef:
            for r in p.resources:
                demand = [
                    (self.total[g.name], g.demand.get(r, 0) // self.div[r])
                    for g in p.items
                    if g.demand.get(r, 0) > 0
                ]
                if demand:
                    ys = list(self.used.items())
                    m.add(
                        _wsum(
                            [y for _, y in ys],
                            [p.bin_by_name[b].capacity.get(r, 0) // self.div[r] for b, _ in ys],
                        )
                        >= _wsum([v for v, _ in demand], [c for _, c in demand])
                    )

    def _devices(self) -> Any:
        """Items per device for groups that request devices (``solvers.cpsat.devices``)."""
        if self.lowered.devices is None:
            return None
        from .devices import DeviceEncoding

        lw = self.lowered

        def low(key: Key) -> int:
            bounds = lw.bounds(*key)
            return 0 if bounds is None else bounds.low

        return DeviceEncoding(lw, self.model, self.x, low, lambda key: self.ub[key])

    # ------------------------------------------------------------------ helpers

    def _sum(self, keys: Iterable[Key]) -> tuple[Any, int]:
        keys = [k for k in keys if k in self.x]
        return _lsum([self.x[k] for k in keys]), sum(self.ub[k] for k in keys)

    def at_least(self, expr: Any, k: int, ub: int) -> Any:
        """A boolean equal to [expr >= k] (expr is known to lie in 0..ub)."""
        m = self.model
        if k <= 0:
            return m.new_constant(1)
        if ub < k:
            return m.new_constant(0)
        b = m.new_bool_var("")
        m.add(expr >= k).only_enforce_if(b)
        m.add(expr <= k - 1).only_enforce_if(~b)
        return b

    def positive(self, key: Key) -> Any:
        """[x[key] >= 1], cached."""
        var = self.x[key]
        idx = var.index
        if idx not in self._positive:
            self._positive[idx] = self.at_least(var, 1, self.ub[key])
        return self._positive[idx]

    def all_of(self, bools: list[Any]) -> Any:
        m = self.model
        out = m.new_bool_var("")
        m.add_bool_and(bools).only_enforce_if(out)
        m.add_bool_or([~b for b in bools]).only_enforce_if(~out)
        return out

    def any_of(self, bools: list[Any]) -> Any:
        m = self.model
        out = m.new_bool_var("")
        m.add_bool_or(bools).only_enforce_if(out)
        for b in bools:
            m.add_implication(b, out)
        return out

    def _excess(self, expr: Any, ub: int, limit: Any, limit_min: int = 0) -> Any:
        """An integer equal to max(0, expr - limit)."""
        e = self.model.new_int_var(0, max(0, ub - limit_min), "")
        self.model.add_max_equality(e, [expr - limit, 0])
        return e

    # ------------------------------------------------------------------ constraints

    def _constraints(self) -> None:
        p = self.problem
        for c in p.constraints:
            self._check()
            encoder = ENCODERS.get(type(c))
            if encoder is None:
                raise PlacerError(f"cpsat has no encoder for {c.kind} constraints")
            encoder(self, c)
        for t in p.tenants:
            if t.quota:
                self._quota(t.name, t.quota)

    def _anti_affinity_any(self, c: AntiAffinity) -> None:
        if c.target is None:
            self._anti_affinity(c, c.weight)
        else:
            self._anti_affinity_target(c, c.weight)

    def _affinity_rule(self, c: Affinity) -> None:
        self._affinity(c, c.weight)

    def _spread_rule(self, c: Spread) -> None:
        self._spread(c, c.weight)

    def _quota_rule(self, c: Quota) -> None:
        self._quota(c.tenant, c.limits)

    def _anti_affinity(self, c: AntiAffinity, weight: float | None) -> None:
        chosen = self.problem.selected(c.selector)
        for dbins in self.lowered.domains(c.topology).values():
            expr, ub = self._sum((g, b) for g in chosen for b in dbins)
            if ub <= c.max_per_domain:
                continue
            if weight is None:
                self.model.add(expr <= c.max_per_domain)
            else:
                self.soft.add(self._excess(expr, ub, c.max_per_domain, c.max_per_domain), weight)

    def _anti_affinity_target(self, c: AntiAffinity, weight: float | None) -> None:
        assert c.target is not None
        s_groups = set(self.problem.selected(c.selector))
        t_groups = set(self.problem.selected(c.target))
        for dbins in self.lowered.domains(c.topology).values():
            s, s_ub = self._sum((g, b) for g in s_groups for b in dbins)
            t, t_ub = self._sum((g, b) for g in t_groups for b in dbins)
            u, u_ub = self._sum((g, b) for g in s_groups | t_groups for b in dbins)
            if s_ub == 0 or t_ub == 0 or u_ub < 2:
                continue
            parts = [
                self.at_least(s, 1, s_ub),
                self.at_least(t, 1, t_ub),
                self.at_least(u, 2, u_ub),
            ]
            if weight is None:
                self.model.add_bool_or([~b for b in parts])
            else:
                self.soft.add(self.all_of(parts), weight)

    def _affinity(self, c: Affinity, weight: float | None) -> None:
        p = self.problem
        s_groups = set(p.selected(c.selector))
        t_groups = set(p.selected(c.target))
        only = s_groups - t_groups
        both = s_groups & t_groups
        total_t, total_ub = self._sum(k for k in self.x if k[0] in t_groups)
        many_targets = self.at_least(total_t, 2, total_ub)
        domains = list(self.lowered.domains(c.topology).values())
        domains += [(b.name,) for b in p.bins if c.topology not in b.labels]  # own pseudo-domain
        for dbins in domains:
            real = c.topology in p.bin_by_name[dbins[0]].labels
            s_only, s_only_ub = self._sum((g, b) for g in only for b in dbins)
            s_both, s_both_ub = self._sum((g, b) for g in both for b in dbins)
            t, t_ub = self._sum((g, b) for g in t_groups for b in dbins) if real else (0, 0)
            failures = []
            if s_only_ub > 0:  # A: a selected (non-target) item with no target in the domain
                has = self.at_least(s_only, 1, s_only_ub)
                if weight is None:
                    self.model.add_bool_or([~has, self.at_least(t, 1, t_ub)])
                else:
                    failures.append(self.all_of([has, ~self.at_least(t, 1, t_ub)]))
            if s_both_ub > 0:  # B: a selected target alone here while other targets exist
                has = self.at_least(s_both, 1, s_both_ub)
                two_here = self.at_least(t, 2, t_ub)
                if weight is None:
                    self.model.add_bool_or([~has, two_here, ~many_targets])
                else:
                    failures.append(self.all_of([has, ~two_here, many_targets]))
            if failures:
                self.soft.add(
                    failures[0] if len(failures) == 1 else self.any_of(failures), weight or 0
                )

    def _spread(self, c: Spread, weight: float | None) -> None:
        p = self.problem
        m = self.model
        chosen = p.selected(c.selector)
        domains = self.lowered.domains(c.topology, c.bins)
        if not domains:
            return
        counts: dict[str, tuple[Any, int]] = {}
        for d, dbins in domains.items():
            expr, ub = self._sum((g, b) for g in chosen for b in dbins)
            var = m.new_int_var(0, ub, f"spread[{d}]")
            m.add(var == expr)
            counts[d] = (var, ub)
        if c.min_domains is not None and len(domains) < c.min_domains:
            low: Any = 0
        else:
            low = m.new_int_var(0, min(ub for _, ub in counts.values()), "")
            m.add_min_equality(low, [v for v, _ in counts.values()])
        for d, dbins in domains.items():
            var, ub = counts[d]
            if ub <= c.max_skew:
                continue
            placed_keys = [
                (g, b)
                for g in chosen
                for b in dbins
                if p.item_by_name[g].placed.get(b, 0) > 0 and (g, b) in self.x
            ]
            receives: Any = None
            if placed_keys:  # only a domain that receives a new item is judged
                fresh, fresh_ub = self._sum(
                    (g, b) for g in chosen for b in dbins if (g, b) not in placed_keys
                )
                flags = [self.at_least(fresh, 1, fresh_ub)]
                for g, b in placed_keys:
                    before = p.item_by_name[g].placed[b]
                    flags.append(self.at_least(self.x[(g, b)], before + 1, self.ub[(g, b)]))
                receives = self.any_of(flags)
            if weight is None:
                ct = m.add(var <= low + c.max_skew)
                if receives is not None:
                    ct.only_enforce_if(receives)
                continue
            excess = self._excess(var, ub, low + c.max_skew, c.max_skew)
            if receives is not None:
                judged = m.new_int_var(0, ub, "")
                m.add(judged == excess).only_enforce_if(receives)
                m.add(judged == 0).only_enforce_if(~receives)
                excess = judged
            self.soft.add(excess, weight)

    def _gang(self, c: Gang) -> None:
        on = self.model.new_bool_var("gang")
        for name in c.items:
            self.model.add(self.total[name] == self.problem.item_by_name[name].count * on)

    def _quota(self, tenant: str, limits: Mapping[str, int]) -> None:
        groups = [g for g in self.problem.items if g.tenant == tenant]
        for r, limit in limits.items():
            terms = [(self.total[g.name], g.demand.get(r, 0)) for g in groups if g.demand.get(r, 0)]
            if terms:
                div = self.div.get(r, 1)
                self.model.add(sum((a // div) * v for v, a in terms) <= limit // div)

    def _traffic_pairs(self) -> None:
        """Replicas that talk must sit on bins with a known delay between them."""
        p = self.problem
        self.traffic_products: list[tuple[Any, float]] = []
        use_term = "traffic" in self._min_coef
        for tr in self.lowered.traffic:
            a, b, pairs = tr.a, tr.b, tr.pairs
            keys_a = [k for k in self.x if k[0] == a]
            keys_b = [k for k in self.x if k[0] == b]
            for ka in keys_a:
                for kb in keys_b:
                    delay = p.delay(ka[1], kb[1])
                    if delay is None:
                        self.model.add_bool_or([~self.positive(ka), ~self.positive(kb)])
                    elif delay > 0 and use_term and pairs > 0:
                        prod = self.model.new_int_var(0, self.ub[ka] * self.ub[kb], "")
                        self.model.add_multiplication_equality(prod, [self.x[ka], self.x[kb]])
                        self.traffic_products.append((prod, tr.volume * delay / pairs))

    # ------------------------------------------------------------------ objective terms

    def term(self, name: str) -> Linear:
        if name not in self._terms:
            self._terms[name] = getattr(self, f"_term_{name}")()
        return self._terms[name]

    def tier(self, groups: Iterable[str]) -> Linear:
        return count_of(self.total, groups)

    def _term_placed(self) -> Linear:
        weights = self.lowered.placed_weight
        out = Linear()
        for g in self.problem.items:
            out.add(self.total[g.name], float(weights[g.name]))
        return out

    def _term_value(self) -> Linear:
        out = Linear()
        for g in self.problem.items:
            out.add(self.total[g.name], g.value)
        return out

    def _term_bins_used(self) -> Linear:
        out = Linear()
        for b, y in self.used.items():
            out.add(y, self.problem.bin_by_name[b].cost)
        return out

    def _term_cost(self) -> Linear:
        out = Linear()
        for (g, b), var in self.x.items():
            out.add(var, self.problem.item_by_name[g].cost.get(b, 0.0))
        return out

    def _term_moves(self) -> Linear:
        out = Linear()
        for g in self.problem.items:
            if not g.movable:
                continue
            for b, n in g.placed.items():
                if (g.name, b) not in self.x:
                    out.constant += n
                    continue
                moved = self.model.new_int_var(0, n, "")
                self.model.add_max_equality(moved, [n - self.x[(g.name, b)], 0])
                out.add(moved, 1.0)
        return out

    def _term_soft(self) -> Linear:
        return self.soft

    def _term_traffic(self) -> Linear:
        out = Linear()
        for prod, coef in self.traffic_products:
            out.add(prod, coef)
        return out

    def _term_balance(self) -> Linear:
        """Largest utilisation over bins and resources, in steps of 1/RATIO_SCALE."""
        m = self.model
        bal = m.new_int_var(0, RATIO_SCALE, "balance")
        exact = any(coef < 0 for coef in self._min_coef["balance"])
        parts = []
        for (b, r), expr in self.load.items():
            cap = self.problem.bin_by_name[b].capacity.get(r, 0)
            if cap <= 0:
                continue
            require_int64(RATIO_SCALE * cap, BALANCE, UNITS)  # the load is at most cap
            if exact:  # bal = max floor(S·load/cap): needed when balance is maximised
                num = m.new_int_var(0, RATIO_SCALE * cap, "")
                m.add(num == RATIO_SCALE * self.div[r] * expr)
                part = m.new_int_var(0, RATIO_SCALE, "")
                m.add_division_equality(part, num, cap)
                parts.append(part)
            else:  # bal >= S·load/cap: exact (as a ceiling) when balance is minimised
                m.add(cap * bal >= RATIO_SCALE * self.div[r] * expr)
        if exact:
            m.add_max_equality(bal, parts or [m.new_constant(0)])
        out = Linear()
        out.add(bal, 1.0 / RATIO_SCALE)
        return out

    def _term_fairness(self) -> Linear:
        """Smallest weighted dominant share over tenants with items, floor(S·share)/S."""
        p = self.problem
        m = self.model
        total_cap = p.total_capacity
        shares = []
        for t in p.tenants:
            groups = [g for g in p.items if g.tenant == t.name]
            if not groups:
                continue
            w = Fraction(t.weight).limit_denominator(10**6)
            parts = []
            for r in p.resources:
                cap = total_cap.get(r, 0)
                div = self.div[r]
                terms = [(g, g.demand.get(r, 0) // div) for g in groups if g.demand.get(r, 0) > 0]
                if cap <= 0 or not terms:
                    continue
                # share = div·U / (cap·w), w = num/den  →  floor(S·div·den·U / (cap·num))
                high = sum(a * g.count for g, a in terms)
                used = m.new_int_var(0, high, "")
                m.add(used == sum(a * self.total[g.name] for g, a in terms))
                factor = RATIO_SCALE * div * w.denominator
                require_int64(factor * high, FAIRNESS, UNITS)
                num = m.new_int_var(0, factor * high, "")
                m.add(num == factor * used)
                denominator = cap * w.numerator
                share = m.new_int_var(0, factor * high // denominator, "")
                m.add_division_equality(share, num, denominator)
                parts.append((share, factor * high // denominator))
            top = max((ub for _, ub in parts), default=0)
            dominant = m.new_int_var(0, top, "")
            m.add_max_equality(dominant, [v for v, _ in parts] or [m.new_constant(0)])
            shares.append((dominant, top))
        out = Linear()
        if shares:
            fair = m.new_int_var(0, max(ub for _, ub in shares), "fairness")
            m.add_min_equality(fair, [v for v, _ in shares])
            out.add(fair, 1.0 / RATIO_SCALE)
        return out

    # ------------------------------------------------------------------ hints and decoding

    def hint_values(
        self, counts: Mapping[Key, int], devices: DeviceRows | None = None
    ) -> list[tuple[Any, int]]:
        """(variable, value) for every count variable, clipped to its domain, and for every
        device variable when the plan names its devices (in the canonical order)."""
        out = []
        for key, var in self.x.items():
            group = self.problem.item_by_name[key[0]]
            lo = 0 if group.movable else group.placed.get(key[1], 0)
            out.append((var, min(max(int(counts.get(key, 0)), lo), self.ub[key])))
        if self.device_encoding is not None and devices is not None:
            out += self.device_encoding.hints(devices)
        return out

    def device_rows(self, value: Any, counts: Mapping[Key, int]) -> DeviceRows | None:
        """The devices of the plan's items, from a value function (None: no device requests)."""
        if self.device_encoding is None:
            return None
        return self.device_encoding.rows(counts, value)

    def counts(self, value: Any) -> dict[Key, int]:
        """The plan from a value function (``solver.value``)."""
        out: dict[Key, int] = {}
        for key, var in self.x.items():
            n = int(value(var))
            if n > 0:
                out[key] = n
        return out


# How each constraint kind is encoded (``Backend.encoders``; a kind without one fails loudly).
ENCODERS: dict[type, Callable[[PerBinModel, Any], None]] = {
    AntiAffinity: PerBinModel._anti_affinity_any,
    Affinity: PerBinModel._affinity_rule,
    Spread: PerBinModel._spread_rule,
    Gang: PerBinModel._gang,
    Quota: PerBinModel._quota_rule,
}
