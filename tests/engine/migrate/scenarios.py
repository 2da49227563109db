"""Small migration scenarios shared by the migrate tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.ir import Problem
from engine.solution import Solution, Status

from ...cases import bins, group, problem


def target(p: Problem, counts: Mapping[tuple[str, str], int]) -> Solution:
    return Solution.from_counts(p, "hand", Status.FEASIBLE, counts)


def swap(budget: int | None = 1, **extra: Any) -> tuple[Problem, Solution]:
    """Two full nodes whose single items trade places."""
    budgets = (
        []
        if budget is None
        else [{"selector": {"app": n}, "max_unavailable": budget} for n in ("a", "b")]
    )
    p = problem(
        bins(2, cpu="2"),
        [
            group("a", 1, cpu="2", placed={"n0": 1}, movable=True),
            group("b", 1, cpu="2", placed={"n1": 1}, movable=True),
        ],
        name="swap",
        disruption_budgets=budgets,
        **extra,
    )
    return p, target(p, {("a", "n1"): 1, ("b", "n0"): 1})


def rotation(spare: bool) -> tuple[Problem, Solution]:
    """Three full nodes whose movers rotate: web-x n0 -> n1, db n1 -> n2, web-y n2 -> n0. The
    cycle needs both web items down at once, and their budget allows one. ``spare`` adds an empty
    fourth node that can hold one item for a while."""
    web = {"app": "web"}
    p = problem(
        bins(4 if spare else 3, cpu="2"),
        [
            group("web-x", 1, cpu="1", labels={**web, "role": "x"}, placed={"n0": 1}, movable=True),
            group("db", 1, cpu="1", placed={"n1": 1}, movable=True),
            group("web-y", 1, cpu="1", labels={**web, "role": "y"}, placed={"n2": 1}, movable=True),
            group("fill", 3, cpu="1", placed={"n0": 1, "n1": 1, "n2": 1}),
        ],
        name="rotation",
        disruption_budgets=[{"selector": web, "max_unavailable": 1}],
    )
    return p, target(
        p,
        {
            ("web-x", "n1"): 1,
            ("db", "n2"): 1,
            ("web-y", "n0"): 1,
            ("fill", "n0"): 1,
            ("fill", "n1"): 1,
            ("fill", "n2"): 1,
        },
    )
