"""DRF's progressive filling computed in jumps: the same allocation as one task at a time, fast.

Progressive filling hands one task at a time to the tenant with the lowest weighted dominant
share (``drf.py`` does exactly that, and records the steps). Between two *events* — a job
running out of tasks or no longer fitting at its tenant's turn — every tenant keeps taking tasks
of the same job, so the picks below a share level λ are counted per tenant in closed form and
the level of the next event is found by bisection: integer work per event instead of a heap
operation and exact fractions per task (5 tenants on 1,000 nodes, 12,000 tasks: 0.23 s → ms).

Shares are compared exactly as integers (share · L · A, L the lcm of the capacities, A the lcm
of the weights' numerators), so ties fall as in ``drf.py``: to the tenant listed first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .market import Job, Market


@dataclass
class _Tenant:
    name: str
    order: int
    units: list[int]  # weighted share key = max_r usage_r · units_r (0: not in the share)
    jobs: tuple[Job, ...]
    usage: list[int]
    taken: list[int]  # tasks per job
    job: int = 0  # the job its next turn takes, if that job has tasks left and still fits

    @property
    def current(self) -> Job:
        return self.jobs[self.job]

    def left(self, k: int | None = None) -> int:
        k = self.job if k is None else k
        return self.jobs[k].count - self.taken[k]


class _Filling:
    def __init__(self, market: Market) -> None:
        self.capacity = market.capacity
        positive = [c for c in market.capacity if c > 0]
        lcm_cap = math.lcm(*positive) if positive else 1
        # usage_r · per_unit_r = usage_r / capacity_r · L; 0 where the share ignores the resource
        per_unit = [lcm_cap // c if c > 0 else 0 for c in market.capacity]
        weights = {t: market.weight(t) for t in market.active_tenants}
        lcm_num = math.lcm(*(w.numerator for w in weights.values())) if weights else 1
        self.used = [0] * len(market.capacity)
        order = {t: n for n, t in enumerate(market.tenants)}
        self.tenants = [
            _Tenant(
                name=t,
                order=order[t],
                units=[w.denominator * (lcm_num // w.numerator) * p for p in per_unit],
                jobs=market.jobs_of(t),
                usage=[0] * len(market.capacity),
                taken=[0] * len(market.jobs_of(t)),
            )
            for t, w in weights.items()
        ]

    def key(self, s: _Tenant, extra: int = 0) -> int:
        """Weighted share key of ``s`` after ``extra`` more tasks of its current job."""
        return max(
            (
                (u + extra * x) * w
                for u, x, w in zip(s.usage, s.current.demand, s.units, strict=True)
            ),
            default=0,
        )

    def picks_below(self, s: _Tenant, level: int) -> int:
        """Turns of ``s`` at a share key below ``level`` if it kept taking its current job
        (more than the tasks left: the job runs out at one of them)."""
        if level <= 0:
            return 0  # keys are never negative
        n = s.left() + 1
        for u, x, w in zip(s.usage, s.current.demand, s.units, strict=True):
            if w == 0:
                continue
            top = (level - 1) // w  # the usage that keeps the key below ``level``
            if u > top:
                return 0
            if x > 0:
                n = min(n, (top - u) // x + 1)
        return n

    def take(self, s: _Tenant, n: int) -> None:
        s.taken[s.job] += n
        for r, x in enumerate(s.current.demand):
            s.usage[r] += n * x
            self.used[r] += n * x

    def room(self, job: Job) -> int:
        """How many tasks of ``job`` fit in what is left of the pool (-1: none, ever)."""
        return min(
            (
                (c - u) // x
                for u, x, c in zip(self.used, job.demand, self.capacity, strict=True)
                if x > 0
            ),
            default=job.count,
        )

    def ordinary_below(self, level: int, alive: list[_Tenant]) -> bool:
        """Every turn at a key below ``level`` takes a task of its tenant's current job (it has
        tasks left and fits): the pool after them all is within capacity, and as usage only
        grows, so is the pool after each of them."""
        total = list(self.used)
        for s in alive:
            n = self.picks_below(s, level)
            if n > s.left():
                return False
            for r, x in enumerate(s.current.demand):
                total[r] += n * x
        return all(t <= c for t, c in zip(total, self.capacity, strict=True))

    def turn(self, s: _Tenant, level: int) -> bool:
        """The turn of ``s`` at share key ``level`` in ``drf.py``'s sense: a task of the first job
        with tasks left that fits (never an earlier one: it ran out or stopped fitting, and usage
        only grows). The turns after it while the key stays at ``level`` (a task that does not
        raise the dominant share) are taken at once. False when it takes none."""
        for k in range(s.job, len(s.jobs)):
            room = self.room(s.jobs[k])
            if s.left(k) > 0 and room > 0:
                s.job = k
                self.take(s, max(1, min(s.left(), room, self.picks_below(s, level + 1))))
                return True
        return False

    def has_tasks(self, s: _Tenant) -> bool:
        return any(s.left(k) > 0 for k in range(len(s.jobs)))


def progressive_filling(
    market: Market, *, work_conserving: bool
) -> tuple[dict[str, int], str | None]:
    """Tasks per job and the first blocked tenant, as one-task-at-a-time DRF gives them."""
    f = _Filling(market)
    blocked: str | None = None
    alive = sorted(f.tenants, key=lambda s: s.order)
    stop = False
    while alive and not stop:
        low = min(f.key(s) for s in alive)
        high = min(f.key(s, s.left()) for s in alive) + 1  # a job runs out at or below it
        while high - low > 1:  # the highest level below which every turn is ordinary
            mid = (low + high) // 2
            if f.ordinary_below(mid, alive):
                low = mid
            else:
                high = mid
        for s in alive:
            f.take(s, f.picks_below(s, low))
        # the turns at key ``low`` in the order of the tenants; one of them is an event
        gone: set[int] = set()
        for s in alive:
            while f.key(s) == low:
                if f.turn(s, low):
                    continue
                if f.has_tasks(s):
                    blocked = blocked or s.name
                    stop = not work_conserving
                gone.add(id(s))  # finished or blocked: its usage only grows, it never fits again
                break
            if stop:
                break
        alive = [s for s in alive if id(s) not in gone]
    tasks = {j.name: 0 for j in market.jobs}
    for s in f.tenants:
        tasks.update({j.name: n for j, n in zip(s.jobs, s.taken, strict=True)})
    return tasks, blocked
