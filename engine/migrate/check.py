"""The independent step-by-step checker of a migration plan (shares no code with the search).

A sequence is valid when, starting from the problem's running items (``placed``):

- every eviction takes items that are on that bin when the step starts;
- no step evicts more items selected by a disruption budget than the budget allows at the step's
  start: running selected items minus those that must stay up (Kubernetes' disruption controller:
  ``maxUnavailable`` from the selected groups' total count, ``minAvailable`` as given, percentages
  rounded up);
- the state after every step passes the independent verifier (``engine.verify``): capacity,
  eligibility, pinned items, every hard constraint, quotas, traffic delays — all but
  ``required``, which only the goal must meet;
- the last state is the target plan.

The scheduler binds a step's items after its evictions, so the state after a step is the one
whose rules are judged; a step's evictions alone can only free room.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping

from ..errors import InputError
from ..ir import Problem
from ..verify import CHECKS
from .model import MigrationPlan

Counts = dict[tuple[str, str], int]
STATE_CHECKS = {name: check for name, check in CHECKS.items() if name != "required"}


def start_counts(problem: Problem) -> Counts:
    return {(g.name, b): n for g in problem.items for b, n in g.placed.items()}


def state_violations(problem: Problem, counts: Mapping[tuple[str, str], int]) -> list[str]:
    """What the verifier finds wrong with a state (``required`` aside)."""
    return [str(v) for check in STATE_CHECKS.values() for v in check(problem, counts)]


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _must_stay_up(problem: Problem, n: int) -> tuple[str, frozenset[str], int]:
    budget = problem.disruption_budgets[n]
    name = budget.name or f"disruption_budgets[{n}]"
    groups = frozenset(g.name for g in problem.items if _selects(budget.selector, g.labels))
    scale = sum(g.count for g in problem.items if g.name in groups)

    def of_scale(value: int | str) -> int:
        if isinstance(value, int):
            return value
        return math.ceil(scale * int(value[:-1]) / 100)

    if budget.max_unavailable is not None:
        return name, groups, max(0, scale - of_scale(budget.max_unavailable))
    assert budget.min_available is not None
    return name, groups, of_scale(budget.min_available)


def _known(problem: Problem, plan: MigrationPlan, source: str) -> None:
    for k, step in enumerate(plan.steps):
        for side, rows in (("evict", step.evict), ("bind", step.bind)):
            for m, row in enumerate(rows):
                where = f"steps[{k}].{side}[{m}]"
                if row.item not in problem.item_by_name:
                    raise InputError(
                        f"unknown item {row.item!r}", path=f"{where}.item", source=source
                    )
                if row.bin not in problem.bin_by_name:
                    raise InputError(f"unknown bin {row.bin!r}", path=f"{where}.bin", source=source)


def check_plan(
    problem: Problem,
    target: Mapping[tuple[str, str], int],
    plan: MigrationPlan,
    source: str = "<plan>",
) -> list[str]:
    """Every violation of the sequence, each naming its step; [] when the sequence is valid.

    Unknown item or bin names are malformed input (InputError), not violations."""
    if plan.problem != problem.name:
        raise InputError(
            f"the plan is for problem {plan.problem!r}, not {problem.name!r}",
            path="problem",
            source=source,
        )
    _known(problem, plan, source)
    return list(_violations(problem, target, plan))


def _violations(
    problem: Problem, target: Mapping[tuple[str, str], int], plan: MigrationPlan
) -> Iterator[str]:
    budgets = [_must_stay_up(problem, n) for n in range(len(problem.disruption_budgets))]
    counts: Counts = defaultdict(int, start_counts(problem))
    for why in state_violations(problem, counts):
        yield f"current placement: {why}"
    for k, step in enumerate(plan.steps, start=1):
        running: dict[str, int] = defaultdict(int)
        for (item, _), n in counts.items():
            running[item] += n
        evicted: dict[str, int] = defaultdict(int)
        for row in step.evict:
            here = counts[(row.item, row.bin)]
            if row.count > here:
                yield f"step {k}: evicts {row.count} {row.item} from {row.bin}, which holds {here}"
            counts[(row.item, row.bin)] = max(0, here - row.count)
            evicted[row.item] += min(row.count, here)
        for name, groups, stay_up in budgets:
            down = sum(evicted[g] for g in groups)
            allowed = max(0, sum(running[g] for g in groups) - stay_up)
            if down > allowed:
                yield (
                    f"step {k}: evicts {down} item(s) of disruption budget {name}, which allows "
                    f"{allowed} ({sum(running[g] for g in groups)} running, {stay_up} must stay up)"
                )
        for row in step.bind:
            counts[(row.item, row.bin)] += row.count
        live = {key: n for key, n in counts.items() if n > 0}
        for why in state_violations(problem, live):
            yield f"step {k}: {why}"
    final = {key: n for key, n in counts.items() if n > 0}
    wanted = {key: n for key, n in target.items() if n > 0}
    if final != wanted:
        diff = sorted(set(final.items()) ^ set(wanted.items()))
        (item, b), _ = diff[0]
        yield (
            f"after the last step {item} has {final.get((item, b), 0)} on {b}, "
            f"the target plan {wanted.get((item, b), 0)}"
        )
