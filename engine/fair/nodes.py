"""DRF on real nodes: the IR's ``fairness`` objective solved by a backend, so every task granted
actually fits on a node; and how far the pooled answer overstates what fits."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from ..ir import Problem
from ..solution import Solution
from .drf import drf
from .market import Allocation, Market

MIN_SOLVE_SECONDS = 0.1  # less than this left: the overstatement's solve is not started


def fairness_problem(problem: Problem) -> Problem:
    """The same cluster with objective [fairness, placed]: max-min weighted dominant share, then tasks."""
    return problem.model_copy(update={"objective": ({"fairness": 1.0}, {"placed": 1.0})})


def drf_nodes(
    problem: Problem,
    backend: str = "cpsat",
    *,
    time_limit: float | None = 10.0,
    threads: int | None = 1,
    seed: int = 0,
) -> tuple[Allocation, Solution]:
    """Solve [fairness, placed] on the nodes; the allocation counts the tasks of the verified plan."""
    from ..solve import solve

    solution = solve(
        fairness_problem(problem), backend, time_limit=time_limit, threads=threads, seed=seed
    )
    market = Market.from_problem(problem)
    per_item: dict[str, int] = defaultdict(int)
    if solution.status.has_plan:
        for p in solution.placements:
            per_item[p.item] += p.count
    tasks = {j.name: per_item.get(j.name, 0) for j in market.jobs}
    info = {"status": str(solution.status), "backend": backend, "seconds": solution.seconds}
    return Allocation(market, tasks, "drf-nodes", info), solution


@dataclass(frozen=True)
class Overstatement:
    """What pooled DRF promises against what fits on the nodes.

    ``fitting_tasks`` is how many of the pooled allocation's own tasks can really be placed
    (solved exactly with [placed] on the nodes); ``nodes_*`` is DRF solved on the nodes.
    """

    pooled_tasks: int
    fitting_tasks: int | None  # None: the backend found no plan in time
    nodes_tasks: int
    pooled_fairness: Fraction
    nodes_fairness: Fraction

    @property
    def tasks(self) -> int | None:
        return None if self.fitting_tasks is None else self.pooled_tasks - self.fitting_tasks

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "pooled_tasks": self.pooled_tasks,
            "pooled_tasks_that_fit": self.fitting_tasks,
            "overstated_tasks": self.tasks,
            "nodes_tasks": self.nodes_tasks,
            "pooled_fairness": float(self.pooled_fairness),
            "nodes_fairness": float(self.nodes_fairness),
        }


def placeable(
    problem: Problem, alloc: Allocation, backend: str = "cpsat", time_limit: float | None = 10.0
) -> int | None:
    """How many of an allocation's tasks fit on the real nodes (max placed, counts capped);
    None when the backend finds no plan in the time given (or there is none left)."""
    from ..solve import solve

    began = time.perf_counter()
    items = tuple(
        i.model_copy(update={"count": alloc.tasks[i.name], "placed": {}, "required": False})
        for i in problem.items
        if alloc.tasks.get(i.name, 0) > 0
    )
    if not items:
        return 0
    capped = problem.model_copy(
        update={"items": items, "objective": ({"placed": 1.0},), "constraints": ()}
    )
    capped = Problem.model_validate(capped.model_dump(by_alias=True))
    if time_limit is not None:  # building the capped problem counts too
        time_limit -= time.perf_counter() - began
        if time_limit < MIN_SOLVE_SECONDS:
            return None
    solution = solve(capped, backend, time_limit=time_limit, threads=1)
    return sum(p.count for p in solution.placements) if solution.status.has_plan else None


def overstatement(
    problem: Problem,
    nodes: Allocation,
    pooled: Allocation | None = None,
    *,
    backend: str = "cpsat",
    time_limit: float | None = 10.0,
) -> Overstatement:
    """``time_limit`` covers the pooled allocation too (seconds, on a large market)."""
    began = time.perf_counter()
    # the pool's best promise: work-conserving DRF (every task that fits the pooled sum runs)
    pooled = pooled or drf(Market.from_problem(problem), work_conserving=True)
    left = None if time_limit is None else time_limit - (time.perf_counter() - began)
    fitting = placeable(problem, pooled, backend, left)  # at once: the clock was just read
    return Overstatement(
        pooled.total_tasks(),
        fitting,
        nodes.total_tasks(),
        pooled.fairness(),
        nodes.fairness(),
    )
