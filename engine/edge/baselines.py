"""Baselines edge simulators compare against, and a side-by-side comparison with the backends.

- ``cloud-only``: every task on the cloud node where it is fastest, while there is room.
- ``edge-first``: iFogSim's edgewards placement: each task on the nearest tier that has room
  (its own device, then edge servers, then the cloud), the fastest node within a tier first.

Both place replicas one at a time in the problem's order, respect each task's allowed nodes and
node capacities, and leave a task unplaced when nothing fits. Their plans go through the same
verifier as every backend's.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import PlacerError
from ..ir import ItemGroup, Problem
from ..solution import Solution, Status
from ..verify import certify
from .metrics import TIER_LABEL, EdgeMetrics, edge_metrics

TIER_RANK = {"device": 0, "edge": 1, "cloud": 2}
Ranking = Callable[[Problem, ItemGroup], list[str]]


def _cloud_only(problem: Problem, item: ItemGroup) -> list[str]:
    bins = [
        b
        for b in problem.eligible(item.name)
        if problem.bin_by_name[b].labels.get(TIER_LABEL) == "cloud"
    ]
    return sorted(bins, key=lambda b: item.cost.get(b, 0.0))


def _edge_first(problem: Problem, item: ItemGroup) -> list[str]:
    def rank(b: str) -> tuple[int, float]:
        tier = problem.bin_by_name[b].labels.get(TIER_LABEL, "")
        return TIER_RANK.get(tier, len(TIER_RANK)), item.cost.get(b, 0.0)

    return sorted(problem.eligible(item.name), key=rank)


BASELINES: dict[str, Ranking] = {"cloud-only": _cloud_only, "edge-first": _edge_first}


def first_fit(problem: Problem, name: str, ranking: Ranking) -> Solution:
    """Place replicas one by one on the first node of the ranking with room."""
    start = time.perf_counter()
    free: dict[str, dict[str, int]] = {b.name: dict(b.capacity) for b in problem.bins}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in problem.items:
        order = ranking(problem, item)
        for _ in range(item.count):
            for b in order:
                room = free[b]
                if all(room.get(r, 0) >= n for r, n in item.demand.items()):
                    for r, n in item.demand.items():
                        room[r] = room.get(r, 0) - n
                    counts[(item.name, b)] += 1
                    break
    solution = Solution.from_counts(
        problem, name, Status.FEASIBLE, counts, seconds=time.perf_counter() - start
    )
    return certify(problem, solution)


def baseline(problem: Problem, name: str) -> Solution:
    if name not in BASELINES:
        raise PlacerError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return first_fit(problem, name, BASELINES[name])


@dataclass(frozen=True)
class Row:
    method: str
    status: str
    seconds: float
    objective: tuple[float, ...]
    bound: tuple[float | None, ...] | None
    traffic: float
    metrics: EdgeMetrics | None
    error: str | None = None


def compare(
    problem: Problem,
    methods: Sequence[str],
    *,
    time_limit: float | None = None,
    threads: int | None = 1,
    seed: int = 0,
    relaxed: Problem | None = None,
) -> list[Row]:
    """Run baselines and backends on one problem; every plan verified, metrics side by side.

    With ``relaxed`` (the same topology built with ``enforce_bounds=False``), the baselines run
    there, as simulators run them: tasks go where the rule puts them even past their latency
    bound, and the metrics count them as late instead of unplaced.
    """
    from ..solve import solve
    from ..verify import term_values

    rows = []
    for method in methods:
        target = relaxed if relaxed is not None and method in BASELINES else problem
        try:
            if method in BASELINES:
                solution = baseline(target, method)
            else:
                solution = solve(problem, method, time_limit=time_limit, threads=threads, seed=seed)
        except PlacerError as exc:
            rows.append(Row(method, "error", 0.0, (), None, 0.0, None, str(exc)))
            continue
        has_plan = solution.status.has_plan and solution.verified
        counts = solution.counts() if has_plan else {}
        rows.append(
            Row(
                method=method,
                status=str(solution.status),
                seconds=solution.seconds,
                objective=solution.objective,
                bound=solution.bound,
                traffic=term_values(target, counts)["traffic"] if has_plan else 0.0,
                metrics=edge_metrics(target, counts) if has_plan else None,
            )
        )
    return rows
