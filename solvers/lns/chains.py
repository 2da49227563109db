"""Chains of moves on a plain problem: a fast local search between the neighbourhoods.

On problems with no rule between items (capacities, eligibility and devices only) and levels of
``placed`` and ``value`` alone, the moves that improve a plan are few and cheap to test one by
one, far cheaper than an exact sub-solve of a neighbourhood (about a second each):

- insert: a waiting item where it fits;
- relocate, then insert: up to two items move to other bins (each to its own) to give one
  the room (cpu, memory or devices) a waiting item lacks there;
- swap: a waiting item in place of one worth less (which waits; a later insert may place it
  elsewhere), after up to two relocations off that bin where the room needs them — what the
  LP relaxation of the Alibaba samples does: cpu-heavy pods without GPUs move off the 8-GPU
  nodes onto nodes whose GPUs are taken but whose cpu is not, and a whole-GPU pod takes the
  place of a share that strands a sliver of its GPU;
- cascade: a waiting item in place of one worth as much or more, which in turn takes the place
  of one worth less than the first on another bin (a waiting T4-only pod onto a T4 node whose
  GPU a pod that any GPU takes holds, that pod onto an 8-GPU node in place of a share): no
  swap alone gains there.

Every move is lexicographically better on the objective's levels, or the levels the driver
gives (``lns_price``: price·placed + value as one) (a swap's gain is what the newcomer adds
over what it displaces), so the search ends; the most gainful swap of a waiting
group is taken first. A bin's devices are tested by its layout (free items per device): the
current one changed in place, else the bin's device items packed anew. The result is a plan
(counts and device rows) that the driver verifies whole before keeping it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine import interrupt

from ..lowering import Key, Lowered
from ..lowering.devices import DeviceRowList

TARGETS = 12  # relocation targets tried per moving item, best fit first
TOLERANCE = 1e-9
RELOCATIONS = 2  # items moved off a bin to make a waiting item's room, at most
# groups a waiting group tries to displace in a cascade, at most, and places kept per group
# where it would displace an item worth less; ways to make a waiting item's room tried (each
# needs its items' new bins). Session 8, chains alone on the filling model's plans of gpuspec33
# seeds 1-3 (500 nodes): 4 / 4 / 4 ended at 3,498 / 3,553 / 3,490 pods, 8 / 8 / 8 at 3,501 /
# 3,555 / 3,493 with 0.7-1.9 GPUs more, in the same 4-7 s; 16 everywhere (and three
# relocations) lost 3 pods on seed 2: the first move found is taken, so wider is not always better
CASCADE_GROUPS = 8
CASCADE_BINS = 8
ROOM_TRIES = 8


def chains_apply(lowered: Lowered) -> str | None:
    """Why the chains do not apply (None: they do)."""
    p = lowered.problem
    if p.constraints or p.tenants or p.traffic:
        return "rules between items"
    for level in p.objective:
        if not level or set(level) - {"placed", "value"} or min(level.values()) <= 0:
            return "a level other than placed and value"
    if any(g.required or g.sizing is not None for g in p.items):
        return "required or sized groups"
    return None


DeviceRow = tuple[tuple[str, ...], int]  # an item's devices (names), and items so
Layout = dict[int, dict[int, int]]  # per group: free items per device (of one bin)
Step = tuple[str, int, int]  # ("add" | "drop", group, bin)


def _past(deadline: float) -> bool:
    """Out of time, or a stop (Ctrl-C) was asked for: the moves end and the plan so far stands."""
    return interrupt.requested() or time.perf_counter() >= deadline


@dataclass
class Move:
    gain: tuple[float, ...]
    steps: list[Step]  # in order
    layouts: dict[int, Layout]  # the bins' device layouts after it


class Chains:
    """The plan as arrays, moves tested against them and applied in place."""

    def __init__(
        self,
        lowered: Lowered,
        counts: Mapping[Key, int],
        devices: Mapping[Key, Sequence[DeviceRow]] | None,
        levels: Sequence[Mapping[str, float]] | None = None,
    ) -> None:
        self.lw = lowered
        self.levels = lowered.problem.objective if levels is None else levels
        p = lowered.problem
        gi, bi = lowered.group_index, lowered.bin_index
        groups, bins = len(p.items), len(p.bins)
        self.x = np.zeros((groups, bins), np.int64)
        for (group, bin_), n in counts.items():
            if n > 0:
                self.x[gi[group], bi[bin_]] += n
        self.fixed = np.zeros((groups, bins), np.int64)  # items that may not move
        for n, item in enumerate(p.items):
            if not item.movable:
                for bin_, k in item.placed.items():
                    if bin_ in bi:
                        self.fixed[n, bi[bin_]] = k
        self.free = lowered.capacity - self.x.T @ lowered.demand  # [bins, resources]
        self.high, self.open = lowered.high, lowered.open
        self.demand = lowered.demand
        self.cap = np.maximum(lowered.capacity, 1)
        self.unplaced = np.array([g.count for g in p.items], np.int64) - self.x.sum(axis=1)
        self.key = self._keys()
        self.dev = lowered.devices
        self.layout: dict[int, Layout] = {}  # per bin with devices
        if self.dev is not None:
            for (g, b), per in self.dev.free_items(devices or {}).items():
                self.layout.setdefault(b, {})[g] = {d: k for d, k in per.items() if k > 0}
        self.moves = {"insert": 0, "relocate": 0, "swap": 0, "cascade": 0}
        self.targets: dict[int, list[tuple[int, Layout]]] = {}  # _target's, for this plan
        self.replacing: dict[int, list[tuple[int, int, Layout]]] = {}  # _replacing's, likewise
        # per bin: _fit's answers (dropped and added groups -> layout), until the bin changes
        self.fits: dict[int, dict[tuple[tuple[int, ...], tuple[int, ...]], Layout | None]] = {}

    def _keys(self) -> np.ndarray:
        """Per group, what one item adds to each level."""
        p = self.lw.problem
        weight = np.array([self.lw.placed_weight[g.name] for g in p.items], np.float64)
        value = np.array([g.value for g in p.items], np.float64)
        return np.stack(
            [lv.get("placed", 0.0) * weight + lv.get("value", 0.0) * value for lv in self.levels],
            axis=1,
        )

    # ------------------------------------------------------------------ devices

    def _requests(self, groups: list[int]) -> list[int]:
        dev = self.dev
        return [g for g in groups if dev is not None and dev.need[g] > 0]

    def _fit(self, b: int, drop: list[int], add: list[int]) -> Layout | None:
        """The layout of bin b's devices once the items of ``drop`` leave it and those of
        ``add`` come (one item per entry): the current layout changed in place where that
        works (each dropped share tried on each of its devices), else b's device items packed
        anew (whole items first, then shares largest first, best fit); None when neither fits.
        Node resources are the caller's."""
        dev = self.dev
        if dev is None or b not in dev.bins:
            return {} if not self._requests(add) else None
        drop, add = self._requests(drop), self._requests(add)
        current = self.layout.get(b, {})
        if not drop and not add:
            return current
        key = (tuple(sorted(drop)), tuple(sorted(add)))
        known = self.fits.setdefault(b, {})
        if key not in known:
            known[key] = self._fit_anew(b, drop, add, current)
        return known[key]

    def _fit_anew(self, b: int, drop: list[int], add: list[int], current: Layout) -> Layout | None:
        dev = self.dev
        assert dev is not None
        first = drop[0] if drop else None
        choices = (
            sorted(current.get(first, {})) if first is not None and not dev.whole[first] else [None]
        )
        for choice in choices:
            layout = {g: dict(per) for g, per in current.items()}
            if self._take(b, layout, drop, choice) and all(self._put(b, layout, g) for g in add):
                return layout
        if not drop:  # packing anew seldom finds room that adding to the layout did not
            return None
        items: list[int] = []
        for g, per in current.items():
            items += [g] * (sum(per.values()) // int(dev.need[g]))
        for g in drop:
            items.remove(g)
        items += add
        return self._pack(b, items)

    def _take(self, b: int, layout: Layout, drop: list[int], choice: int | None) -> bool:
        """Take one item of each of ``drop`` off ``layout`` (the first from device ``choice``
        when given)."""
        dev = self.dev
        assert dev is not None
        for n, g in enumerate(drop):
            per = layout.get(g, {})
            need = int(dev.need[g])
            on = [d for d, k in sorted(per.items()) if k > 0]
            if n == 0 and choice is not None:
                on = [choice] + [d for d in on if d != choice]
            if len(on) < need:
                return False
            for d in on[:need]:
                per[d] -= 1
                if not per[d]:
                    del per[d]
        return True

    def _room(self, b: int, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        """Free room per device and whether a free item takes it whole, under ``layout``."""
        dev = self.dev
        assert dev is not None
        info = dev.bins[b]
        room = (info.capacity - info.reserved).copy()
        whole = info.taken | info.reserved.any(axis=1)
        for g, per in layout.items():
            for d, k in per.items():
                if dev.whole[g]:
                    whole[d] = True
                else:
                    room[d] -= k * dev.share[g]
        return room, whole

    def _put(
        self, b: int, layout: Layout, g: int, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> bool:
        """One more item of g into ``layout`` (best fit); False when it does not fit."""
        dev = self.dev
        assert dev is not None
        option = dev.options(g, b)
        if option is None:
            return False
        info = dev.bins[b]
        room, whole = self._room(b, layout) if state is None else state
        need = int(dev.need[g])
        cand = option.devices
        if dev.whole[g]:
            empty = ~whole[cand] & (room[cand] == info.capacity[cand]).all(axis=1)
            usable = cand[empty][:need]
        else:
            share = dev.share[g]
            usable = cand[~whole[cand] & (room[cand] >= share).all(axis=1)]
            left = ((room[usable] - share) / np.maximum(info.capacity[usable], 1)).sum(axis=1)
            usable = usable[np.argsort(left, kind="stable")[:need]]
        if len(usable) < need:
            return False
        per = layout.setdefault(g, {})
        for d in usable.tolist():
            per[d] = per.get(d, 0) + 1
            if dev.whole[g]:
                whole[d] = True
            else:
                room[d] -= dev.share[g]
        return True

    def _pack(self, b: int, items: list[int]) -> Layout | None:
        dev = self.dev
        assert dev is not None
        info = dev.bins[b]
        size = lambda g: (  # noqa: E731
            (0, -int(dev.need[g]))
            if dev.whole[g]
            else (1, -float((dev.share[g] / np.maximum(info.capacity.max(axis=0), 1)).max()))
        )
        layout: Layout = {}
        state = self._room(b, layout)
        for g in sorted(items, key=size):
            if not self._put(b, layout, g, state):
                return None
        return layout

    # ------------------------------------------------------------------ moves

    def _apply(self, steps: list[Step], layouts: dict[int, Layout]) -> None:
        for kind, g, b in steps:
            sign = 1 if kind == "add" else -1
            self.x[g, b] += sign
            self.unplaced[g] -= sign
            self.free[b] -= sign * self.demand[g]
        for b, layout in layouts.items():
            self.layout[b] = {g: per for g, per in layout.items() if per}
            self.fits.pop(b, None)
        self.targets.clear()
        self.replacing.clear()

    def _movable(self, b: int) -> np.ndarray:
        """Groups with an item on b that may move."""
        return np.flatnonzero(self.x[:, b] > self.fixed[:, b])

    def _node_fits(self, g: int, b: int, extra: np.ndarray | None = None) -> bool:
        free = self.free[b] if extra is None else self.free[b] + extra
        return bool((free >= self.demand[g]).all())

    def _target(self, c: int, away: set[int]) -> tuple[int, Layout] | None:
        """A bin not in ``away`` that one more item of c fits on (best fit), with its layout
        (the plan's few best per group, kept until a move changes the plan)."""
        if c not in self.targets:
            found: list[tuple[int, Layout]] = []
            ok = (
                self.open[c]
                & (self.x[c] < self.high[c])
                & (self.free >= self.demand[c]).all(axis=1)
            )
            cands = np.flatnonzero(ok)
            left = ((self.free[cands] - self.demand[c]) / self.cap[cands]).max(axis=1)
            for t in cands[np.argsort(left, kind="stable")[:TARGETS]]:
                layout = self._fit(int(t), [], [c])
                if layout is not None:
                    found.append((int(t), layout))
                    if len(found) > RELOCATIONS + 1:  # enough for any chain's ``away``
                        break
            self.targets[c] = found
        return next(((t, layout) for t, layout in self.targets[c] if t not in away), None)

    def _better(self, gain: np.ndarray) -> bool:
        for v in gain:
            if v > TOLERANCE:
                return True
            if v < -TOLERANCE:
                return False
        return False

    def _insert(self, g: int, bins: np.ndarray) -> Move | None:
        ok = bins[(self.free[bins] >= self.demand[g]).all(axis=1)]
        for b in ok:
            layout = self._fit(int(b), [], [g])
            if layout is not None:
                return Move(tuple(self.key[g]), [("add", g, int(b))], {int(b): layout})
        return None

    def _rooms(
        self, g: int, b: int, gone: list[int], depth: int, after: int = -1
    ) -> Iterator[tuple[list[int], Layout]]:
        """Ways to make room for one more item of g on b once the items ``gone`` leave it: up
        to ``depth`` more items to take off b (groups above ``after``, so that each set comes
        once), and b's layout then."""
        lack = self.demand[g] - self.free[b]
        for h in gone:
            lack = lack - self.demand[h]
        short = lack > 0  # node resources g lacks
        if not short.any():
            layout = self._fit(b, gone, [g])
            if layout is not None:
                yield [], layout
                return
        if depth <= 0:
            return
        movable = [
            c
            for c in self._movable(b).tolist()
            if c > after and c != g and self.x[c, b] - self.fixed[c, b] > gone.count(c)
        ]
        if not movable:
            return
        if short.any():
            # the ``depth`` largest of what the movable items take must cover the lack
            taken = np.sort(self.demand[np.ix_(movable, np.flatnonzero(short))], axis=0)
            if (taken[-depth:].sum(axis=0) < lack[short]).any():
                return
            helps = (self.demand[np.ix_(movable, np.flatnonzero(short))] > 0).any(axis=1)
        else:  # devices: only items that hold some help
            helps = np.array([self.dev is not None and self.dev.need[c] > 0 for c in movable])
        for c, useful in zip(movable, helps.tolist(), strict=True):
            if not useful:
                continue
            for more, layout in self._rooms(g, b, [*gone, c], depth - 1, c):
                yield [c, *more], layout

    def _relocated(self, g: int, b: int, gone: list[int]) -> Move | None:
        """Insert g on b after the items ``gone`` leave b, relocating up to ``RELOCATIONS``
        more items off b (each to its own bin) when g still lacks room: the steps (without
        ``gone``'s), or None."""
        for tries, (moving, layout) in enumerate(self._rooms(g, b, gone, RELOCATIONS)):
            if tries >= ROOM_TRIES:
                break
            steps: list[Step] = []
            layouts = {b: layout}
            for c in moving:
                target = self._target(c, set(layouts))
                if target is None:
                    break
                t, placed = target
                layouts[t] = placed
                steps += [("drop", c, b), ("add", c, t)]
            else:
                return Move((), [*steps, ("add", g, b)], layouts)
        return None

    def _chain_insert(self, g: int, bins: np.ndarray, deadline: float) -> Move | None:
        for b in bins:
            if _past(deadline):
                return None
            found = self._relocated(g, int(b), [])
            if found is not None:
                return Move(tuple(self.key[g]), found.steps, found.layouts)
        return None

    def _swap(self, g: int, bins: np.ndarray, deadline: float) -> Move | None:
        """The best swap of g for an item worth less, over ``bins`` (the most gainful first,
        then the bins in order)."""
        pairs: list[tuple[tuple[float, ...], int, int, int]] = []
        for n, b in enumerate(bins.tolist()):
            for h in self._movable(b).tolist():
                gain = self.key[g] - self.key[h]
                if h != g and self._better(gain):
                    pairs.append((tuple(-gain), n, b, h))
        for negative, _, b, h in sorted(pairs):
            if _past(deadline):
                return None
            found = self._relocated(g, b, [h])
            if found is not None:
                gain = tuple(-v for v in negative)
                return Move(gain, [("drop", h, b), *found.steps], found.layouts)
        return None

    def _cascade(self, g: int, bins: np.ndarray, deadline: float) -> Move | None:
        """g in place of an item h worth as much or more (the swap alone gains nothing), h in
        turn in place of an item worth less than g on another bin: a waiting T4-only pod onto
        a T4 node whose GPU a pod that any GPU takes holds, that pod onto an 8-GPU node in
        place of a share. The first found, nearest bins first."""
        tried: set[int] = set()
        for b in bins.tolist():
            for h in self._movable(b).tolist():
                if h == g or h in tried or self._better(self.key[g] - self.key[h]):
                    continue  # (worth less: a plain swap, ``_swap``, where it fits)
                if len(tried) >= CASCADE_GROUPS or _past(deadline):
                    return None
                found = self._relocated(g, b, [h])
                if found is None:
                    continue
                tried.add(h)
                for b2, h2, layout in self._replacing(h):
                    if b2 in found.layouts or not self._better(self.key[g] - self.key[h2]):
                        continue
                    steps = [("drop", h, b), *found.steps, ("drop", h2, b2), ("add", h, b2)]
                    gain = tuple(self.key[g] - self.key[h2])
                    return Move(gain, steps, {**found.layouts, b2: layout})
        return None

    def _replacing(self, h: int) -> list[tuple[int, int, Layout]]:
        """Where one more item of h goes in place of an item worth less (bin, that item's
        group, the bin's layout then), the least worth first; kept until a move changes the
        plan."""
        if h not in self.replacing:
            found: list[tuple[tuple[float, ...], int, int, Layout]] = []
            for b in np.flatnonzero(self.open[h] & (self.x[h] < self.high[h])).tolist():
                for h2 in self._movable(b).tolist():
                    if h2 == h or not self._better(self.key[h] - self.key[h2]):
                        continue
                    if not self._node_fits(h, b, self.demand[h2]):
                        continue
                    layout = self._fit(b, [h2], [h])
                    if layout is not None:
                        found.append((tuple(self.key[h2]), b, h2, layout))
            found.sort(key=lambda row: (row[0], row[1]))
            self.replacing[h] = [(b, h2, layout) for _, b, h2, layout in found[:CASCADE_BINS]]
        return self.replacing[h]

    def improve(self, deadline: float) -> int:
        """Moves until none improves or the deadline; the number made."""
        made = 0
        order = np.lexsort(tuple(-self.key[:, k] for k in reversed(range(self.key.shape[1]))))
        progress = True
        while progress and not _past(deadline):
            progress = False
            for g in order:
                g = int(g)
                while self.unplaced[g] > 0 and not _past(deadline):
                    bins = np.flatnonzero(self.open[g] & (self.x[g] < self.high[g]))
                    if not len(bins):
                        break
                    move = self._insert(g, bins)
                    kind = "insert"
                    if move is None:
                        near = self._nearest(g, bins)
                        move = self._chain_insert(g, near, deadline)
                        kind = "relocate"
                        if move is None:
                            move = self._swap(g, near, deadline)
                            kind = "swap"
                        if move is None:
                            move = self._cascade(g, near, deadline)
                            kind = "cascade"
                    if move is None:
                        break
                    self._apply(move.steps, move.layouts)
                    self.moves[kind] += 1
                    made += 1
                    progress = True
        return made

    def _nearest(self, g: int, bins: np.ndarray) -> np.ndarray:
        """The bins in the order of their shortfall in node resources for g (in shares of
        their capacity): nearest to holding it first."""
        short = (np.maximum(self.demand[g] - self.free[bins], 0) / self.cap[bins]).sum(axis=1)
        return bins[np.argsort(short, kind="stable")]

    # ------------------------------------------------------------------ the plan

    def plan(self) -> tuple[dict[Key, int], dict[Key, DeviceRowList] | None]:
        p = self.lw.problem
        counts: dict[Key, int] = {}
        for g, b in zip(*np.nonzero(self.x), strict=True):
            counts[(p.items[int(g)].name, p.bins[int(b)].name)] = int(self.x[g, b])
        if self.dev is None:
            return counts, None
        free = {(g, b): per for b, layout in self.layout.items() for g, per in layout.items()}
        return counts, self.dev.plan_rows(counts, free)


def run_chains(
    lowered: Lowered,
    counts: Mapping[Key, int],
    devices: Mapping[Key, Sequence[DeviceRow]] | None,
    seconds: float,
    levels: Sequence[Mapping[str, float]] | None = None,
) -> tuple[dict[Key, int], dict[Key, DeviceRowList] | None, dict[str, int]] | None:
    """The plan after the chains' moves, with the moves made by kind (None: none improved
    it). Without a time limit (``seconds`` infinite) they run until no move improves: every
    move improves the objective (``levels``, placed and value terms only: the problem's own
    when None), so that comes."""
    if seconds <= 0:
        return None
    chains = Chains(lowered, counts, devices, levels)
    if not chains.improve(time.perf_counter() + seconds):
        return None
    out_counts, out_devices = chains.plan()
    return out_counts, out_devices, dict(chains.moves)
