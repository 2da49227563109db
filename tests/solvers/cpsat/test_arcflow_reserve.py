"""The one-dimensional packing solver keeps back only what CP-SAT needs to take its packing in
(0.04-0.16 s for 1,000 items at slowdown 1.5): the vector solver's reserve, 2 ms an item, kept
2.9 s of a 10 s limit back there, and the hard random instances it missed ended at 7.2 s."""

from __future__ import annotations

import time

import pytest

from solvers.cpsat import arcflow, vector_packing
from solvers.deadline import Deadline


@pytest.mark.parametrize(
    ("items", "slowdown", "left", "kept_at_most", "kept_at_least"),
    [
        (1000, 1.0, 10.0, 0.7, 0.5),  # 0.2 + 0.2 + 2 % of 10 s
        (1000, 1.5, 10.0, 1.0, 0.7),
        (100, 1.0, 10.0, 0.5, 0.3),
        (1000, 10.0, 10.0, 5.0, 4.0),  # starved: the model takes ten times as long
        (1000, 100.0, 10.0, 5.0, 4.99),  # never more than half of what is left
        (1000, 1.0, 1.0, 0.5, 0.4),
    ],
)
def test_the_reserve_is_what_taking_the_packing_in_costs_at_todays_speed(
    monkeypatch: pytest.MonkeyPatch,
    items: int,
    slowdown: float,
    left: float,
    kept_at_most: float,
    kept_at_least: float,
) -> None:
    monkeypatch.setattr(arcflow, "slowdown", lambda: slowdown)
    deadline = Deadline(time.perf_counter() + left)
    kept = deadline.at - arcflow.packing_deadline(deadline, items).at
    assert kept_at_least <= kept <= kept_at_most


def test_without_a_limit_the_packing_solver_gets_its_own_budget() -> None:
    unlimited = arcflow.packing_deadline(Deadline.never(), 1000)
    assert unlimited.bounded and unlimited.left() <= vector_packing.PACKING_SECONDS
