"""Tiny edge topologies whose delays and optima are worked out by hand in the tests."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from engine.ir import Problem
from engine.verify import evaluate, verify_counts

EXACT_BACKENDS = ("cpsat", "milp")
ALL_BACKENDS = ("cpsat", "milp", "qubo", "greedy")


def needs_backend(name: str) -> Any:
    """Skip while a backend module is not written yet (they land concurrently)."""
    return pytest.mark.skipif(
        importlib.util.find_spec(f"solvers.{name}") is None,
        reason=f"solvers.{name} not present yet",
    )


def backend_params(names: tuple[str, ...]) -> list[Any]:
    return [pytest.param(n, marks=needs_backend(n)) for n in names]


def diamond(**task: Any) -> dict[str, Any]:
    """One device behind a switch, two edge servers, one cloud.

    d --2ms,100MB/s-- s --1ms,100-- e1 --20ms,1000-- c
                      s --5ms,50--- e2 --10ms,unlimited-- c

    Shortest paths from d: s 2, e1 3 (bottleneck 100), e2 7 (50), c 17 via e2 (50).
    """
    base: dict[str, Any] = {
        "name": "t",
        "source": "d",
        "count": 3,
        "workload": 100,
        "input": 1,
        "demand": {"cpu": "1"},
    }
    base.update(task)
    return {
        "apiVersion": "placer/v1",
        "kind": "EdgeTopology",
        "name": "diamond",
        "nodes": [
            {"name": "d", "tier": "device", "capacity": {"cpu": "1"}, "speed": 1000},
            {"name": "s", "tier": "network"},
            {"name": "e1", "tier": "edge", "capacity": {"cpu": "2"}, "speed": 2000},
            {"name": "e2", "tier": "edge", "capacity": {"cpu": "1"}, "speed": 4000},
            {"name": "c", "tier": "cloud", "capacity": {"cpu": "1"}, "speed": 10000},
        ],
        "links": [
            {"a": "d", "b": "s", "latency": 2, "bandwidth": 100},
            {"a": "s", "b": "e1", "latency": 1, "bandwidth": 100},
            {"a": "s", "b": "e2", "latency": 5, "bandwidth": 50},
            {"a": "e1", "b": "c", "latency": 20, "bandwidth": 1000},
            {"a": "e2", "b": "c", "latency": 10},
        ],
        "tasks": [base],
    }


def all_plans(problem: Problem) -> Iterator[dict[tuple[str, str], int]]:
    """Every plan (each replica on an allowed bin or unplaced) of a tiny problem."""
    choices = []
    for item in problem.items:
        options = [None, *problem.eligible(item.name)]
        choices.append(
            [
                (item.name, combo)
                for combo in itertools.combinations_with_replacement(options, item.count)
            ]
        )
    for pick in itertools.product(*choices):
        counts: dict[tuple[str, str], int] = {}
        for name, combo in pick:
            for b in combo:
                if b is not None:
                    counts[(name, b)] = counts.get((name, b), 0) + 1
        yield counts


def _key(problem: Problem, objective: tuple[float, ...]) -> tuple[float, ...]:
    """Lexicographic key to minimise: maximised levels negated."""
    from engine.ir import minimised_terms

    return tuple(
        v if minimised_terms(level) else -v
        for level, v in zip(problem.objective, objective, strict=True)
    )


def brute_force(problem: Problem) -> tuple[float, ...]:
    """The optimum over every valid plan, by the verifier's own numbers."""
    best: tuple[float, ...] | None = None
    for counts in all_plans(problem):
        if not verify_counts(problem, counts).ok:
            continue
        value = evaluate(problem, counts)
        if best is None or _key(problem, value) < _key(problem, best):
            best = value
    assert best is not None
    return best


def key(problem: Problem, objective: tuple[float, ...]) -> tuple[float, ...]:
    return _key(problem, objective)
