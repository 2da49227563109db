"""Devices in the MILP model: items per device, exactly (see ``solvers.lowering.devices``).

The rows are the CP-SAT model's (``solvers.cpsat.devices``): for each group that requests
devices and each bin it may be on, integer ``z[g, b, d]`` items on device d with
``Σ_d z = need_g·(x − staying)``, ``z <= x − staying`` for items on several shared devices, the
shares of every device (a whole item counting its whole capacity) within its room, and
identical devices of a bin ordered by content.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pulp

from ..lowering import Key, Lowered

DeviceKey = tuple[int, int, int]  # (group, bin, device)


def encode_devices(builder: Any) -> dict[DeviceKey, pulp.LpVariable]:
    """Add the device rows to a ``model._Builder``; returns the ``z`` variables."""
    lowered: Lowered = builder.lowered
    devices = lowered.devices
    assert devices is not None
    z: dict[DeviceKey, pulp.LpVariable] = {}
    builder.infeasible += [f"overfull device {d}" for d in devices.overfull]
    names = [g.name for g in lowered.problem.items]
    on_device: dict[tuple[int, int], list[tuple[int, pulp.LpVariable, int]]] = defaultdict(list)
    for g in devices.requests():
        for b in lowered.bins_of(names[g]):
            key: Key = (names[g], b)
            bi = lowered.bin_index[b]
            floor = builder.lo[key]
            free_ub = builder.ub[key] - floor
            option = devices.options(g, bi)
            if option is None or free_ub <= 0:
                builder.add(builder.x[key] == floor, "no_devices", *key)
                continue
            need = int(devices.need[g])
            zs = []
            for d, most in zip(option.devices.tolist(), option.most.tolist(), strict=True):
                ub = min(int(most), free_ub)
                var = builder.var(builder.fresh("z", *key, d), 0, ub, pulp.LpInteger)
                z[(g, bi, d)] = var
                on_device[(bi, d)].append((g, var, ub))
                zs.append(var)
                if need > 1 and not devices.whole[g] and ub > 1:
                    builder.add(var <= builder.x[key] - floor, "device_once", *key, d)
            builder.add(pulp.lpSum(zs) == need * (builder.x[key] - floor), "devices", *key)
    for (bi, d), users in on_device.items():
        info = devices.bins[bi]
        room = info.capacity[d] - info.reserved[d]
        cap = info.capacity[d]
        for r in range(len(devices.resources)):
            terms = [
                (v, int(cap[r]) if devices.whole[g] else int(devices.share[g, r]), ub)
                for g, v, ub in users
            ]
            terms = [t for t in terms if t[1] > 0]
            if not terms or sum(c * ub for _, c, ub in terms) <= room[r]:
                continue  # cannot overflow
            builder.add(pulp.lpSum(c * v for v, c, _ in terms) <= int(room[r]), "device", bi, d, r)
        wholes = [v for g, v, _ in users if devices.whole[g]]
        if len(wholes) > 1 and not (cap > 0).any():
            builder.add(pulp.lpSum(wholes) <= 1, "device_whole", bi, d)
    for bi, info in devices.bins.items():
        for members in info.classes:
            if not any(on_device.get((bi, d)) for d in members):
                continue
            loads = [
                pulp.lpSum(
                    devices.weight(g, info.capacity[d]) * v
                    for g, v, _ in on_device.get((bi, d), [])
                )
                for d in members
            ]
            for heavier, lighter in itertools.pairwise(loads):
                builder.add(heavier >= lighter, "device_order", bi)
    return z


def device_rows(
    lowered: Lowered, z: Mapping[DeviceKey, pulp.LpVariable], counts: Mapping[Key, int]
) -> dict[Key, list[tuple[tuple[str, ...], int]]]:
    """The devices of the plan's items, from the variables' values."""
    assert lowered.devices is not None
    free: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for (g, b, d), var in z.items():
        n = round(var.varValue or 0.0)
        if n > 0:
            free[(g, b)][d] = n
    return lowered.devices.plan_rows(counts, free)
