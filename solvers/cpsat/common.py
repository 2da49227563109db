"""Shared pieces of the CP-SAT models: objective terms as linear sums and their integer scaling.

Objective levels mix terms with float weights and costs; CP-SAT wants integer objectives. Every
term is kept as a float-weighted linear sum over integer variables (``Linear``); a level is turned
into integers by multiplying by the smallest power of ten that makes every coefficient integral,
capped at ``DECIMALS`` decimals (the stated precision: weights and costs are rounded to 1e-6).
Ratios (``balance``, ``fairness``) are modelled in units of ``1 / RATIO_SCALE`` (precision 1e-4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.limits import require_int64

DECIMALS = 6  # float weights and costs are rounded to this many decimals in the model
RATIO_SCALE = 10_000  # balance and fairness are optimised in steps of 1e-4


@dataclass
class Linear:
    """Σ coef·var + constant, with float coefficients (var is a CP-SAT IntVar or BoolVar)."""

    terms: list[tuple[Any, float]] = field(default_factory=list)
    constant: float = 0.0

    def add(self, var: Any, coef: float) -> None:
        if coef != 0:
            self.terms.append((var, coef))

    def extend(self, other: Linear, factor: float) -> None:
        self.terms.extend((v, c * factor) for v, c in other.terms)
        self.constant += other.constant * factor


def count_of(totals: Mapping[str, Any], groups: Iterable[str]) -> Linear:
    """Σ of the groups' placed-count variables (a tier stage's objective)."""
    out = Linear()
    for g in groups:
        out.add(totals[g], 1.0)
    return out


@dataclass
class ScaledObjective:
    """An integer objective to minimise: Σ coefs·vars + offset, equal to ``multiplier`` × level."""

    variables: list[Any]
    coefficients: list[int]
    offset: int
    multiplier: float  # integer objective / multiplier = level value in minimisation form
    sign: int  # +1: level is minimised; -1: level is maximised (we minimise its negation)

    def expression(self) -> Any:
        from ortools.sat.python import cp_model

        return cp_model.LinearExpr.weighted_sum(self.variables, self.coefficients) + self.offset

    def level_value(self, integer_value: float) -> float:
        """Convert an integer objective value (or bound) back to the level's reporting form."""
        return self.sign * integer_value / self.multiplier


def scale_level(level_expr: Linear, sign: int) -> ScaledObjective:
    """Make a float-weighted sum integral (see module docstring for the precision)."""
    merged: dict[int, list[Any]] = {}
    for var, coef in level_expr.terms:
        key = id(var)
        if key in merged:
            merged[key][1] += coef * sign
        else:
            merged[key] = [var, coef * sign]
    items = [(v, c) for v, c in merged.values() if c != 0]
    constant = level_expr.constant * sign
    values = [c for _, c in items] + [constant]
    multiplier = 1
    for _ in range(DECIMALS + 1):
        if all(
            abs(v * multiplier - round(v * multiplier)) <= 1e-9 * max(1.0, abs(v)) for v in values
        ):
            break
        multiplier *= 10
    else:
        multiplier = 10**DECIMALS
    coefficients = [round(c * multiplier) for _, c in items]
    offset = round(constant * multiplier)
    divisor = math.gcd(*coefficients, offset) if coefficients else 0
    if divisor > 1:
        coefficients = [c // divisor for c in coefficients]
        offset //= divisor
        scale = multiplier / divisor
    else:
        scale = float(multiplier)
    for value in (*coefficients, offset):  # e.g. priority tiers' weights mixed with a cost
        require_int64(
            value,
            "cpsat: an objective level's integer weights",
            "give placed a level of its own (its priority tiers are then solved one by one), "
            "use fewer priority classes, or use milp",
        )
    return ScaledObjective(
        variables=[v for v, _ in items],
        coefficients=coefficients,
        offset=offset,
        multiplier=scale,
        sign=sign,
    )
