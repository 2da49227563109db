"""Packings whose every bin is exactly full, by limited discrepancy search over bin completions
with the fewest items first.

Where the bound leaves no slack (``bins × C = Σ sizes``) every bin must be filled exactly. Each bin
takes an opening item and a completion: a multiset of the other items adding up to the room left.
The opener is the item above half the bin whose room the fewest one- or two-item fills complete
(most constrained first: AI instances, a large item and about two smaller ones a bin), else the
largest item left. Of random exact fills (each bin cut into a few pieces, large capacities, mostly
distinct sizes) most zero-waste subsets are accidental and hold many items, while the bins of a
packing hold few: completions with the fewest items first (larger items first among those) put the
right one first at most bins and near the front at the others (generated perfect packings of
``binpack-planted``: depth-first bin completion in larger-items-first order lost itself there for
10 s). The search is limited discrepancy: taking a bin's r-th completion costs r, and passes with
budget 0, 1, 2, ... try every path within the budget, so a few early mistakes cost what they should
rather than a whole subtree below them. Where one share of the room stands out among the smaller
items of the rooms' two-item fills (``common_split``: AI instances split each room at about a
sixth), the pairs nearest it come first. Two items that fill a bin together are fixed first (a
dominance: such a bin is in some packing whenever one exists), and the items-left states from which
a pass tried every path are not searched again by the later passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..deadline import Deadline
from .heuristics import Packing, completable

# Passes of each discrepancy budget from 1 on with the openers' ties broken at random, after the
# one that breaks them toward the larger item: runs of this search have heavy tails (AI tuning
# instances alone at 5 s, load 10-16: 17 of 40 against 14; perfect packings of binpack-planted
# seeds 1-100 and 301-400: 192 of 200 either way).
RANDOM_TIE_PASSES = 2
# Items-left states remembered as searched in vain (a tuple of counts each, about 2 kB at 200
# types: 40 MB at most; 10 s of passes kept 30-700 on generated perfect packings).
DEAD_STATES = 20_000
# Whether every item left still has a complement is asked every this many levels where it costs
# more than COMPLETABLE_CHEAP (items x capacity bits: 4 ms at 1,000 items of a 64,640 bin, more
# than the rest of a level). Tuning AI replicates 14-19 of 600-1,002 items alone at 5 s: every
# level 9 of 18, every 4th 10, every 16th 11, never 9; perfect packings of binpack-planted seeds
# 1-100 and 301-400 the same 195 of 200 either way, sooner.
COMPLETABLE_EVERY = 16
COMPLETABLE_CHEAP = 2_000_000  # items x capacity: asked at every level up to this


def fewest_items_completions(
    sizes: Sequence[int],
    left: Sequence[int],
    room: int,
    deadline: Deadline | None = None,
    split: float | None = None,
) -> Iterator[Counter[int]]:
    """Every multiset of the items left (``left[t]`` copies of type t) adding up to ``room``
    exactly, those of fewer items first; among as many items, larger types first (ends early
    at the deadline: each count's sums cost a pass over the types)."""
    order = [t for t in sorted(range(len(sizes)), key=lambda t: -sizes[t]) if left[t] > 0]
    order = [t for t in order if sizes[t] <= room]
    most = 0
    if len({sizes[t] for t in order}) == len(order):  # one type a size: lookups suffice
        if deadline is not None and deadline.expired():
            return
        # one and two items by lookup: most completions tried hold one or two (AI rooms),
        # and the sums tables for more are built only when these run out
        yield from _one_or_two(sizes, left, room, order, split)
        most = 2
    copies = [min(left[t], room // sizes[t]) for t in order]
    ascending = sorted(sizes[t] for t, c in zip(order, copies, strict=True) for _ in range(c))
    sums = _ExactSums([sizes[t] for t in order], copies, room)

    def pick(i: int, target: int, q: int, chosen: Counter[int]) -> Iterator[Counter[int]]:
        """The next item type (index ≥ i) and its copies; q items adding up to target."""
        if q == 0:
            yield Counter(chosen)
            return
        for k in range(i, len(order)):
            if not (sums.of(q)[k] >> target) & 1:
                return  # nothing from k on adds up to target: nor from any later index
            w = sizes[order[k]]
            for j in range(min(copies[k], q, target // w), 0, -1):
                if (sums.of(q - j)[k + 1] >> (target - j * w)) & 1:
                    chosen[order[k]] = j
                    yield from pick(k + 1, target - j * w, q - j, chosen)
                    del chosen[order[k]]

    # from no items at all: an item as large as the bin is completed by nothing (starting at
    # one item, it had no completion and the search "proved" one bin more than the optimum)
    for q in range(most + 1 if room else 0, _most_items(ascending, room) + 1):
        if deadline is not None and deadline.expired():
            return
        if (sums.of(q)[0] >> room) & 1:
            yield from pick(0, room, q, Counter())


def _one_or_two(
    sizes: Sequence[int],
    left: Sequence[int],
    room: int,
    order: Sequence[int],
    split: float | None = None,
) -> Iterator[Counter[int]]:
    """The completions of one item, then of two (the larger one's type first, descending;
    with ``split``, the smaller one's share of the room nearest it first), of types of
    distinct sizes in ``order`` (descending sizes, every one left)."""
    if room == 0:
        return
    of_size = {sizes[t]: t for t in order}
    if room in of_size:
        yield Counter({of_size[room]: 1})
    pairs: list[Counter[int]] = []
    for t in order:
        w = sizes[t]
        if 2 * w < room:
            break  # its partner would be the larger one: already paired
        u = of_size.get(room - w)
        if u == t and left[t] >= 2:
            pairs.append(Counter({t: 2}))
        elif u is not None and u != t:
            pairs.append(Counter({t: 1, u: 1}))
    if split is not None:  # stable: the larger one first among as near
        pairs.sort(key=lambda p: abs(min(sizes[t] for t in p) / room - split))
    yield from pairs


class _ExactSums:
    """``of(q)[i]``: the sums of exactly q items among the types from index i on (bitsets of
    the sums 0..room), built a count at a time: most completions hold few items."""

    def __init__(self, widths: list[int], copies: list[int], room: int) -> None:
        self.widths, self.copies, self.mask = widths, copies, (1 << (room + 1)) - 1
        self.columns = [[1] * (len(widths) + 1)]  # no items: the sum 0, from every index

    def of(self, q: int) -> list[int]:
        while len(self.columns) <= q:
            q_new = len(self.columns)
            column = [0] * (len(self.widths) + 1)
            for i in range(len(self.widths) - 1, -1, -1):
                reach, w = column[i + 1], self.widths[i]
                for j in range(1, min(self.copies[i], q_new) + 1):
                    reach |= (self.columns[q_new - j][i + 1] << (j * w)) & self.mask
                column[i] = reach
            self.columns.append(column)
        return self.columns[q]


def _most_items(ascending: list[int], room: int) -> int:
    """The most of these sizes that fit ``room`` together (the smallest ones)."""
    total = count = 0
    for w in ascending:
        if total + w > room:
            break
        total += w
        count += 1
    return count


@dataclass
class _Bin:
    """One level of the search: the bin opened by ``first``, its completions in order."""

    first: int
    completions: Iterator[Counter[int]]
    budget: int  # discrepancies left for this bin and the ones below it
    state: tuple[int, ...]  # the items left when it was opened
    rank: int = -1  # of the completion placed now
    placed: Counter[int] | None = None
    cut: bool = False  # some path below it was cut by the budget


def full_bins_by_discrepancy(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    deadline: Deadline,
    max_budget: int | None = None,
    seed: int = 0,
) -> tuple[Packing | None, bool]:
    """A packing into exactly full bins, or None (at the deadline or after ``max_budget``);
    and whether the search was exhaustive (a pass within its budget cut no path): then None
    proves that no packing fills every bin. The passes repeat the paths of the earlier ones;
    from budget 1 on, each budget's pass is followed by RANDOM_TIE_PASSES more with the
    openers' ties broken at random (``seed``)."""
    if any(w <= 0 for w in sizes):
        return None, False  # not for items of no size
    total = sum(w * n for w, n in zip(sizes, counts, strict=True))
    if total % capacity or any(w > capacity for w in sizes):
        return None, True
    budget = 0
    dead: set[tuple[int, ...]] = set()  # items left from which every path was tried, in vain
    # without items above half the bin no opener is chosen among rooms: nothing to break
    # ties of, and a pass again would repeat the same paths (Falkenauer T)
    again_passes = RANDOM_TIE_PASSES if any(2 * w > capacity for w in sizes) else 0
    split = common_split(sizes, counts, capacity)
    while max_budget is None or budget <= max_budget:
        for again in range(1 + (again_passes if budget else 0)):
            for near in (False, True) if split is not None else (False,):
                ties = np.random.default_rng([abs(seed), budget, again]) if again else None
                found, exhausted = _pass(
                    sizes, list(counts), capacity, budget, deadline, dead, split, near, ties
                )
                if found is not None or exhausted or deadline.expired():
                    return found, exhausted
        budget += 1
    return None, False


def _pass(
    sizes: Sequence[int],
    left: list[int],
    capacity: int,
    budget: int,
    deadline: Deadline,
    dead: set[tuple[int, ...]],
    split: float | None = None,
    near: bool = False,
    ties: np.random.Generator | None = None,
) -> tuple[Packing | None, bool]:
    """Every path whose completions' ranks add up to at most ``budget``, depth first; and
    whether no path was cut by the budget (then None proves there is no such packing).
    ``dead`` holds the items left from which an earlier pass tried every path (none cut):
    not searched again, and this pass adds its own."""
    order = sorted(range(len(sizes)), key=lambda t: -sizes[t])

    def open_bin(budget: int) -> _Bin | None:
        state = tuple(left)
        pair = _exact_pair(sizes, left, capacity, order)
        if pair is not None:  # the bin it fills is in some packing if any packing exists
            left[pair[0]] -= 1
            return _Bin(pair[0], iter([Counter({pair[1]: 1})]), budget, state)
        first = _most_constrained_opener(
            sizes, left, capacity, order, ties, split if near else None
        )
        if first is None:
            return None
        left[first] -= 1
        completions = fewest_items_completions(
            sizes, left, capacity - sizes[first], deadline, split
        )
        return _Bin(first, completions, budget, state)

    # every level where the check is cheap (it prunes most where little is left to search)
    every = 1 if sum(left) * capacity <= COMPLETABLE_CHEAP else COMPLETABLE_EVERY
    root = open_bin(budget)
    if root is None:
        return [], True
    stack = [root]
    while stack:
        level = stack[-1]
        if level.placed is not None:  # undo it: the next completion goes in its place
            for t, j in level.placed.items():
                left[t] += j
            level.placed = None
        if deadline.expired():
            return None, False
        level.rank += 1
        # out of budget, the next completion is not asked for: it may cost the sums tables of
        # three items and more (80,000-wide AI rooms: 2 of every 5 s), so the level counts
        # as cut whether or not there is one
        over = level.rank > level.budget
        content = None if over else next(level.completions, None)
        if content is None:
            level.cut = level.cut or over
            stack.pop()
            left[level.first] += 1
            if stack:
                stack[-1].cut = stack[-1].cut or level.cut
            if not level.cut and len(dead) < DEAD_STATES and not deadline.expired():
                dead.add(level.state)
            continue
        for t, j in content.items():
            left[t] -= j
        level.placed = content
        checked = len(stack) % every == 0
        if (checked and not completable(sizes, left, capacity, 0)) or tuple(left) in dead:
            continue
        deeper = open_bin(level.budget - level.rank)
        if deeper is None:
            bins = [
                Counter(b.placed) + Counter({b.first: 1}) for b in stack if b.placed is not None
            ]
            return bins, False
        stack.append(deeper)
    # Completions cut short by the deadline end their level as if it were exhausted.
    return None, not root.cut and not deadline.expired()


def _exact_pair(
    sizes: Sequence[int], left: Sequence[int], capacity: int, order: Sequence[int]
) -> tuple[int, int] | None:
    """Two items left that fill a bin together (the larger one's type first), or None. Where
    every bin must be exactly full such a bin is safe to fix: in any packing, the other items
    of the larger one's bin add up to the smaller one's size, and swapping them with it keeps
    both bins full. Fixed first, the pair's items are not taken by an earlier bin's completion
    (perfect packings: each pair a planted bin of two pieces, most often)."""
    of_size = {sizes[t]: t for t in order if left[t] > 0}
    for t in order:
        if left[t] == 0 or 2 * sizes[t] < capacity:
            continue
        u = of_size.get(capacity - sizes[t])
        if u is not None and left[u] > (u == t):
            return t, u
    return None


def _most_constrained_opener(
    sizes: Sequence[int],
    left: Sequence[int],
    capacity: int,
    order: Sequence[int],
    ties: np.random.Generator | None = None,
    split: float | None = None,
) -> int | None:
    """The item type to open the next bin with: of the items above half the bin (each in a
    bin of its own), the one whose room has the fewest completions of one or two items (none
    counts as most: rooms filled by three or more have many accidental fills), the larger on
    a tie (a random one of the tie with ``ties``); without such items the largest item left.
    Any item may open a bin (its bin holds one of the completions tried), so the search stays
    exhaustive. AI instances (an item above C/2 in every bin but one or two, its room filled
    by about two of the smaller items, 4-10 candidate pairs a room): largest first found 1 of
    40 tuning ones (replicates 0-3 and 10-13 of each size) alone in 5 s, this 14 (load 8-13)."""
    live = [t for t in order if left[t] > 0]
    large = [t for t in live if 2 * sizes[t] > capacity]
    if not large:
        return live[0] if live else None
    # every room against every item left at once (numpy: 330 rooms by 670 items of the
    # largest AI instances in about a millisecond, against 50 ms in Python)
    widths = np.array([sizes[t] for t in live])
    present = np.zeros(capacity + 1, dtype=bool)
    present[widths] = True
    rooms = capacity - np.array([sizes[t] for t in large])
    partner = rooms[:, None] - widths[None, :]  # what completes each room with each item
    pairs = (partner >= widths) & present[np.maximum(partner, 0)]
    pairs &= (partner != widths) | (np.array([left[t] for t in live]) >= 2)
    if split is not None:
        r = rooms[:, None]
        smaller = np.minimum(partner, widths[None, :])
        slack = np.maximum(SPLIT_WIDTH * r, 2 * (r & -r))
        pairs &= np.abs(smaller - split * r) <= slack
    fills = pairs.sum(axis=1) + present[rooms]
    fills[rooms == 0] = 1  # an item as large as the bin: nothing completes it
    fills[fills == 0] = _NO_SMALL_FILL
    if ties is not None:  # fractions below one break ties only
        return large[int(np.argmin(fills + ties.random(len(fills))))]
    return large[int(np.argmin(fills))]  # the first of a tie: the larger item


_NO_SMALL_FILL = 1 << 30  # a room no one or two items fill: opened after the others


def common_split(sizes: Sequence[int], counts: Sequence[int], capacity: int) -> float | None:
    """The share of its room that the smaller item of a two-item fill most often takes, over
    the rooms of the items above half the bin and every pair of items that fills one; None
    unless one share stands out. Where the instance was built by splitting each room in about
    the same proportion (AI: the smaller item about a sixth of the room, rounded), the pairs
    built so crowd one share and the accidental ones spread over all of them. The shares are
    counted in bins of SPLIT_WIDTH; the most crowded one stands out when it holds pairs of
    SPLIT_CROWD of the rooms and SPLIT_STANDOUT times any bin but its two neighbours (tuning
    AI replicates 14-19 of each size: 3.2-6.4 times; perfect packings of ``binpack-planted``
    seeds 1-100 and 301-400 at most 1.6 times)."""
    present = np.zeros(capacity + 1, dtype=bool)
    live = [(w, n) for w, n in zip(sizes, counts, strict=True) if n > 0]
    widths = np.array([w for w, _ in live if 2 * w <= capacity], dtype=np.int64)
    # an item as large as the bin has no room to split
    rooms = np.unique([capacity - w for w, _ in live if capacity > w > capacity // 2])
    if len(widths) == 0 or len(rooms) < SPLIT_ROOMS:
        return None
    present[widths] = True
    partner = rooms[:, None] - widths[None, :]  # the smaller one, with the larger one in widths
    fills = (partner > 0) & (partner <= widths[None, :]) & present[np.maximum(partner, 0)]
    shares = (partner / rooms[:, None])[fills]
    if len(shares) == 0:
        return None
    slots = int(0.5 / SPLIT_WIDTH) + 1
    bins = np.minimum((shares / SPLIT_WIDTH).astype(np.int64), slots - 1)
    histogram = np.bincount(bins, minlength=slots)
    mode = int(np.argmax(histogram))
    others = np.delete(histogram, range(max(0, mode - 1), min(slots, mode + 2)))
    if histogram[mode] < SPLIT_CROWD * len(rooms) or histogram[mode] < SPLIT_STANDOUT * max(
        1, int(others.max(initial=0))
    ):
        return None
    return float(np.median(shares[np.abs(bins - mode) <= 1]))


# A common split needs at least SPLIT_ROOMS rooms (see ``common_split``).
SPLIT_ROOMS = 8
SPLIT_WIDTH = 0.005
SPLIT_CROWD = 0.3
SPLIT_STANDOUT = 2.5
