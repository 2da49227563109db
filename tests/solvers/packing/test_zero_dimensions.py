"""Packing problems with resources of capacity 0 or demanded by nobody.

A bin's capacity that no item asks for constrains nothing; a model that divides by it crashed
(cpsat's vector path: ZeroDivisionError on ``cpu: 0`` beside demands of 0, found by
hypothesis). Every exact backend must give the same proved optimum, the greedy one a plan."""

from __future__ import annotations

import pytest

from engine.ir import Bin, ItemGroup, Problem
from engine.solve import solve
from solvers.packing.vector import vector_lower_bound


def _bins(n: int, capacity: dict[str, int]) -> tuple[Bin, ...]:
    return tuple(Bin(name=f"b{i}", capacity=capacity) for i in range(n))


def _problem(name: str, bins: tuple[Bin, ...], *items: ItemGroup) -> Problem:
    return Problem(name=name, bins=bins, items=items, objective=({"bins_used": 1.0},))


CASES = {
    # nothing demanded at all: one bin holds every item
    "nothing-demanded": (
        _problem(
            "nothing",
            _bins(3, {"cpu": 0, "memory": 1 << 30}),
            ItemGroup(name="g", count=4, demand={"cpu": 0, "memory": 0}, required=True),
        ),
        1.0,
    ),
    # two demanded resources beside an undemanded one of capacity 0 (and one nobody names)
    "zero-capacity-undemanded": (
        _problem(
            "zero-dim",
            _bins(6, {"cpu": 0, "memory": 10, "gpu": 10, "pods": 3}),
            ItemGroup(name="a", count=5, demand={"memory": 6, "gpu": 3}, required=True),
            ItemGroup(name="b", count=4, demand={"memory": 3, "gpu": 6}, required=True),
        ),
        5.0,
    ),
    # one demanded resource beside a zero-capacity one: 1-D packing
    "one-demanded": (
        _problem(
            "one-dim",
            _bins(4, {"cpu": 0, "memory": 10}),
            ItemGroup(name="a", count=3, demand={"memory": 5}, required=True),
            ItemGroup(name="b", count=2, demand={"memory": 4, "cpu": 0}, required=True),
        ),
        3.0,
    ),
}
EXACT = [("cpsat", {}), ("milp", {}), ("milp", {"solver": "cbc"})]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("backend", "params"), EXACT, ids=["cpsat", "highs", "cbc"])
def test_exact_backends_prove_the_optimum(case: str, backend: str, params: dict) -> None:
    problem, optimum = CASES[case]
    plan = solve(problem, backend, time_limit=10, threads=1, **params)
    assert plan.verified
    assert str(plan.status) == "optimal"
    assert plan.objective == pytest.approx((optimum,))


@pytest.mark.parametrize("case", sorted(CASES))
def test_greedy_places_everything(case: str) -> None:
    problem, optimum = CASES[case]
    plan = solve(problem, "greedy", time_limit=10)
    assert plan.verified and not plan.unplaced
    assert plan.objective[0] >= optimum


def test_vector_bound_skips_undemanded_zero_capacity() -> None:
    assert vector_lower_bound([[0, 6, 3], [0, 3, 6]], [5, 4], [0, 10, 10]) == 5
    assert vector_lower_bound([[0, 0]], [4], [0, 0]) == 0


def test_vector_bound_refuses_a_demanded_resource_the_bins_lack() -> None:
    with pytest.raises(ValueError, match="resource 0"):
        vector_lower_bound([[1, 2]], [1], [0, 10])
