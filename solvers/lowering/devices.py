"""Devices in the lowering: what every backend needs to pack items onto the devices of a bin.

- per bin, its devices as arrays (``BinDevices``): capacity per device resource, what items
  that stay (``placed_devices`` of groups that may not move) already use, and the symmetry
  classes of its devices (devices of one device group with nothing on them that must stay);
- per group, its request as arrays: devices per item, whole or a share vector;
- which devices of a bin a group may use (attributes match ``select``, the share fits the
  device's room) and how many of its items one device holds (``options``);
- how many items of a group the devices of an empty bin hold (``fit``, for eligibility);
- the symmetry key of a device's content (``weight``) and the canonical device order;
- the inverse: items per device (of the items free to go anywhere) back to the devices each
  item uses (``rows``) — with several devices per item, the wrap-around rule gives every item
  distinct devices whenever no device holds more than one device per item.

Backends count, for each group on a bin, the items of it on each device: ``z[g, b, d]``, with
``Σ_d z = need_g × (x[g, b] − staying)`` and, per device and resource, ``Σ share·z`` (a whole
item counting the device's whole capacity) within the device's room.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ir import Bin, Problem

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
DeviceRowList = list[tuple[tuple[str, ...], int]]

SYMMETRY_SCALE = 1000  # a device's content weighs Σ_r ⌊SCALE·use_r / cap_r⌋ (+1 when used)
UNLIMITED = 1 << 40


@dataclass(frozen=True)
class BinDevices:
    """The devices of one bin, in device-group order."""

    names: tuple[str, ...]
    index: dict[str, int]
    kind: tuple[int, ...]  # the device group (index in ``Bin.devices``) of each device
    capacity: IntArray  # [devices, resources]
    reserved: IntArray  # [devices, resources]: shares of items that stay
    taken: BoolArray  # [devices]: taken whole by an item that stays
    classes: tuple[tuple[int, ...], ...]  # interchangeable devices (two or more), in order

    @property
    def free(self) -> IntArray:
        return np.where(self.taken[:, None], 0, self.capacity - self.reserved)


@dataclass(frozen=True)
class Option:
    """The devices of a bin one group may use, and how many of its items each holds."""

    devices: IntArray  # device indices on the bin
    most: IntArray  # per device: items of the group it holds (room permitting; 1 when whole)


class Devices:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        names: set[str] = set()
        for node in problem.bins:
            for group in node.devices:
                names.update(group.capacity)
        for g in problem.items:
            if g.devices is not None and g.devices.share is not None:
                names.update(g.devices.share)
        self.resources: tuple[str, ...] = tuple(sorted(names))
        column = {r: k for k, r in enumerate(self.resources)}
        groups, width = len(problem.items), len(self.resources)
        self.need = np.zeros(groups, np.int64)  # devices per item (0: no request)
        self.whole = np.zeros(groups, bool)
        self.share = np.zeros((groups, width), np.int64)
        for n, g in enumerate(problem.items):
            if g.devices is None:
                continue
            self.need[n] = g.devices.count
            self.whole[n] = g.devices.whole
            for r, amount in (g.devices.share or {}).items():
                self.share[n, column[r]] = amount
        self._column = column
        self.group_index = {g.name: n for n, g in enumerate(problem.items)}
        self.bins: dict[int, BinDevices] = {}
        self.overfull: list[str] = []  # devices the items that stay already overfill
        staying = self._staying()
        shapes: dict[tuple[Any, ...], int] = {}
        self.shape = np.full(len(problem.bins), -1, np.int64)  # bins with the same devices
        self.shapes: list[int] = []  # one bin of each shape
        for b, bin_ in enumerate(problem.bins):
            if bin_.devices:
                self.bins[b] = self._bin(bin_, staying.get(bin_.name, []))
                key = device_signature(bin_)
                if key not in shapes:
                    shapes[key] = len(self.shapes)
                    self.shapes.append(b)
                self.shape[b] = shapes[key]
        self._options: dict[tuple[int, int], Option | None] = {}
        self._weights: dict[tuple[int, tuple[int, ...]], int] = {}

    # ------------------------------------------------------------------ structure

    def _staying(self) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
        """Bin -> (group, devices) of every item that may not move."""
        out: dict[str, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
        for n, g in enumerate(self.problem.items):
            if g.devices is None or g.movable:
                continue
            for b, lists in g.placed_devices.items():
                out[b] += [(n, names) for names in lists]
        return out

    def _bin(self, bin_: Bin, staying: list[tuple[int, tuple[str, ...]]]) -> BinDevices:
        names: list[str] = []
        kind: list[int] = []
        rows: list[list[int]] = []
        for k, group in enumerate(bin_.devices):
            row = [group.capacity.get(r, 0) for r in self.resources]
            for name in group.device_names:
                names.append(name)
                kind.append(k)
                rows.append(row)
        index = {d: i for i, d in enumerate(names)}
        width = len(self.resources)
        capacity = np.array(rows, np.int64).reshape(len(names), width)
        reserved = np.zeros_like(capacity)
        taken = np.zeros(len(names), bool)
        for g, devices in staying:
            for d in devices:
                i = index[d]
                if self.whole[g]:
                    taken[i] = True
                else:
                    reserved[i] += self.share[g]
        wholes = np.zeros(len(names), np.int64)
        for g, devices in staying:
            if self.whole[g]:
                for d in devices:
                    wholes[index[d]] += 1
        broken = (reserved > capacity).any(axis=1) | (wholes > 1) | (taken & reserved.any(axis=1))
        for i in np.flatnonzero(broken).tolist():
            self.overfull.append(f"{bin_.name}/{names[i]}")
        touched = taken | reserved.any(axis=1)
        by_kind: dict[int, list[int]] = defaultdict(list)
        for i, k in enumerate(kind):
            if not touched[i]:
                by_kind[k].append(i)
        classes = tuple(tuple(c) for c in by_kind.values() if len(c) > 1)
        return BinDevices(tuple(names), index, tuple(kind), capacity, reserved, taken, classes)

    def requests(self) -> Iterator[int]:
        """The groups that request devices."""
        return iter(np.flatnonzero(self.need > 0).tolist())

    # ------------------------------------------------------------------ what fits

    def _accepts(self, g: int, bin_: Bin) -> BoolArray:
        request = self.problem.items[g].devices
        assert request is not None
        out: list[bool] = []
        for group in bin_.devices:
            out += [request.accepts(group)] * group.count
        return np.array(out, bool)

    def _shares_fit(self, g: int, room: IntArray) -> IntArray:
        """Shares of g each device holds in this room."""
        share = self.share[g]
        on = share > 0
        return (np.maximum(room[:, on], 0) // share[on]).min(axis=1).astype(np.int64)

    def options(self, g: int, b: int) -> Option | None:
        """The devices of bin b that group g may use, with items each holds beside what stays
        (None: the bin holds no item of g)."""
        key = (g, b)
        if key in self._options:
            return self._options[key]
        found: Option | None = None
        info = self.bins.get(b)
        if info is not None and self.need[g] > 0:
            bin_ = self.problem.bins[b]
            if self.whole[g]:
                most = (~info.taken & ~info.reserved.any(axis=1)).astype(np.int64)
            else:
                most = np.where(info.taken, 0, self._shares_fit(g, info.capacity - info.reserved))
            usable = self._accepts(g, bin_) & (most > 0)
            if int(usable.sum()) >= self.need[g]:
                devices = np.flatnonzero(usable)
                found = Option(devices, most[devices])
        self._options[key] = found
        return found

    def fit(self, g: int) -> IntArray:
        """Per bin, the items of g its devices hold when empty (UNLIMITED without a request)."""
        if self.need[g] == 0:
            return np.full(len(self.problem.bins), UNLIMITED, np.int64)
        per_shape = np.zeros(len(self.shapes) + 1, np.int64)  # the last: bins without devices
        for k, b in enumerate(self.shapes):
            info = self.bins[b]
            if self.whole[g]:
                most = np.ones(len(info.names), np.int64)
            else:
                most = self._shares_fit(g, info.capacity)
            most = np.where(self._accepts(g, self.problem.bins[b]), most, 0)
            per_shape[k] = items_on(most, int(self.need[g]))
        return per_shape[self.shape]

    # ------------------------------------------------------------------ symmetry

    def weight(self, g: int, capacity: Sequence[int]) -> int:
        """What one item of g adds to the symmetry key of a device of this capacity."""
        cap = tuple(int(c) for c in capacity)
        key = (g, cap)
        out = self._weights.get(key)
        if out is None:
            use = cap if self.whole[g] else tuple(int(s) for s in self.share[g])
            out = 1 + sum(SYMMETRY_SCALE * u // c for u, c in zip(use, cap, strict=True) if c > 0)
            self._weights[key] = out
        return out

    def canonical(self, b: int, per_device: Mapping[int, Mapping[int, int]]) -> dict[int, int]:
        """Device renaming (old index -> new index) that puts each class of interchangeable
        devices in the canonical order: heavier content first, ties in device order.
        ``per_device``: group -> {device: free items of the group on it}."""
        info = self.bins[b]
        load: dict[int, int] = defaultdict(int)
        for g, on in per_device.items():
            for d, n in on.items():
                load[d] += n * self.weight(g, info.capacity[d])
        mapping: dict[int, int] = {}
        for members in info.classes:
            order = sorted(members, key=lambda d: (-load[d], d))
            mapping.update(zip(order, members, strict=True))
        return mapping

    def canonical_rows(
        self, rows: Mapping[tuple[str, str], Sequence[tuple[tuple[str, ...], int]]]
    ) -> dict[tuple[str, str], DeviceRowList]:
        """A plan's device rows with identical devices of every bin in the canonical order."""
        free = self.free_items(rows)
        bin_index = {b.name: n for n, b in enumerate(self.problem.bins)}
        per_bin: dict[int, dict[int, dict[int, int]]] = defaultdict(dict)
        for (g, b), on in free.items():
            per_bin[b][g] = on
        renamed: dict[int, dict[str, str]] = {}
        for b, content in per_bin.items():
            mapping = self.canonical(b, content)
            names = self.bins[b].names
            renamed[b] = {names[old]: names[new] for old, new in mapping.items() if old != new}
        out: dict[tuple[str, str], DeviceRowList] = {}
        for (group, bin_), listed in rows.items():
            at = bin_index.get(bin_)
            change = renamed.get(at, {}) if at is not None else {}
            gi = self.group_index.get(group)
            staying: dict[frozenset[str], int] = defaultdict(int)
            if gi is not None and not self.problem.items[gi].movable:
                for names in self.problem.items[gi].placed_devices.get(bin_, ()):
                    staying[frozenset(names)] += 1
            merged: dict[tuple[str, ...], int] = defaultdict(int)
            for names, n in listed:
                stay = min(n, staying[frozenset(names)])
                staying[frozenset(names)] -= stay
                if stay:
                    merged[tuple(names)] += stay
                if n > stay:
                    merged[tuple(change.get(d, d) for d in names)] += n - stay
            out[(group, bin_)] = list(merged.items())
        return out

    # ------------------------------------------------------------------ inverse

    def rows(self, g: int, b: int, free: Mapping[int, int]) -> DeviceRowList:
        """The devices of every item of g on b: items that stay first (their own devices), then
        the free items, from their count per device (wrap-around for several devices each)."""
        group = self.problem.items[g]
        bin_ = self.problem.bins[b]
        names = self.bins[b].names
        out: dict[tuple[str, ...], int] = defaultdict(int)
        if not group.movable:
            for devices in group.placed_devices.get(bin_.name, ()):
                out[tuple(devices)] += 1
        need = int(self.need[g])
        total = sum(n for n in free.values() if n > 0)
        if total % need:
            raise ValueError(f"{group.name} on {bin_.name}: {total} device uses for {need} each")
        items = total // need
        if need == 1:
            for d, n in sorted(free.items()):
                if n > 0:
                    out[(names[d],)] += n
        elif items:
            sequence = [d for d, n in sorted(free.items()) for _ in range(max(0, n))]
            for i in range(items):
                chosen = sequence[i::items]
                if len(set(chosen)) != need:
                    raise ValueError(f"{group.name} on {bin_.name}: a device holds it twice")
                out[tuple(names[d] for d in chosen)] += 1
        return list(out.items())

    def plan_rows(
        self,
        counts: Mapping[tuple[str, str], int],
        free: Mapping[tuple[int, int], Mapping[int, int]],
    ) -> dict[tuple[str, str], DeviceRowList]:
        """Device rows of a whole plan: ``free[(g, b)]`` holds the free items per device."""
        out: dict[tuple[str, str], DeviceRowList] = {}
        bin_index = {b.name: n for n, b in enumerate(self.problem.bins)}
        for (group, bin_), n in counts.items():
            g = self.group_index[group]
            if n <= 0 or self.need[g] == 0:
                continue
            b = bin_index[bin_]
            out[(group, bin_)] = self.rows(g, b, free.get((g, b), {}))
        return out

    def free_items(
        self, rows: Mapping[tuple[str, str], Sequence[tuple[tuple[str, ...], int]]]
    ) -> dict[tuple[int, int], dict[int, int]]:
        """The inverse of ``plan_rows``: free items per device, from a plan's device rows (items
        of groups that may not move, on the devices they stay on, are left out)."""
        out: dict[tuple[int, int], dict[int, int]] = {}
        bin_index = {b.name: n for n, b in enumerate(self.problem.bins)}
        for (group, bin_), listed in rows.items():
            g = self.group_index.get(group)
            b = bin_index.get(bin_)
            if g is None or b is None or b not in self.bins or self.need[g] == 0:
                continue
            info = self.bins[b]
            staying: dict[frozenset[str], int] = defaultdict(int)
            if not self.problem.items[g].movable:
                for names in self.problem.items[g].placed_devices.get(bin_, ()):
                    staying[frozenset(names)] += 1
            per: dict[int, int] = defaultdict(int)
            for names, n in listed:
                key = frozenset(names)
                stay = min(n, staying[key])
                staying[key] -= stay
                for d in names:
                    if d in info.index:
                        per[info.index[d]] += n - stay
            out[(g, b)] = {d: n for d, n in per.items() if n > 0}
        return out


def device_signature(bin_: Bin) -> tuple[Any, ...]:
    """What two bins' devices must share to be interchangeable (names too: a plan names them)."""
    return tuple(
        (
            d.name,
            d.count,
            tuple(sorted(d.capacity.items())),
            tuple(sorted(d.attributes.items())),
            d.device_names,
        )
        for d in bin_.devices
    )


def items_on(most: IntArray, need: int) -> int:
    """How many items needing ``need`` distinct devices fit devices that hold ``most[d]``
    items each: the largest m with Σ min(most, m) >= need·m."""
    if need <= 1:
        return int(most.sum())
    low, high = 0, int(most.sum()) // need
    while low < high:
        mid = (low + high + 1) // 2
        if int(np.minimum(most, mid).sum()) >= need * mid:
            low = mid
        else:
            high = mid - 1
    return low
