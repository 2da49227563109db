"""Devices in the per-bin CP-SAT model: items per device, exactly (see ``solvers.lowering.devices``).

For each group that requests devices and each bin it may be on, ``z[g, b, d]`` counts the free
items of g (those not staying where they run) on device d: ``Σ_d z = need_g·(x[g, b] − low)``,
``z <= x − low`` when an item takes several shared devices, and per device and resource the
shares (a whole item counting the device's whole capacity) stay within the device's room.
Identical devices of a bin are ordered by their content (the lowering's canonical order).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..lowering import Key, Lowered

DeviceKey = tuple[int, int, int]  # (group, bin, device)


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

        devices = lowered.devices
        assert devices is not None
        self.lowered, self.devices = lowered, devices
        self.z: dict[DeviceKey, Any] = {}
        if devices.overfull:  # items that may not move already overfill a device
            model.add(model.new_constant(0) == 1)
        names = [g.name for g in lowered.problem.items]
        on_device: dict[tuple[int, int], list[tuple[int, Any, int]]] = defaultdict(list)
        for g in devices.requests():
            for b in lowered.bins_of(names[g]):
                key = (names[g], b)
                bi = lowered.bin_index[b]
                floor = low(key)
                free_ub = high(key) - floor
                option = devices.options(g, bi)
                if option is None or free_ub <= 0:
                    model.add(x[key] == floor)
                    continue
                need = int(devices.need[g])
                zs = []
                for d, most in zip(option.devices.tolist(), option.most.tolist(), strict=True):
                    ub = min(int(most), free_ub)
                    var = model.new_int_var(0, ub, "")
                    self.z[(g, bi, d)] = var
                    on_device[(bi, d)].append((g, var, ub))
                    zs.append(var)
                    if need > 1 and not devices.whole[g] and ub > 1:
                        model.add(var <= x[key] - floor)  # an item uses a device once
                model.add(cp_model.LinearExpr.sum(zs) == need * (x[key] - floor))
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
                model.add(
                    cp_model.LinearExpr.weighted_sum(
                        [v for v, _, _ in terms], [c for _, c, _ in terms]
                    )
                    <= int(room[r])
                )
            wholes = [v for g, v, _ in users if devices.whole[g]]
            if len(wholes) > 1 and not (cap > 0).any():
                model.add(cp_model.LinearExpr.sum(wholes) <= 1)
        # Identical devices of a bin: heavier content first (the lowering's canonical order).
        for bi, info in devices.bins.items():
            for members in info.classes:
                loads = []
                for d in members:
                    users = on_device.get((bi, d), [])
                    weights = [devices.weight(g, info.capacity[d]) for g, _, _ in users]
                    loads.append(
                        cp_model.LinearExpr.weighted_sum([v for _, v, _ in users], weights)
                    )
                if any(on_device.get((bi, d)) for d in members):
                    for heavier, lighter in itertools.pairwise(loads):
                        model.add(heavier >= lighter)

    def free(self, value: Callable[[Any], int]) -> dict[tuple[int, int], dict[int, int]]:
        """Free items per device, per (group, bin), from a value function."""
        out: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
        for (g, b, d), var in self.z.items():
            n = int(value(var))
            if n > 0:
                out[(g, b)][d] = n
        return out

    def rows(
        self, counts: Mapping[Key, int], value: Callable[[Any], int]
    ) -> dict[Key, list[tuple[tuple[str, ...], int]]]:
        return self.devices.plan_rows(counts, self.free(value))

    def hints(
        self, rows: Mapping[Key, Sequence[tuple[tuple[str, ...], int]]]
    ) -> list[tuple[Any, int]]:
        """(variable, value) of every z for a plan's device rows (in canonical device order)."""
        free = self.devices.free_items(rows)
        out = []
        for (g, b, d), var in self.z.items():
            out.append((var, int(free.get((g, b), {}).get(d, 0))))
        return out
