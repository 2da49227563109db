"""Bin elimination by local search for vector packings (after Buljubašić & Vasquez's consistent
neighbourhood search, 2016).

Column generation and dives improve a packing through patterns, and on hundreds of items they
do not converge within seconds; bin-centric heuristics stop a few per cent above the optimum
where bins are nearly full in every resource (the Caprara–Toth classes 6 and 7). Here the
lightest bins are emptied into a pool, and a tabu search swaps items between bins and the pool —
up to three pool items into a bin for up to two of its items — taking the move that leaves the
least in the pool (items weigh their summed shares of the capacity, so big items go into bins
and small ones wait in the pool, where they are easy to place later). Each move looks at a
random quarter of the bins (always the best move of all cycles), all of them at once in numpy;
an item that left a bin may not go back into it for a few moves. With one bin emptied, the
search succeeds when the pool is empty; with ``emptied`` bins (the vector solver: three, as in
CNS), as soon as the pool fits into one bin fewer than were emptied (two: split by trying the
pool's subsets), which a pool of a few large items reaches long before it is empty. Then one
bin fewer, and the next lightest bins are emptied, until the target or the deadline. In one
dimension the same search (one bin emptied) closes Scholl 2 instances (many items a bin) that
column generation leaves one bin above within seconds.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..deadline import Deadline
from .heuristics import Packing

BINS_LOOKED_AT = 0.25  # the share of the bins each move looks at
PAIRS_UP_TO = 8  # a bin gives back pairs of items only when it holds at most this many
POOL_TAKEN = (1, 2, 3)  # pool items a move puts into a bin
BIN_GIVEN = (0, 1, 2)  # bin items a move gives back to the pool
POOL_LOOKED_AT = 10  # the largest pool items a move considers (the pool can grow while tabu)
TABU_MOVES = (7, 15)  # an item that left a bin may not return to it for this many moves
# More items than this: no search (each move looks at every bin; items are enumerated here,
# unlike in the exact models, so a packing of 10^5 identical pods is left alone).
MAX_ITEMS = 5_000
CHECK_EVERY = 8  # moves between deadline checks
SPLIT_ITEMS = 14  # a pool of more items is not split in two (2^13 splits at most)

# What a bin can give back: summed sizes, summed weights, the item sets (positions in the bin,
# padded with its size: no item), the bin per set.
Given = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def eliminate_bins(
    sizes: np.ndarray,
    capacity: Sequence[int],
    packing: Packing,
    target: int,
    deadline: Deadline,
    rng: random.Random,
    emptied: int = 1,
) -> Packing:
    """The best packing found (at most as many bins as ``packing``): one bin fewer at a time
    (``emptied`` bins into the pool, refilled into at most one fewer) until ``target``
    bins or ``deadline``."""
    search = BinElimination(np.asarray(sizes, dtype=np.int64), capacity, packing, rng, emptied)
    return search.run(target, deadline)


class BinElimination:
    """The search, resumable: ``run`` again continues where the deadline stopped it (the
    vector solver gives it several slices of its time, which add up)."""

    def __init__(
        self,
        table: np.ndarray,
        capacity: Sequence[int],
        packing: Packing,
        rng: random.Random,
        emptied: int = 1,
    ) -> None:
        self.emptied = emptied
        table = table.reshape(len(table), -1)
        self.types = [t for b in packing for t, j in sorted(b.items()) for _ in range(j)]
        self.weights = table[self.types]  # per item
        cap = np.asarray(capacity, dtype=np.int64)
        self.score = (self.weights / np.maximum(cap, 1)).sum(axis=1)
        # With a last row of zeros: "no item" in the padded item sets.
        self.padded_weights = np.vstack([self.weights, np.zeros_like(self.weights[:1])])
        self.padded_score = np.append(self.score, 0.0)
        self.cap, self.rng = cap, rng
        self.noise = np.random.default_rng(rng.randrange(1 << 30))
        self.best: list[list[int]] = []
        k = 0
        for b in packing:
            n = sum(b.values())
            if n:
                self.best.append(list(range(k, k + n)))
                k += n
        self.tabu: dict[tuple[int, int], int] = {}  # (item, bin) -> first move it may return
        self.moves = 0
        self.searching = False  # bins emptied, the pool not yet placed
        self.too_large = len(self.types) > MAX_ITEMS

    @property
    def bins_used(self) -> int:
        return len(self.best)

    def run(self, target: int, deadline: Deadline) -> Packing:
        while not self.too_large and len(self.best) > max(target, 1) and not deadline.expired():
            if not self.searching:
                self._empty_lightest()
                self.searching = True
            if not self._search(deadline):
                break
            self.searching = False
            self.best = [list(b) for b in self.bins] + self.refilled
        return [Counter(self.types[i] for i in b) for b in self.best if b]

    def _empty_lightest(self) -> None:
        """The lightest bins (``emptied``, leaving at least one) into the pool."""
        self.bins = [list(b) for b in self.best]
        loads = [float(self.score[b].sum()) for b in self.bins]
        most = max(1, min(self.emptied, len(self.bins) - 1))
        lightest = np.argsort(loads, kind="stable")[:most]
        emptied = set(lightest.tolist())
        self.pool = [i for k in sorted(emptied) for i in self.bins[k]]
        self.bins = [b for k, b in enumerate(self.bins) if k not in emptied]
        self.spare = len(emptied) - 1  # bins the pool may fill again: one fewer in all
        self.refilled: list[list[int]] = []
        self.room = np.array([self.cap - self.weights[b].sum(axis=0) for b in self.bins])
        self.given = [self._given(k) for k in range(len(self.bins))]
        self.tabu.clear()

    def _given(self, k: int) -> Given:
        """What bin ``k`` can give back in one move: nothing, one item or two (pairs only
        where bins hold few items), with their summed sizes and weights (and ``k`` per set)."""
        items = self.bins[k]
        index = _give_combinations(len(items), len(items) <= PAIRS_UP_TO)
        rows = np.append(items, len(self.types))  # the last row: no item, zero weight
        w = self.padded_weights[rows[index]].sum(axis=1)
        score = self.padded_score[rows[index]].sum(axis=1)
        return w, score, index, np.full(len(index), k)

    def _search(self, deadline: Deadline) -> bool:
        """Moves until the pool fits into its spare bins (True) or the deadline (False)."""
        while self.pool and not self._pool_fits():
            if self.moves % CHECK_EVERY == 0 and deadline.expired():
                return False
            self.moves += 1
            self._move()
        return True

    def _move(self) -> None:
        """The best move over every bin: the one that leaves the least in the pool, ties at
        random, none that puts an item back into a bin it left within its tabu moves."""
        order = np.argsort(-self.score[self.pool], kind="stable")[:POOL_LOOKED_AT]
        pool = [self.pool[p] for p in order.tolist()]
        index, member = _pool_combinations(len(pool))
        padded = np.array([*pool, len(self.types)])  # the last: no item (zero weight)
        take_w = self.padded_weights[padded[index]].sum(axis=1)
        # Each move looks at a random share of the bins: always the best move of all cycles.
        looked = np.flatnonzero(self.noise.random(len(self.bins)) < BINS_LOOKED_AT)
        if not len(looked):
            return
        chosen = [self.given[k] for k in looked.tolist()]
        owner = np.concatenate([c[3] for c in chosen])
        room = self.room[owner] + np.concatenate([c[0] for c in chosen])  # after giving
        # Only the pool sets that fit the widest room at all (one call, a smaller product).
        able = np.flatnonzero(np.all(take_w <= room.max(axis=0), axis=1))
        if not len(able):
            return
        fits = _all_fit(room, take_w[able])
        take_s = self.padded_score[padded[index[able]]].sum(axis=1)
        give_s = np.concatenate([c[1] for c in chosen])
        # Ties at random: a random small offset per give set and per pool set.
        gain = (take_s + 1e-9 * self.noise.random(len(able)))[None, :] - (
            give_s + 1e-9 * self.noise.random(len(give_s))
        )[:, None]
        gain[~fits] = -np.inf
        first = np.cumsum([0] + [len(c[3]) for c in chosen]).tolist()
        span = {k: (first[r], first[r + 1]) for r, k in enumerate(looked.tolist())}
        position = {i: p for p, i in enumerate(pool)}
        for (i, k), until in self.tabu.items():
            if until > self.moves and i in position and k in span:
                begin, end = span[k]
                gain[begin:end, member[able, position[i]]] = -np.inf
        g, a = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if not np.isfinite(gain[g, a]):
            return
        a = able[a]
        k = int(owner[g])
        positions = self.given[k][2][g - span[k][0]]
        give = [self.bins[k][p] for p in positions if p < len(self.bins[k])]
        take = [pool[p] for p in index[a] if p < len(pool)]
        for i in give:
            self.bins[k].remove(i)
            self.pool.append(i)
            self.tabu[(i, k)] = self.moves + self.rng.randint(*TABU_MOVES)
        for i in take:
            self.pool.remove(i)
            self.bins[k].append(i)
        self.room[k] = self.cap - self.weights[self.bins[k]].sum(axis=0)
        self.given[k] = self._given(k)
        if len(self.tabu) > 4 * TABU_MOVES[1]:
            self.tabu = {key: u for key, u in self.tabu.items() if u > self.moves}

    def _pool_fits(self) -> bool:
        """Whether the pool fits into its spare bins (then ``refilled`` holds them and the
        pool is empty): one bin, or two by a split among the pool's subsets."""
        w = self.weights[self.pool]
        total = w.sum(axis=0)
        if self.spare < 1 or np.any(total > self.spare * self.cap):
            return False
        if np.all(total <= self.cap):
            self.refilled, self.pool = [list(self.pool)], []
            return True
        if self.spare < 2 or len(self.pool) > SPLIT_ITEMS:
            return False
        masks = _subset_masks(len(self.pool))
        sums = masks @ w
        split = np.flatnonzero(
            np.all(sums <= self.cap, axis=1) & np.all(total - sums <= self.cap, axis=1)
        )
        if not len(split):
            return False
        side = masks[int(split[0])].astype(bool).tolist()
        self.refilled = [
            [i for i, first in zip(self.pool, side, strict=True) if first],
            [i for i, first in zip(self.pool, side, strict=True) if not first],
        ]
        self.pool = []
        return True


def _all_fit(room: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Whether each of ``sizes`` (columns) fits each ``room`` (rows), one dimension at a time
    (no rows × columns × d array)."""
    fits = room[:, None, 0] >= sizes[None, :, 0]
    for d in range(1, room.shape[1]):
        fits &= room[:, None, d] >= sizes[None, :, d]
    return fits


@functools.cache
def _subset_masks(k: int) -> np.ndarray:
    """Each way to split ``k`` items in two, as 0/1 rows (the last item always in the
    second part: each split once)."""
    bits = np.arange(1 << (k - 1), dtype=np.int64)
    return ((bits[:, None] >> np.arange(k)) & 1).astype(np.int64)


@functools.cache
def _pool_combinations(m: int) -> tuple[np.ndarray, np.ndarray]:
    """The pool item sets a move can take from a pool of ``m``, as positions (padded with
    ``m``: no item) in ``itertools.combinations`` order, and which positions each set holds."""
    sets = [c for r in POOL_TAKEN if r <= m for c in itertools.combinations(range(m), r)]
    index = np.full((len(sets), max(POOL_TAKEN)), m, dtype=np.int64)
    member = np.zeros((len(sets), m), dtype=bool)
    for s, c in enumerate(sets):
        index[s, : len(c)] = c
        member[s, list(c)] = True
    return index, member


@functools.cache
def _give_combinations(n: int, pairs: bool) -> np.ndarray:
    """The item sets a bin of ``n`` items can give back (none, one, and pairs if ``pairs``),
    as positions padded with ``n`` (no item), in ``itertools.combinations`` order."""
    most = max(BIN_GIVEN) if pairs else 1
    sets = [c for r in BIN_GIVEN if r <= min(most, n) for c in itertools.combinations(range(n), r)]
    index = np.full((len(sets), max(BIN_GIVEN)), n, dtype=np.int64)
    for s, c in enumerate(sets):
        index[s, : len(c)] = c
    return index
