"""The search's own model of a state: counts per (group, bin) with incremental rule bookkeeping.

A delta (a step, or part of one) is a map ``{(group, bin): change}`` over indices. ``violation``
says why the state after a delta would break a hard rule or capacity (None when it would not);
``apply`` makes the delta part of the state. The rules read the IR as the verifier defines it, but
this module shares no code with ``engine.verify`` or ``engine.migrate.check``: the checker judges
what the search produces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ir import Affinity, AntiAffinity, Gang, Problem, Quota, Spread

Delta = Mapping[tuple[int, int], int]


@dataclass
class _DomainRule:
    """Shared bookkeeping of a rule over a topology: bin -> domain, per-domain counters."""

    name: str
    domain: list[int]  # per bin: domain index, -1 when the bin is in no domain
    n_domains: int


@dataclass
class _AntiAffinity(_DomainRule):
    selected: frozenset[int] = frozenset()
    limit: int = 1
    count: list[int] = field(default_factory=list)

    def changes(self, delta: Delta) -> dict[int, int]:
        out: dict[int, int] = defaultdict(int)
        for (g, b), n in delta.items():
            d = self.domain[b]
            if g in self.selected and d >= 0:
                out[d] += n
        return out

    def violation(self, state: State, delta: Delta) -> str | None:
        for d, n in self.changes(delta).items():
            if n > 0 and self.count[d] + n > self.limit:
                return (
                    f"{self.name}: {self.count[d] + n} selected items in one domain > {self.limit}"
                )
        return None

    def apply(self, state: State, delta: Delta) -> None:
        for d, n in self.changes(delta).items():
            self.count[d] += n


@dataclass
class _Exclusion(_DomainRule):
    """Anti-affinity with a target: no domain holds a selected item and a different target item."""

    selected: frozenset[int] = frozenset()
    targets: frozenset[int] = frozenset()
    s: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    u: list[int] = field(default_factory=list)

    def changes(self, delta: Delta) -> dict[int, tuple[int, int, int]]:
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for (g, b), n in delta.items():
            d = self.domain[b]
            if d < 0 or (g not in self.selected and g not in self.targets):
                continue
            row = out[d]
            row[0] += n if g in self.selected else 0
            row[1] += n if g in self.targets else 0
            row[2] += n
        return {d: (a, b, c) for d, (a, b, c) in out.items()}

    def violation(self, state: State, delta: Delta) -> str | None:
        for d, (ds, dt, du) in self.changes(delta).items():
            if self.s[d] + ds >= 1 and self.t[d] + dt >= 1 and self.u[d] + du >= 2:
                return f"{self.name}: a selected item would share a domain with a target item"
        return None

    def apply(self, state: State, delta: Delta) -> None:
        for d, (ds, dt, du) in self.changes(delta).items():
            self.s[d] += ds
            self.t[d] += dt
            self.u[d] += du


@dataclass
class _Affinity(_DomainRule):
    """Bins without the topology key each form their own pseudo-domain (no target counts there)."""

    selected: frozenset[int] = frozenset()
    targets: frozenset[int] = frozenset()
    only_s: list[int] = field(default_factory=list)
    both: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)  # target items in the domain (real domains only)
    total_t: int = 0

    def _d(self, b: int) -> int:
        d = self.domain[b]
        return d if d >= 0 else self.n_domains + b

    def changes(self, delta: Delta) -> tuple[dict[int, tuple[int, int, int]], int]:
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        total = 0
        for (g, b), n in delta.items():
            in_s, in_t = g in self.selected, g in self.targets
            if not (in_s or in_t):
                continue
            row = out[self._d(b)]
            if in_t:
                total += n
                if self.domain[b] >= 0:
                    row[2] += n
            if in_s and in_t:
                row[1] += n
            elif in_s:
                row[0] += n
        return {d: (a, b, c) for d, (a, b, c) in out.items()}, total

    def _bad(self, only_s: int, both: int, t: int, total_t: int) -> bool:
        return (only_s >= 1 and t == 0) or (both >= 1 and t < 2 and total_t > 1)

    def violation(self, state: State, delta: Delta) -> str | None:
        changes, dtotal = self.changes(delta)
        total = self.total_t + dtotal
        domains = set(changes) if dtotal == 0 else set(range(len(self.t))) | set(changes)
        for d in domains:
            a, b, c = changes.get(d, (0, 0, 0))
            if self._bad(self.only_s[d] + a, self.both[d] + b, self.t[d] + c, total):
                return f"{self.name}: a selected item would have no target item in its domain"
        return None

    def apply(self, state: State, delta: Delta) -> None:
        changes, dtotal = self.changes(delta)
        self.total_t += dtotal
        for d, (a, b, c) in changes.items():
            self.only_s[d] += a
            self.both[d] += b
            self.t[d] += c


@dataclass
class _Spread(_DomainRule):
    selected: frozenset[int] = frozenset()
    skew: int = 1
    min_domains: int | None = None
    count: list[int] = field(default_factory=list)
    received: list[int] = field(default_factory=list)  # (group, bin) pairs above their placed

    def changes(self, state: State, delta: Delta) -> dict[int, tuple[int, int]]:
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for (g, b), n in delta.items():
            d = self.domain[b]
            if g not in self.selected or d < 0:
                continue
            before = state.counts.get((g, b), 0)
            placed = state.placed.get((g, b), 0)
            out[d][0] += n
            out[d][1] += int(before + n > placed) - int(before > placed)
        return {d: (a, b) for d, (a, b) in out.items()}

    def _low(self, count: list[int]) -> int:
        if self.min_domains is not None and self.n_domains < self.min_domains:
            return 0
        return min(count) if count else 0

    def violation(self, state: State, delta: Delta) -> str | None:
        changes = self.changes(state, delta)
        if not changes:
            return None
        count = list(self.count)
        received = list(self.received)
        for d, (n, r) in changes.items():
            count[d] += n
            received[d] += r
        low = self._low(count)
        for d in range(self.n_domains):
            if received[d] > 0 and count[d] > low + self.skew:
                return f"{self.name}: a domain would hold {count[d]} > min {low} + max_skew {self.skew}"
        return None

    def apply(self, state: State, delta: Delta) -> None:
        for d, (n, r) in self.changes(state, delta).items():
            self.count[d] += n
            self.received[d] += r


class State:
    """Counts per (group, bin) with loads and rule counters; groups and bins are indices."""

    def __init__(self, problem: Problem, counts: Mapping[tuple[int, int], int]) -> None:
        self.problem = problem
        self.groups = [g.name for g in problem.items]
        self.bins = [b.name for b in problem.bins]
        self.resources = list(problem.resources)
        bin_index = {b: i for i, b in enumerate(self.bins)}
        self.demand = [[g.demand.get(r, 0) for r in self.resources] for g in problem.items]
        self.cap = [[b.capacity.get(r, 0) for r in self.resources] for b in problem.bins]
        self.placed = {
            (gi, bin_index[b]): n for gi, g in enumerate(problem.items) for b, n in g.placed.items()
        }
        self.allowed = [
            None if g.allowed is None else frozenset(bin_index[b] for b in g.allowed)
            for g in problem.items
        ]
        self.counts: dict[tuple[int, int], int] = {}
        self.load = [[0] * len(self.resources) for _ in self.bins]
        self.totals = [0] * len(self.groups)
        self.rules: list[_AntiAffinity | _Exclusion | _Affinity | _Spread] = []
        self._by_label: dict[tuple[str, str], set[int]] = defaultdict(set)
        for gi, g in enumerate(problem.items):
            for label in g.labels.items():
                self._by_label[label].add(gi)
        self._domain_maps: dict[Any, tuple[list[int], int]] = {}
        self._build_rules()
        self._tenants()
        self._traffic()
        self._gangs()
        self.apply({k: n for k, n in counts.items() if n})

    # ------------------------------------------------------------ setup
    def _labels_select(self, selector: Mapping[str, str]) -> frozenset[int]:
        """The groups the selector matches, from an index of groups per label (each rule
        scanning every group cost seconds on thousands of workloads)."""
        found = [self._by_label.get(label, set()) for label in selector.items()]
        if not found:
            return frozenset(range(len(self.problem.items)))
        return frozenset(set.intersection(*found))

    def _domains(self, topology: str, keep: frozenset[str] | None = None) -> tuple[list[int], int]:
        """Per bin its domain's index (-1: none), and how many there are; one mapping per
        topology (and kept bins), shared by the rules over it (never changed)."""
        key = (topology, keep)
        if key not in self._domain_maps:
            self._domain_maps[key] = self._map_domains(topology, keep)
        return self._domain_maps[key]

    def _map_domains(self, topology: str, keep: frozenset[str] | None) -> tuple[list[int], int]:
        index: dict[str, int] = {}
        domain = []
        for b in self.problem.bins:
            if topology in b.labels and (keep is None or b.name in keep):
                domain.append(index.setdefault(b.labels[topology], len(index)))
            else:
                domain.append(-1)
        return domain, len(index)

    def _build_rules(self) -> None:
        for n, c in enumerate(self.problem.constraints):
            if c.soft:
                continue
            name = f"constraints[{n}] {c.kind}"
            if isinstance(c, AntiAffinity):
                domain, nd = self._domains(c.topology)
                if c.target is None:
                    self.rules.append(
                        _AntiAffinity(
                            name,
                            domain,
                            nd,
                            self._labels_select(c.selector),
                            c.max_per_domain,
                            [0] * nd,
                        )
                    )
                else:
                    self.rules.append(
                        _Exclusion(
                            name,
                            domain,
                            nd,
                            self._labels_select(c.selector),
                            self._labels_select(c.target),
                            [0] * nd,
                            [0] * nd,
                            [0] * nd,
                        )
                    )
            elif isinstance(c, Affinity):
                domain, nd = self._domains(c.topology)
                size = nd + len(self.bins)
                self.rules.append(
                    _Affinity(
                        name,
                        domain,
                        nd,
                        self._labels_select(c.selector),
                        self._labels_select(c.target),
                        [0] * size,
                        [0] * size,
                        [0] * size,
                    )
                )
            elif isinstance(c, Spread):
                keep = frozenset(c.bins) if c.bins is not None else None
                domain, nd = self._domains(c.topology, keep)
                if nd:
                    self.rules.append(
                        _Spread(
                            name,
                            domain,
                            nd,
                            self._labels_select(c.selector),
                            c.max_skew,
                            c.min_domains,
                            [0] * nd,
                            [0] * nd,
                        )
                    )

    def _tenants(self) -> None:
        limits: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for c in self.problem.constraints:
            if isinstance(c, Quota):
                for r, v in c.limits.items():
                    limits[c.tenant].append((self._res(r), v))
        for t in self.problem.tenants:
            for r, v in (t.quota or {}).items():
                limits[t.name].append((self._res(r), v))
        self.tenant_of = [g.tenant if g.tenant in limits else None for g in self.problem.items]
        self.quota = dict(limits)
        self.usage: dict[str, list[int]] = {t: [0] * len(self.resources) for t in limits}

    def _res(self, r: str) -> int:
        if r not in self.resources:
            self.resources.append(r)
            for row in (*self.demand, *self.cap, *self.load):
                row.append(0)
        return self.resources.index(r)

    def _traffic(self) -> None:
        index = {g: i for i, g in enumerate(self.groups)}
        self.traffic = [
            (index[t.items[0]], index[t.items[1]]) for t in self.problem.traffic if t.volume > 0
        ]

    def _gangs(self) -> None:
        index = {g: i for i, g in enumerate(self.groups)}
        self.gangs = [
            [index[i] for i in c.items]
            for c in self.problem.constraints
            if isinstance(c, Gang) and not c.soft
        ]

    # ------------------------------------------------------------ judging a delta
    def violation(self, delta: Delta) -> str | None:
        """Why the state after ``delta`` would break a rule, or None when it would not."""
        per_bin: dict[int, list[int]] = {}
        for (g, b), n in delta.items():
            if self.counts.get((g, b), 0) + n < 0:
                return f"{self.groups[g]} has fewer than {-n} items on {self.bins[b]}"
            if n > 0 and self.allowed[g] is not None and b not in self.allowed[g]:  # type: ignore[operator]
                if self.counts.get((g, b), 0) + n > self.placed.get((g, b), 0):
                    return f"{self.groups[g]} is not allowed on {self.bins[b]}"
            row = per_bin.setdefault(b, [0] * len(self.resources))
            for r, amount in enumerate(self.demand[g]):
                row[r] += amount * n
        for b, row in per_bin.items():
            for r, extra in enumerate(row):
                if extra > 0 and self.load[b][r] + extra > self.cap[b][r]:
                    return f"capacity: {self.resources[r]} on {self.bins[b]}"
        for rule in self.rules:
            why = rule.violation(self, delta)
            if why is not None:
                return why
        return self._quota_violation(delta) or self._traffic_violation(delta) or self._gang(delta)

    def _quota_violation(self, delta: Delta) -> str | None:
        extra: dict[str, list[int]] = {}
        for (g, _), n in delta.items():
            t = self.tenant_of[g]
            if t is None:
                continue
            row = extra.setdefault(t, [0] * len(self.resources))
            for r, amount in enumerate(self.demand[g]):
                row[r] += amount * n
        for t, row in extra.items():
            for r, limit in self.quota[t]:
                if row[r] > 0 and self.usage[t][r] + row[r] > limit:
                    return f"quota of tenant {t}: {self.resources[r]}"
        return None

    def _traffic_violation(self, delta: Delta) -> str | None:
        if not self.traffic:
            return None
        after = dict(self.counts)
        for k, n in delta.items():
            after[k] = after.get(k, 0) + n
        touched = {g for (g, _), n in delta.items() if n > 0}
        for a, b in self.traffic:
            if a not in touched and b not in touched:
                continue
            bins_a = [bn for (g, bn), k in after.items() if g == a and k > 0]
            bins_b = [bn for (g, bn), k in after.items() if g == b and k > 0]
            for p in bins_a:
                for q in bins_b:
                    if self.problem.delay(self.bins[p], self.bins[q]) is None:
                        return f"traffic {self.groups[a]}<->{self.groups[b]}: no delay {self.bins[p]}-{self.bins[q]}"
        return None

    def _gang(self, delta: Delta) -> str | None:
        change: dict[int, int] = defaultdict(int)
        for (g, _), n in delta.items():
            change[g] += n
        for gang in self.gangs:
            if not any(change.get(g) for g in gang):
                continue
            totals = [self.totals[g] + change.get(g, 0) for g in gang]
            full = all(t == self.problem.items[g].count for g, t in zip(gang, totals, strict=True))
            if not full and any(totals):
                return f"gang {[self.groups[g] for g in gang]} would be partly placed"
        return None

    # ------------------------------------------------------------ changing the state
    def apply(self, delta: Delta) -> None:
        for rule in self.rules:
            rule.apply(self, delta)
        for (g, b), n in delta.items():
            if not n:
                continue
            value = self.counts.get((g, b), 0) + n
            if value:
                self.counts[(g, b)] = value
            else:
                self.counts.pop((g, b), None)
            self.totals[g] += n
            for r, amount in enumerate(self.demand[g]):
                self.load[b][r] += amount * n
            t = self.tenant_of[g]
            if t is not None:
                for r, amount in enumerate(self.demand[g]):
                    self.usage[t][r] += amount * n

    def fits(self, g: int, b: int, freed: list[int] | None = None) -> bool:
        """Would one more item of ``g`` fit on ``b`` (capacity only)?"""
        load, cap = self.load[b], self.cap[b]
        return all(
            amount <= 0 or load[r] + amount <= cap[r] for r, amount in enumerate(self.demand[g])
        )
