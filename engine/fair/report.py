"""``placer fair``: one mechanism on one problem, per-tenant results, optional game and checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from solvers.deadline import Deadline

from ..errors import InputError, PlacerError
from ..ir import Problem
from . import MECHANISMS, POOLED_MECHANISMS
from .game import best_response_dynamics, price_of_anarchy, utilities
from .market import Allocation, Market
from .properties import allocation_checks, check_all, check_random
from .welfare import nash, utilitarian

WELFARE_MILPS = {"nash": nash, "utilitarian": utilitarian}  # mechanisms that take a time limit

# drf-nodes: the share of the time limit for DRF on the nodes (the answer); the rest, after the
# pooled allocation, for how many of the pooled answer's tasks fit (each solve had the whole
# limit: a 3 s limit took 8.9-10 s)
NODES_SHARE = 0.6
# --check with --equilibrium: the checks' share of the time left, the game gets the rest
CHECKS_SHARE = 0.5
# --equilibrium: the utilitarian optimum's share of the time left (the MILP had no limit)
OPTIMUM_SHARE = 0.3


def jain(values: list[float]) -> float:
    """Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes all."""
    if not values or not any(values):
        return 1.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def allocate(
    problem: Problem,
    mechanism: str,
    *,
    backend: str = "cpsat",
    time_limit: float | None = 10.0,
    threads: int | None = 1,
) -> Allocation:
    if mechanism not in MECHANISMS:
        raise InputError(f"unknown mechanism {mechanism!r}; choose from {', '.join(MECHANISMS)}")
    if mechanism == "drf-nodes":
        from .nodes import drf_nodes

        return drf_nodes(problem, backend, time_limit=time_limit, threads=threads)[0]
    market = Market.from_problem(problem)
    if mechanism in WELFARE_MILPS:  # HiGHS' own limit: the best allocation found by then
        return WELFARE_MILPS[mechanism](market, time_limit=time_limit)
    return POOLED_MECHANISMS[mechanism](market)


def fair_report(
    problem: Problem,
    mechanism: str,
    *,
    equilibrium: bool = False,
    check: bool = False,
    backend: str = "cpsat",
    time_limit: float | None = 10.0,
    random_instances: int = 20,
    seed: int = 0,
    threads: int | None = 1,
    on_turn: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """The JSON document of ``placer fair --json``. ``time_limit`` covers the command: the solves
    of ``drf-nodes``, the property checks and the declaration game (both stop where they are
    when time is up and say so); ``on_turn(round, tenant index, tenants)`` follows the game."""
    start = time.perf_counter()  # the limit counts from here: the market's build too
    market = Market.from_problem(problem)
    # drf-nodes: ``time_limit`` covers both solves (DRF on the nodes, then the overstatement)
    nodes_limit = None if time_limit is None else NODES_SHARE * time_limit
    alloc = allocate(problem, mechanism, backend=backend, time_limit=nodes_limit, threads=threads)
    seconds = time.perf_counter() - start
    util = utilities(market, alloc)
    tenants = [
        {
            "name": t,
            "tasks": alloc.tenant_tasks(t),
            "dominant_share": float(alloc.dominant_share(t)),
            "utility": util[t],
            "weight": market.weights.get(t, 1.0),
            "demand": sum(j.count for j in market.jobs_of(t)),
        }
        for t in market.tenants
    ]
    used = alloc.used()
    doc: dict[str, Any] = {
        "mechanism": mechanism,
        "tenants": tenants,
        "checks": {},
        "summary": {
            "tasks": alloc.total_tasks(),
            "fairness": float(alloc.fairness()),
            "utilisation": {
                r: (u / c if c else 0.0)
                for r, u, c in zip(market.resources, used, market.capacity, strict=True)
            },
            "jain": jain([float(alloc.weighted_share(t)) for t in market.active_tenants]),
            "seconds": round(seconds, 4),
        },
    }
    if mechanism == "drf-nodes":
        from .nodes import overstatement

        left = None if time_limit is None else time_limit - (time.perf_counter() - start)
        doc["summary"]["pooled_overstatement"] = overstatement(
            problem, alloc, backend=backend, time_limit=left
        ).as_dict()
        doc["summary"]["solver"] = dict(alloc.info)
    deadline = Deadline.within(start, time_limit)
    if check:
        share = CHECKS_SHARE if equilibrium else 1.0
        checks_deadline = Deadline.after(share * deadline.left())
        doc["checks"] = _checks(mechanism, market, alloc, random_instances, seed, checks_deadline)
    if equilibrium:
        doc["equilibrium"] = _equilibrium(mechanism, market, deadline, on_turn)
    return doc


def _checks(
    mechanism: str,
    market: Market,
    alloc: Allocation,
    random_instances: int,
    seed: int,
    deadline: Deadline,
) -> dict[str, Any]:
    if mechanism == "drf-nodes":
        out = {name: c.as_dict() for name, c in allocation_checks(alloc, deadline).items()}
        out["strategy_proof"] = {
            "ok": None,
            "skipped": "needs a solve per misreport; see --mechanism drf",
        }
        return out
    mech = POOLED_MECHANISMS[mechanism]
    out = {name: c.as_dict() for name, c in check_all(mech, market, deadline=deadline).items()}
    if random_instances > 0:
        rand = check_random(mech, instances=random_instances, seed=seed, deadline=deadline)
        out["random"] = {name: c.as_dict() for name, c in rand.items()}
    return out


def _equilibrium(
    mechanism: str,
    market: Market,
    deadline: Deadline | None = None,
    on_turn: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    if mechanism == "drf-nodes":
        return {
            "skipped": "best responses on nodes need a solve per misreport; use --mechanism drf"
        }
    # first, within its share of the limit: the game stops where the limit is
    limit = None if deadline is None else deadline.part(OPTIMUM_SHARE).native_seconds()
    try:
        best = utilitarian(market, time_limit=limit)
        optimum = best.total_tasks() if best.info.get("optimal") else None
    except PlacerError:  # no plan within the limit
        optimum = None
    eq = best_response_dynamics(
        POOLED_MECHANISMS[mechanism], market, deadline=deadline, on_turn=on_turn
    )
    welfare = sum(eq.utilities.values())
    # the optimum only where the MILP proved it (None: not within its share of the limit)
    anarchy = None if optimum is None else price_of_anarchy(optimum, welfare)
    return {
        "converged": eq.converged,
        "stopped": eq.stopped,
        "best_responses": eq.best_responses,
        "rounds": eq.rounds,
        "cycle": eq.cycle,
        "liars": eq.liars(market),
        "utilities": eq.utilities,
        "welfare": welfare,
        "utilitarian_optimum": optimum,
        "price_of_anarchy": anarchy,
        "declarations": {
            n: {"count": j.count, "demand": dict(zip(market.resources, j.demand, strict=True))}
            for n, j in eq.profile.items()
            if j != market.job_by_name[n]
        },
    }
