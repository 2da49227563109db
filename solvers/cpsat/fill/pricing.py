"""Pricing: the most profitable way to fill one node of a class (CP-SAT), devices included.

For the profits ``r`` (per item of each group) and the items still free ``left``, maximise
``Σ r_g a_g`` over the fillings of one node of the class: node resources within its room, each
share on devices whose attributes match and whose room holds it (items on several devices use
distinct ones), each whole device taken by one item on a device nothing runs on. Identical
slots are ordered by content. Profits are scaled up and rounded UP to integers, so CP-SAT's bound
divided back is an upper bound on the true maximum (what the Lagrangian bound needs).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...deadline import Deadline, cpsat_solve
from ...lowering import Lowered
from ...lowering.devices import items_on
from .classes import BoolArray, IntArray, NodeClass, Slot

PROFIT_SCALE = 1000  # profits are rounded up to 1/PROFIT_SCALE


@dataclass(frozen=True)
class Column:
    """One node's filling: items per group, and per slot the (group, items) on that device."""

    cls: int
    counts: IntArray  # [groups]
    slots: tuple[tuple[tuple[int, int], ...], ...]

    def key(self) -> tuple[Any, ...]:
        return (self.cls, self.counts.tobytes(), self.slots)


@dataclass
class _Model:
    """A built pricing model and its variables."""

    cls: int
    model: Any
    scaled: dict[int, int]
    count: dict[int, Any]
    shares: list[list[tuple[int, Any]]]
    whole_uses: dict[int, list[tuple[int, Any]]]
    taken: dict[int, Any]
    members: dict[int, list[int]]


@dataclass
class Priced:
    columns: list[Column]
    bound: float  # upper bound on max Σ r·a over the class's fillings
    proven: bool


class Pricer:
    """The pricing problems of one lowering's classes (group data as arrays, matched slots)."""

    def __init__(self, lowered: Lowered, classes: list[NodeClass]) -> None:
        # imported now, not at the first pricing call near a deadline (it loads pandas: ~1 s)
        from ortools.sat.python import cp_model  # noqa: F401

        self.lowered = lowered
        self.classes = classes
        problem = lowered.problem
        div = np.array([lowered.divisors.get(r, 1) for r in lowered.resources], np.int64)
        self.demand = lowered.demand // np.maximum(div, 1)  # [groups, resources], divided
        self.div = div
        devices = lowered.devices
        groups = len(problem.items)
        self.need = devices.need if devices is not None else np.zeros(groups, np.int64)
        self.whole = devices.whole if devices is not None else np.zeros(groups, bool)
        self.share = devices.share if devices is not None else np.zeros((groups, 0), np.int64)
        self._matches: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._fits: dict[tuple[int, int], int] = {}  # a class's room and slots never change
        # plain ints for the per-(class, group) arithmetic (numpy is slow on 1-3 elements)
        self._demand_of = [tuple(int(v) for v in row) for row in self.demand]
        self._share_of = [tuple(int(v) for v in row) for row in self.share]
        self._attributes: dict[int, list[dict[str, str]]] = {}
        self._allowed_by: dict[tuple[tuple[str, str], ...], BoolArray] = {}

    def matches(self, c: int, g: int) -> list[tuple[int, int]]:
        """(slot, most items of g it holds) for the slots of class c that group g may use."""
        key = (c, g)
        if key in self._matches:
            return self._matches[key]
        out: list[tuple[int, int]] = []
        request = self.lowered.problem.items[g].devices
        if request is not None:
            slots = self.classes[c].slots
            if c not in self._attributes:
                self._attributes[c] = [dict(slot.attributes) for slot in slots]
            share = self._share_of[g]
            for s, slot in enumerate(slots):
                attributes = self._attributes[c][s]
                if not all(attributes.get(k) in allowed for k, allowed in request.select.items()):
                    continue
                if request.share is None:
                    if slot.untouched:
                        out.append((s, 1))
                    continue
                most = min(
                    (r // v for r, v in zip(slot.room, share, strict=True) if v > 0), default=0
                )
                if most > 0:
                    out.append((s, most))
        self._matches[key] = out
        return out

    def fits(self, c: int, g: int) -> int:
        """Most items of g alone on one node of class c (node room and devices)."""
        key = (c, g)
        if key not in self._fits:
            self._fits_class(c)
        return self._fits[key]

    def _fits_class(self, c: int) -> None:
        """``fits`` of every group on class c at once (a dive prices hundreds of classes)."""
        cls = self.classes[c]
        room = cls.room // self.div
        big = np.int64(1 << 30)
        demand = self.demand
        most = np.where(demand > 0, room[None, :] // np.maximum(demand, 1), big).min(
            axis=1, initial=big
        )
        if cls.slots and self.need.any():
            slot_room = np.array([slot.room for slot in cls.slots], np.int64)  # [slots, res]
            share = self.share[:, None, :]  # [groups, 1, res]
            holds = np.where(share > 0, slot_room[None] // np.maximum(share, 1), big).min(
                axis=2, initial=big
            )  # [groups, slots]: shares of each group one slot holds
            holds[~(self.share > 0).any(axis=1)] = 0
            allowed = np.array([self._allowed(slot) for slot in cls.slots]).T  # [groups, slots]
            untouched = np.array([slot.untouched for slot in cls.slots], bool)
            need = np.maximum(self.need, 1)
            whole = (self.need > 0) & self.whole
            taken = (allowed & untouched[None, :]).sum(axis=1) // need  # whole devices
            held = np.where(allowed, holds, 0)
            one = (self.need == 1) & ~self.whole  # a share of one device
            most = np.where(whole, np.minimum(most, taken), most)
            most = np.where(one, np.minimum(most, held.sum(axis=1)), most)
            for g in np.flatnonzero((self.need > 1) & ~self.whole).tolist():  # shares on several
                most[g] = min(int(most[g]), items_on(held[g], int(self.need[g])))
        else:
            most[self.need > 0] = 0
        for g, m in enumerate(np.maximum(most, 0).tolist()):
            self._fits[(c, g)] = int(m)

    def _allowed(self, slot: Slot) -> BoolArray:
        """Per group: may it use a device like ``slot`` (it requests devices and the slot's
        attributes are among those it selects)?"""
        key = slot.attributes
        if key not in self._allowed_by:
            attributes = dict(key)
            out = np.zeros(len(self.need), bool)
            for g, item in enumerate(self.lowered.problem.items):
                request = item.devices
                if request is not None:
                    out[g] = all(
                        attributes.get(k) in allowed for k, allowed in request.select.items()
                    )
            self._allowed_by[key] = out
        return self._allowed_by[key]

    def _undominated(self, c: int, scaled: dict[int, int], left: IntArray) -> dict[int, int]:
        """Drop groups another group can always replace: the same device request on at least
        the same devices, no more demand, at least the profit, and enough items to fill a
        node alone (so no filling ever needs the dropped group: the optimum is unchanged)."""
        kept: dict[int, int] = {}
        by_request: dict[Any, list[int]] = defaultdict(list)
        for g in scaled:
            key = (int(self.need[g]), bool(self.whole[g]), self.share[g].tobytes())
            by_request[key].append(g)
        for members in by_request.values():
            members.sort(key=lambda g: (-scaled[g], *self.demand[g].tolist(), g))
            winners: list[int] = []
            for h in members:
                slots_h = {s for s, _ in self.matches(c, h)}
                dominated = any(
                    scaled[g] >= scaled[h]
                    and (self.demand[g] <= self.demand[h]).all()
                    and slots_h <= {s for s, _ in self.matches(c, g)}
                    and left[g] >= self.fits(c, g)
                    for g in winners
                )
                if not dominated:
                    winners.append(h)
                    kept[h] = scaled[h]
        return kept

    def price(
        self,
        c: int,
        profit: np.ndarray,
        left: IntArray,
        deadline: Deadline,
        hint: Column | None = None,
    ) -> Priced:
        built = self.build(c, profit, left)
        if built is None:
            return Priced([], 0.0, True)
        return self.solve(built, left, deadline, hint)

    def build(self, c: int, profit: np.ndarray, left: IntArray) -> _Model | None:
        """The pricing model of class c (None: no group could profit)."""
        from ortools.sat.python import cp_model

        cls = self.classes[c]
        m = cp_model.CpModel()
        scaled: dict[int, int] = {}
        for g in cls.groups.tolist():
            if profit[g] > 0 and left[g] > 0:
                most = min(int(left[g]), self.fits(c, g))
                if most > 0:
                    scaled[g] = int(np.ceil(profit[g] * PROFIT_SCALE - 1e-9))
        if not scaled:
            return None
        scaled = self._undominated(c, scaled, left)
        count: dict[int, Any] = {}
        shares: list[list[tuple[int, Any]]] = [[] for _ in cls.slots]  # per slot: (group, z)
        kinds = kinds_of(cls)
        taken: dict[int, Any] = {}  # slot -> taken whole
        whole_uses: dict[int, list[tuple[int, Any]]] = defaultdict(list)  # kind -> (group, w)
        for g in scaled:
            most = min(int(left[g]), self.fits(c, g))
            a = m.new_int_var(0, most, "")
            count[g] = a
            need = int(self.need[g])
            if not need:
                continue
            uses = []
            if self.whole[g]:  # whole devices: how many of each kind, not which ones
                per_kind: dict[int, int] = defaultdict(int)
                for slot, _ in self.matches(c, g):
                    per_kind[kinds[slot]] += 1
                for kind, n in per_kind.items():
                    w = m.new_int_var(0, min(n, need * most), "")
                    whole_uses[kind].append((g, w))
                    uses.append(w)
            else:
                for slot, per in self.matches(c, g):
                    z = m.new_int_var(0, min(per, most), "")
                    shares[slot].append((g, z))
                    uses.append(z)
                    if need > 1 and min(per, most) > 1:
                        m.add(z <= a)  # an item uses a device once
            m.add(cp_model.LinearExpr.sum(uses) == need * a)
        room = cls.room // self.div
        for r in range(len(room)):
            terms = [(count[g], int(self.demand[g, r])) for g in scaled if self.demand[g, r] > 0]
            if terms:
                m.add(
                    cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [w for _, w in terms])
                    <= int(room[r])
                )
        members: dict[int, list[int]] = defaultdict(list)
        for slot, kind in enumerate(kinds):
            members[kind].append(slot)
        loads: dict[int, Any] = {}
        for kind, slots in members.items():
            if whole_uses.get(kind):
                for slot in slots:
                    if cls.slots[slot].untouched:
                        taken[slot] = m.new_bool_var("")
                m.add(
                    cp_model.LinearExpr.sum([w for _, w in whole_uses[kind]])
                    == cp_model.LinearExpr.sum([taken[s] for s in slots if s in taken])
                )
            for slot in slots:
                device = cls.slots[slot]
                for r in range(len(device.room)):
                    terms = [
                        (z, int(self.share[g, r])) for g, z in shares[slot] if self.share[g, r] > 0
                    ]
                    if slot in taken and device.capacity[r] > 0:
                        terms.append((taken[slot], int(device.capacity[r])))
                    if terms:
                        m.add(
                            cp_model.LinearExpr.weighted_sum(
                                [v for v, _ in terms], [w for _, w in terms]
                            )
                            <= int(device.room[r])
                        )
                weight = [1 + int(self.share[g].sum()) for g, _ in shares[slot]]
                parts = [z for _, z in shares[slot]]
                if slot in taken:
                    parts.append(taken[slot])
                    weight.append(1 + int(sum(device.capacity)))
                loads[slot] = cp_model.LinearExpr.weighted_sum(parts, weight) if parts else None
            for first, second in itertools.pairwise(slots):  # identical slots: heavier first
                if loads[first] is not None and loads[second] is not None:
                    m.add(loads[first] >= loads[second])
        m.maximize(
            cp_model.LinearExpr.weighted_sum(list(count.values()), [scaled[g] for g in count])
        )
        return _Model(c, m, scaled, count, shares, whole_uses, taken, members)

    def solve(
        self, built: _Model, left: IntArray, deadline: Deadline, hint: Column | None = None
    ) -> Priced:
        """CP-SAT (within ``deadline``) from the better of the greedy filling and ``hint``; the
        greedy filling stands when CP-SAT finds nothing better in time."""
        from ortools.sat.python import cp_model

        greedy = self.greedy(built, left)
        start = greedy
        if hint is not None and self._value(built, hint) > self._value(built, greedy):
            start = hint
        m = built.model
        self._hint(built, start)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        status = cpsat_solve(solver, m, deadline)
        if status == cp_model.OPTIMAL or status == cp_model.FEASIBLE:
            found = self._read(built, solver, len(left))
            bound = solver.best_objective_bound
            if self._value(built, found) >= self._value(built, start):
                start = found
        else:
            bound = self._upper(built, left)
            if status != cp_model.UNKNOWN:  # INFEASIBLE cannot happen (all zero is a filling)
                bound = min(bound, solver.best_objective_bound)
        proven = status == cp_model.OPTIMAL and self._value(built, start) >= bound - 1e-9
        bound = max(bound, self._value(built, start))
        columns = [start] if start.counts.any() else []
        return Priced(columns, bound / PROFIT_SCALE, proven)

    def _upper(self, built: _Model, left: IntArray) -> float:
        return float(
            sum(v * min(int(left[g]), self.fits(built.cls, g)) for g, v in built.scaled.items())
        )

    @staticmethod
    def _value(built: _Model, column: Column) -> int:
        return sum(v * int(column.counts[g]) for g, v in built.scaled.items())

    def _canonical(self, built: _Model, column: Column) -> Column:
        """The same filling with identical slots in the model's order (heavier first)."""
        cls = self.classes[built.cls]

        def load(slot: int) -> int:
            total = 0
            for g, n in column.slots[slot]:
                if self.whole[g]:
                    total += n * (1 + int(sum(cls.slots[slot].capacity)))
                else:
                    total += n * (1 + int(self.share[g].sum()))
            return total

        laid = list(column.slots)
        for slots in built.members.values():
            ordered = sorted(slots, key=lambda s: (-load(s), s))
            contents = [column.slots[s] for s in ordered]
            for s, content in zip(slots, contents, strict=True):
                laid[s] = content
        return Column(column.cls, column.counts, tuple(laid))

    def _hint(self, built: _Model, column: Column) -> None:
        column = self._canonical(built, column)
        m = built.model
        m.clear_hints()
        for g, a in built.count.items():
            m.add_hint(a, int(column.counts[g]))
        whole_on: dict[int, int] = defaultdict(int)  # slot -> whole items there
        share_on: dict[tuple[int, int], int] = {}
        for slot, entries in enumerate(column.slots):
            for g, n in entries:
                if self.whole[g]:
                    whole_on[slot] += n
                else:
                    share_on[(slot, g)] = n
        for slot, on in enumerate(built.shares):
            for g, z in on:
                m.add_hint(z, share_on.get((slot, g), 0))
        for slot, var in built.taken.items():
            m.add_hint(var, 1 if whole_on.get(slot) else 0)
        kinds = kinds_of(self.classes[built.cls])
        per_kind: dict[tuple[int, int], int] = defaultdict(int)
        for slot, entries in enumerate(column.slots):
            for g, n in entries:
                if self.whole[g]:
                    per_kind[(kinds[slot], g)] += n
        for kind, uses in built.whole_uses.items():
            for g, w in uses:
                m.add_hint(w, per_kind.get((kind, g), 0))

    def _read(self, built: _Model, solver: Any, groups: int) -> Column:
        counts = np.zeros(groups, np.int64)
        for g, a in built.count.items():
            counts[g] = solver.value(a)
        laid: list[list[tuple[int, int]]] = [
            [(g, int(solver.value(z))) for g, z in on if solver.value(z) > 0] for on in built.shares
        ]
        free_whole = {
            kind: [
                s for s in built.members[kind] if s in built.taken and solver.value(built.taken[s])
            ]
            for kind in built.whole_uses
        }
        for kind, uses in built.whole_uses.items():  # whole devices onto the taken slots, in order
            for g, w in uses:
                for _ in range(int(solver.value(w))):
                    laid[free_whole[kind].pop(0)].append((g, 1))
        return Column(built.cls, counts, tuple(tuple(entries) for entries in laid))

    def greedy(self, built: _Model, left: IntArray) -> Column:
        """A quick filling, the best of a few orders of the groups: by profit per share of the
        node they take (node resources and devices weighed alike); whole devices first, the
        lightest on the node first; the largest shares first (first-fit decreasing on the
        devices). Each takes as many items as fit: a share on the tightest device that holds
        it, several shares on the roomiest, whole devices on untouched ones."""
        cls = self.classes[built.cls]
        room = (cls.room // self.div).astype(np.float64)
        full = np.maximum(room, 1.0)
        capacity = float(sum(sum(s.capacity) for s in cls.slots)) or 1.0
        device_size = sum(cls.slots[0].capacity) if cls.slots else 0

        def node_share(g: int) -> float:
            return float((self.demand[g] / full).sum())

        def device_share(g: int) -> float:
            if not self.need[g]:
                return 0.0
            per = device_size if self.whole[g] else int(self.share[g].sum())
            return float(self.need[g] * per) / capacity * len(room)

        groups = list(built.scaled)
        orders = [
            sorted(
                groups,
                key=lambda g: (-built.scaled[g] / max(node_share(g) + device_share(g), 1e-9), g),
            ),
            sorted(groups, key=lambda g: (not self.whole[g], node_share(g), -built.scaled[g], g)),
            sorted(groups, key=lambda g: (-device_share(g), node_share(g), -built.scaled[g], g)),
        ]
        best: Column | None = None
        for order in orders:
            column = self._greedy_in(built, left, order)
            if best is None or self._value(built, column) > self._value(built, best):
                best = column
        assert best is not None
        return best

    def _greedy_in(self, built: _Model, left: IntArray, order: list[int]) -> Column:
        c = built.cls
        cls = self.classes[c]
        room = (cls.room // self.div).astype(np.float64)
        slot_room = [np.array(s.room, np.int64) for s in cls.slots]
        untouched = [s.untouched for s in cls.slots]
        counts = np.zeros(len(left), np.int64)
        laid: list[dict[int, int]] = [defaultdict(int) for _ in cls.slots]
        used = np.zeros(len(room))
        for g in order:
            demand = self.demand[g]
            need = int(self.need[g])
            matches = [s for s, _ in self.matches(c, g)]
            while counts[g] < left[g] and (used + demand <= room).all():
                chosen: list[int] = []
                if need:
                    if self.whole[g]:
                        chosen = [s for s in matches if untouched[s]][:need]
                    else:
                        share = self.share[g]
                        fits = [s for s in matches if (slot_room[s] >= share).all()]
                        if need == 1:
                            fits.sort(key=lambda s: (int(slot_room[s].sum()), s))
                        else:
                            fits.sort(key=lambda s: (-int(slot_room[s].sum()), s))
                        chosen = fits[:need]
                    if len(chosen) < need:
                        break
                for s in chosen:
                    if self.whole[g]:
                        slot_room[s] = np.zeros_like(slot_room[s])
                    else:
                        slot_room[s] = slot_room[s] - self.share[g]
                    untouched[s] = False
                    laid[s][g] += 1
                used += demand
                counts[g] += 1
        return Column(c, counts, tuple(tuple(sorted(on.items())) for on in laid))


def kinds_of(cls: NodeClass) -> list[int]:
    """Per slot, the index of its kind (identical slots share one)."""
    index: dict[Any, int] = {}
    return [index.setdefault(slot, len(index)) for slot in cls.slots]
