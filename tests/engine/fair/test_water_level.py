"""DRF in jumps (water_level.py) gives exactly the allocation of one task at a time (drf.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.fair.drf import drf
from engine.fair.market import Market
from tests.profiles import examples

RESOURCES = ("cpu", "gpu", "mem")


@st.composite
def markets(draw: st.DrawFn) -> Market:
    capacity = {
        r: draw(st.integers(0, 40) if r == "gpu" else st.integers(1, 200)) for r in RESOURCES
    }
    n_tenants = draw(st.integers(1, 5))
    tenants = [f"t{k}" for k in range(n_tenants)]
    weights = {t: draw(st.sampled_from([1.0, 0.5, 2.0, 3.0, 1.5, 0.3])) for t in tenants}
    jobs = []
    for t in tenants:
        for k in range(draw(st.integers(0, 3))):
            demand = {r: draw(st.integers(0, 12)) for r in RESOURCES}
            jobs.append((f"{t}-{k}", t, demand, draw(st.integers(0, 60))))
    return Market.build(capacity, jobs, weights)


def _same(market: Market, work_conserving: bool) -> None:
    slow = drf(market, work_conserving=work_conserving, trace=True)
    fast = drf(market, work_conserving=work_conserving)
    assert dict(fast.tasks) == dict(slow.tasks)
    assert fast.info["blocked"] == slow.info["blocked"]


@settings(max_examples=examples(400), deadline=None)
@given(markets(), st.booleans())
def test_jumps_give_the_one_at_a_time_allocation(market: Market, work_conserving: bool) -> None:
    _same(market, work_conserving)


TABLE = [
    # (name, capacity, jobs (job, tenant, demand, count), weights)
    (
        "ties go to the first listed",
        {"cpu": 10},
        [("a", "A", {"cpu": 1}, 9), ("b", "B", {"cpu": 1}, 9)],
        None,
    ),
    (
        "no demand: taken at share 0",
        {"cpu": 4},
        [("z", "A", {"cpu": 0}, 5), ("b", "B", {"cpu": 1}, 9)],
        None,
    ),
    (
        "a flat stretch: memory only while cpu dominates",
        {"cpu": 10, "mem": 100},
        [("c", "A", {"cpu": 5}, 1), ("m", "A", {"mem": 1}, 40), ("b", "B", {"cpu": 1}, 9)],
        None,
    ),
    (
        "a job that stops fitting hands over to the next",
        {"cpu": 10},
        [("big", "A", {"cpu": 4}, 5), ("small", "A", {"cpu": 1}, 5), ("b", "B", {"cpu": 1}, 3)],
        None,
    ),
    (
        "blocked tenant stops the paper's DRF",
        {"cpu": 10},
        [("big", "A", {"cpu": 4}, 10), ("small", "C", {"cpu": 1}, 10)],
        None,
    ),
    (
        "nothing fits on the empty pool",
        {"cpu": 3},
        [("x", "A", {"cpu": 4}, 2), ("y", "B", {"cpu": 1}, 2)],
        None,
    ),
    (
        "weights of every size",
        {"cpu": 97, "gpu": 13},
        [
            ("a", "A", {"cpu": 3, "gpu": 1}, 40),
            ("b", "B", {"cpu": 7}, 40),
            ("c", "C", {"gpu": 2}, 9),
        ],
        {"A": 0.3, "B": 2.5, "C": 1.0},
    ),
    (
        "a resource with no capacity",
        {"cpu": 10, "gpu": 0},
        [("g", "A", {"gpu": 1}, 3), ("c", "B", {"cpu": 2}, 9)],
        None,
    ),
]


def test_table() -> None:
    for name, capacity, jobs, weights in TABLE:
        market = Market.build(capacity, jobs, weights, name=name)
        for wc in (False, True):
            _same(market, wc)


def test_jumps_on_a_large_pool() -> None:
    # 30,000 tasks asked, a few thousand placed: many turns between two events
    jobs = [(f"j{k}", f"t{k % 5}", {"cpu": 1 + k, "mem": 3 + 2 * k}, 3_000) for k in range(10)]
    market = Market.build({"cpu": 64_000, "mem": 256_000}, jobs)
    for wc in (False, True):
        _same(market, wc)
