"""Kubernetes quantities: every suffix, exponents, rounding up, and errors."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.quantity import QuantityError, format_quantity, parse_amount, parse_quantity

BINARY = [("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("Pi", 2**50), ("Ei", 2**60)]
DECIMAL = [
    ("k", 10**3),
    ("M", 10**6),
    ("G", 10**9),
    ("T", 10**12),
    ("P", 10**15),
    ("E", 10**18),
]


@pytest.mark.parametrize(("suffix", "factor"), BINARY + DECIMAL)
def test_every_multiplying_suffix(suffix: str, factor: int) -> None:
    assert parse_quantity("memory", f"3{suffix}") == 3 * factor
    assert parse_quantity("cpu", f"3{suffix}") == 3 * factor * 1000


@pytest.mark.parametrize(
    ("text", "cores"),
    [("1n", Fraction(1, 10**9)), ("1u", Fraction(1, 10**6)), ("1m", Fraction(1, 1000))],
)
def test_fractional_suffixes_are_exact(text: str, cores: Fraction) -> None:
    assert parse_amount(text) == cores


@pytest.mark.parametrize(
    ("resource", "value", "expected"),
    [
        ("cpu", "500m", 500),
        ("cpu", "2", 2000),
        ("cpu", 2, 2000),
        ("cpu", 0.25, 250),
        ("cpu", "1.5", 1500),
        ("cpu", ".5", 500),
        ("cpu", "0.1m", 1),  # 0.1 millicore rounds up, as Quantity.MilliValue() does
        ("cpu", "1u", 1),
        ("memory", "1Gi", 2**30),
        ("memory", "1G", 10**9),
        ("memory", "1.5Gi", 3 * 2**29),
        ("memory", "1.5", 2),  # bytes round up
        ("memory", "100m", 1),
        ("memory", "+5", 5),
        ("pods", 110, 110),
        ("nvidia.com/gpu", "2", 2),
    ],
)
def test_parse_quantity(resource: str, value: str | int | float, expected: int) -> None:
    assert parse_quantity(resource, value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1e3", 1000), ("1E3", 1000), ("2e-3", 1), ("1.5e2", 150), ("1e0", 1), ("12e+1", 120)],
)
def test_decimal_exponents(text: str, expected: int) -> None:
    assert parse_quantity("memory", text) == expected


def test_exponent_on_cpu_is_in_cores() -> None:
    assert parse_quantity("cpu", "1e-3") == 1
    assert parse_quantity("cpu", "2e1") == 20_000


def test_negative_values_parse_signed() -> None:
    # the IR rejects negatives itself, with the field's path; the parser keeps the sign
    assert parse_quantity("memory", "-1Ki") == -1024


@pytest.mark.parametrize(
    "bad", ["", "abc", "1Kb", "1.2.3", "--1", "inf", "1 Gi", "Gi", "1ki", "0x10", "1e100"]
)
def test_unparseable_strings(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity("memory", bad)


@pytest.mark.parametrize("bad", [True, None, [1], float("nan"), float("inf")])
def test_non_quantity_types(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity("memory", bad)  # type: ignore[arg-type]


def test_error_message_says_what_a_quantity_looks_like() -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        parse_quantity("memory", "lots")


@pytest.mark.parametrize(
    ("resource", "amount", "text"),
    [
        ("cpu", 500, "500m"),
        ("cpu", 4000, "4"),
        ("memory", 2**30, "1Gi"),
        ("memory", 1536 * 2**20, "1536Mi"),
        ("memory", 10**9, "1G"),
        ("memory", 0, "0"),
        ("memory", 7, "7"),
        ("pods", 110, "110"),
    ],
)
def test_format_quantity(resource: str, amount: int, text: str) -> None:
    assert format_quantity(resource, amount) == text


@given(st.sampled_from(["cpu", "memory", "pods"]), st.integers(0, 2**62))
def test_format_then_parse_round_trips(resource: str, amount: int) -> None:
    assert parse_quantity(resource, format_quantity(resource, amount)) == amount
