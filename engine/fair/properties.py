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

from solvers.deadline import Deadline

from .game import Mechanism, Stopped, profitable_misreport
from .market import Allocation, Job, Market

# a check the time limit (or Ctrl-C) cut short decides nothing: ``ok`` is None and this says why
CUT_SHORT = "cut short by the time limit (or Ctrl-C): not decided"
PROPERTIES = ("sharing_incentive", "envy_free", "pareto_efficient", "strategy_proof")


def _tick(deadline: Deadline | None) -> None:
    if deadline is not None and deadline.expired():
        raise Stopped


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
    ok: bool | None  # None: cut short, undecided
    witness: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        if self.witness:
            out["witness"] = self.witness
        out.update(self.data)
        return out


def sharing_incentive(alloc: Allocation, deadline: Deadline | None = None) -> Check:
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
        _tick(deadline)
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


def _envy(alloc: Allocation, up_to_one: bool, deadline: Deadline | None) -> str | None:
    m = alloc.market
    for i in m.active_tenants:
        mine = alloc.tenant_tasks(i)
        for j in m.active_tenants:
            _tick(deadline)
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


def envy_free(alloc: Allocation, deadline: Deadline | None = None) -> Check:
    witness = _envy(alloc, True, deadline)
    exact = _envy(alloc, False, deadline)
    return Check("envy_free", witness is None, witness, {"exact": exact is None})


def pareto_efficient(alloc: Allocation, deadline: Deadline | None = None) -> Check:
    m = alloc.market
    idle = tuple(Fraction(c - u) for c, u in zip(m.capacity, alloc.used(), strict=True))
    for t in m.active_tenants:
        _tick(deadline)
        own = _bundle(alloc, t)
        could = max_tasks(m.jobs_of(t), tuple(a + b for a, b in zip(own, idle, strict=True)))
        if could > alloc.tenant_tasks(t):
            return Check(
                "pareto_efficient",
                False,
                f"{t} could run {could} tasks instead of {alloc.tenant_tasks(t)} with idle resources",
            )
    return Check("pareto_efficient", True)


def strategy_proof(mechanism: Mechanism, market: Market, deadline: Deadline | None = None) -> Check:
    dev = profitable_misreport(mechanism, market, deadline)
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


def bounded(name: str, run: Callable[[], Check]) -> Check:
    """``run()``, or an undecided check of that name when the deadline cut it short."""
    try:
        return run()
    except Stopped:
        return Check(name, None, None, {"stopped": CUT_SHORT})


def allocation_checks(alloc: Allocation, deadline: Deadline | None = None) -> dict[str, Check]:
    """Sharing incentive, envy-freeness and Pareto efficiency of one allocation, each cut short
    (undecided) when ``deadline`` passes."""
    runs: dict[str, Callable[[], Check]] = {
        "sharing_incentive": lambda: sharing_incentive(alloc, deadline),
        "envy_free": lambda: envy_free(alloc, deadline),
        "pareto_efficient": lambda: pareto_efficient(alloc, deadline),
    }
    return {name: bounded(name, run) for name, run in runs.items()}


def check_all(
    mechanism: Mechanism,
    market: Market,
    *,
    strategy: bool = True,
    deadline: Deadline | None = None,
) -> dict[str, Check]:
    out = allocation_checks(mechanism(market), deadline)
    if strategy:
        out["strategy_proof"] = bounded(
            "strategy_proof", lambda: strategy_proof(mechanism, market, deadline)
        )
    return out


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
    deadline: Deadline | None = None,
) -> dict[str, Check]:
    """The checks over random markets: a property holds if no instance breaks it (first witness
    kept). When ``deadline`` passes, the instances checked whole so far are the evidence:
    ``instances`` says how many, ``stopped`` that the others were not tried."""
    rng = random.Random(seed)
    found: dict[str, str | None] = {}  # name -> first witness (None: holds so far)
    done = 0
    for k in range(instances):
        checks = check_all(mechanism, make(rng), deadline=deadline)
        if any(c.ok is None for c in checks.values()):
            break  # this instance was cut short: it is not counted
        for name, c in checks.items():
            if found.get(name) is None and not c.ok:
                found[name] = f"random instance {k} (seed {seed}): {c.witness}"
            else:
                found.setdefault(name, None)
        done += 1
    data: dict[str, Any] = {"instances": done}
    if done < instances:
        data["stopped"] = f"{CUT_SHORT} after {done} of {instances} instances"
    if done == 0:  # no evidence either way
        return {n: Check(n, None, None, dict(data)) for n in PROPERTIES}
    return {n: Check(n, w is None, w, dict(data)) for n, w in found.items()}
