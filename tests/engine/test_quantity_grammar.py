"""Quantity grammar as Kubernetes' ParseQuantity reads it (k8s.io/apimachinery/pkg/api/resource):
ASCII digits only, no whitespace anywhere, one optional sign, a decimal number, then one suffix
(binary SI, decimal SI) or a decimal exponent. Anything else is refused, not guessed."""

from __future__ import annotations

import pytest

from engine.quantity import QuantityError, parse_amount, parse_quantity


@pytest.mark.parametrize(
    "text",
    [
        "١",  # ARABIC-INDIC DIGIT ONE: Python's \d says digit, Go's [0-9] does not
        "٢Gi",
        "１",  # FULLWIDTH DIGIT ONE
        "1e３",
        "²",
        "߁",  # NKO DIGIT ONE
        " 1",
        "1 ",
        "1\n",  # a trailing newline: `$` in Python would let it through
        "\t2Gi",
        "1 Gi",
        "1\u00a0Gi",  # no-break space
        "",
        " ",
        "+-1",
        "1.2.3",
        "1Gb",
        "1gi",
        "1K",  # decimal kilo is lower-case k
        "1e",
        "e3",
        "1ee3",
        "0x10",
        "1_000",
        "Infinity",
        "nan",
    ],
)
def test_refused_as_kubernetes_refuses(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "cpu_millis"),
    [
        ("1", 1000),
        ("+1", 1000),
        ("007", 7000),
        ("1.", 1000),
        (".5", 500),
        ("0.1", 100),
        ("100m", 100),
        ("1e3", 1_000_000),
        ("1E3", 1_000_000),
        ("1e+3", 1_000_000),
        ("5e-3", 5),
        ("2k", 2_000_000),
        ("1Ki", 1024 * 1000),
        ("0", 0),
    ],
)
def test_accepted_as_kubernetes_accepts(text: str, cpu_millis: int) -> None:
    assert parse_quantity("cpu", text) == cpu_millis


def test_the_error_says_why_for_whitespace_and_foreign_digits() -> None:
    with pytest.raises(QuantityError, match="space"):
        parse_amount(" 1Gi")
    with pytest.raises(QuantityError, match="ASCII digits"):
        parse_amount("١Gi")
