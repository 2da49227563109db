"""Filling fixed nodes: when the formulation applies, and the whole run with its time budget.

The objective's levels (``placed`` and ``value`` only, all maximised) become profits per item:
level 1's alone while filling, then all levels combined (each later level weighted below the
smallest step of the one before) for what is left. The aggregate LP (``bound``) gives an upper
bound on level 1 and each class's quota of every group; each class's nodes, largest class
first, then take the best filling of their quota (``pricing``), laid on as many nodes as the
items allow, again and again; finally every node's leftover room is filled from whatever is
left (nodes in the same state priced once). Fillings carry their device assignment, so the plan
names every item's devices. The bound reported is level 1's; later levels get none.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.solution import DeviceRows

from ...deadline import Deadline, slowdown
from ...lowering import Key, Lowered
from .classes import IntArray, NodeClass, node_classes, residual
from .layout import Remembered, lay_out
from .master import PatternMaster, master_profit
from .pricing import Column, Pricer

FILL_TERMS = frozenset({"placed", "value"})
FILL_MIN_BINS = 100  # auto: below this the per-bin model proves more
PRICING_SECONDS = 0.5  # at most this long for one node's pricing problem (refill)
REPACK_PRICING_SECONDS = 1.0  # one node filled anew (repack)
GENERATION_SHARE = 0.5  # of the time: column generation of the device-pattern LP
LAYOUT_SHARE = 0.7  # of the time then left: laying the LP contents onto nodes
DIVES = 3  # at most this many LP-and-layout rounds on what the nodes have left
LAYOUT_ROUNDS = 12  # at most this many layouts, each after the LP is held to what nodes took
TIGHTEN = 0.5  # a short class's resources go this share of the way back from what its nodes took
# Kept back from the deadline for turning the filling into a plan (here and in the backend's
# decode: one row per placed pod and device), at idle speed, times ``slowdown()`` (certifying
# is kept back by engine.solve). Measured on the openb lists (~10,000 pods, 1,213 nodes) at load
# 11 on 2 cores (slowdown 5.6): 0.1-0.15 s here, 0.05 s in the decode; these are 3x that.
DECODE_SECONDS_PER_ITEM = 1e-5
DECODE_SECONDS_PER_BIN = 2e-5
DECODE_SHARE = 0.1  # never more than this share of the time left


def fill_applies(lowered: Lowered) -> str | None:
    """Why the filling formulation cannot be used (None when it can)."""
    problem = lowered.problem
    for level in problem.objective:
        if not set(level) <= FILL_TERMS or any(w <= 0 for w in level.values()):
            return "objective levels other than placed and value (maximised)"
    if problem.constraints:
        return "the problem has constraints"
    if any(t.quota for t in problem.tenants):
        return "tenants have quotas"
    if problem.traffic or problem.delays:
        return "traffic or delays"
    if any(g.movable and g.placed for g in problem.items):
        return "movable items already placed"
    if any(g.required for g in problem.items):
        return "required groups"
    return None


def fill_worthwhile(lowered: Lowered) -> str | None:
    """Why ``auto`` does not choose it (None: it does): devices on many alike nodes."""
    if lowered.devices is None:
        return "no item requests devices"
    if len(lowered.problem.bins) < FILL_MIN_BINS:
        return f"fewer than {FILL_MIN_BINS} bins"
    return None


@dataclass
class FillResult:
    counts: dict[Key, int]
    devices: DeviceRows | None
    bound: float | None  # upper bound on level 1's value
    info: dict[str, Any] = field(default_factory=dict)


class FillModel:
    def __init__(self, lowered: Lowered) -> None:
        self.lowered = lowered
        problem = lowered.problem
        self.classes: list[NodeClass] = node_classes(lowered)
        self.pricer = Pricer(lowered, self.classes)
        self.left = np.array(
            [g.count - int(lowered.low[n].sum()) for n, g in enumerate(problem.items)], np.int64
        )
        self.levels = [self._coefficients(level) for level in problem.objective]
        self.first = self.levels[0] if self.levels else np.zeros(len(self.left))
        self.profit = self._combined()
        self.trace: list[tuple[int, int | None]] = []  # (layout value, LP value) per layout

    # ------------------------------------------------------------------ the profit

    def _coefficients(self, level: Any) -> np.ndarray:
        weights = self.lowered.placed_weight
        out = np.zeros(len(self.lowered.problem.items))
        for n, g in enumerate(self.lowered.problem.items):
            for term, w in level.items():
                out[n] += w * (g.value if term == "value" else weights[g.name])
        return out

    def _combined(self) -> np.ndarray:
        """Level 1, plus each later level scaled below the earlier level's smallest step."""
        profit = self.levels[0].copy() if self.levels else np.zeros(len(self.left))
        scale = 1.0
        for before, level in zip(self.levels, self.levels[1:], strict=False):
            integral = np.allclose(before, np.round(before))
            step = 1.0 if integral else 1e-6
            total = float(level @ self.left) + 1.0
            scale *= step / total
            profit = profit + scale * level
        return profit

    # ------------------------------------------------------------------ the run

    def decode_reserve(self) -> float:
        """Seconds to keep back from a deadline for decoding the filling, at today's speed."""
        items = int(self.left.sum()) + int(self.lowered.low.sum())
        bins = len(self.lowered.problem.bins)
        return (DECODE_SECONDS_PER_ITEM * items + DECODE_SECONDS_PER_BIN * bins) * slowdown()

    def solve(self, deadline: Deadline) -> FillResult:
        """The filling within ``deadline`` (decoding included: its time is kept back from the
        search; a stop request ends the search with the plan so far)."""
        began = time.perf_counter()
        reserve = min(DECODE_SHARE * deadline.left(), self.decode_reserve())
        work = Deadline(deadline.at - reserve)
        info: dict[str, Any] = {"classes": len(self.classes)}
        if work.expired():  # e.g. its compile ate the time (starved): the caller's plan stands
            info["stopped"] = "no time left when the filling began"
            return FillResult({}, None, None, info)
        left = self.left.copy()
        master = PatternMaster(self.pricer, self.classes, self.first, left)
        built = time.perf_counter() - began
        relaxed = master.generate(work.part(GENERATION_SHARE), work)
        level_bound: float | None = None
        if math.isfinite(relaxed.bound):  # the LP prices new items; those that stay add theirs
            level_bound = relaxed.bound + float(self.first @ self.lowered.low.sum(axis=1))
            if np.allclose(self.first, np.round(self.first)):
                level_bound = float(math.floor(level_bound + 1e-6))
        info["relaxation"] = {
            "bound": None if level_bound is None else round(level_bound, 6),
            "lp": None if relaxed.lp is None else round(relaxed.lp, 6),
            "rounds": relaxed.rounds,
            "columns": len(relaxed.columns),
            "converged": relaxed.converged,
            "seconds": round(time.perf_counter() - began, 3),
        }
        laid = self._lay_out(master, relaxed, left, work)
        info["layouts"] = self.trace
        info["laid_s"] = round(time.perf_counter() - began, 3)
        dives = []
        # a dive's set-up (its classes and LP) cannot be cut short: one starts only with at
        # least as much time left as the last took (the first: twice the first LP's set-up)
        needs = 2.0 * built
        for _ in range(DIVES):
            if work.left() <= needs:
                break
            dived = time.perf_counter()
            added = self._dive(laid, left, work)
            needs = time.perf_counter() - dived
            dives.append(round(added, 3))
            if added <= 0:
                break
        info["dives"] = dives
        # each phase below looks at the deadline between nodes, not before its first one
        if not work.expired():
            info["refill"] = {"items": self._refill(laid, self.first, left, work)}
        if not work.expired():
            info["repack"] = self._repack(laid, left, work)
        if len(self.levels) > 1 and not work.expired():
            info["top_up"] = {"items": self._refill(laid, self.profit, left, work)}
        searched = time.perf_counter()
        counts, devices = self._decode(laid)
        info["decode_s"] = round(time.perf_counter() - searched, 3)
        info["reserve_s"] = round(reserve, 3)
        info["seconds"] = round(time.perf_counter() - began, 3)
        return FillResult(counts, devices, level_bound, info)

    def _lay_out(
        self, master: PatternMaster, relaxed: Any, left: IntArray, deadline: Deadline
    ) -> list[_Node]:
        """The LP's contents onto nodes; while a class's nodes could not take what the LP gave
        it (the LP sums node resources over the class), that class's resources are held to
        what its nodes took, and the LP and layout run again. The best layout is kept."""
        best: tuple[float, list[_Node], IntArray] | None = None
        rounds = 0
        until = deadline.part(LAYOUT_SHARE)
        remembered: Remembered = {}  # node combinations one layout passes to the next
        while True:
            rounds += 1
            mine = left.copy()
            fillings = lay_out(
                self.pricer, self.classes, relaxed, self.first, mine, deadline, remembered
            )
            laid = [
                _Node(cls.bins[k], cls.slot_devices[k], [] if col is None else [col], c)
                for c, cls in enumerate(self.classes)
                for k, col in enumerate(fillings[c])
            ]
            value = float(self.first @ (self.left - mine))
            self.trace.append((round(value), None if relaxed.lp is None else round(relaxed.lp)))
            if best is None or value > best[0] + 1e-9:
                best = (value, laid, mine)
            short = self._short(fillings, relaxed)
            if not short or rounds >= LAYOUT_ROUNDS or until.expired():
                break
            for c, used in short.items():  # halfway to what its nodes took
                for r, amount in enumerate(used):
                    row = master.resource_row[(c, r)]
                    upper = master.rows_upper[row]
                    master.tighten(c, r, float(amount) + TIGHTEN * max(0.0, upper - float(amount)))
            relaxed = master.generate(until, deadline)
        value, laid, mine = best
        left[:] = mine
        return laid

    def _short(self, fillings: list[list[Column | None]], relaxed: Any) -> dict[int, IntArray]:
        """Classes whose nodes took less value than the LP gave them: the node resources
        their nodes did take."""
        given = np.zeros(len(self.classes))
        for column, value in zip(relaxed.columns, relaxed.values, strict=False):
            if column.kind in ("pattern", "whole", "plain"):
                given[column.cls] += value * master_profit(column, self.first, self.pricer)
        out: dict[int, IntArray] = {}
        for c, columns in enumerate(fillings):
            took = sum(float(self.first @ col.counts) for col in columns if col is not None)
            if took < given[c] - 0.5:
                used = sum(
                    (col.counts @ self.pricer.demand for col in columns if col is not None),
                    np.zeros(self.pricer.demand.shape[1], np.int64),
                )
                out[c] = used
        return out

    def _refill(
        self, laid: list[_Node], profit: np.ndarray, left: IntArray, deadline: Deadline
    ) -> int:
        """Fill what each node has left with ``profit``, from the items left anywhere (nodes
        in the same state form one class). Returns the items added."""
        if deadline.expired():  # grouping the nodes by state alone takes 0.2 s under load
            return 0
        states, classes = self._states(laid)
        pricer = Pricer(self.lowered, classes)
        added = 0
        for c in sorted(range(len(states)), key=lambda c: -len(states[c])):
            waiting = list(states[c])
            while waiting:
                if deadline.expired():
                    return added
                priced = pricer.price(c, profit, left, deadline.part(1.0, at_most=PRICING_SECONDS))
                if not priced.columns:
                    break
                column = priced.columns[0]
                nz = column.counts > 0
                copies = min(len(waiting), int((left[nz] // column.counts[nz]).min()))
                if copies <= 0:
                    break
                for node in waiting[:copies]:
                    node.columns.append(column)
                left -= copies * column.counts
                added += copies * int(column.counts.sum())
                waiting = waiting[copies:]
        return added

    def _repack(self, laid: list[_Node], left: IntArray, deadline: Deadline) -> dict[str, Any]:
        """Nodes whose devices still have room, the most first: each filled anew from nothing
        out of its own items and those left anywhere (its class's pricing, from its filling
        as the hint), kept when that places more level-1 value. The layout and the refill
        only ever add to a node: one whose node resources ran out (CPU, memory) while
        devices stayed free is mended only by trading its items for lighter ones left over.
        Nodes in the same state are priced once; the better filling goes on as many of them
        as the items allow. Until ``deadline`` or no node gains."""
        gained = 0.0
        tried = improved = 0
        skip: set[Any] = set()
        while not deadline.expired():
            states = self._free_states(laid, skip)
            if not states:
                break
            key, nodes, _ = states[0]
            skip.add(key)
            node = nodes[0]
            old = _merged(node, len(left), len(self.classes[node.cls].slots))
            before = float(self.first @ old.counts)
            left += old.counts
            priced = self.pricer.price(
                node.cls,
                self.profit,
                left,
                deadline.part(1.0, at_most=REPACK_PRICING_SECONDS),
                hint=old,
            )
            left -= old.counts
            tried += 1
            if not priced.columns:
                continue
            new = priced.columns[0]
            gain = float(self.first @ new.counts) - before
            if gain <= 0.5:
                continue
            improved += 1
            for other in nodes:  # the same state: the same trade while the items allow
                if ((left + old.counts) < new.counts).any():
                    break
                left += old.counts - new.counts
                other.columns = [new]
                gained += gain
            skip.discard(key)
        return {"tried": tried, "improved": improved, "value": round(gained, 3)}

    def _free_states(self, laid: list[_Node], skip: set[Any]) -> list[tuple[Any, list[_Node], int]]:
        """Nodes whose devices have room left, grouped by state, the most room first."""
        by_state: dict[Any, list[_Node]] = defaultdict(list)
        for node in laid:
            by_state[(node.cls, tuple(col.key() for col in node.columns))].append(node)
        out = []
        for key, nodes in by_state.items():
            if key in skip:
                continue
            free = self._device_room(nodes[0])
            if free > 0:
                out.append((key, nodes, free))
        out.sort(key=lambda entry: -entry[2])
        return out

    def _device_room(self, node: _Node) -> int:
        """The room left on a node's devices (summed over devices and their resources)."""
        base = self.classes[node.cls]
        rest = self._residual(base, node.columns)
        return sum(sum(slot.room) for slot in rest.slots)

    def _dive(self, laid: list[_Node], left: IntArray, deadline: Deadline) -> float:
        """The device-pattern LP again on what the nodes have left (nodes in the same state form
        one class) and the items left, laid out as before. Returns the level-1 value added."""
        states, classes = self._states(laid)
        pricer = Pricer(self.lowered, classes)
        before = left.copy()
        master = PatternMaster(pricer, classes, self.first, left)
        relaxed = master.generate(deadline.part(GENERATION_SHARE), deadline)
        fillings = lay_out(pricer, classes, relaxed, self.first, left, deadline)
        for nodes, columns in zip(states, fillings, strict=True):
            for node, column in zip(nodes, columns, strict=True):
                if column is not None:
                    node.columns.append(column)
        return float(self.first @ (before - left))

    def _states(self, laid: list[_Node]) -> tuple[list[list[_Node]], list[NodeClass]]:
        """Nodes grouped by what they hold, and each group as a class of what is left."""
        by_state: dict[Any, list[_Node]] = defaultdict(list)
        for node in laid:
            by_state[(node.cls, tuple(col.key() for col in node.columns))].append(node)
        states = list(by_state.values())
        classes = []
        for nodes in states:
            cls = self._residual(self.classes[nodes[0].cls], nodes[0].columns)
            cls.bins = [node.bin for node in nodes]
            cls.slot_devices = [node.slot_devices for node in nodes]
            classes.append(cls)
        return states, classes

    # ------------------------------------------------------------------ the plan

    def _residual(self, base: NodeClass, columns: list[Column]) -> NodeClass:
        usage = np.zeros_like(base.room)
        slot_use = [np.zeros(len(s.room), np.int64) for s in base.slots]
        untouched = [s.untouched for s in base.slots]
        demand = self.lowered.demand
        devices = self.lowered.devices
        for column in columns:
            usage = usage + column.counts @ demand
            for s, entries in enumerate(column.slots):
                for g, n in entries:
                    untouched[s] = False
                    if devices is None:
                        continue
                    if devices.whole[g]:
                        slot_use[s] = np.array(base.slots[s].room, np.int64)
                    else:
                        slot_use[s] = slot_use[s] + n * devices.share[g]
        return residual(base, usage, slot_use, untouched)

    def _decode(self, laid: list[_Node]) -> tuple[dict[Key, int], DeviceRows | None]:
        lowered = self.lowered
        problem = lowered.problem
        names = [g.name for g in problem.items]
        bins = [b.name for b in problem.bins]
        counts: dict[Key, int] = {}
        for g, b in zip(*np.nonzero(lowered.low), strict=True):
            counts[(names[g], bins[b])] = int(lowered.low[g, b])
        free: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for node in laid:
            b = node.bin
            for column in node.columns:
                for g in np.flatnonzero(column.counts).tolist():
                    key = (names[g], bins[b])
                    counts[key] = counts.get(key, 0) + int(column.counts[g])
                for s, entries in enumerate(column.slots):
                    d = int(node.slot_devices[s])
                    for g, n in entries:
                        free[(g, b)][d] += n
        if lowered.devices is None:
            return counts, None
        return counts, lowered.devices.plan_rows(counts, free)


def _merged(node: _Node, groups: int, slots: int) -> Column:
    """A node's fillings as one (items per group summed on each of its slots)."""
    counts = np.zeros(groups, np.int64)
    laid: list[dict[int, int]] = [defaultdict(int) for _ in range(slots)]
    for col in node.columns:
        counts += col.counts
        for s, entries in enumerate(col.slots):
            for g, n in entries:
                laid[s][g] += n
    return Column(node.cls, counts, tuple(tuple(sorted(on.items())) for on in laid))


@dataclass
class _Node:
    """One bin of the plan: its class, slot->device map and the fillings laid on it."""

    bin: int
    slot_devices: IntArray
    columns: list[Column]
    cls: int
