"""A lower bound on the number of steps, with its proof in words.

Each step evicts at most ``allowed`` items of a disruption budget, where ``allowed`` is the
budget's running items minus those that must stay up. Running items of a budget never exceed the
start's plus the items the target adds, so no step allows more than that bound, and a budget whose
groups must give up ``m`` items needs at least ⌈m / allowed_max⌉ steps. Any change at all needs
one step. A budget with items to evict and ``allowed_max = 0`` proves that no sequence exists.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from ..ir import Problem
from .budgets import resolve


@dataclass(frozen=True)
class Bound:
    steps: int
    proof: str
    impossible: str | None = None  # set when the bound proves that no sequence exists


def evictions_and_binds(
    problem: Problem, start: Mapping[tuple[str, str], int], target: Mapping[tuple[str, str], int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Per group: items that must leave their bins, and items that must arrive."""
    leave: dict[str, int] = {}
    arrive: dict[str, int] = {}
    bins_of: dict[str, set[str]] = defaultdict(set)  # one pass: by group, not per group
    for i, b in (*start, *target):
        bins_of[i].add(b)
    for g in problem.items:
        bins = bins_of.get(g.name, set())
        leave[g.name] = sum(
            max(0, start.get((g.name, b), 0) - target.get((g.name, b), 0)) for b in bins
        )
        arrive[g.name] = sum(
            max(0, target.get((g.name, b), 0) - start.get((g.name, b), 0)) for b in bins
        )
    return leave, arrive


def lower_bound(
    problem: Problem, start: Mapping[tuple[str, str], int], target: Mapping[tuple[str, str], int]
) -> Bound:
    leave, arrive = evictions_and_binds(problem, start, target)
    if not any(leave.values()) and not any(arrive.values()):
        return Bound(0, "the target plan is the current placement: nothing to do")
    best = Bound(1, "at least one item moves or is bound, which takes one step")
    totals = dict.fromkeys((g.name for g in problem.items), 0)
    for (i, _), n in start.items():
        totals[i] += n
    for budget in resolve(problem):
        names = [problem.items[g].name for g in budget.groups]
        must_leave = sum(leave[n] for n in names)
        if not must_leave:
            continue
        most_running = sum(totals[n] + max(0, arrive[n] - leave[n]) for n in names)
        allowed_max = most_running - budget.desired_healthy
        if allowed_max <= 0:
            why = (
                f"budget {budget.name}: {must_leave} of its items must be evicted, but at most "
                f"{most_running} of them ever run and {budget.desired_healthy} must stay up, so "
                "no step may evict any"
            )
            return Bound(best.steps, best.proof, impossible=why)
        steps = math.ceil(must_leave / allowed_max)
        if steps > best.steps:
            best = Bound(
                steps,
                f"budget {budget.name}: {must_leave} of its items must be evicted and no step "
                f"may evict more than {allowed_max} ({most_running} running at most, "
                f"{budget.desired_healthy} must stay up): ⌈{must_leave}/{allowed_max}⌉ = {steps}",
            )
    return best
