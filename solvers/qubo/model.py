"""Compile a ``Problem`` into a QUBO: binary variables, hard-constraint penalties, lexicographic
objective — the model the ``qubo`` backend samples and ``placer export --format bqm`` writes.

Encoding: groups are expanded into their items, one binary ``x[item, bin]`` per eligible bin.
Counts in binary encoding would need fewer variables for big groups, but every per-group rule then
becomes an inequality with slack bits (Σ counts ≤ count, anti-affinity, gang = "count or 0"),
whereas with items the assignment rule is a slack-free at-most-one (a zero-penalty pair sum),
anti-affinity with ``max_per_domain`` 1 and with a target become plain pair penalties, a gang is a
chain of (p_a − p_b)² and traffic is natively the product x·x. The item symmetry this introduces
gives the annealer many equal ground states, which does not hurt it. Pinned (non-movable, already
placed) items are constants, not variables: they use capacity and count in domains.

Variables: ``x.<group>.<replica>.<bin>`` (indices into ``problem.items``/``problem.bins``),
``y.<bin>`` (bin used, only when ``bins_used`` is in the objective), ``s.<constraint>.<bit>``
(slack bits of ``slack``-encoded inequalities).

Objective: each level i is a quadratic f_i to minimise (maximised terms negated), combined as
Σ W_i·f_i with W_last = 1 and W_i = (Σ_{j>i} W_j·R_j)/δ_i + 1, where R_j bounds the range of f_j
(Σ |coefficients|) and δ_i is the resolution of f_i (the rational gcd of its coefficients): one
step of level i then outweighs any change of all lower levels together.

Penalties: every penalty is ≥ its weight per unit of violation (integer coefficients after
scaling). ``safe`` (default, measured best) uses one weight above the whole objective range
(Σ |coefficients| + 1), which makes the ground state provably feasible whenever a feasible plan
exists (with the slack encoding). ``local`` sets each constraint's weight just above the largest
objective change one of its items can cause (|bias| + Σ |couplings| of its variables, the bin's
``y`` included; a gang's items count as the whole gang; a required item's one-hot as all items
together), so taking the offending item out always lowers the energy — an argument per item, not
a proof against cascades, though ExactSolver tests find the ground state optimal there too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from engine.errors import PlacerError
from engine.ir import MAXIMISED_TERMS, AntiAffinity, Gang, Problem, Quota, minimised_terms
from engine.limits import require_size

from ..deadline import Deadline
from ..lowering import Lowered, lower
from .penalties import (
    AllOrNothing,
    Conflicts,
    Encoding,
    HardConstraint,
    Implies,
    LinearLeq,
    OneHot,
    QuadraticSink,
    concatenated,
)

Calibration = Literal["local", "safe"]


@dataclass(frozen=True)
class CompileOptions:
    capacity_encoding: Encoding = "slack"
    penalty: Calibration = "safe"  # measured best: more raw-feasible reads and optima than local
    penalty_scale: float = (
        1.0  # multiplies every calibrated weight's objective part (≥ 1 keeps it sound)
    )
    max_slack_bits: int = 12  # inequalities needing more are coarsened (conservatively)
    max_variables: int = 20_000
    max_interactions: int = 5_000_000  # quadratic terms (memory: about 200 bytes each to build)
    unbalanced: tuple[float, float] = (0.96, 0.0371)

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity_encoding": self.capacity_encoding,
            "penalty": self.penalty,
            "penalty_scale": self.penalty_scale,
            "max_slack_bits": self.max_slack_bits,
            "max_variables": self.max_variables,
            "max_interactions": self.max_interactions,
            "unbalanced": list(self.unbalanced),
        }


@dataclass
class FreeItem:
    """One replica that the model may place: its variables (one per bin) and where it runs now."""

    group: str
    replica: int
    variables: np.ndarray
    bins: tuple[str, ...]
    home: str | None  # bin it already runs on (movable groups), else None
    required: bool


@dataclass
class QuboModel:
    problem: Problem
    options: CompileOptions
    labels: list[str]
    items: list[FreeItem]
    var_item: np.ndarray  # x variable -> index into items, -1 for y/slack variables
    var_bin: dict[int, str]  # x variable -> bin name
    y: dict[str, int]  # bin -> its "used" variable
    fixed: dict[tuple[str, str], int]  # pinned counts (constants)
    constraints: list[HardConstraint]
    levels: list[QuadraticSink]  # f_i per level, to minimise
    level_weights: list[float]
    objective: QuadraticSink  # Σ W_i f_i
    penalties: QuadraticSink
    info: dict[str, Any] = field(default_factory=dict)
    started: float | None = None  # perf_counter() when compiling began: the time limit starts there

    @property
    def num_variables(self) -> int:
        return len(self.labels)

    def level_values(self, z: np.ndarray) -> tuple[float, ...]:
        """Objective values in the IR's convention (``engine.ir.level_value``)."""
        out = []
        for level, sink in zip(self.problem.objective, self.levels, strict=True):
            f = energy(sink, z)
            out.append(f if minimised_terms({str(t): w for t, w in level.items()}) else -f)
        return tuple(out)

    def bqm(self) -> Any:
        """The dimod BinaryQuadraticModel: combined objective + penalties."""
        import dimod

        linear = np.zeros(len(self.labels))
        for sink in (self.objective, self.penalties):
            for v, b in sink.linear.items():
                linear[v] += b
        # dimod adds the biases of repeated pairs itself (in C, faster than summing them here)
        rows, cols, data = concatenated(
            [self.objective.coo(summed=False), self.penalties.coo(summed=False)]
        )
        offset = self.objective.offset + self.penalties.offset
        return dimod.BinaryQuadraticModel.from_numpy_vectors(
            linear, (rows, cols, data), offset, dimod.BINARY, variable_order=self.labels
        )


def energy(sink: QuadraticSink, z: np.ndarray) -> float:
    e = sink.offset + sum(b * z[v] for v, b in sink.linear.items())
    e += sum(b * z[u] * z[v] for (u, v), b in sink.quadratic.items())
    return float(e)


# ------------------------------------------------------------------------------------ compile


class _Builder:
    def __init__(self, lowered: Lowered, options: CompileOptions) -> None:
        self.lowered = lowered
        self.p = problem = lowered.problem
        self.o = options
        self.labels: list[str] = []
        self.items: list[FreeItem] = []
        self.var_item: list[int] = []
        self.var_bin: dict[int, str] = {}
        self.y: dict[str, int] = {}
        self.fixed: dict[tuple[str, str], int] = {}
        self.constraints: list[HardConstraint] = []
        self.coarsened: list[str] = []
        self.pinned_infeasible: list[str] = []
        self.gi = {g.name: n for n, g in enumerate(problem.items)}
        self.bi = {b.name: n for n, b in enumerate(problem.bins)}
        # x variable of (item index, bin)
        self.x: dict[tuple[int, str], int] = {}

    def new_var(self, label: str, item: int = -1) -> int:
        self.labels.append(label)
        self.var_item.append(item)
        return len(self.labels) - 1

    # ---- variables
    def items_and_variables(self) -> None:
        names = [b.name for b in self.p.bins]
        for n, g in enumerate(self.p.items):
            open_bins = [names[b] for b in self.lowered.eligible.open_bins(n).tolist()]
            homes: list[str | None] = []
            if g.movable:
                for b_name, n in g.placed.items():
                    homes += [b_name] * n
            else:
                for b_name, n in g.placed.items():
                    self.fixed[(g.name, b_name)] = n
            free = g.count - (0 if g.movable else g.placed_total)
            homes += [None] * (free - len(homes))
            for k, home in enumerate(homes):
                bins = [b for b in open_bins]
                if home is not None and home not in bins:
                    bins.append(home)
                bins.sort(key=self.bi.__getitem__)
                index = len(self.items)
                vars_ = [self.new_var(f"x.{self.gi[g.name]}.{k}.{self.bi[b]}", index) for b in bins]
                for v, b in zip(vars_, bins, strict=True):
                    self.var_bin[v] = b
                    self.x[(index, b)] = v
                self.items.append(
                    FreeItem(
                        group=g.name,
                        replica=k,
                        variables=np.array(vars_, dtype=np.int64),
                        bins=tuple(bins),
                        home=home,
                        required=g.required,
                    )
                )
        if any(lvl.get("bins_used") for lvl in self.p.objective):
            pinned_bins = {bn for (_, bn), n in self.fixed.items() if n > 0}
            pairs = []
            for bin_ in self.p.bins:
                on_b = [v for (_, bn), v in self.x.items() if bn == bin_.name]
                if on_b and bin_.name not in pinned_bins:
                    y = self.new_var(f"y.{self.bi[bin_.name]}")
                    self.y[bin_.name] = y
                    pairs += [(v, y) for v in on_b]
            if pairs:
                self.constraints.append(
                    Implies("bin_used", "bin_used", pairs=np.array(pairs, dtype=np.int64))
                )

    def item_vars(self, group: str) -> list[int]:
        return [n for n, it in enumerate(self.items) if it.group == group]

    # ---- constraints
    def one_hots(self) -> None:
        for _n, it in enumerate(self.items):
            name = f"one_hot[{it.group}#{it.replica}]"
            if it.required or len(it.variables) > 1:
                self.constraints.append(
                    OneHot(name, "one_hot", members=it.variables, exact=it.required)
                )

    def inequality(self, name: str, kind: str, terms: Sequence[tuple[int, int]], rhs: int) -> None:
        """Σ coef·x ≤ rhs with the cheapest exact encoding: forbid, pairs, or LinearLeq."""
        terms = [(v, c) for v, c in terms if c > 0]
        if not terms:
            if rhs < 0:
                self.pinned_infeasible.append(name)
            return
        if rhs < 0:
            self.pinned_infeasible.append(name)
        too_big = [v for v, c in terms if c > max(rhs, 0)]
        terms = [(v, c) for v, c in terms if c <= rhs]
        if too_big:
            self.constraints.append(
                Conflicts(name, kind, forbidden=np.array(sorted(set(too_big)), dtype=np.int64))
            )
        # at most one variable per item is 1, so the largest lhs takes each item's largest coef
        per_item: dict[int, int] = defaultdict(int)
        for v, c in terms:
            per_item[self.var_item[v]] = max(per_item[self.var_item[v]], c)
        if not terms or sum(per_item.values()) <= rhs:
            return  # redundant
        unit = 0
        for _, c in terms:
            unit = math.gcd(unit, c)
        coefs = [c // unit for _, c in terms]
        scaled = rhs // unit
        limit = 1 << self.o.max_slack_bits
        if scaled >= limit and self.o.capacity_encoding == "slack":
            # coarsen conservatively: round demands up and the bound down (never admits a
            # violation, may exclude some tight plans)
            step = math.ceil(scaled / (limit - 1))
            coefs = [-(-c // step) for c in coefs]
            scaled = scaled // step
            self.coarsened.append(name)
        members = np.array([v for v, _ in terms], dtype=np.int64)
        if max(coefs) == scaled == 1:  # at most one of them: pair penalties, no slack
            pairs = [
                (int(u), int(v))
                for a, u in enumerate(members)
                for v in members[a + 1 :]
                if self.var_item[u] != self.var_item[v]
            ]
            if pairs:
                self.constraints.append(
                    Conflicts(name, kind, pairs=np.array(pairs, dtype=np.int64))
                )
            return
        slack = np.zeros(0, dtype=np.int64)
        if self.o.capacity_encoding == "slack":
            n_bits = len(LinearLeq.slack_coefficients(scaled))
            slack = np.array(
                [self.new_var(f"s.{len(self.constraints)}.{k}") for k in range(n_bits)],
                dtype=np.int64,
            )
        self.constraints.append(
            LinearLeq(
                name,
                kind,
                members=members,
                coefs=np.array(coefs, dtype=np.int64),
                rhs=scaled,
                encoding=self.o.capacity_encoding,
                slack=slack,
                unbalanced=self.o.unbalanced,
            )
        )

    def capacity(self) -> None:
        demand = {g.name: g.demand for g in self.p.items}
        for b in self.p.bins:
            resources = sorted({r for g in self.p.items for r, a in g.demand.items() if a > 0})
            for r in resources:
                used = sum(
                    demand[g].get(r, 0) * n for (g, bn), n in self.fixed.items() if bn == b.name
                )
                terms = [
                    (v, demand[self.items[i].group].get(r, 0))
                    for (i, bn), v in self.x.items()
                    if bn == b.name
                ]
                self.inequality(
                    f"capacity[{b.name}/{r}]", "capacity", terms, b.capacity.get(r, 0) - used
                )

    def quota(self, n: int, c: Quota) -> None:
        self.quota_rows(f"quota[{n}:{c.tenant}", c.tenant, c.limits)

    def tenant_quotas(self) -> None:
        for t in self.p.tenants:
            if t.quota:
                self.quota_rows(f"tenant_quota[{t.name}", t.name, t.quota)

    def quota_rows(self, name: str, tenant: str, limit: Mapping[str, int]) -> None:
        groups = {g.name: g for g in self.p.items if g.tenant == tenant}
        for r, cap in sorted(limit.items()):
            used = sum(
                groups[g].demand.get(r, 0) * n for (g, _), n in self.fixed.items() if g in groups
            )
            terms = [
                (v, groups[self.items[i].group].demand.get(r, 0))
                for (i, _), v in self.x.items()
                if self.items[i].group in groups
            ]
            self.inequality(f"{name}/{r}]", "quota", terms, cap - used)

    def anti_affinity(self, n: int, c: AntiAffinity) -> None:
        chosen = set(self.p.selected(c.selector))
        targets = set(self.p.selected(c.target)) if c.target is not None else set()
        for d, bins in sorted(self.p.domains(c.topology).items()):
            in_d = set(bins)
            name = f"anti_affinity[{n}:{d}]"
            fixed_s = sum(k for (g, b), k in self.fixed.items() if b in in_d and g in chosen)
            svars = [
                v for (i, b), v in self.x.items() if b in in_d and self.items[i].group in chosen
            ]
            if c.target is None:
                self.inequality(
                    name, "anti_affinity", [(v, 1) for v in svars], c.max_per_domain - fixed_s
                )
                continue
            fixed_t = sum(k for (g, b), k in self.fixed.items() if b in in_d and g in targets)
            tvars = [
                v for (i, b), v in self.x.items() if b in in_d and self.items[i].group in targets
            ]
            pairs = {
                (min(u, v), max(u, v))
                for u in svars
                for v in tvars
                if self.var_item[u] != self.var_item[v]
            }
            forbidden = set()
            if fixed_t:
                forbidden.update(svars)
            if fixed_s:
                forbidden.update(tvars)
            if pairs or forbidden:
                self.constraints.append(
                    Conflicts(
                        name,
                        "anti_affinity",
                        pairs=np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2),
                        forbidden=np.array(sorted(forbidden), dtype=np.int64),
                    )
                )

    def gang(self, n: int, c: Gang) -> None:
        members = [i for g in c.items for i in self.item_vars(g)]
        forced = any(self.fixed.get((g, b.name), 0) for g in c.items for b in self.p.bins)
        if not members or (len(members) == 1 and not forced):
            return
        self.constraints.append(
            AllOrNothing(
                f"gang[{n}]",
                "gang",
                items=[self.items[i].variables for i in members],
                forced=forced,
            )
        )

    def traffic_delays(self) -> None:
        """Placing two communicating items on bins without a delay between them is invalid."""
        for n, tr in enumerate(self.p.traffic):
            if tr.volume == 0:
                continue
            a, b = tr.items
            pairs: set[tuple[int, int]] = set()
            forbidden: set[int] = set()
            xa = [(i, bn, v) for (i, bn), v in self.x.items() if self.items[i].group == a]
            xb = [(i, bn, v) for (i, bn), v in self.x.items() if self.items[i].group == b]
            for i, p, u in xa:
                for j, q, v in xb:
                    if i != j and self.p.delay(p, q) is None:
                        pairs.add((min(u, v), max(u, v)))
            for (g, q), k in self.fixed.items():
                if k <= 0:
                    continue
                for grp, others in ((b, xa), (a, xb)):
                    if g == grp:
                        forbidden.update(v for _, p, v in others if self.p.delay(p, q) is None)
            if pairs or forbidden:
                self.constraints.append(
                    Conflicts(
                        f"traffic[{n}]",
                        "traffic",
                        pairs=np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2),
                        forbidden=np.array(sorted(forbidden), dtype=np.int64),
                    )
                )

    # ---- objective
    def level(self, level: dict[str, float]) -> QuadraticSink:
        f = QuadraticSink()
        weights = self.lowered.placed_weight
        for term, w in level.items():
            s = -w if term in MAXIMISED_TERMS else w
            if term == "placed":
                for v, i in enumerate(self.var_item):
                    if i >= 0:
                        f.add_linear(v, s * weights[self.items[i].group])
                f.offset += s * sum(weights[g] * k for (g, _), k in self.fixed.items())
            elif term == "bins_used":
                pinned = {b for (_, b), k in self.fixed.items() if k > 0}
                f.offset += s * sum(self.p.bin_by_name[b].cost for b in pinned)
                for b, y in self.y.items():
                    f.add_linear(y, s * self.p.bin_by_name[b].cost)
            elif term == "cost":
                for (i, b), v in self.x.items():
                    f.add_linear(v, s * self.p.item_by_name[self.items[i].group].cost.get(b, 0.0))
                f.offset += s * sum(
                    k * self.p.item_by_name[g].cost.get(b, 0.0) for (g, b), k in self.fixed.items()
                )
            elif term == "moves":
                for i, it in enumerate(self.items):
                    if it.home is not None:
                        f.offset += s
                        f.add_linear(self.x[(i, it.home)], -s)
            elif term == "traffic":
                self.traffic_term(f, s)
            elif term == "soft":
                pass  # soft constraints are refused (not in ``supports``): the term is always 0
            else:  # pragma: no cover - refused by ``supports`` before compile
                raise PlacerError(f"qubo cannot encode objective term {term!r}")
        return f

    def traffic_term(self, f: QuadraticSink, s: float) -> None:
        for tr in self.lowered.traffic:
            if tr.pairs == 0:
                continue
            a, b = tr.a, tr.b
            scale = s * tr.volume / tr.pairs
            xa = [(i, p, v) for (i, p), v in self.x.items() if self.items[i].group == a]
            xb = [(i, p, v) for (i, p), v in self.x.items() if self.items[i].group == b]
            fa = [(p, k) for (g, p), k in self.fixed.items() if g == a and k > 0]
            fb = [(p, k) for (g, p), k in self.fixed.items() if g == b and k > 0]
            for i, p, u in xa:  # free × free (ordered item pairs, as the verifier counts)
                for j, q, v in xb:
                    d = self.p.delay(p, q)
                    if i != j and d:
                        f.add_quadratic(u, v, scale * d)
            for _i, p, u in xa:  # free × pinned
                for q, k in fb:
                    f.add_linear(u, scale * k * (self.p.delay(p, q) or 0.0))
            for p, k in fa:
                for _j, q, v in xb:
                    f.add_linear(v, scale * k * (self.p.delay(p, q) or 0.0))
                for q, k2 in fb:
                    f.offset += scale * k * k2 * (self.p.delay(p, q) or 0.0)


# How each constraint kind is encoded (``Backend.encoders``), kind by kind in this order.
ENCODERS: dict[type, Callable[[_Builder, int, Any], None]] = {
    Quota: _Builder.quota,
    AntiAffinity: _Builder.anti_affinity,
    Gang: _Builder.gang,
}


def encode_constraints(b: _Builder) -> None:
    missing = {c.kind for c in b.p.constraints if type(c) not in ENCODERS}
    if missing:
        raise PlacerError(f"qubo has no encoder for {', '.join(sorted(missing))} constraints")
    for kind, encoder in ENCODERS.items():
        for n, c in enumerate(b.p.constraints):
            if type(c) is kind:
                encoder(b, n, c)
        if kind is Quota:
            b.tenant_quotas()  # tenants' own quotas next to the quota rules


def _resolution(sink: QuadraticSink) -> float:
    """Rational gcd of the coefficients: every nonzero change of the level is a multiple of it."""
    num, den = 0, 1
    for b in [*sink.linear.values(), *sink.quadratic.values()]:
        if not b:
            continue
        q = Fraction(abs(b)).limit_denominator(10**6)
        num = math.gcd(num, q.numerator)
        den = den * q.denominator // math.gcd(den, q.denominator)
    return num / den if num else 0.0


def _range(sink: QuadraticSink) -> float:
    return sum(abs(b) for b in sink.linear.values()) + sum(abs(b) for b in sink.quadratic.values())


def combine_levels(levels: list[QuadraticSink]) -> tuple[QuadraticSink, list[float]]:
    weights = [1.0] * len(levels)
    below = 0.0  # Σ_{j>i} W_j·R_j
    for i in range(len(levels) - 1, -1, -1):
        delta = _resolution(levels[i])
        weights[i] = below / delta + 1.0 if delta > 0 else 1.0
        below += weights[i] * _range(levels[i])
    total = QuadraticSink()
    for w, sink in zip(weights, levels, strict=True):
        for v, b in sink.linear.items():
            total.add_linear(v, w * b)
        for (u, v), b in sink.quadratic.items():
            total.add_quadratic(u, v, w * b)
        total.offset += w * sink.offset
    return total, weights


def _local_fields(sink: QuadraticSink, n: int) -> np.ndarray:
    """|bias| + Σ |couplings| per variable: the most flipping it can change the sink."""
    out = np.zeros(n)
    for v, b in sink.linear.items():
        out[v] += abs(b)
    for (u, v), b in sink.quadratic.items():
        out[u] += abs(b)
        out[v] += abs(b)
    return out


def calibrate(b: _Builder, objective: QuadraticSink, options: CompileOptions) -> None:
    """Set every constraint's weight (see the module docstring)."""
    n = len(b.labels)
    local = _local_fields(objective, n)
    if options.penalty == "safe":
        weight = _range(objective) * options.penalty_scale + 1.0
        for c in b.constraints:
            c.weight = weight
        return
    # gain of an item: its best variable's local field plus opening its bin
    gain = np.zeros(len(b.items))
    for i, it in enumerate(b.items):
        for v, bn in zip(it.variables.tolist(), it.bins, strict=True):
            extra = local[b.y[bn]] if bn in b.y else 0.0
            gain[i] = max(gain[i], local[v] + extra)
    # a gang's items stand or fall together: each weighs what its whole gang gains
    gang_of = {g: n for n, gang in enumerate(b.lowered.gangs) for g in gang}
    total: dict[Any, float] = defaultdict(float)
    keys = [gang_of.get(it.group, ("item", i)) for i, it in enumerate(b.items)]
    for i, key in enumerate(keys):
        total[key] += gain[i]
    gain = np.array([total[key] for key in keys])
    everything = float(gain.sum())
    var_item = np.array(b.var_item)
    for c in b.constraints:
        vars_ = c.variables
        items = var_item[vars_]
        worst = float(gain[items[items >= 0]].max()) if (items >= 0).any() else 0.0
        if isinstance(c, Implies):
            worst = max(worst, float(local[vars_].max()))
        if isinstance(c, OneHot) and c.exact:
            worst = everything
        c.weight = worst * options.penalty_scale + 1.0


def _capacity_interactions(lowered: Lowered) -> int:
    """A lower bound on the quadratic terms, before building any: a bin whose candidate items
    can overflow a resource gets a squared penalty over their variables, which couples every
    two of them (counted once per bin, for the resource with the most candidates)."""
    problem = lowered.problem
    free = np.array(
        [g.count - (0 if g.movable else g.placed_total) for g in problem.items], dtype=object
    )
    total = 0
    for b in range(len(problem.bins)):
        most = 0
        for r in range(len(lowered.resources)):
            cap = int(lowered.capacity[b, r])
            fits = lowered.open[:, b] & (lowered.demand[:, r] > 0) & (lowered.demand[:, r] <= cap)
            n = int(free[fits].sum()) if fits.any() else 0
            heaviest = int((free[fits] * lowered.demand[fits, r].astype(object)).sum()) if n else 0
            if heaviest > cap:
                most = max(most, n)
        total += most * (most - 1) // 2
    return total


def compile_problem(
    problem: Problem, options: CompileOptions | None = None, deadline: Deadline | None = None
) -> QuboModel:
    """The QUBO model of ``problem``; ``OutOfTime`` when ``deadline`` passes first (or a stop
    is asked for; without a deadline it is always built)."""
    options = options or CompileOptions()
    check = deadline.check if deadline is not None else lambda: None
    lowered = lower(problem)
    # One x variable per free item and open bin at least: refuse before building any of them
    # (a count of a million would otherwise take seconds and gigabytes to refuse).
    at_least = sum(
        (g.count - (0 if g.movable else g.placed_total)) * len(lowered.eligible.open_bins(n))
        for n, g in enumerate(problem.items)
    )
    require_size(
        at_least,
        options.max_variables,
        "qubo binary variables (one per item and bin it may use)",
        "raise max_variables (-p max_variables=N) or use cpsat/milp",
    )
    require_size(
        _capacity_interactions(lowered),
        options.max_interactions,
        "qubo interactions (the squared capacity penalties couple every two items a bin may hold)",
        "raise max_interactions (-p max_interactions=N) or use cpsat/milp",
    )
    b = _Builder(lowered, options)
    for phase in (b.items_and_variables, b.one_hots, b.capacity, lambda: encode_constraints(b)):
        check()
        phase()
    check()
    b.traffic_delays()
    if len(b.labels) > options.max_variables:
        raise PlacerError(
            f"qubo: the model needs {len(b.labels)} binary variables, more than max_variables="
            f"{options.max_variables}; raise it (--param max_variables=N) or use cpsat/milp"
        )
    levels = [b.level({str(t): w for t, w in level.items()}) for level in problem.objective]
    objective, weights = combine_levels(levels)
    calibrate(b, objective, options)
    penalties = QuadraticSink()
    for c in b.constraints:
        check()
        c.add_penalty(penalties)
    n_slack = sum(len(c.slack) for c in b.constraints if isinstance(c, LinearLeq))
    model = QuboModel(
        problem=problem,
        options=options,
        labels=b.labels,
        items=b.items,
        var_item=np.array(b.var_item, dtype=np.int64),
        var_bin=b.var_bin,
        y=b.y,
        fixed=b.fixed,
        constraints=b.constraints,
        levels=levels,
        level_weights=weights,
        objective=objective,
        penalties=penalties,
    )
    model.info = {
        "variables": len(b.labels),
        "placement_variables": len(b.var_bin),
        "bin_used_variables": len(b.y),
        "slack_variables": n_slack,
        "items_expanded": len(b.items),
        "level_weights": weights,
        "coarsened": b.coarsened,
        "pinned_infeasible": b.pinned_infeasible,
        **options.as_dict(),
    }
    return model
