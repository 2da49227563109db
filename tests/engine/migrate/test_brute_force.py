"""The search against a brute-force breadth-first search over every direct-move step, whose states
are judged by the independent verifier: never fewer steps than the optimum, the optimum never
below the proved lower bound, and 'optimal' only when it is."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Iterator

from engine.ir import Problem
from engine.migrate.check import _must_stay_up, check_plan, start_counts, state_violations
from engine.migrate.model import SequenceStatus
from engine.migrate.run import migrate
from engine.verify import verify_counts

from ...cases import HOSTNAME, bins, group, problem
from .scenarios import target

Counts = dict[tuple[str, str], int]


def _multisets(bins: dict[str, int], k: int) -> Iterator[dict[str, int]]:
    names = sorted(bins)
    for combo in itertools.combinations_with_replacement(names, k):
        pick: dict[str, int] = defaultdict(int)
        for b in combo:
            pick[b] += 1
        if all(pick[b] <= bins[b] for b in pick):
            yield dict(pick)


def brute_force(p: Problem, goal: Counts, max_steps: int = 6) -> int | None:
    """Fewest steps of direct moves from the running items to ``goal`` (None: no sequence)."""
    budgets = [_must_stay_up(p, n) for n in range(len(p.disruption_budgets))]
    start = {k: v for k, v in start_counts(p).items() if v}
    key = lambda c: tuple(sorted((k, v) for k, v in c.items() if v))  # noqa: E731
    seen = {key(start)}
    frontier = [start]
    for depth in range(1, max_steps + 1):
        nxt = []
        for state in frontier:
            for after in _steps(p, state, goal, budgets):
                if key(after) == key(goal):
                    return depth
                if key(after) not in seen:
                    seen.add(key(after))
                    nxt.append(after)
        frontier = nxt
        if not frontier:
            return None
    return None


def _steps(p: Problem, state: Counts, goal: Counts, budgets: list) -> Iterator[Counts]:
    options = []
    for g in p.items:
        bins_ = {b for (i, b) in (*state, *goal) if i == g.name}
        surplus = {b: state.get((g.name, b), 0) - goal.get((g.name, b), 0) for b in bins_}
        deficit = {b: -v for b, v in surplus.items() if v < 0}
        surplus = {b: v for b, v in surplus.items() if v > 0}
        choices = [({}, {})]
        for k in range(1, min(sum(surplus.values()), sum(deficit.values())) + 1):
            choices += [(e, d) for e in _multisets(surplus, k) for d in _multisets(deficit, k)]
        options.append((g.name, choices))
    running: dict[str, int] = defaultdict(int)
    for (i, _), n in state.items():
        running[i] += n
    for combo in itertools.product(*(c for _, c in options)):
        if not any(e for e, _ in combo):
            continue
        down = {name: sum(e.values()) for (name, _), (e, _) in zip(options, combo, strict=True)}
        if any(
            sum(down.get(g, 0) for g in groups) > max(0, sum(running[g] for g in groups) - stay)
            for _, groups, stay in budgets
        ):
            continue
        after = dict(state)
        for (name, _), (e, d) in zip(options, combo, strict=True):
            for b, n in e.items():
                after[(name, b)] -= n
            for b, n in d.items():
                after[(name, b)] = after.get((name, b), 0) + n
        after = {k: v for k, v in after.items() if v}
        if not state_violations(p, after):
            yield after


def _random_case(rng: random.Random) -> tuple[Problem, Counts] | None:
    n_bins = rng.choice([2, 3])
    groups = []
    for gi in range(rng.choice([2, 3])):
        count = rng.choice([1, 2])
        where = [f"n{rng.randrange(n_bins)}" for _ in range(count)]
        placed: dict[str, int] = defaultdict(int)
        for b in where:
            placed[b] += 1
        labels = {"app": rng.choice(["web", "db"]), "id": str(gi)}
        groups.append(
            group(
                f"g{gi}",
                count,
                cpu=str(rng.choice([1, 2])),
                labels=labels,
                placed=dict(placed),
                movable=True,
            )
        )
    constraints = []
    if rng.random() < 0.3:
        constraints.append(
            {
                "kind": "anti_affinity",
                "selector": {"app": "web"},
                "topology": HOSTNAME,
                "max_per_domain": 2,
            }
        )
    budgets = [
        {"selector": {"app": a}, "max_unavailable": rng.choice([1, 2])}
        for a in ("web", "db")
        if rng.random() < 0.7
    ]
    p = problem(
        bins(n_bins, cpu=str(rng.choice([2, 3, 4]))),
        groups,
        constraints=constraints,
        disruption_budgets=budgets,
    )
    if state_violations(p, start_counts(p)):
        return None
    goal: Counts = defaultdict(int)
    for g in p.items:
        for _ in range(g.count):
            goal[(g.name, f"n{rng.randrange(n_bins)}")] += 1
    if not verify_counts(p, goal).ok or goal == {k: v for k, v in start_counts(p).items()}:
        return None
    return p, dict(goal)


def test_search_against_brute_force() -> None:
    rng = random.Random(7)
    cases = solvable = found = matched = 0
    while cases < 60:
        made = _random_case(rng)
        if made is None:
            continue
        p, goal = made
        cases += 1
        best = brute_force(p, goal)
        plan = migrate(p, target(p, goal), time_limit=5)
        lb = plan.lower_bound.steps if plan.lower_bound else 0
        if best is None:
            assert not plan.status.has_sequence, "the search found a sequence brute force did not"
            continue
        assert best >= lb, "the lower bound exceeds the true optimum"
        solvable += 1
        if plan.status == SequenceStatus.INFEASIBLE:
            raise AssertionError("infeasible claimed, brute force found a sequence")
        if not plan.status.has_sequence:
            continue
        found += 1
        assert check_plan(p, goal, plan) == []
        assert len(plan.steps) >= best
        if plan.status == SequenceStatus.OPTIMAL:
            assert len(plan.steps) == best
        matched += len(plan.steps) == best
    # the search is a heuristic: it must find nearly every sequence brute force finds, at the
    # optimal number of steps in most cases
    print(f"{cases} cases, {solvable} solvable, {found} found, {matched} at the optimum")
    assert found >= 0.9 * solvable and matched >= 0.9 * found and solvable >= 30
