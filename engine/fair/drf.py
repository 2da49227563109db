"""Dominant Resource Fairness by progressive filling, exact on discrete tasks (Ghodsi et al., NSDI 2011).

Repeatedly give one task to the tenant with the lowest weighted dominant share (ties to the tenant
listed first). A tenant with several jobs takes its next task from its first job that still has
tasks and fits. Shares are exact fractions.

Two stop rules:
- the paper's (default): stop as soon as the next task of the lowest-share tenant does not fit.
  On discrete tasks this keeps DRF's strategy-proofness and envy-freeness (up to one task), but
  may leave resources idle that another tenant could use;
- ``work_conserving=True``: drop the blocked tenant and keep filling for the others (Pareto
  efficient), at the price of strategy-proofness: a tenant can then over-claim a resource early
  to crowd out a tenant with large tasks, and gain (placer's property check finds such cases).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from fractions import Fraction

from .market import Allocation, Job, Market, Vector, add, fits
from .water_level import progressive_filling


@dataclass(frozen=True)
class Step:
    """One pick of progressive filling (for traces and explanations)."""

    tenant: str
    job: str
    share_before: Fraction
    share_after: Fraction
    used: Vector


def drf(
    market: Market,
    *,
    work_conserving: bool = False,
    trace: bool = False,
) -> Allocation:
    """Weighted DRF on the pooled capacity. ``trace`` records every pick in ``info["steps"]``.

    Without a trace the same allocation is computed in jumps (``water_level.py``); the loop below
    is the definition, kept for the trace and as the reference the jumps are tested against.
    """
    if not trace:
        tasks, stopped_by = progressive_filling(market, work_conserving=work_conserving)
        return Allocation(
            market, tasks, "drf", {"blocked": stopped_by, "work_conserving": work_conserving}
        )
    tasks = {j.name: 0 for j in market.jobs}
    used: Vector = (0,) * len(market.resources)
    usage = {t: used for t in market.tenants}
    order = {t: n for n, t in enumerate(market.tenants)}
    heap = [(Fraction(0), order[t], t) for t in market.active_tenants]
    heapq.heapify(heap)
    steps: list[Step] = []
    blocked: str | None = None

    def next_job(tenant: str) -> Job | None:
        for j in market.jobs_of(tenant):
            if tasks[j.name] < j.count and fits(used, j.demand, market.capacity):
                return j
        return None

    while heap:
        share, _, tenant = heapq.heappop(heap)
        job = next_job(tenant)
        if job is None:
            if any(tasks[j.name] < j.count for j in market.jobs_of(tenant)):
                blocked = blocked or tenant
                if not work_conserving:
                    break
            continue  # finished or blocked: its usage only grows from here, so it never fits again
        tasks[job.name] += 1
        used = add(used, job.demand)
        usage[tenant] = add(usage[tenant], job.demand)
        after = market.share_of(usage[tenant]) / market.weight(tenant)
        if trace:
            steps.append(Step(tenant, job.name, share, after, used))
        heapq.heappush(heap, (after, order[tenant], tenant))
    info: dict[str, object] = {"blocked": blocked, "work_conserving": work_conserving}
    if trace:
        info["steps"] = steps
    return Allocation(market, tasks, "drf", info)


def drf_work_conserving(market: Market) -> Allocation:
    return drf(market, work_conserving=True)
