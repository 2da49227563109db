"""Erlang C and the sizing rules: hand-checked values, definitions, and bad input."""

from __future__ import annotations

import math

import pytest

from engine.sizing.erlang import Queue, SizingError, size


def erlang_c_by_definition(k: int, a: float) -> float:
    """The textbook sum, term by term (fine for small k)."""
    top = a**k / math.factorial(k) * k / (k - a)
    return top / (sum(a**n / math.factorial(n) for n in range(k)) + top)


def test_hand_checked_values() -> None:
    # a = 2, k = 3: (8/6)·3 = 4 over (1 + 2 + 2) + 4 -> 4/9
    q = Queue(arrival=2.0, service=1.0)
    assert q.p_wait(3) == pytest.approx(4 / 9)
    assert q.mean_wait(3) == pytest.approx(4 / 9)  # C / (kμ − λ) = (4/9) / 1
    # M/M/1: C = ρ, W_q = ρ / (μ − λ)
    m1 = Queue(arrival=3.0, service=4.0)
    assert m1.p_wait(1) == pytest.approx(0.75)
    assert m1.mean_wait(1) == pytest.approx(0.75 / 1.0)
    # the p99 wait of M/M/1: P(W > t) = ρ e^{-(μ-λ)t} = 0.01 -> t = ln(75)
    assert m1.wait_quantile(1) == pytest.approx(math.log(75))


@pytest.mark.parametrize(("k", "a"), [(1, 0.5), (2, 1.5), (5, 4.2), (10, 7.0), (30, 25.5)])
def test_the_stable_recursion_matches_the_definition(k: int, a: float) -> None:
    assert Queue(a, 1.0).p_wait(k) == pytest.approx(erlang_c_by_definition(k, a), rel=1e-12)


def test_large_systems_do_not_overflow() -> None:
    q = Queue(arrival=9_500.0, service=1.0)
    c = q.p_wait(10_000)
    assert 0 < c < 1e-3
    assert q.replicas_for_mean_wait(0.001) > 9_500


def test_the_document_rule_and_the_waiting_targets() -> None:
    q = Queue(arrival=100.0, service=12.0)
    assert q.replicas_for_utilisation(0.7) == 12  # ⌈100 / 8.4⌉ = ⌈11.9⌉
    assert Queue(10.0, 1.0).replicas_for_utilisation(0.5) == 20  # exactly 20, not 21
    k = q.replicas_for_mean_wait(0.01)
    assert q.mean_wait(k) <= 0.01 < q.mean_wait(k - 1)
    k = q.replicas_for_quantile(0.1)
    assert q.wait_quantile(k) <= 0.1 < q.wait_quantile(k - 1)
    # the quantile is where the waiting-time distribution crosses 1 %
    t = q.wait_quantile(10)
    assert q.wait_above(10, t) == pytest.approx(0.01)
    rows = size(q, utilisation=0.7, mean_wait=0.01, p99_wait=0.1)
    assert [r.method for r in rows] == ["rule ⌈λ/(μ·ρ)⌉", "Erlang C", "Erlang C"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Queue(-1.0, 1.0), "--arrival: the arrival rate λ must be a positive"),
        (lambda: Queue(1.0, 0.0), "--service: the service rate μ must be a positive"),
        (lambda: Queue(float("nan"), 1.0), "--arrival"),
        (lambda: Queue(float("inf"), 1.0), "--arrival"),
        (lambda: Queue(5.0, 1.0).replicas_for_utilisation(1.0), "strictly between 0 and 1"),
        (lambda: Queue(5.0, 1.0).replicas_for_utilisation(0.0), "strictly between 0 and 1"),
        (lambda: Queue(5.0, 1.0).p_wait(5), "≥ 1: the queue grows without bound"),
        (lambda: Queue(5.0, 1.0).replicas_for_mean_wait(-1.0), "--mean-wait"),
        (lambda: size(Queue(5.0, 1.0)), "give a target"),
        (lambda: size(Queue(5.0, 1.0), replicas=0), "--replicas: must be at least 1"),
    ],
)
def test_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SizingError, match=message):
        call()
