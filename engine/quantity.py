"""Kubernetes resource quantities, parsed to exact integers.

Semantics follow k8s.io/apimachinery `resource.Quantity`: a signed decimal number followed by a
binary-SI suffix (Ki Mi Gi Ti Pi Ei), a decimal-SI suffix (n u m k M G T P E) or a decimal
exponent (1e3, 2E-3). ``cpu`` is held in millicores, every other resource in base units; values
that are not whole in those units round up, as ``Quantity.MilliValue()`` / ``Value()`` do.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MILLI_RESOURCES = frozenset({"cpu"})

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
# Kubernetes' grammar (k8s.io/apimachinery resource.ParseQuantity): ASCII digits only ([0-9], not
# Python's Unicode \d), no whitespace inside, matched in full (fullmatch: no `$` before "\n").
_PATTERN = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)"
)


# Longer quantity strings are refused before any arithmetic (Kubernetes' own are short; a
# 100,000-digit number would cost seconds to convert).
MAX_QUANTITY_TEXT = 64


# What a manifest may carry around a quantity. Quantity.UnmarshalJSON trims Go's unicode.IsSpace
# from the raw JSON text (a TODO there says this tolerance may go); the control characters and
# U+2028/U+2029 never reach it raw, since a JSON encoder escapes them (kubectl's YAML-to-JSON
# included). So kube-apiserver v1.34 takes ' 1Gi ' as 1Gi and refuses '\t1Gi' and '1Gi\n'
# (checked against a real one: tests/engine/test_quantity_grammar.py lists the cases).
_TRIMMED_AROUND = (
    " \u0085\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
)


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def _why_not(text: str) -> str:
    """The common ways a near-quantity (with the tolerated spaces trimmed) fails Kubernetes'
    grammar, said plainly."""
    if text[:1].isspace() or text[-1:].isspace():
        return ": only spaces may surround it (no tabs or line breaks)"
    if any(c.isspace() for c in text):
        return ": no spaces inside it"
    if any(c.isdigit() and not c.isascii() for c in text):
        return ": only ASCII digits 0-9"
    return ""


def parse_amount(value: str | int | float) -> Fraction:
    """Exact value of a quantity in its plain unit (cores for cpu, bytes for memory)."""
    if isinstance(value, bool):
        raise QuantityError(f"expected a quantity, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"expected a finite quantity, got {value!r}")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise QuantityError(f"expected a quantity string or number, got {type(value).__name__}")
    text = value.strip(_TRIMMED_AROUND)
    if len(text) > MAX_QUANTITY_TEXT:
        raise QuantityError(f"{text[:20]}...: a quantity of {len(text)} characters is too long")
    match = _PATTERN.fullmatch(text)
    if not match:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity{_why_not(text)} (e.g. 500m, 2, 1.5Gi, 1e3)"
        )
    number = Fraction(match["number"])
    if match["sign"] == "-":
        number = -number
    if match["exp"]:
        exponent = int(match["exp"][1:])
        if abs(exponent) > 64:
            raise QuantityError(f"{value!r}: exponent out of range")
        return number * Fraction(10) ** exponent
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def parse_quantity(resource: str, value: str | int | float) -> int:
    """Integer amount in base units: millicores for cpu, base units (bytes, pods, GPUs) otherwise.

    Exact at any size, as Kubernetes parses; what placer accepts in a problem is bounded apart
    (``engine.limits.quantity_out_of_range``, applied by the IR to every resource map).
    """
    amount = parse_amount(value)
    if resource in MILLI_RESOURCES:
        amount *= 1000
    # Up for positive amounts (as Kubernetes rounds); a negative amount stays negative, so that
    # -500m of memory is refused as negative rather than read as 0.
    return math.ceil(amount) if amount >= 0 else math.floor(amount)


def format_quantity(resource: str, amount: int) -> str:
    """Short human form of a base-unit amount: 500m, 4, 16Gi, 1500M."""
    if resource in MILLI_RESOURCES:
        return f"{amount // 1000}" if amount % 1000 == 0 else f"{amount}m"
    if amount == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if amount % _BINARY[suffix] == 0:
            return f"{amount // _BINARY[suffix]}{suffix}"
    for suffix in ("E", "P", "T", "G", "M", "k"):
        unit = int(_DECIMAL[suffix])
        if amount % unit == 0:
            return f"{amount // unit}{suffix}"
    return str(amount)
