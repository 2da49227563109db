"""The IR as z3 formulas over the lowering's counts: one bounded integer per eligible (group, bin),
every rule stated as the verifier states it (no big-M: z3 reasons over If/And/Or exactly), each
objective term an exact rational expression.

``Encoding.levels`` are the objective levels in order, each (expression, maximise?); ``violation``
gives, for ``placer verify --prove``, the condition "lexicographically better than these values".
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

import z3

from engine.ir import Affinity, AntiAffinity, Gang, Problem, Quota, Spread, minimised_terms

from ..deadline import Deadline
from ..lowering import Key, Lowered, lower


def rational(value: float | int | Fraction) -> Any:
    """An exact z3 rational (a float's exact binary value)."""
    f = Fraction(value)
    return z3.RealVal(f"{f.numerator}/{f.denominator}")


_q = rational


def as_float(value: Any) -> float:
    """A z3 numeral as a float."""
    if z3.is_int_value(value):
        return float(value.as_long())
    f = value.as_fraction()
    return f.numerator / f.denominator


def _sum(terms: Iterable[Any]) -> Any:
    items = list(terms)
    return z3.Sum(items) if items else z3.IntVal(0)


def _max_of(solver: Any, name: str, values: list[Any]) -> Any:
    """A fresh real equal to the largest of ``values`` (0 for none)."""
    if not values:
        return _q(0)
    m = z3.Real(name)
    solver.add(*[m >= v for v in values], z3.Or(*[m == v for v in values]))
    return m


def _min_of(solver: Any, name: str, values: list[Any]) -> Any:
    m = z3.Real(name)
    solver.add(*[m <= v for v in values], z3.Or(*[m == v for v in values]))
    return m


class Encoding:
    def __init__(self, problem: Problem, solver: Any, deadline: Deadline | None = None) -> None:
        """Every rule and level of ``problem`` on ``solver``; ``OutOfTime`` when ``deadline``
        passes first (or a stop is asked for; without a deadline it is always built)."""
        check = deadline.check if deadline is not None else lambda: None
        self.p = problem
        self.lowered: Lowered = lower(problem)
        self.s = solver
        self.x: dict[Key, Any] = {}
        for (name, b), low, high in self.lowered.pairs():
            v = z3.Int(f"x|{name}|{b}")
            self.x[(name, b)] = v
            solver.add(v >= low, v <= high)
        self.soft: list[Any] = []
        self._n = 0
        self.total = {
            g.name: _sum(v for (h, _), v in self.x.items() if h == g.name) for g in problem.items
        }
        for g in problem.items:
            total = self.total[g.name]
            solver.add(total == g.count if g.required else total <= g.count)
        for phase in (self._capacity, self._quotas, self._traffic_pairs):
            check()
            phase()
        for n, c in enumerate(problem.constraints):
            check()
            ENCODERS[type(c)](self, c, n)
        check()
        self.levels = [self._level(level) for level in problem.objective]

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}|{self._n}"

    def count(self, g: str, b: str) -> Any:
        return self.x.get((g, b), z3.IntVal(0))

    def over(self, groups: Iterable[str], bins: Iterable[str]) -> Any:
        gs = set(groups)
        return _sum(v for (g, b), v in self.x.items() if g in gs and b in set(bins))

    def rule(self, c: Any, bad: Any, amount: Any = None) -> None:
        """Hard: ``bad`` never holds. Soft: it costs ``weight`` × ``amount`` (1 by default)."""
        if c.soft:
            self.soft.append(_q(c.weight) * z3.If(bad, amount if amount is not None else 1, 0))
        else:
            self.s.add(z3.Not(bad))

    # ------------------------------------------------------------ structure
    def _capacity(self) -> None:
        """Rows divided by the lowering's divisor (the gcd of demands: exact, smaller numbers);
        interchangeable bins are used in the lowering's canonical order (fuller first)."""
        by_bin: dict[str, list[Key]] = defaultdict(list)
        for key in self.x:
            by_bin[key[1]].append(key)
        div = self.lowered.divisors
        for b, keys in by_bin.items():
            cap = self.p.bin_by_name[b].capacity
            for r in self.p.resources:
                d = div.get(r, 1)
                terms = [
                    self.p.item_by_name[g].demand.get(r, 0) // d * self.x[(g, b)]
                    for g, _ in keys
                    if self.p.item_by_name[g].demand.get(r, 0)
                ]
                if terms:
                    self.s.add(_sum(terms) <= cap.get(r, 0) // d)
        for same in self.lowered.classes:
            for a, b in itertools.pairwise(same):
                self.s.add(z3.Implies(self.used(b), self.used(a)))

    def usage(self, tenant: str, resource: str) -> Any:
        return _sum(
            g.demand.get(resource, 0) * self.total[g.name]
            for g in self.p.items
            if g.tenant == tenant and g.demand.get(resource, 0)
        )

    def limit(self, tenant: str, limits: Mapping[str, int]) -> None:
        for r, most in limits.items():
            d = self.lowered.divisors.get(r, 1)
            used = _sum(
                g.demand.get(r, 0) // d * self.total[g.name]
                for g in self.p.items
                if g.tenant == tenant and g.demand.get(r, 0)
            )
            self.s.add(used <= most // d)

    def _quotas(self) -> None:
        for t in self.p.tenants:
            if t.quota:
                self.limit(t.name, t.quota)

    def _traffic_pairs(self) -> None:
        """A missing delay forbids the pair of bins for the two groups."""
        for tr in self.p.traffic:
            if tr.volume == 0:
                continue
            a, b = tr.items
            for (g, p), xa in self.x.items():
                if g != a:
                    continue
                for (h, q), xb in self.x.items():
                    if h == b and self.p.delay(p, q) is None:
                        self.s.add(z3.Not(z3.And(xa > 0, xb > 0)))

    # ------------------------------------------------------------ objective
    def used(self, b: str) -> Any:
        return (
            z3.Or(*[v > 0 for (g, c), v in self.x.items() if c == b])
            if any(c == b for _, c in self.x)
            else z3.BoolVal(False)
        )

    def term(self, name: str) -> Any:
        return TERMS[name](self)

    def _level(self, level: Mapping[Any, float]) -> tuple[Any, bool]:
        maximise = not minimised_terms(level)
        expr = _sum(
            _q(w if maximise or t not in ("placed", "value", "fairness") else -w)
            * self.term(str(t))
            for t, w in level.items()
        )
        return expr, maximise

    def tier_total(self, groups: Iterable[str]) -> Any:
        return _sum(self.total[g] for g in groups)

    def soft_total(self) -> Any:
        return _sum(self.soft) if self.soft else z3.RealVal(0)

    def better_than(self, values: list[float]) -> Any:
        """Some level strictly better than ``values`` with every earlier level equal."""
        out = []
        for n, (expr, maximise) in enumerate(self.levels):
            equal = [self.levels[k][0] == _q(values[k]) for k in range(n)]
            strictly = expr > _q(values[n]) if maximise else expr < _q(values[n])
            out.append(z3.And(*equal, strictly))
        return z3.Or(*out) if out else z3.BoolVal(False)

    def counts(self, model: Any) -> dict[Key, int]:
        out = {}
        for key, v in self.x.items():
            n = model.eval(v, model_completion=True).as_long()
            if n > 0:
                out[key] = n
        return out


# ---------------------------------------------------------------- terms


def _placed(e: Encoding) -> Any:
    weight = e.lowered.placed_weight
    return _sum(weight[g.name] * e.total[g.name] for g in e.p.items)


def _value(e: Encoding) -> Any:
    return _sum(_q(g.value) * e.total[g.name] for g in e.p.items if g.value)


def _bins_used(e: Encoding) -> Any:
    return _sum(_q(b.cost) * z3.If(e.used(b.name), 1, 0) for b in e.p.bins if b.cost)


def _cost(e: Encoding) -> Any:
    return _sum(
        _q(e.p.item_by_name[g].cost[b]) * v
        for (g, b), v in e.x.items()
        if e.p.item_by_name[g].cost.get(b)
    )


def _balance(e: Encoding) -> Any:
    ratios = []
    for b in e.p.bins:
        for r, cap in b.capacity.items():
            if cap > 0:
                load = _sum(
                    g.demand.get(r, 0) * e.count(g.name, b.name)
                    for g in e.p.items
                    if g.demand.get(r, 0)
                )
                ratios.append(z3.ToReal(load) / cap)
    return _max_of(e.s, e.fresh("balance"), ratios)


def _moves(e: Encoding) -> Any:
    return _sum(
        z3.If(e.count(g.name, b) < n, n - e.count(g.name, b), 0)
        for g in e.p.items
        if g.movable
        for b, n in g.placed.items()
    )


def _fairness(e: Encoding) -> Any:
    total: dict[str, int] = defaultdict(int)
    for b in e.p.bins:
        for r, cap in b.capacity.items():
            total[r] += cap
    shares = []
    for t in e.p.tenants:
        if not any(g.tenant == t.name for g in e.p.items):
            continue
        parts = [
            z3.ToReal(e.usage(t.name, r)) / total[r] for r in e.p.resources if total.get(r, 0) > 0
        ]
        dominant = _max_of(e.s, e.fresh("share"), parts)
        shares.append(dominant / _q(t.weight))
    return _min_of(e.s, e.fresh("fairness"), shares) if shares else _q(0)


def _soft(e: Encoding) -> Any:
    return _sum(e.soft)


def _traffic(e: Encoding) -> Any:
    out = []
    for tr in e.lowered.traffic:
        a, b, pairs = tr.a, tr.b, tr.pairs
        if pairs == 0:
            continue
        for (g, p), xa in e.x.items():
            if g != a:
                continue
            for (h, q), xb in e.x.items():
                d = e.p.delay(p, q) if h == b else None
                if d:
                    out.append(_q(Fraction(tr.volume) * Fraction(d) / pairs) * xa * xb)
    return _sum(out)


TERMS: dict[str, Callable[[Encoding], Any]] = {
    "placed": _placed,
    "value": _value,
    "bins_used": _bins_used,
    "cost": _cost,
    "balance": _balance,
    "moves": _moves,
    "fairness": _fairness,
    "soft": _soft,
    "traffic": _traffic,
}


# ---------------------------------------------------------------- constraints


def _anti_affinity(e: Encoding, c: AntiAffinity, n: int) -> None:
    domains = e.lowered.domains(c.topology)
    if c.target is None:
        chosen = e.p.selected(c.selector)
        for bins in domains.values():
            k = e.over(chosen, bins)
            e.rule(c, k > c.max_per_domain, k - c.max_per_domain)
        return
    sel, tgt = set(e.p.selected(c.selector)), set(e.p.selected(c.target))
    for bins in domains.values():
        s, t, u = e.over(sel, bins), e.over(tgt, bins), e.over(sel | tgt, bins)
        e.rule(c, z3.And(s >= 1, t >= 1, u >= 2))


def _affinity(e: Encoding, c: Affinity, n: int) -> None:
    sel, tgt = set(e.p.selected(c.selector)), set(e.p.selected(c.target))
    if not sel:
        return
    domains = dict(e.lowered.domains(c.topology))
    keyed = {b for bins in domains.values() for b in bins}
    pseudo = {f"<{b.name}>": (b.name,) for b in e.p.bins if b.name not in keyed}
    total_t = e.over(tgt, [b.name for b in e.p.bins])
    for d, bins in {**domains, **pseudo}.items():
        only_s = e.over(sel - tgt, bins)
        both = e.over(sel & tgt, bins)
        t = e.over(tgt, bins) if d in domains else z3.IntVal(0)
        bad = z3.Or(z3.And(only_s >= 1, t == 0), z3.And(both >= 1, t < 2, total_t > 1))
        e.rule(c, bad)


def _spread(e: Encoding, c: Spread, n: int) -> None:
    domains = e.lowered.domains(c.topology, c.bins)
    if not domains:
        return
    chosen = set(e.p.selected(c.selector))
    counts = {d: e.over(chosen, bins) for d, bins in domains.items()}
    if c.min_domains is not None and len(domains) < c.min_domains:
        low: Any = z3.IntVal(0)
    else:
        low = z3.Int(e.fresh("spread_min"))
        e.s.add(*[low <= k for k in counts.values()], z3.Or(*[low == k for k in counts.values()]))
    for d, bins in domains.items():
        receives = (
            z3.Or(
                *[
                    e.count(g, b) > e.p.item_by_name[g].placed.get(b, 0)
                    for g in chosen
                    for b in bins
                    if (g, b) in e.x
                ]
            )
            if any((g, b) in e.x for g in chosen for b in bins)
            else z3.BoolVal(False)
        )
        excess = counts[d] - low - c.max_skew
        e.rule(c, z3.And(receives, excess > 0), excess)


def _gang(e: Encoding, c: Gang, n: int) -> None:
    on = z3.Bool(e.fresh("gang"))
    for name in c.items:
        e.s.add(e.total[name] == z3.If(on, e.p.item_by_name[name].count, 0))


def _quota(e: Encoding, c: Quota, n: int) -> None:
    e.limit(c.tenant, c.limits)


ENCODERS: dict[type, Callable[[Encoding, Any, int], None]] = {
    AntiAffinity: _anti_affinity,
    Affinity: _affinity,
    Spread: _spread,
    Gang: _gang,
    Quota: _quota,
}
