"""Mechanism property checks on discrete tasks, each with a witness when it fails.

Definitions (tasks are indivisible, so the textbook notions are stated per task):
- sharing incentive (up to one task per tenant): every tenant runs at least as many tasks as it
  could on its own slice (weight / total weight) of every resource, the slice being taken after
  one task's dominant share of every tenant is set aside (an indivisible last task may overshoot
  by that much; ``exact`` reports the undiminished comparison);
- envy-freeness up to one task (EF1): no tenant could run more tasks with another tenant's bundle
  (rescaled by their weights) once one task is taken out of that bundle; exact envy-freeness is
  reported too, but indivisible tasks make it impossible in general (3 CPUs, two 1-CPU tenants);
- Pareto efficiency: no tenant could run more tasks with its own resources plus the idle ones
  (exact for single-job tenants: with Leontief tasks every improvement needs idle resources);
- strategy-proofness: no tenant runs more real tasks by declaring one of the documented
  misreports (see ``game``) while the others tell the truth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .game import Mechanism, profitable_misreport
from .market import Allocation, Job, Market


def max_tasks(jobs: Sequence[Job], bundle: Sequence[Fraction]) -> int:
    """Most tasks of these jobs that fit in a bundle (exact; a tiny MILP for several jobs)."""
    jobs = [j for j in jobs if j.count > 0]
    if not jobs:
        return 0
    if len(jobs) == 1:
        j = jobs[0]
        per = [b / d for b, d in zip(bundle, j.demand, strict=True) if d > 0]
        return j.count if not per else min(j.count, math.floor(min(per)))
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    a = np.array([[float(j.demand[r]) for j in jobs] for r in range(len(bundle))])
    res = milp(
        -np.ones(len(jobs)),
        constraints=LinearConstraint(a, -np.inf, [float(b) + 1e-9 for b in bundle]),
        integrality=np.ones(len(jobs)),
        bounds=Bounds(0, [j.count for j in jobs]),
    )
    return round(-res.fun) if res.x is not None else 0


def _bundle(alloc: Allocation, tenant: str) -> tuple[Fraction, ...]:
    return tuple(Fraction(u) for u in alloc.usage(tenant))


@dataclass
class Check:
    name: str
    ok: bool
    witness: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        if self.witness:
            out["witness"] = self.witness
        out.update(self.data)
        return out


def sharing_incentive(alloc: Allocation) -> Check:
    """Up to one task per tenant: the slice is taken of the capacity less one task's dominant share
    of every active tenant (each tenant's last task may overshoot by that much). ``exact`` tells
    whether every tenant also reaches what it runs on its undiminished slice."""
    m = alloc.market
    total = sum(m.weight(t) for t in m.tenants)
    rounding = sum(
        (min((m.task_share(j) for j in m.jobs_of(t) if j.count > 0), default=Fraction(0)))
        for t in m.active_tenants
    )
    keep = max(Fraction(0), 1 - rounding)
    exact = True
    for t in m.active_tenants:
        got = alloc.tenant_tasks(t)
        slice_ = tuple(c * m.weight(t) / total for c in m.capacity)
        if got < max_tasks(m.jobs_of(t), slice_):
            exact = False
        alone = max_tasks(m.jobs_of(t), tuple(s * keep for s in slice_))
        if got < alone:
            return Check(
                "sharing_incentive",
                False,
                f"{t} runs {got} tasks but {alone} on its own slice (less one task per tenant)",
                {"exact": False},
            )
    return Check("sharing_incentive", True, None, {"exact": exact})


def _envy(alloc: Allocation, up_to_one: bool) -> str | None:
    m = alloc.market
    for i in m.active_tenants:
        mine = alloc.tenant_tasks(i)
        for j in m.active_tenants:
            if i == j or alloc.tenant_tasks(j) == 0:
                continue
            scale = m.weight(i) / m.weight(j)
            theirs = _bundle(alloc, j)
            removals: list[tuple[int, ...]] = [(0,) * len(theirs)]
            if up_to_one:
                removals = [jb.demand for jb in m.jobs_of(j) if alloc.tasks.get(jb.name, 0) > 0]
            envies = all(
                max_tasks(
                    m.jobs_of(i), tuple((b - d) * scale for b, d in zip(theirs, rm, strict=True))
                )
                > mine
                for rm in removals
            )
            if envies:
                what = "even without one of its tasks" if up_to_one else ""
                return f"{i} (runs {mine}) prefers the bundle of {j} {what}".strip()
    return None


def envy_free(alloc: Allocation) -> Check:
    witness = _envy(alloc, up_to_one=True)
    exact = _envy(alloc, up_to_one=False)
    return Check("envy_free", witness is None, witness, {"exact": exact is None})


def pareto_efficient(alloc: Allocation) -> Check:
    m = alloc.market
    idle = tuple(Fraction(c - u) for c, u in zip(m.capacity, alloc.used(), strict=True))
    for t in m.active_tenants:
        own = _bundle(alloc, t)
        could = max_tasks(m.jobs_of(t), tuple(a + b for a, b in zip(own, idle, strict=True)))
        if could > alloc.tenant_tasks(t):
            return Check(
                "pareto_efficient",
                False,
                f"{t} could run {could} tasks instead of {alloc.tenant_tasks(t)} with idle resources",
            )
    return Check("pareto_efficient", True)


def strategy_proof(mechanism: Mechanism, market: Market) -> Check:
    dev = profitable_misreport(mechanism, market)
    if dev is None:
        return Check("strategy_proof", True)
    return Check(
        "strategy_proof",
        False,
        dev.describe(market),
        {
            "counterexample": {
                "tenant": dev.tenant,
                "truthful": dev.utility_truthful,
                "misreport": dev.utility_misreport,
            }
        },
    )


def check_all(mechanism: Mechanism, market: Market, *, strategy: bool = True) -> dict[str, Check]:
    alloc = mechanism(market)
    checks = [sharing_incentive(alloc), envy_free(alloc), pareto_efficient(alloc)]
    if strategy:
        checks.append(strategy_proof(mechanism, market))
    return {c.name: c for c in checks}


def random_market(rng: random.Random, tenants: int = 3, resources: int = 2) -> Market:
    """A small random pooled market (one job per tenant) for property checks."""
    names = [f"r{k}" for k in range(resources)]
    capacity = {r: rng.randint(6, 24) for r in names}
    jobs = []
    for n in range(tenants):
        demand = {r: rng.randint(0, 4) for r in names}
        if not any(demand.values()):
            demand[names[0]] = 1
        jobs.append((f"job{n}", f"t{n}", demand, rng.randint(1, 12)))
    weights = {f"t{n}": float(rng.choice([1, 1, 2])) for n in range(tenants)}
    return Market.build(capacity, jobs, weights, name=f"random-{rng.random():.6f}")


def check_random(
    mechanism: Mechanism,
    *,
    instances: int = 20,
    seed: int = 0,
    make: Callable[[random.Random], Market] = random_market,
) -> dict[str, Check]:
    """The checks over random markets: a property holds if no instance breaks it (first witness kept)."""
    rng = random.Random(seed)
    result: dict[str, Check] = {}
    for k in range(instances):
        market = make(rng)
        for name, c in check_all(mechanism, market).items():
            if name not in result:
                result[name] = Check(name, True, None, {"instances": instances})
            if not c.ok and result[name].ok:
                result[name] = Check(
                    name,
                    False,
                    f"random instance {k} (seed {seed}): {c.witness}",
                    {"instances": instances},
                )
    return result
