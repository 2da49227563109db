"""Mechanism properties on hypothesis-generated markets, the game, and the naive mechanism's flaw."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fair.drf import drf
from engine.fair.game import (
    best_response_dynamics,
    misreports,
    price_of_anarchy,
    profitable_misreport,
)
from engine.fair.market import Job, Market
from engine.fair.properties import (
    envy_free,
    pareto_efficient,
    random_market,
    sharing_incentive,
    strategy_proof,
)
from engine.fair.welfare import nash, nash_welfare, proportional, utilitarian
from tests.profiles import examples


@st.composite
def markets(draw: st.DrawFn) -> Market:
    n_res = draw(st.integers(1, 3))
    n_ten = draw(st.integers(2, 4))
    capacity = {f"r{k}": draw(st.integers(4, 24)) for k in range(n_res)}
    jobs = []
    for t in range(n_ten):
        demand = {f"r{k}": draw(st.integers(0, 4)) for k in range(n_res)}
        if not any(demand.values()):
            demand["r0"] = 1
        jobs.append((f"j{t}", f"t{t}", demand, draw(st.integers(1, 12))))
    weights = {f"t{t}": float(draw(st.sampled_from([1, 1, 2, 3]))) for t in range(n_ten)}
    return Market.build(capacity, jobs, weights)


@settings(max_examples=examples(60), deadline=None)
@given(markets())
def test_drf_no_profitable_misreport(market: Market) -> None:
    assert profitable_misreport(drf, market) is None


@settings(max_examples=examples(80), deadline=None)
@given(markets())
def test_drf_envy_free_and_sharing_incentive(market: Market) -> None:
    alloc = drf(market)
    assert alloc.feasible()
    assert envy_free(alloc).ok, envy_free(alloc).witness
    assert sharing_incentive(alloc).ok, sharing_incentive(alloc).witness


@settings(max_examples=examples(40), deadline=None)
@given(markets())
def test_work_conserving_drf_is_pareto_efficient(market: Market) -> None:
    assert pareto_efficient(drf(market, work_conserving=True)).ok


def test_naive_proportional_is_manipulable_drf_is_not() -> None:
    market = Market.build(
        {"cpu": 9, "mem": 18},
        [("a", "A", {"cpu": 1, "mem": 4}, 100), ("b", "B", {"cpu": 3, "mem": 1}, 100)],
    )
    found = strategy_proof(proportional, market)
    assert not found.ok
    cx = found.data["counterexample"]
    assert cx["misreport"] > cx["truthful"]
    assert strategy_proof(drf, market).ok


def test_proportional_counterexample_on_random_instances() -> None:
    rng = random.Random(3)
    hits = sum(
        profitable_misreport(proportional, random_market(rng)) is not None for _ in range(10)
    )
    assert hits > 0


def test_misreports_never_rescale_every_resource() -> None:
    job = Job("j", "t", (2, 4), 5)
    for fake in misreports(job):
        assert fake.demand[0] == 2 or fake.demand[1] == 4
    assert all(f.demand == (3,) or f.demand == (3,) for f in misreports(Job("k", "t", (3,), 2)))


def test_utilitarian_and_nash() -> None:
    market = Market.build(
        {"cpu": 9, "mem": 18},
        [("a", "A", {"cpu": 1, "mem": 4}, 100), ("b", "B", {"cpu": 3, "mem": 1}, 100)],
    )
    u = utilitarian(market)
    assert u.total_tasks() == 5 and u.feasible()
    n = nash(market)
    assert n.feasible() and n.tenant_tasks("A") >= 1 and n.tenant_tasks("B") >= 1
    assert nash_welfare(n) >= nash_welfare(drf(market)) - 1e-9


@settings(max_examples=examples(15), deadline=None)
@given(markets())
def test_best_response_dynamics_terminate(market: Market) -> None:
    for mech in (drf, proportional):
        eq = best_response_dynamics(mech, market, max_rounds=8)
        assert eq.rounds <= 8
        assert eq.converged or eq.cycle or eq.rounds == 8
        if mech is drf:
            assert eq.converged and not eq.liars(market)
        opt = utilitarian(market).total_tasks()
        assert price_of_anarchy(opt, sum(eq.utilities.values())) >= 1 - 1e-9
