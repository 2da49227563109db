"""Benchmark of the mechanisms: ``python -m bench.fair [TENANTS NODES TIME_LIMIT]``.

Per mechanism: seconds, tasks run, utilisation per resource, Jain's index over weighted dominant
shares, min weighted share; and the pooled-vs-nodes DRF overstatement.
"""

from __future__ import annotations

import sys
import time

from engine.fair import POOLED_MECHANISMS
from engine.fair.generate import tenants_problem
from engine.fair.market import Allocation, Market
from engine.fair.nodes import drf_nodes, overstatement
from engine.fair.report import jain


def main(tenants: int = 50, nodes: int = 1000, time_limit: float = 60.0) -> None:
    problem = tenants_problem(tenants, nodes, seed=0)
    market = Market.from_problem(problem)
    demand = sum(j.count for j in market.jobs)
    print(f"{tenants} tenants, {len(market.jobs)} jobs, {demand} tasks asked, {nodes} nodes")
    print(
        f"{'mechanism':<12} {'seconds':>8} {'tasks':>7} {'cpu%':>6} {'mem%':>6} {'jain':>6} {'min share':>10}"
    )
    results = {}
    for name in ("drf", "drf-wc", "kueue", "utilitarian", "nash", "proportional"):
        start = time.perf_counter()
        alloc = POOLED_MECHANISMS[name](market)
        results[name] = alloc
        _row(name, time.perf_counter() - start, alloc, market)
    start = time.perf_counter()
    nodes_alloc, solution = drf_nodes(problem, "cpsat", time_limit=time_limit, threads=1)
    _row("drf-nodes", time.perf_counter() - start, nodes_alloc, market, str(solution.status))
    start = time.perf_counter()
    over = overstatement(problem, nodes_alloc, results["drf-wc"], time_limit=time_limit)
    print(f"overstatement ({time.perf_counter() - start:.1f}s): {over.as_dict()}")


def _row(name: str, seconds: float, alloc: Allocation, market: Market, note: str = "") -> None:
    used = alloc.used()
    pct = [100 * u / c if c else 0 for u, c in zip(used, market.capacity, strict=True)]
    shares = [float(alloc.weighted_share(t)) for t in market.active_tenants]
    print(
        f"{name:<12} {seconds:8.2f} {alloc.total_tasks():7d} {pct[0]:6.1f} {pct[1]:6.1f} "
        f"{jain(shares):6.3f} {float(alloc.fairness()):10.4f} {note}"
    )


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    main(
        int(args[0]) if args else 50,
        int(args[1]) if len(args) > 1 else 1000,
        args[2] if len(args) > 2 else 60.0,
    )
