"""Devices in the MILP model: the lowering's device rows (``solvers.lowering.device_model``) as
PuLP variables and named rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulp

from ..lowering import Key
from ..lowering.device_model import DeviceModel, device_model


def encode_devices(builder: Any) -> tuple[DeviceModel, list[pulp.LpVariable]]:
    """Add the device rows to a ``model._Builder``; returns them with the ``z`` variables."""
    lowered = builder.lowered
    rows = device_model(lowered, builder.lo.__getitem__, builder.ub.__getitem__)
    builder.infeasible += [f"overfull device {d}" for d in rows.overfull]
    groups, bins = lowered.problem.items, lowered.bins
    z = [
        builder.var(
            builder.fresh("z", groups[v.group].name, bins[v.bin].name, v.device),
            0,
            v.high,
            pulp.LpInteger,
        )
        for v in rows.vars
    ]
    for row in rows.rows:
        expr = pulp.lpSum(c * z[at] for at, c in row.z)
        if row.key is not None:
            expr += row.x_coef * builder.x[row.key]
        builder.add(row.native(expr), row.name, *row.tags)
    return rows, z


def device_rows(
    rows: DeviceModel, z: Sequence[pulp.LpVariable], counts: dict[Key, int]
) -> dict[Key, list[tuple[tuple[str, ...], int]]]:
    """The devices of the plan's items, from the variables' values."""
    return rows.plan_rows(counts, [round(v.varValue or 0.0) for v in z])
