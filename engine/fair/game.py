"""The declaration game: tenants declare demands, a mechanism allocates, utility = real tasks run.

A tenant's *true* jobs are the market's jobs. Its *declaration* replaces some of them by
misreports; the mechanism allocates on the declarations and each tenant runs as many real tasks
as its granted bundles allow: ``min(true count, min_r floor(bundle_r / true demand_r))``.

The misreports searched (per job of the tenant, and the same change to all its jobs at once):
- each resource's per-task demand scaled by one of ``SCALES`` (1/2, 1, 3/2, 2; rounded up), with
  at least one resource stated truthfully: rescaling every resource re-cuts the unit of work
  (bundling or splitting tasks) rather than misstating what a task needs, and the scheduler runs
  real tasks (so a one-resource job can only misstate its count);
- the task count scaled by one of ``COUNT_SCALES`` (1/2, 1, 2; rounded up).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from solvers.deadline import Deadline

from .market import Allocation, Job, Market

Mechanism = Callable[[Market], Allocation]
Profile = dict[str, Job]  # job name -> declared job

SCALES: tuple[Fraction, ...] = (Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(2))
COUNT_SCALES: tuple[Fraction, ...] = (Fraction(1, 2), Fraction(1), Fraction(2))
MAX_ROUNDS = 50


def _scaled(value: int, factor: Fraction) -> int:
    return math.ceil(value * factor)


def bundle_of(alloc: Allocation, job: Job) -> tuple[Fraction, ...]:
    """What a job really receives: the mechanism's bundle, or granted tasks × declared demand."""
    bundles = alloc.info.get("bundles")
    if isinstance(bundles, Mapping) and job.name in bundles:
        return tuple(bundles[job.name])
    n = alloc.tasks.get(job.name, 0)
    return tuple(Fraction(d * n) for d in job.demand)


def real_tasks(true_job: Job, bundle: tuple[Fraction, ...]) -> int:
    per = [b / d for b, d in zip(bundle, true_job.demand, strict=True) if d > 0]
    if not per:
        return true_job.count if any(bundle) or true_job.count == 0 else 0
    return min(true_job.count, math.floor(min(per)))


def utilities(truth: Market, alloc: Allocation) -> dict[str, int]:
    """Real tasks run per tenant when ``alloc`` was computed on (possibly false) declarations."""
    out = dict.fromkeys(truth.tenants, 0)
    for job in truth.jobs:
        declared = alloc.market.job_by_name.get(job.name)
        if declared is not None:
            out[job.tenant] += real_tasks(job, bundle_of(alloc, declared))
    return out


def misreports(job: Job) -> Iterator[Job]:
    """Every documented misreport of one job (the truthful one excluded)."""
    needed = [r for r, d in enumerate(job.demand) if d > 0]
    for factors in itertools.product(SCALES, repeat=len(needed)):
        if 1 not in factors:
            continue  # every resource rescaled: re-cuts the unit of work (bundling / splitting)
        demand = list(job.demand)
        for r, f in zip(needed, factors, strict=True):
            demand[r] = max(1, _scaled(demand[r], f))
        for cf in COUNT_SCALES:
            candidate = replace(job, demand=tuple(demand), count=max(1, _scaled(job.count, cf)))
            if candidate != job:
                yield candidate


def declarations(truth: Market, tenant: str) -> Iterator[dict[str, Job]]:
    """Misreports of a tenant: one job changed, or all its jobs changed the same way."""
    jobs = truth.jobs_of(tenant)
    for job in jobs:
        for fake in misreports(job):
            yield {job.name: fake}
    if len(jobs) > 1:
        variants = [list(misreports(j)) for j in jobs]
        for k in range(min(len(v) for v in variants)):
            yield {j.name: v[k] for j, v in zip(jobs, variants, strict=True)}


def allocate(mechanism: Mechanism, truth: Market, profile: Mapping[str, Job]) -> Allocation:
    return mechanism(truth.with_jobs(profile.get(j.name, j) for j in truth.jobs))


@dataclass(frozen=True)
class Deviation:
    tenant: str
    declared: dict[str, Job]
    utility_truthful: int
    utility_misreport: int

    def describe(self, truth: Market) -> str:
        parts = []
        for name, fake in self.declared.items():
            real = truth.job_by_name[name]
            parts.append(
                f"{name}: declares {fake.count}×{dict(zip(truth.resources, fake.demand, strict=True))}"
                f" instead of {real.count}×{dict(zip(truth.resources, real.demand, strict=True))}"
            )
        return (
            f"{self.tenant} runs {self.utility_misreport} tasks instead of "
            f"{self.utility_truthful} when it misreports ({'; '.join(parts)})"
        )


class Stopped(Exception):
    """The time limit (or Ctrl-C) ended a best response before every declaration was tried."""


def best_response(
    mechanism: Mechanism,
    truth: Market,
    profile: Mapping[str, Job],
    tenant: str,
    deadline: Deadline | None = None,
) -> tuple[dict[str, Job], int, int]:
    """(declaration, its utility, utility of the current declaration) for one tenant.

    The current declaration is kept unless a misreport (or the truth) is strictly better.
    Raises ``Stopped`` when ``deadline`` passes before every declaration was tried.
    """
    current = {j.name: profile.get(j.name, j) for j in truth.jobs_of(tenant)}
    base = utilities(truth, allocate(mechanism, truth, profile))[tenant]
    best, best_u = current, base
    candidates: list[dict[str, Job]] = [{j.name: j for j in truth.jobs_of(tenant)}]
    candidates.extend(declarations(truth, tenant))
    for declared in candidates:
        if deadline is not None and deadline.expired():
            raise Stopped
        trial = {**profile, **declared}
        u = utilities(truth, allocate(mechanism, truth, trial))[tenant]
        if u > best_u:
            best, best_u = {**current, **declared}, u
    return best, best_u, base


def profitable_misreport(
    mechanism: Mechanism, truth: Market, deadline: Deadline | None = None
) -> Deviation | None:
    """The first tenant that gains by lying while everyone else tells the truth (None: none found).

    Raises ``Stopped`` when ``deadline`` passes (or Ctrl-C) before every misreport was tried."""
    honest = utilities(truth, mechanism(truth))
    for tenant in truth.active_tenants:
        for declared in declarations(truth, tenant):
            if deadline is not None and deadline.expired():
                raise Stopped
            u = utilities(truth, allocate(mechanism, truth, declared))[tenant]
            if u > honest[tenant]:
                return Deviation(tenant, declared, honest[tenant], u)
    return None


@dataclass(frozen=True)
class Equilibrium:
    profile: dict[str, Job]
    utilities: dict[str, int]
    converged: bool  # a pure Nash equilibrium (over the misreport set) was reached
    rounds: int
    cycle: list[dict[str, Any]] = field(default_factory=list)  # the repeating profiles, if any
    history: list[int] = field(default_factory=list)  # total real tasks after each round
    stopped: bool = False  # the time limit (or Ctrl-C) ended the dynamics first
    best_responses: int = 0  # tenants' best responses computed to the end

    def liars(self, truth: Market) -> list[str]:
        return sorted(
            {
                truth.job_by_name[n].tenant
                for n, j in self.profile.items()
                if j != truth.job_by_name[n]
            }
        )


def _key(profile: Mapping[str, Job]) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    return tuple(sorted((n, j.demand, j.count) for n, j in profile.items()))


def best_response_dynamics(
    mechanism: Mechanism,
    truth: Market,
    *,
    max_rounds: int = MAX_ROUNDS,
    deadline: Deadline | None = None,
    on_turn: Callable[[int, int, int], None] | None = None,
) -> Equilibrium:
    """Round-robin best responses from the truthful profile until nobody moves.

    Stops for sure: on a round where nobody changes (an equilibrium), on a profile seen before at
    the start of a round (a cycle: the dynamics would repeat forever), after ``max_rounds``, or
    when ``deadline`` passes (or Ctrl-C asks for a stop): then the profile reached so far is
    returned with ``stopped`` set, its last best response left out. ``on_turn(round, tenant
    index, tenants)`` is called before each tenant's best response (progress).
    """
    profile: Profile = {j.name: j for j in truth.jobs}
    seen: dict[Any, int] = {}
    starts: list[Profile] = []
    history: list[int] = []
    done = 0

    def result(converged: bool, rounds: int, **extra: Any) -> Equilibrium:
        u = utilities(truth, allocate(mechanism, truth, profile))
        return Equilibrium(
            profile, u, converged, rounds, history=history, best_responses=done, **extra
        )

    for rounds in range(1, max_rounds + 1):
        key = _key(profile)
        if key in seen:
            loop = starts[seen[key] :]
            cycle = [
                {n: (j.count, j.demand) for n, j in p.items() if j != truth.job_by_name[n]}
                for p in loop
            ]
            return result(False, rounds - 1, cycle=cycle)
        seen[key] = len(starts)
        starts.append(dict(profile))
        moved = False
        for index, tenant in enumerate(truth.active_tenants):
            if on_turn is not None:
                on_turn(rounds, index, len(truth.active_tenants))
            try:
                declared, u_new, u_old = best_response(mechanism, truth, profile, tenant, deadline)
            except Stopped:
                return result(False, rounds, stopped=True)
            done += 1
            if u_new > u_old:
                profile.update(declared)
                moved = True
        history.append(sum(utilities(truth, allocate(mechanism, truth, profile)).values()))
        if not moved:
            return result(True, rounds)
    return result(False, max_rounds)


def price_of_anarchy(optimum: int, equilibrium_welfare: int) -> float:
    """Utilitarian optimum (real tasks) over the tasks run at the equilibrium (≥ 1; inf if 0)."""
    if equilibrium_welfare <= 0:
        return math.inf if optimum > 0 else 1.0
    return optimum / equilibrium_welfare
