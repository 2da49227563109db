"""Benchmark of ``placer migrate``: ``python -m bench.migrate [NODES MOVED SEEDS TIME_LIMIT]``.

Generated consolidation scenarios (engine.migrate.scenario): per seed the pods, the moves, the
proved lower bound on steps, the steps found, their ratio, the search's seconds, and the seconds of
the independent step-by-step check.
"""

from __future__ import annotations

import sys
import time

from engine.migrate.check import check_plan
from engine.migrate.run import migrate
from engine.migrate.scenario import consolidation


def main(
    nodes: int = 200,
    moved: float = 0.3,
    seeds: int = 5,
    time_limit: float = 10.0,
    fill: float = 0.9,
) -> None:
    print(f"{nodes} nodes, {moved:.0%} of the pods moved, time limit {time_limit:g}s")
    print(
        f"{'seed':>4} {'pods':>6} {'moves':>6} {'bound':>6} {'steps':>6} {'ratio':>6} "
        f"{'search s':>9} {'check s':>8} status"
    )
    ratios = []
    for seed in range(seeds):
        problem, target = consolidation(nodes, moved, seed=seed, fill=fill)
        pods = sum(g.count for g in problem.items)
        start = time.perf_counter()
        plan = migrate(problem, target, time_limit=time_limit)
        search = time.perf_counter() - start
        start = time.perf_counter()
        violations = check_plan(problem, target.counts(), plan) if plan.steps else ["no steps"]
        check = time.perf_counter() - start
        bound = plan.lower_bound.steps if plan.lower_bound else 0
        ratio = len(plan.steps) / bound if bound and plan.steps else float("nan")
        ratios.append(ratio)
        status = f"{plan.status}{'' if not violations else ' INVALID'}"
        print(
            f"{seed:>4} {pods:>6} {plan.moves:>6} {bound:>6} {len(plan.steps):>6} {ratio:>6.3f} "
            f"{search:>9.2f} {check:>8.2f} {status}"
        )
    print(f"worst steps / bound: {max(ratios):.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 200,
        float(args[1]) if len(args) > 1 else 0.3,
        int(args[2]) if len(args) > 2 else 5,
        float(args[3]) if len(args) > 3 else 10.0,
        float(args[4]) if len(args) > 4 else 0.9,
    )
