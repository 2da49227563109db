"""From the device-pattern LP to nodes: whole devices' worth of its patterns and whole-device
items (CONTENTS, each filling one device, or ``need`` devices) laid onto each class's nodes.

The LP holds node resources only summed over a class, so the contents are packed onto the
nodes for real, node by node: CP-SAT picks the contents of one node — at most its devices of
each kind, within its room — most value first, then the heaviest on the node's resources (the
light ones are what later nodes can still combine), and that choice is repeated on as many
nodes as the contents allow. What fits nowhere goes back to the items left over.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...deadline import Deadline
from .classes import IntArray, NodeClass, Slot
from .master import Relaxation
from .pricing import Column, Pricer


@dataclass
class _Content:
    slot: Slot  # the kind of device it takes
    devices: int  # how many devices of that kind (1 for a pattern, need for a whole item)
    groups: tuple[tuple[int, int], ...]  # items per group
    uses: tuple[tuple[int, int], ...]  # per device: (group, uses) — patterns only
    value: float
    demand: IntArray


def lay_out(
    pricer: Pricer,
    classes: list[NodeClass],
    relaxed: Relaxation,
    profit: np.ndarray,
    left: IntArray,
    deadline: Deadline,
) -> list[list[Column | None]]:
    """Per class, per node (in the class's bin order): the filling laid on it (or None).
    Each class takes the contents the LP gave it (its fractional ones rounded up, as far as
    the items go); what its nodes cannot take goes back to the items left."""
    pool: dict[Any, list[Any]] = {}  # content key -> [content, stock]
    for column, value in zip(relaxed.columns, relaxed.values, strict=False):
        content: _Content | None = None
        copies = 0
        if column.kind == "pattern" and column.pattern is not None:
            uses = column.pattern.uses
            if any(pricer.need[g] != 1 for g, _ in uses):
                continue  # shares on several devices: left to the refill
            kind = relaxed.kinds[column.device_kind]
            slot = classes[kind.cls].slots[kind.slot]
            demand = sum(
                (n * pricer.demand[g] for g, n in uses), np.zeros(pricer.demand.shape[1], np.int64)
            )
            worth = sum(n * float(profit[g]) for g, n in uses)
            content = _Content(slot, 1, tuple(uses), tuple(uses), worth, demand)
            copies = math.ceil(value - 1e-6)
        elif column.kind == "use":
            g = column.group
            need = int(pricer.need[g])
            kind = relaxed.kinds[column.device_kind]
            slot = classes[kind.cls].slots[kind.slot]
            content = _Content(slot, need, ((g, 1),), (), float(profit[g]), pricer.demand[g])
            copies = math.ceil(value / need - 1e-6)
        if content is None or copies <= 0:
            continue
        key = (column.cls, content.slot, content.devices, content.groups)
        if key in pool:
            pool[key][1] += copies
        else:
            pool[key] = [content, copies]
    types = [entry[0] for entry in pool.values()]
    stock = [entry[1] for entry in pool.values()]
    owner = [key[0] for key in pool]
    for t, content in enumerate(types):  # as many as the items allow
        most = min([stock[t]] + [int(left[g]) // n for g, n in content.groups if n > 0])
        stock[t] = max(0, most)
        for g, n in content.groups:
            left[g] -= stock[t] * n
    out: list[list[Column | None]] = []
    for c, cls in enumerate(classes):
        mine = [t for t in range(len(types)) if owner[t] == c]
        own = [stock[t] for t in mine]
        out.append(_class(pricer, c, cls, [types[t] for t in mine], own, deadline))
        for t, k in zip(mine, own, strict=True):
            stock[t] = k
    for t, content in enumerate(types):  # what no node took goes back
        for g, k in content.groups:
            left[g] += stock[t] * k
    return out


def _class(
    pricer: Pricer,
    c: int,
    cls: NodeClass,
    types: list[_Content],
    stock: list[int],
    deadline: Deadline,
) -> list[Column | None]:
    """The better of two layouts of the class's nodes (``_nodes``): spreading heavy contents
    over the nodes, or packing the heaviest first."""
    best: tuple[float, list[Column | None], list[int]] | None = None
    for spread in (True, False):
        mine = list(stock)
        laid = _nodes(pricer, c, cls, types, mine, deadline, spread)
        worth = sum(types[t].value * (stock[t] - mine[t]) for t in range(len(types)))
        if best is None or worth > best[0] + 1e-9:
            best = (worth, laid, mine)
    assert best is not None
    stock[:] = best[2]
    return best[1]


def _nodes(
    pricer: Pricer,
    c: int,
    cls: NodeClass,
    types: list[_Content],
    stock: list[int],
    deadline: Deadline,
    spread: bool,
) -> list[Column | None]:
    """The class's nodes one by one: each device slot takes the most valuable content that
    still fits and leaves enough room for its other slots to take the lightest contents left
    (so a node is never closed with slots it cannot fill) — among those, with ``spread``, the
    heaviest within the slot's share of the node's room (heavy contents spread over nodes),
    else the heaviest."""
    slots_of: dict[Slot, list[int]] = defaultdict(list)
    for s, slot in enumerate(cls.slots):
        slots_of[slot].append(s)
    suits = np.array([_suits(pricer, c, cls, content) for content in types], bool)
    if not suits.any():
        return [None] * cls.size
    room0 = (cls.room // pricer.div).astype(np.int64)
    scale = np.maximum(room0, 1).astype(np.float64)
    demand = np.array([t.demand for t in types], np.int64).reshape(len(types), len(room0))
    value = np.array([t.value for t in types])
    devices = np.array([t.devices for t in types], np.int64)
    heavy = (demand / scale).sum(axis=1)
    order = np.lexsort((-heavy, -value))  # most valuable, then heaviest, first
    kind_of = np.array([list(slots_of).index(t.slot) if t.slot in slots_of else -1 for t in types])
    kinds = list(slots_of)
    stock_arr = np.array(stock, np.int64)
    out: list[Column | None] = [None] * cls.size
    cache: dict[Any, Column] = {}
    for n in range(cls.size):
        if deadline.expired():
            break
        room = room0.copy()
        free = np.array([len(slots_of[k]) for k in kinds], np.int64)
        chosen: dict[int, int] = defaultdict(int)
        while free.sum() > 0:
            avail = suits & (stock_arr > 0) & (kind_of >= 0)
            avail &= devices <= free[np.maximum(kind_of, 0)]
            avail &= (demand <= room).all(axis=1)
            if not avail.any():
                break
            # what the other free slots need at least: the lightest available content each
            lightest = demand[avail].min(axis=0)
            after = room - demand  # per type
            slots_after = free.sum() - devices
            keep = (after >= slots_after[:, None] * lightest).all(axis=1)
            pick_from = avail & keep
            if not pick_from.any():
                pick_from = avail
            # the most valuable; among those the heaviest within this slot's share of the
            # node's room (the lightest when none is), so heavy contents spread over nodes
            if spread:
                top = value[pick_from].max()
                best = pick_from & (value >= top - 1e-9)
                budget = float((room / scale).min()) / max(1, int(free.sum()))
                size = (demand / scale).max(axis=1)
                within = best & (size <= budget)
                if within.any():
                    t = int(np.flatnonzero(within)[np.argmax(size[within])])
                else:
                    t = int(np.flatnonzero(best)[np.argmin(size[best])])
            else:
                t = int(order[np.flatnonzero(pick_from[order])[0]])
            chosen[t] += 1
            stock_arr[t] -= 1
            room -= demand[t]
            free[kind_of[t]] -= devices[t]
        if not chosen:
            break
        key = tuple(sorted(chosen.items()))
        if key not in cache:
            cache[key] = _column(c, cls, types, dict(chosen), slots_of, pricer.demand.shape[0])
        out[n] = cache[key]
    stock[:] = stock_arr.tolist()
    return out


def _suits(pricer: Pricer, c: int, cls: NodeClass, content: _Content) -> bool:
    """May the content go on this class's devices of its kind (every group there allowed)?"""
    if content.slot not in cls.slots:
        return False
    slot = cls.slots.index(content.slot)
    return all(
        g in set(cls.groups.tolist()) and any(s == slot for s, _ in pricer.matches(c, g))
        for g, _ in content.groups
    )


def _column(
    c: int,
    cls: NodeClass,
    types: list[_Content],
    chosen: dict[int, int],
    slots_of: dict[Slot, list[int]],
    groups: int,
) -> Column:
    counts = np.zeros(groups, np.int64)
    laid: list[dict[int, int]] = [defaultdict(int) for _ in cls.slots]
    free = {k: list(slots) for k, slots in slots_of.items()}
    for t, k in chosen.items():
        content = types[t]
        for g, n in content.groups:
            counts[g] += n * k
        for _ in range(k):
            taken = [free[content.slot].pop(0) for _ in range(content.devices)]
            for s in taken:
                if content.uses:
                    for g, n in content.uses:
                        laid[s][g] += n
                else:
                    laid[s][content.groups[0][0]] += 1
    return Column(c, counts, tuple(tuple(sorted(on.items())) for on in laid))
