"""Devices in the per-bin CP-SAT model: the lowering's device rows (``solvers.lowering.
device_model``) as CP-SAT variables and constraints."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..lowering import Key, Lowered
from ..lowering.device_model import device_model


class DeviceEncoding:
    """The ``z`` variables of one CpModel and how to read them back."""

    def __init__(
        self,
        lowered: Lowered,
        model: Any,
        x: Mapping[Key, Any],
        low: Callable[[Key], int],
        high: Callable[[Key], int],
    ) -> None:
        from ortools.sat.python import cp_model

        self.rows_of = device_model(lowered, low, high)
        if self.rows_of.overfull:  # items that may not move already overfill a device
            model.add(model.new_constant(0) == 1)
        self.z = [model.new_int_var(0, v.high, "") for v in self.rows_of.vars]
        for row in self.rows_of.rows:
            expr = cp_model.LinearExpr.weighted_sum(
                [self.z[at] for at, _ in row.z], [c for _, c in row.z]
            )
            if row.key is not None:
                expr += row.x_coef * x[row.key]
            model.add(row.native(expr))

    def rows(
        self, counts: Mapping[Key, int], value: Callable[[Any], int]
    ) -> dict[Key, list[tuple[tuple[str, ...], int]]]:
        return self.rows_of.plan_rows(counts, [int(value(v)) for v in self.z])

    def hints(
        self, rows: Mapping[Key, Sequence[tuple[tuple[str, ...], int]]]
    ) -> list[tuple[Any, int]]:
        """(variable, value) of every z for a plan's device rows (in canonical device order)."""
        return list(zip(self.z, self.rows_of.values(rows), strict=True))
