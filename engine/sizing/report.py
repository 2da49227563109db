"""How a plan serves its sized groups: replicas placed against those their targets need, and the
queue each placed count gives (utilisation, probability of waiting, mean and p99 wait)."""

from __future__ import annotations

from typing import Any

from ..ir import Problem
from ..solution import Solution
from .erlang import Queue


def sizing_report(problem: Problem, solution: Solution) -> list[dict[str, Any]]:
    placed: dict[str, int] = {}
    for p in solution.placements:
        placed[p.item] = placed.get(p.item, 0) + p.count
    rows = []
    for g in problem.items:
        if g.sizing is None:
            continue
        k = placed.get(g.name, 0)
        queue = Queue(g.sizing.arrival, g.sizing.service)
        row: dict[str, Any] = {"group": g.name, "needed": g.count, "placed": k, "met": k >= g.count}
        if queue.stable(k):
            row.update(
                utilisation=queue.utilisation(k),
                p_wait=queue.p_wait(k),
                mean_wait=queue.mean_wait(k),
                p99_wait=queue.wait_quantile(k),
            )
        else:
            row["unstable"] = True  # fewer replicas than the offered load: the queue grows
        rows.append(row)
    return rows


def with_sizing(problem: Problem, solution: Solution) -> Solution:
    """The plan with ``info["sizing"]`` when the problem has sized groups and the plan exists."""
    if not solution.status.has_plan or not any(g.sizing for g in problem.items):
        return solution
    info = {**solution.info, "sizing": sizing_report(problem, solution)}
    return solution.model_copy(update={"info": info})
