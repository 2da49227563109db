"""Quantity grammar as Kubernetes reads a manifest's quantity (k8s.io/apimachinery/pkg/api/resource):
ASCII digits only, no whitespace inside, one optional sign, a decimal number, then one suffix
(binary SI, decimal SI) or a decimal exponent; spaces around it are trimmed, tabs and line breaks
are not. Anything else is refused, not guessed.

The whitespace cases were run against a real kube-apiserver v1.34 (Pod create with
resources.requests): ' 1', '1 ', '  1  ', ' 1Gi ', ' 500m' accepted; '\t2Gi', '1\n', '\n1', '1\r',
'\r1', '1\v', '1\f', '1 Gi', '١', ' ', '' refused."""

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
        "1\n",
        "\n1",
        "1\r",
        "1\v",
        "1\f",
        "1\u2028",  # a JSON encoder escapes it, so Kubernetes never trims it  # a trailing newline: `$` in Python would let it through
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
        (" 1", 1000),  # spaces around are trimmed, as kube-apiserver does
        ("1 ", 1000),
        ("  250m  ", 250),
        ("\u00a02", 2000),  # Go's unicode.IsSpace, reaching the decoder raw
        ("2\u3000", 2000),
    ],
)
def test_accepted_as_kubernetes_accepts(text: str, cpu_millis: int) -> None:
    assert parse_quantity("cpu", text) == cpu_millis


def test_the_error_says_why_for_whitespace_and_foreign_digits() -> None:
    with pytest.raises(QuantityError, match="no tabs or line breaks"):
        parse_amount("\t1Gi")
    with pytest.raises(QuantityError, match="no spaces inside"):
        parse_amount(" 1 Gi")
    with pytest.raises(QuantityError, match="ASCII digits"):
        parse_amount("١Gi")
