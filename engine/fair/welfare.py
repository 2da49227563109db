"""Welfare mechanisms on pooled capacity, for comparison with DRF: utilitarian and Nash social welfare.

Both are small integer programs over tasks per job, solved exactly with SciPy's HiGHS MILP.
Nash social welfare maximises Σ_t w_t·log(u_t), u_t = tasks run by tenant t, as a concave
piecewise-linear function (secants through breakpoints: every integer up to 64, then a geometric
grid), so it is exact at the breakpoints. Every tenant that can run a task gets at least one when
that is possible (log 0 = −∞); otherwise log(1 + u) is used.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..errors import PlacerError
from .market import Allocation, Market

_DENSE_UP_TO = 64
MIN_SECONDS = 0.01  # HiGHS is given at least this (no time left: its first feasible plan, or none)
_GROWTH = 1.25


def _breakpoints(top: int) -> list[int]:
    points = list(range(1, min(top, _DENSE_UP_TO) + 1))
    x = float(points[-1]) if points else 1.0
    while points and points[-1] < top:
        x *= _GROWTH
        nxt = min(top, max(points[-1] + 1, math.floor(x)))
        points.append(nxt)
    return points


def _solve(market: Market, nash: bool, *, time_limit: float | None = None) -> Allocation:
    from scipy.optimize import Bounds, LinearConstraint, milp

    jobs = [j for j in market.jobs if j.count > 0 and market.runnable(j)]
    tenants = [t for t in market.active_tenants if any(j.tenant == t for j in jobs)]
    nj, nt = len(jobs), len(tenants) if nash else 0
    if nj == 0:
        return Allocation(
            market, {j.name: 0 for j in market.jobs}, "nash" if nash else "utilitarian"
        )
    tix = {t: k for k, t in enumerate(tenants)}
    rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    # capacity, per resource (scaled to the capacity so the matrix stays well conditioned)
    for r, cap in enumerate(market.capacity):
        if not any(j.demand[r] for j in jobs):
            continue
        row = np.zeros(nj + nt)
        row[:nj] = [j.demand[r] / max(cap, 1) for j in jobs]
        rows.append(row)
        lo.append(-np.inf)
        hi.append(cap / max(cap, 1))
    c = np.zeros(nj + nt)
    lower = np.zeros(nj + nt)
    upper = np.array([float(j.count) for j in jobs] + [np.inf] * nt)
    if not nash:
        c[:nj] = -1.0
    else:
        tops = {t: sum(j.count for j in jobs if j.tenant == t) for t in tenants}
        # at least one task per tenant if the cheapest tasks of all tenants fit together
        cheapest = [min((j for j in jobs if j.tenant == t), key=market.task_share) for t in tenants]
        one_each = all(
            sum(j.demand[r] for j in cheapest) <= market.capacity[r]
            for r in range(len(market.resources))
        )
        offset = 0 if one_each else 1
        for t in tenants:
            k = nj + tix[t]
            w = float(market.weight(t))
            c[k] = -w
            lower[k] = -np.inf
            pts = [p + offset for p in _breakpoints(tops[t])]
            if not one_each:
                pts = [1, *pts]
            prev = pts[0]
            members = [n for n, j in enumerate(jobs) if j.tenant == t]
            for p in pts[1:] + ([] if len(pts) > 1 else [pts[0] + 1]):
                # t_k <= log(prev) + slope·(u + offset − prev)
                slope = (math.log(p) - math.log(prev)) / (p - prev)
                row = np.zeros(nj + nt)
                row[k] = 1.0
                for n in members:
                    row[n] = -slope
                rows.append(row)
                lo.append(-np.inf)
                hi.append(math.log(prev) + slope * (offset - prev))
                prev = p
            if one_each:
                row = np.zeros(nj + nt)
                for n in members:
                    row[n] = 1.0
                rows.append(row)
                lo.append(1.0)
                hi.append(np.inf)
        c[:nj] = -1e-6  # among equal welfare, run more tasks
    integrality = np.array([1] * nj + [0] * nt)
    # HiGHS' own limit (a limit of 0 is a limit, not none): the best plan found by then
    options = {} if time_limit is None else {"time_limit": max(MIN_SECONDS, time_limit)}
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=integrality,
        bounds=Bounds(lower, upper),
        options=options,
    )
    if res.x is None:
        raise PlacerError(f"welfare MILP failed: {res.message}")
    tasks = {j.name: 0 for j in market.jobs}
    for n, j in enumerate(jobs):
        tasks[j.name] = round(res.x[n])
    # guard against solver tolerance: drop tasks until feasible
    info = {"status": res.message, "optimal": res.status == 0}
    alloc = Allocation(market, tasks, "nash" if nash else "utilitarian", info)
    while not alloc.feasible():
        worst = max((j for j in jobs if tasks[j.name] > 0), key=market.task_share)
        tasks[worst.name] -= 1
        alloc = Allocation(market, tasks, alloc.mechanism, alloc.info)
    return alloc


def utilitarian(market: Market, *, time_limit: float | None = None) -> Allocation:
    """Maximise the total number of tasks run (no regard for who runs them)."""
    return _solve(market, nash=False, time_limit=time_limit)


def nash(market: Market, *, time_limit: float | None = None) -> Allocation:
    """Maximise Σ w_t·log(tasks_t), piecewise-linear."""
    return _solve(market, nash=True, time_limit=time_limit)


def nash_welfare(alloc: Allocation) -> float:
    """Σ w·log(u) of an allocation (−inf when an active tenant runs nothing)."""
    total = 0.0
    for t in alloc.market.active_tenants:
        u = alloc.tenant_tasks(t)
        if u == 0:
            return -math.inf
        total += float(alloc.market.weight(t)) * math.log(u)
    return total


def proportional(market: Market) -> Allocation:
    """The naive mechanism: each resource split in proportion to the declared total demand.

    Job j declares ``count × demand``; on a resource whose declared total exceeds capacity, j gets
    capacity × its declared amount / the declared total. Its bundle is kept in ``info["bundles"]``
    (it is what the tenant really receives, whatever it can run with it).
    """
    totals = [sum(j.demand[r] * j.count for j in market.jobs) for r in range(len(market.resources))]
    bundles: dict[str, tuple[Fraction, ...]] = {}
    tasks: dict[str, int] = {}
    for j in market.jobs:
        bundle = []
        for r, cap in enumerate(market.capacity):
            asked = j.demand[r] * j.count
            if totals[r] <= cap or asked == 0:
                bundle.append(Fraction(asked))
            else:
                bundle.append(Fraction(cap * asked, totals[r]))
        bundles[j.name] = tuple(bundle)
        per = [b / d for b, d in zip(bundle, j.demand, strict=True) if d > 0]
        tasks[j.name] = min(j.count, math.floor(min(per))) if per else j.count
    return Allocation(market, tasks, "proportional", {"bundles": bundles})
