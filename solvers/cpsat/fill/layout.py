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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...deadline import Deadline, cpsat_solve, highs_run
from ...quiet import quiet_stdout
from .classes import IntArray, NodeClass, Slot
from .master import Relaxation
from .pricing import Column, Pricer

CONFIGURE_MIN_NODES = 4  # classes of fewer nodes are laid node by node only
CONFIGURE_SHARE = 0.2  # of the time left: one class's configuration LP ...
CONFIGURE_SECONDS = 3.0  # ... and at most this long
CONFIGURE_PRICING_SECONDS = 0.5  # one pricing problem
PRICE_SCALE = 1000  # reduced profits to integers for CP-SAT
REDUCED_GAIN = 1e-6

ContentKey = tuple[Any, ...]  # a content by what it is (its kind of device, devices, items)
# per class: node combinations of contents, by content key, that earlier layouts' configuration
# LPs generated (the next layout of the same classes starts its column generation from them)
Remembered = dict[int, list[dict[ContentKey, int]]]


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
    remembered: Remembered | None = None,
) -> list[list[Column | None]]:
    """Per class, per node (in the class's bin order): the filling laid on it (or None).
    Each class takes the contents the LP gave it (its fractional ones rounded up, as far as
    the items go); what its nodes cannot take goes back to the items left. ``remembered``
    carries node combinations from one layout of these classes to the next."""
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
    keys = [key[1:] for key in pool]
    for t, content in enumerate(types):  # as many as the items allow
        most = min([stock[t]] + [int(left[g]) // n for g, n in content.groups if n > 0])
        stock[t] = max(0, most)
        for g, n in content.groups:
            left[g] -= stock[t] * n
    out: list[list[Column | None]] = []
    for c, cls in enumerate(classes):
        mine = [t for t in range(len(types)) if owner[t] == c]
        own = [stock[t] for t in mine]
        memory = None if remembered is None else remembered.setdefault(c, [])
        contents = [types[t] for t in mine]
        out.append(_class(pricer, c, cls, contents, own, deadline, [keys[t] for t in mine], memory))
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
    keys: list[ContentKey] | None = None,
    memory: list[dict[ContentKey, int]] | None = None,
) -> list[Column | None]:
    """The best of three layouts of the class's nodes: node by node (``_nodes``) spreading
    heavy contents over the nodes or packing the heaviest first, and by node configurations
    (``configure``, from the combinations those two made and those in ``memory``: found by
    earlier layouts of this class, with contents ``keys`` names)."""
    best: tuple[float, list[Column | None], list[int]] | None = None
    made: list[dict[int, int]] = []
    for way in ("spread", "heavy", "configure"):
        mine = list(stock)
        if way == "configure":
            if cls.size < CONFIGURE_MIN_NODES or deadline.expired():
                continue
            budget = deadline.part(CONFIGURE_SHARE, at_most=CONFIGURE_SECONDS)
            seeds = list(made)
            index = {} if keys is None else {k: t for t, k in enumerate(keys)}
            for old in memory or ():
                if all(k in index for k in old):
                    seeds.append({index[k]: n for k, n in old.items()})
            found: list[dict[int, int]] = []
            laid = configure(pricer, c, cls, types, mine, seeds, budget, deadline, found)
            if memory is not None and keys is not None:
                known = {frozenset(m.items()) for m in memory}
                for combination in found:
                    named = {keys[t]: n for t, n in combination.items()}
                    if frozenset(named.items()) not in known:
                        known.add(frozenset(named.items()))
                        memory.append(named)
        else:
            laid = _nodes(pricer, c, cls, types, mine, deadline, way == "spread", made)
        worth = sum(types[t].value * (stock[t] - mine[t]) for t in range(len(types)))
        if best is None or worth > best[0] + 1e-9:
            best = (worth, laid, mine)
    assert best is not None
    stock[:] = best[2]
    return best[1]


def configure(
    pricer: Pricer,
    c: int,
    cls: NodeClass,
    types: list[_Content],
    stock: list[int],
    made: list[dict[int, int]],
    budget: Deadline,
    deadline: Deadline,
    found: list[dict[int, int]] | None = None,
) -> list[Column | None]:
    """The class's nodes by configurations: the LP over whole-node combinations of the
    contents (at most the stock of each, n nodes), by column generation (within ``budget``)
    from the combinations ``made`` by the node-by-node layouts, each new one the best
    combination for the LP's prices (CP-SAT: the node's devices of each kind and its room).
    Its solution rounded down gives most nodes their combination; the nodes left are laid
    node by node from the stock left."""
    usable = [
        t for t, content in enumerate(types) if stock[t] > 0 and _suits(pricer, c, cls, content)
    ]
    if not usable:
        return [None] * cls.size
    slots_of: dict[Slot, list[int]] = defaultdict(list)
    for s, slot in enumerate(cls.slots):
        slots_of[slot].append(s)
    master = _Configurations(pricer, cls, types, usable, stock, slots_of)
    for combination in made:
        master.add(combination)
    counts = master.solve(budget)
    if found is not None:  # the combinations it generated (for the next layout)
        found.extend(master.combinations)
    out: list[Column | None] = []
    for combination, nodes in counts:
        column = _column(c, cls, types, combination, slots_of, pricer.demand.shape[0])
        out.extend([column] * nodes)
        for t, k in combination.items():
            stock[t] -= k * nodes
    rest = cls.size - len(out)
    if rest > 0:
        remaining = replace(cls, bins=cls.bins[len(out) :])
        out.extend(_nodes(pricer, c, remaining, types, stock, deadline, True))
    return out


class _Configurations:
    """The configuration LP of one class (HiGHS) and its pricing model (CP-SAT)."""

    def __init__(
        self,
        pricer: Pricer,
        cls: NodeClass,
        types: list[_Content],
        usable: list[int],
        stock: list[int],
        slots_of: dict[Slot, list[int]],
    ) -> None:
        import highspy
        from ortools.sat.python import cp_model

        self.hs = highspy
        self.cls, self.types, self.usable, self.stock = cls, types, usable, stock
        self.row = {t: i for i, t in enumerate(usable)}
        self.lp = _quiet_highs(highspy)
        rows = len(usable) + 1  # stock per content, nodes
        upper = np.array([float(stock[t]) for t in usable] + [float(cls.size)])
        self.lp.addRows(
            rows,
            np.full(rows, -highspy.kHighsInf),
            upper,
            0,
            np.array([], np.int32),
            np.array([], np.int32),
            np.array([], np.float64),
        )
        self.combinations: list[dict[int, int]] = []
        self.seen: set[tuple[tuple[int, int], ...]] = set()
        room = (cls.room // pricer.div).astype(np.int64)
        m = cp_model.CpModel()
        self.model = m
        self.take = {}
        for t in usable:
            content = types[t]
            on = content.demand > 0
            fit = int((room[on] // content.demand[on]).min()) if on.any() else 1 << 20
            most = min(stock[t], len(slots_of[content.slot]) // content.devices, fit)
            self.take[t] = m.new_int_var(0, max(0, most), "")
        for slot, slots in slots_of.items():
            terms = [(self.take[t], types[t].devices) for t in usable if types[t].slot == slot]
            if terms:
                m.add(sum(v * w for v, w in terms) <= len(slots))
        for r in range(len(room)):
            terms = [(self.take[t], int(types[t].demand[r])) for t in usable]
            terms = [(v, w) for v, w in terms if w > 0]
            if terms:
                m.add(sum(v * w for v, w in terms) <= int(room[r]))

    def add(self, combination: dict[int, int]) -> bool:
        key = tuple(sorted((t, k) for t, k in combination.items() if k > 0))
        if not key or key in self.seen or any(t not in self.row for t, _ in key):
            return False
        self.seen.add(key)
        self.combinations.append(dict(key))
        rows = np.array([self.row[t] for t, _ in key] + [len(self.usable)], np.int32)
        values = np.array([float(k) for _, k in key] + [1.0])
        worth = sum(self.types[t].value * k for t, k in key)
        self.lp.addCol(-worth, 0.0, self.hs.kHighsInf, len(rows), rows, values)
        return True

    def solve(self, deadline: Deadline) -> list[tuple[dict[int, int], int]]:
        """Column generation within ``deadline``; the combinations rounded down (nodes each)."""
        from ortools.sat.python import cp_model

        values = np.zeros(0)
        while not deadline.expired():
            if self.combinations:
                if not highs_run(self.lp, deadline):
                    break
                if self.lp.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
                    break
                solution = self.lp.getSolution()
                values = np.asarray(solution.col_value, dtype=np.float64)
                duals = np.maximum(-np.asarray(solution.row_dual, dtype=np.float64), 0.0)
            else:
                duals = np.zeros(len(self.usable) + 1)
            reduced = {t: self.types[t].value - duals[self.row[t]] for t in self.usable}
            m = self.model
            m.maximize(sum(self.take[t] * round(reduced[t] * PRICE_SCALE) for t in self.usable))
            solver = cp_model.CpSolver()
            solver.parameters.num_workers = 1
            status = cpsat_solve(solver, m, deadline.part(1.0, at_most=CONFIGURE_PRICING_SECONDS))
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                break
            found = {t: int(solver.value(v)) for t, v in self.take.items()}
            gain = sum(reduced[t] * k for t, k in found.items()) - duals[-1]
            if gain <= REDUCED_GAIN or not self.add(found):
                break
        if len(values) < len(self.combinations):
            values = np.concatenate([values, np.zeros(len(self.combinations) - len(values))])
        out = []
        nodes = 0
        for combination, value in sorted(
            zip(self.combinations, values.tolist(), strict=True), key=lambda cv: -cv[1]
        ):
            k = min(math.floor(value + 1e-6), self.cls.size - nodes)
            if k > 0:
                out.append((combination, k))
                nodes += k
        return out


def _nodes(
    pricer: Pricer,
    c: int,
    cls: NodeClass,
    types: list[_Content],
    stock: list[int],
    deadline: Deadline,
    spread: bool,
    made: list[dict[int, int]] | None = None,
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
    n = 0
    while n < cls.size:
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
        # the next node chooses the same while every content taken has more than as many left
        # (so none runs out within it: the same contents are available at every step) and
        # nothing else changed: those copies are laid at once
        more = min((int(stock_arr[t]) - 1) // k for t, k in chosen.items())
        copies = min(cls.size - n, 1 + max(0, more))
        for t, k in chosen.items():
            stock_arr[t] -= k * (copies - 1)
        key = tuple(sorted(chosen.items()))
        if made is not None:
            made.append(dict(key))
        if key not in cache:
            cache[key] = _column(c, cls, types, dict(chosen), slots_of, pricer.demand.shape[0])
        out[n : n + copies] = [cache[key]] * copies
        n += copies
    stock[:] = stock_arr.tolist()
    return out


def _suits(pricer: Pricer, c: int, cls: NodeClass, content: _Content) -> bool:
    """May the content go on this class's devices of its kind (every group there allowed)?"""
    if content.slot not in cls.slots:
        return False
    slot = cls.slots.index(content.slot)
    return all(
        bool(np.isin(g, cls.groups)) and any(s == slot for s, _ in pricer.matches(c, g))
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


def _quiet_highs(highspy: Any) -> Any:
    with quiet_stdout():
        lp = highspy.Highs()
    lp.setOptionValue("output_flag", False)
    lp.setOptionValue("threads", 1)
    return lp
