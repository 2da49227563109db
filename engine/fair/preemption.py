"""Fair preemption: admit a new workload by evicting the fewest running ones, never taking from a
tenant at or below its fair share for a tenant that would end above it.

Rules for a preemptor ``w`` (tenant P, priority p) and a victim set V:
1. every victim has priority ≤ p, and a victim of P itself has priority < p;
2. for every other tenant T losing a victim: P's weighted dominant share after admitting ``w``
   (and evicting V) is ≤ T's after losing its victims (Kueue's LessThanOrEqualToFinalShare, on
   exact fractions and on the final set V: #14543 grew from checking victims one at a time);
3. if T loses a victim of priority p, rule 2 also holds counting only workloads of priority ≥ p.

Termination. Let Φ list, for each priority level q from the highest down, the sorted vector of
tenants' weighted dominant shares counting workloads of priority ≥ q. A preemption leaves the
levels above p unchanged (victims have priority ≤ p); at level p, P's share rises and every tenant
losing a priority-p victim ends no lower than P's new share, which was above P's old one (w has a
positive share). The smallest changed entry grows, so Φ rises strictly in lexicographic order
(leximin). Running sets are finite, so no sequence of preemptions (with evicted workloads
resubmitted) repeats a state: no cycle, whatever the order of arrivals. The failure modes seen in
Kueue — a higher-share queue preempting a lower one and the victim being readmitted (#3779), zero
weights making every share MaxInt so preemption never changes the order (#6774) — are excluded by
rule 2 with exact shares (weights are positive in the IR).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from .market import Vector, add, fits


@dataclass(frozen=True)
class Workload:
    name: str
    tenant: str
    demand: Vector
    priority: int = 0


@dataclass(frozen=True)
class Cluster:
    """Pooled capacity and tenant weights."""

    resources: tuple[str, ...]
    capacity: Vector
    weights: Mapping[str, float] = field(default_factory=dict)

    def weight(self, tenant: str) -> Fraction:
        return Fraction(self.weights.get(tenant, 1.0)).limit_denominator(10**9)

    def share(
        self, tenant: str, running: Iterable[Workload], min_priority: int | None = None
    ) -> Fraction:
        use: Vector = (0,) * len(self.capacity)
        for w in running:
            if w.tenant == tenant and (min_priority is None or w.priority >= min_priority):
                use = add(use, w.demand)
        dominant = max(
            (Fraction(u, c) for u, c in zip(use, self.capacity, strict=True) if c > 0),
            default=Fraction(0),
        )
        return dominant / self.weight(tenant)


@dataclass(frozen=True)
class Preemption:
    admitted: bool
    victims: tuple[Workload, ...]
    reason: str
    exact: bool = True  # False when the search budget ran out (fewest victims not proved)


def _used(running: Iterable[Workload], n: int) -> Vector:
    total: Vector = (0,) * n
    for w in running:
        total = add(total, w.demand)
    return total


def legal(
    cluster: Cluster, running: Sequence[Workload], new: Workload, victims: Sequence[Workload]
) -> str | None:
    """Why this victim set breaks a rule (None: it is allowed and makes room)."""
    names = {v.name for v in victims}
    after = [w for w in running if w.name not in names] + [new]
    if not fits(_used(after[:-1], len(cluster.capacity)), new.demand, cluster.capacity):
        return "does not make room"
    for v in victims:
        if v.priority > new.priority or (v.tenant == new.tenant and v.priority >= new.priority):
            return f"{v.name} has priority {v.priority} against {new.priority}"
    mine = cluster.share(new.tenant, after)
    for tenant in {v.tenant for v in victims} - {new.tenant}:
        theirs = cluster.share(tenant, after)
        if mine > theirs:
            return f"{tenant} would end at share {float(theirs):.4g}, below {new.tenant}'s {float(mine):.4g}"
        if any(v.tenant == tenant and v.priority == new.priority for v in victims):
            p = new.priority
            if cluster.share(new.tenant, after, p) > cluster.share(tenant, after, p):
                return f"{tenant} would end below {new.tenant} among priority ≥ {p}"
    return None


def plan(
    cluster: Cluster,
    running: Sequence[Workload],
    new: Workload,
    *,
    budget: int = 200_000,
) -> Preemption:
    """The fewest victims (exact search by size, within ``budget`` candidate sets) that admit ``new``."""
    n = len(cluster.capacity)
    used = _used(running, n)
    if fits(used, new.demand, cluster.capacity):
        return Preemption(True, (), "fits without preemption")
    if not fits((0,) * n, new.demand, cluster.capacity):
        return Preemption(False, (), "larger than the whole cluster")
    short = [max(0, u + d - c) for u, d, c in zip(used, new.demand, cluster.capacity, strict=True)]
    candidates = [
        w
        for w in running
        if w.priority <= new.priority
        and not (w.tenant == new.tenant and w.priority >= new.priority)
        and any(s > 0 and d > 0 for s, d in zip(short, w.demand, strict=True))
    ]
    # try cheap victims first: lower priority, then later-listed (newer) workloads
    candidates.sort(key=lambda w: (w.priority, -running.index(w)))
    tried = 0
    for size in range(1, len(candidates) + 1):
        for combo in itertools.combinations(candidates, size):
            tried += 1
            if tried > budget:
                return Preemption(False, (), f"search budget of {budget} sets spent", exact=False)
            freed = _used(combo, n)
            if any(f < s for f, s in zip(freed, short, strict=True)):
                continue
            if legal(cluster, running, new, combo) is None:
                return Preemption(True, tuple(combo), f"{size} victim(s)")
    return Preemption(False, (), "no allowed set of victims makes room")


def potential(
    cluster: Cluster, running: Iterable[Workload], levels: Sequence[int] | None = None
) -> tuple[tuple[Fraction, ...], ...]:
    """Φ of the termination argument: per priority level (high to low), the sorted tenant shares
    counting workloads of at least that priority."""
    running = list(running)
    tenants = sorted({w.tenant for w in running} | set(cluster.weights))
    if levels is None:
        levels = sorted({w.priority for w in running}, reverse=True)
    return tuple(tuple(sorted(cluster.share(t, running, q) for t in tenants)) for q in levels)


@dataclass
class Simulation:
    running: list[Workload]
    pending: list[Workload]
    preemptions: int
    steps: int
    cycle: bool


def simulate(
    cluster: Cluster,
    arrivals: Sequence[Workload],
    *,
    policy: str = "fair",
    max_steps: int = 10_000,
) -> Simulation:
    """Admit arrivals one by one; evicted workloads are resubmitted (as a Deployment recreates its pods).

    ``policy="fair"`` uses :func:`plan`; ``policy="naive"`` preempts any lower-or-equal-priority
    workload of another tenant (largest share first) — the shape of rule that has looped in practice.
    The queue is served lowest weighted share first. A repeated (running, pending) state is a cycle.
    """
    running: list[Workload] = []
    pending = list(arrivals)
    seen: set[tuple[frozenset[str], frozenset[str]]] = set()
    preemptions = steps = 0
    while pending and steps < max_steps:
        state = (frozenset(w.name for w in running), frozenset(w.name for w in pending))
        if state in seen:
            return Simulation(running, pending, preemptions, steps, True)
        seen.add(state)
        steps += 1
        pending.sort(key=lambda w: (-w.priority, cluster.share(w.tenant, running)))
        progressed = False
        for w in list(pending):
            decision = (
                plan(cluster, running, w) if policy == "fair" else _naive(cluster, running, w)
            )
            if decision.admitted:
                for v in decision.victims:
                    running.remove(v)
                    pending.append(v)
                preemptions += len(decision.victims)
                pending.remove(w)
                running.append(w)
                progressed = True
                break
        if not progressed:
            break
    return Simulation(running, pending, preemptions, steps, False)


def _naive(cluster: Cluster, running: Sequence[Workload], new: Workload) -> Preemption:
    n = len(cluster.capacity)
    if fits(_used(running, n), new.demand, cluster.capacity):
        return Preemption(True, (), "fits")
    victims: list[Workload] = []
    others = sorted(
        (w for w in running if w.tenant != new.tenant and w.priority <= new.priority),
        key=lambda w: -cluster.share(w.tenant, running),
    )
    for v in others:
        victims.append(v)
        rest = [w for w in running if w not in victims]
        if fits(_used(rest, n), new.demand, cluster.capacity):
            return Preemption(True, tuple(victims), "naive")
    return Preemption(False, (), "naive: no room")
