"""Erlang C against a discrete-event simulation (SimPy) on a grid of (λ, μ, k): the probability
of waiting within 2 percentage points, the mean wait within 10 %."""

from __future__ import annotations

import pytest

from engine.sizing.erlang import Queue
from engine.sizing.simulate import simulate

GRID = [(2.0, 1.0, 3), (8.0, 1.0, 10), (30.0, 4.0, 9), (0.5, 1.0, 1)]


@pytest.mark.parametrize(("arrival", "service", "k"), GRID)
def test_erlang_c_matches_the_simulation(arrival: float, service: float, k: int) -> None:
    q = Queue(arrival, service)
    sim = simulate(q, k, customers=30_000, warmup=3_000, seed=1)
    assert abs(sim.p_wait - q.p_wait(k)) <= 0.02, (sim.p_wait, q.p_wait(k))
    assert sim.mean_wait == pytest.approx(q.mean_wait(k), rel=0.10)


def test_the_simulation_is_not_the_formula() -> None:
    # one replica fewer waits far more: the comparison can fail
    q = Queue(8.0, 1.0)
    sim = simulate(q, 9, customers=10_000, warmup=1_000, seed=1)
    assert abs(sim.p_wait - q.p_wait(10)) > 0.1
