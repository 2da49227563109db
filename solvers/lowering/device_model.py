"""The device rows every exact backend adds, as data: ``z`` variables and linear rows over them.

For each group that requests devices and each bin it may be on, integer ``z[g, b, d]`` counts
the free items of g (those not staying where they run) on device d:

- ``Σ_d z = need_g·(x[g, b] − low)`` (``devices``), or ``x = low`` where no device takes g;
- ``z <= x − low`` when an item takes several shared devices (``device_once``: a device once
  per item);
- per device and resource, the shares (a whole item counting the device's whole capacity)
  within the device's room (``device``), and at most one whole item on a device without
  capacity (``device_whole``);
- identical devices of a bin ordered by content, heavier first (``device_order``: the
  lowering's canonical device order, which start plans are put in).

A backend makes one native variable per ``ZVar`` and one native row per ``Row``; reading the
``z`` values back gives the plan's device rows (``plan_rows``), and a plan's device rows give
``z`` values for a hint (``values``).
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .devices import DeviceRowList
from .model import Key, Lowered

Sense = Literal["==", "<=", ">="]
SENSES: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "<=": operator.le,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class ZVar:
    group: int
    bin: int  # the bin's index
    device: int  # the device's index on the bin
    high: int  # upper bound (lower bound 0)


@dataclass(frozen=True)
class Row:
    """``Σ coef·z[var] + x_coef·x[key]  sense  rhs``; ``name`` and ``tags`` name it."""

    name: str
    tags: tuple[object, ...]
    z: tuple[tuple[int, int], ...]  # (ZVar position, coefficient)
    sense: Sense
    rhs: int
    key: Key | None = None
    x_coef: int = 0

    def native(self, lhs: Any) -> Any:
        """The row over a backend's own left-hand side (a CP-SAT or PuLP expression)."""
        return SENSES[self.sense](lhs, self.rhs)


@dataclass
class DeviceModel:
    lowered: Lowered
    vars: list[ZVar] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    overfull: list[str] = field(default_factory=list)  # devices staying items already overfill

    def plan_rows(
        self, counts: Mapping[Key, int], values: Sequence[int]
    ) -> dict[Key, DeviceRowList]:
        """The devices of the plan's items, from the ``z`` values (in ``vars`` order)."""
        devices = self.lowered.devices
        assert devices is not None
        free: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
        for var, n in zip(self.vars, values, strict=True):
            if n > 0:
                free[(var.group, var.bin)][var.device] = int(n)
        return devices.plan_rows(counts, free)

    def values(self, rows: Mapping[Key, Sequence[tuple[tuple[str, ...], int]]]) -> list[int]:
        """The ``z`` values (in ``vars`` order) of a plan's device rows (in canonical order)."""
        devices = self.lowered.devices
        assert devices is not None
        free = devices.free_items(rows)
        return [int(free.get((v.group, v.bin), {}).get(v.device, 0)) for v in self.vars]


def device_model(
    lowered: Lowered, low: Callable[[Key], int], high: Callable[[Key], int]
) -> DeviceModel:
    """The device rows of ``lowered`` for counts ``x[key]`` within ``low(key)..high(key)``."""
    devices = lowered.devices
    assert devices is not None
    out = DeviceModel(lowered, overfull=list(devices.overfull))
    names = [g.name for g in lowered.problem.items]
    on_device: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for g in devices.requests():
        for b in lowered.bins_of(names[g]):
            key: Key = (names[g], b)
            bi = lowered.bin_index[b]
            floor = low(key)
            free_ub = high(key) - floor
            option = devices.options(g, bi)
            if option is None or free_ub <= 0:
                out.rows.append(Row("no_devices", key, (), "==", floor, key, 1))
                continue
            need = int(devices.need[g])
            mine = []
            for d, most in zip(option.devices.tolist(), option.most.tolist(), strict=True):
                ub = min(int(most), free_ub)
                at = len(out.vars)
                out.vars.append(ZVar(g, bi, d, ub))
                on_device[(bi, d)].append((g, at, ub))
                mine.append((at, 1))
                if need > 1 and not devices.whole[g] and ub > 1:
                    out.rows.append(
                        Row("device_once", (*key, d), ((at, 1),), "<=", -floor, key, -1)
                    )
            out.rows.append(Row("devices", key, tuple(mine), "==", -need * floor, key, -need))
    for (bi, d), users in on_device.items():
        info = devices.bins[bi]
        room = info.capacity[d] - info.reserved[d]
        cap = info.capacity[d]
        for r in range(len(devices.resources)):
            terms = [
                (at, int(cap[r]) if devices.whole[g] else int(devices.share[g, r]), ub)
                for g, at, ub in users
            ]
            terms = [t for t in terms if t[1] > 0]
            if not terms or sum(c * ub for _, c, ub in terms) <= room[r]:
                continue  # cannot overflow
            z = tuple((at, c) for at, c, _ in terms)
            out.rows.append(Row("device", (bi, d, r), z, "<=", int(room[r])))
        wholes = tuple((at, 1) for g, at, _ in users if devices.whole[g])
        if len(wholes) > 1 and not (cap > 0).any():
            out.rows.append(Row("device_whole", (bi, d), wholes, "<=", 1))
    for bi, info in devices.bins.items():
        for members in info.classes:
            if not any(on_device.get((bi, d)) for d in members):
                continue
            loads = [
                [
                    (at, devices.weight(g, info.capacity[d]))
                    for g, at, _ in on_device.get((bi, d), [])
                ]
                for d in members
            ]
            for heavier, lighter in itertools.pairwise(loads):
                z = (*heavier, *((at, -w) for at, w in lighter))
                if z:
                    out.rows.append(Row("device_order", (bi,), z, ">=", 0))
    return out
