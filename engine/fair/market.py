"""The tenants' market: pooled capacity, tenants with weights, and their jobs (Leontief task shapes).

A *job* is one item group of a tenant: ``count`` identical tasks, each needing its whole ``demand``
vector (Leontief preferences: a task runs only with all of its resources). A mechanism hands each
job a number of tasks; everything else (usage, dominant shares, utilities) follows exactly, with
:class:`fractions.Fraction` so ties and thresholds are decided without rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property

from ..errors import InputError
from ..ir import Problem

Vector = tuple[int, ...]


@dataclass(frozen=True)
class Job:
    """``count`` identical tasks of one tenant, each needing ``demand`` (one entry per resource)."""

    name: str
    tenant: str
    demand: Vector
    count: int


@dataclass(frozen=True)
class Market:
    """Pooled capacity shared by tenants. ``jobs`` are the tenants' *declared* demands."""

    resources: tuple[str, ...]
    capacity: Vector
    tenants: tuple[str, ...]
    weights: Mapping[str, float]
    jobs: tuple[Job, ...]
    name: str = "market"
    priorities: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.capacity) != len(self.resources):
            raise InputError("capacity needs one value per resource", path="capacity")
        known = set(self.tenants)
        for n, job in enumerate(self.jobs):
            if job.tenant not in known:
                raise InputError(f"unknown tenant {job.tenant!r}", path=f"jobs[{n}].tenant")
            if len(job.demand) != len(self.resources):
                raise InputError("demand needs one value per resource", path=f"jobs[{n}].demand")
            if job.count < 0 or any(d < 0 for d in job.demand):
                raise InputError("negative demand or count", path=f"jobs[{n}]")
        for t in self.tenants:
            if self.weights.get(t, 1.0) <= 0:
                raise InputError(f"tenant {t!r} needs a positive weight", path="weights")

    # ---- construction
    @classmethod
    def build(
        cls,
        capacity: Mapping[str, int],
        jobs: Iterable[tuple[str, str, Mapping[str, int], int]],
        weights: Mapping[str, float] | None = None,
        *,
        name: str = "market",
    ) -> Market:
        """From plain maps: ``jobs`` are (job, tenant, demand, count); tenants in order of first job."""
        jobs = list(jobs)
        resources = tuple(sorted(set(capacity) | {r for _, _, d, _ in jobs for r in d}))
        tenants: list[str] = list(weights or {})
        for _, tenant, _, _ in jobs:
            if tenant not in tenants:
                tenants.append(tenant)
        return cls(
            resources=resources,
            capacity=tuple(int(capacity.get(r, 0)) for r in resources),
            tenants=tuple(tenants),
            weights={t: float((weights or {}).get(t, 1.0)) for t in tenants},
            jobs=tuple(
                Job(job, tenant, tuple(int(d.get(r, 0)) for r in resources), int(count))
                for job, tenant, d, count in jobs
            ),
            name=name,
        )

    @classmethod
    def from_problem(cls, problem: Problem) -> Market:
        """The pooled view of a Problem: capacity summed over all bins, jobs = items with a tenant."""
        if not problem.tenants:
            raise InputError(
                "the problem declares no tenants (add a tenants: section)", path="tenants"
            )
        jobs = [i for i in problem.items if i.tenant is not None]
        if not jobs:
            raise InputError("no item names a tenant (set tenant: on the items)", path="items")
        resources = tuple(
            r
            for r in problem.resources
            if any(b.capacity.get(r, 0) for b in problem.bins)
            or any(i.demand.get(r, 0) for i in jobs)
        )
        return cls(
            resources=resources,
            capacity=tuple(sum(b.capacity.get(r, 0) for b in problem.bins) for r in resources),
            tenants=tuple(t.name for t in problem.tenants),
            weights={t.name: t.weight for t in problem.tenants},
            priorities={t.name: t.priority for t in problem.tenants},
            jobs=tuple(
                Job(i.name, i.tenant or "", tuple(i.demand.get(r, 0) for r in resources), i.count)
                for i in jobs
            ),
            name=problem.name,
        )

    # ---- lookups
    @cached_property
    def job_by_name(self) -> dict[str, Job]:
        return {j.name: j for j in self.jobs}

    @cached_property
    def _jobs_by_tenant(self) -> dict[str, tuple[Job, ...]]:
        return {t: tuple(j for j in self.jobs if j.tenant == t) for t in self.tenants}

    def jobs_of(self, tenant: str) -> tuple[Job, ...]:
        return self._jobs_by_tenant.get(tenant, ())

    @cached_property
    def active_tenants(self) -> tuple[str, ...]:
        """Tenants that want something (the ones fairness is measured over, as in verify.py)."""
        return tuple(t for t in self.tenants if any(j.count > 0 for j in self.jobs_of(t)))

    def weight(self, tenant: str) -> Fraction:
        return Fraction(self.weights.get(tenant, 1.0)).limit_denominator(10**9)

    def with_jobs(self, jobs: Iterable[Job]) -> Market:
        return replace(self, jobs=tuple(jobs))

    # ---- arithmetic
    def share_of(self, usage: Vector) -> Fraction:
        """Dominant share of a usage vector: max over resources of usage / capacity."""
        return max(
            (Fraction(u, c) for u, c in zip(usage, self.capacity, strict=True) if c > 0),
            default=Fraction(0),
        )

    def task_share(self, job: Job) -> Fraction:
        return self.share_of(job.demand)

    def runnable(self, job: Job) -> bool:
        """Could one task of this job run on the empty pool?"""
        return all(d <= c for d, c in zip(job.demand, self.capacity, strict=True))


def add(a: Vector, b: Vector, times: int = 1) -> Vector:
    return tuple(x + times * y for x, y in zip(a, b, strict=True))


def fits(used: Vector, extra: Vector, capacity: Vector) -> bool:
    return all(u + e <= c for u, e, c in zip(used, extra, capacity, strict=True))


@dataclass(frozen=True)
class Allocation:
    """Tasks granted per job by a mechanism, with the derived usage and shares."""

    market: Market
    tasks: Mapping[str, int]
    mechanism: str
    info: Mapping[str, object] = field(default_factory=dict)

    def tenant_tasks(self, tenant: str) -> int:
        return sum(self.tasks.get(j.name, 0) for j in self.market.jobs_of(tenant))

    def usage(self, tenant: str) -> Vector:
        total: Vector = (0,) * len(self.market.resources)
        for j in self.market.jobs_of(tenant):
            total = add(total, j.demand, self.tasks.get(j.name, 0))
        return total

    def used(self) -> Vector:
        total: Vector = (0,) * len(self.market.resources)
        for t in self.market.tenants:
            total = add(total, self.usage(t))
        return total

    def dominant_share(self, tenant: str) -> Fraction:
        return self.market.share_of(self.usage(tenant))

    def weighted_share(self, tenant: str) -> Fraction:
        return self.dominant_share(tenant) / self.market.weight(tenant)

    def fairness(self) -> Fraction:
        """The IR's ``fairness`` term: min over active tenants of dominant share / weight."""
        shares = [self.weighted_share(t) for t in self.market.active_tenants]
        return min(shares, default=Fraction(0))

    def feasible(self) -> bool:
        return all(u <= c for u, c in zip(self.used(), self.market.capacity, strict=True)) and all(
            0 <= self.tasks.get(j.name, 0) <= j.count for j in self.market.jobs
        )

    def total_tasks(self) -> int:
        return sum(self.tasks.values())
