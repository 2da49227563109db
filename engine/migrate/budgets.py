"""Disruption budgets as the search sees them: which groups each covers and how many of its items
must stay up (the Kubernetes disruption controller's arithmetic, percentages rounded up)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ..ir import DisruptionBudget, Problem


@dataclass(frozen=True)
class Budget:
    name: str
    groups: frozenset[int]  # indices into problem.items
    desired_healthy: int

    def allowed(self, totals: list[int]) -> int:
        """Disruptions allowed now: running items of the budget minus those that must stay up."""
        healthy = sum(totals[g] for g in self.groups)
        return max(0, healthy - self.desired_healthy)


def _scaled(value: int | str, expected: int) -> int:
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * expected / 100)


def budget_name(problem: Problem, n: int) -> str:
    b = problem.disruption_budgets[n]
    return b.name or f"disruption_budgets[{n}]"


def resolve(problem: Problem) -> list[Budget]:
    out = []
    everyone = frozenset(range(len(problem.items)))
    having: dict[tuple[str, str], set[int]] = defaultdict(set)  # (label, value) -> groups
    for gi, g in enumerate(problem.items):
        for label in g.labels.items():
            having[label].add(gi)
    for n, b in enumerate(problem.disruption_budgets):
        # the groups with every label of the selector (an empty selector selects all)
        groups = everyone.intersection(*(having.get(kv, set()) for kv in b.selector.items()))
        out.append(Budget(budget_name(problem, n), groups, _desired(problem, b, groups)))
    return out


def _desired(problem: Problem, b: DisruptionBudget, groups: frozenset[int]) -> int:
    expected = sum(problem.items[g].count for g in groups)  # the controllers' scale
    if b.max_unavailable is not None:
        return max(0, expected - _scaled(b.max_unavailable, expected))
    assert b.min_available is not None
    if isinstance(b.min_available, int):
        return b.min_available
    return _scaled(b.min_available, expected)
