"""The device plugin of greedy: which bins can give one more item of a group its devices, and
which devices it gets there — as a node's device plugin or a DRA allocator decides.

State: every device's room per device resource (capacity less the shares on it), its number of
users and of whole-device users, as ``[bins, devices]`` arrays (bins hold up to ``width``
devices), so the filter runs over all bins at once. Items already running keep their devices even
where they overcommit one (``broken``), until they are taken off (``release``).

Allocation, one item at a time: a share on one device goes to the tightest device it fits (the
GPU-share device plugins' binpack, lowest index on ties); shares on several devices take those
with the most room (which reaches the most items); whole devices are the lowest-index devices
nobody uses. ``room`` counts exactly how many more items each bin can take this way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from engine.ir import Problem

from ..lowering.devices import Devices, items_on
from .rules import BoolArray, IntArray

DRA_UNSCHEDULABLE = "cannot allocate all claims"  # kube-scheduler's DRA plugin text


class DevicePlugin:
    def __init__(self, problem: Problem, devices: Devices) -> None:
        self.problem, self.devices = problem, devices
        bins = len(problem.bins)
        self.width = max((len(info.names) for info in devices.bins.values()), default=0)
        width, resources = self.width, len(devices.resources)
        self.capacity = np.zeros((bins, width, resources), np.int64)
        self.room = np.zeros((bins, width, resources), np.int64)
        self.users = np.zeros((bins, width), np.int64)
        self.wholes = np.zeros((bins, width), np.int64)  # users that take the device whole
        self.exists = np.zeros((bins, width), bool)
        self.names: dict[int, tuple[str, ...]] = {}
        for b, info in devices.bins.items():
            n = len(info.names)
            self.capacity[b, :n] = info.capacity
            self.room[b, :n] = info.capacity
            self.exists[b, :n] = True
            self.names[b] = info.names
        self._accept: dict[int, BoolArray] = {}
        self._by_select: dict[tuple[tuple[str, tuple[str, ...]], ...], BoolArray] = {}
        self.rows: dict[tuple[int, int], dict[tuple[str, ...], int]] = defaultdict(
            lambda: defaultdict(int)
        )

    def requests(self, g: int) -> bool:
        return bool(self.devices.need[g] > 0)

    def accept(self, g: int) -> BoolArray:
        """[bins, devices]: devices whose attributes match the group's ``select`` (one mask
        per distinct ``select``: at 5,000 nodes a walk over every node for every group was
        most of greedy's time)."""
        if g not in self._accept:
            request = self.problem.items[g].devices
            assert request is not None
            select = tuple(sorted((k, tuple(v)) for k, v in request.select.items()))
            mask = self._by_select.get(select)
            if mask is None:
                mask = np.zeros((len(self.problem.bins), self.width), bool)
                for b, bin_ in enumerate(self.problem.bins):
                    k = 0
                    for group in bin_.devices:
                        if request.accepts(group):
                            mask[b, k : k + group.count] = True
                        k += group.count
                self._by_select[select] = mask
            self._accept[g] = mask
        return self._accept[g]

    # ------------------------------------------------------------------ filter

    def _per_device(self, g: int, rows: slice | IntArray) -> IntArray:
        """[rows, devices]: more items of g each device takes."""
        accept = self.accept(g)[rows]
        if self.devices.whole[g]:
            return (accept & (self.users[rows] == 0)).astype(np.int64)
        share = self.devices.share[g]
        on = share > 0
        fit = (np.maximum(self.room[rows][:, :, on], 0) // share[on]).min(axis=2)
        return np.where(accept & (self.wholes[rows] == 0), fit, 0)

    def room_for(self, g: int, rows: slice | IntArray, todo: int) -> IntArray:
        """How many more items of g each bin of ``rows`` can give devices (at most ``todo``)."""
        if not self.requests(g):
            size = len(self.exists[rows])
            return np.full(size, todo, np.int64)
        most = self._per_device(g, rows)
        need = int(self.devices.need[g])
        if need == 1:
            out = most.sum(axis=1)
        else:
            out = np.array([items_on(row, need) for row in most], np.int64)
        return np.minimum(out, todo)

    # ------------------------------------------------------------------ allocate

    def keep(self, g: int, b: int, lists: tuple[tuple[str, ...], ...]) -> None:
        """Items already running on b keep their devices."""
        index = {d: i for i, d in enumerate(self.names.get(b, ()))}
        for names in lists:
            self._take(g, b, [index[d] for d in names])

    def allocate(self, g: int, b: int, n: int) -> None:
        """Devices for n more items of g on b (the filter said they fit)."""
        if not self.requests(g):
            return
        need = int(self.devices.need[g])
        for _ in range(n):
            most = self._per_device(g, np.array([b]))[0]
            fits = np.flatnonzero(most > 0)
            if len(fits) < need:
                raise AssertionError(f"no devices left on bin {b} for group {g}")
            if self.devices.whole[g]:
                chosen = fits[:need]
            elif need == 1:
                left = self.room[b, fits].sum(axis=1)  # tightest device first
                chosen = fits[np.lexsort((fits, left))][:1]
            else:
                chosen = fits[np.lexsort((fits, -most[fits]))][:need]
            self._take(g, b, [int(d) for d in chosen])

    def _take(self, g: int, b: int, chosen: list[int], n: int = 1) -> None:
        """n items of g take (n < 0: give back) the devices ``chosen`` on b."""
        for d in chosen:
            if self.devices.whole[g]:
                self.wholes[b, d] += n
            else:
                self.room[b, d] -= n * self.devices.share[g]
            self.users[b, d] += n
        names = self.names[b]
        self.rows[(g, b)][tuple(names[d] for d in sorted(chosen))] += n

    # ------------------------------------------------------------------ running items

    def broken(self, b: int) -> BoolArray:
        """[devices] of bin b that running items overcommit: taken whole by two, taken whole and
        shared, or shared beyond a resource's capacity (the verifier's device rules)."""
        wholes, users = self.wholes[b], self.users[b]
        return (wholes > 1) | ((wholes > 0) & (users > wholes)) | (self.room[b] < 0).any(axis=1)

    def _held(self, g: int, b: int) -> list[tuple[str, ...]]:
        return [names for names, k in self.rows.get((g, b), {}).items() if k > 0]

    def holds_broken(self, g: int, b: int) -> bool:
        """Does some item of g on b hold an overcommitted device?"""
        broken = {self.names[b][d] for d in np.flatnonzero(self.broken(b))}
        return any(broken.intersection(names) for names in self._held(g, b))

    def release(self, g: int, b: int) -> None:
        """One item of g leaves b and gives its devices back: one holding an overcommitted
        device if there is one."""
        if not self.requests(g):
            return
        held = self._held(g, b)
        broken = {self.names[b][d] for d in np.flatnonzero(self.broken(b))}
        names = next((ns for ns in held if broken.intersection(ns)), held[-1])
        index = {d: i for i, d in enumerate(self.names[b])}
        self._take(g, b, [index[d] for d in names], -1)

    # ------------------------------------------------------------------ gangs roll back

    def save(self) -> Any:
        return (
            self.room.copy(),
            self.users.copy(),
            self.wholes.copy(),
            {k: dict(v) for k, v in self.rows.items()},
        )

    def load(self, state: Any) -> None:
        room, users, wholes, rows = state
        self.room, self.users, self.wholes = room, users, wholes
        self.rows = defaultdict(lambda: defaultdict(int))
        for k, v in rows.items():
            self.rows[k].update(v)

    def plan_rows(self) -> dict[tuple[str, str], list[tuple[tuple[str, ...], int]]]:
        items = [g.name for g in self.problem.items]
        bins = [b.name for b in self.problem.bins]
        return {
            (items[g], bins[b]): [(names, n) for names, n in per.items() if n > 0]
            for (g, b), per in self.rows.items()
            if any(n > 0 for n in per.values())
        }
