"""Fast bin packing heuristics: first fit (the one every packer here uses), first-fit decreasing,
and, for one dimension, bin completion and minimum bin slack.

Items come as *types*: ``sizes[t]`` with ``counts[t]`` copies. A packing is a list of bins, each
a ``Counter`` of type → copies.

``minimum_bin_slack`` is Gupta & Ho's MBS as refined by Fleszar & Hindi (MBS'): each bin takes
the largest item left, then the subset of the remaining items that fills it the most. The subset
comes from a bounded subset-sum over the item types, done with Python integers as bitsets (one
shift-or per copy), so a bin costs O(types × C / 64) word operations. Ties between subsets of
equal fill are broken at random, and restarts with other seeds run until a target bin count
(normally the lower bound) is met or the time is up. On Falkenauer's triplets every optimal bin
is exactly full, which is what this search looks for first.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from ..deadline import Deadline

Packing = list[Counter[int]]
T = TypeVar("T")
B = TypeVar("B")


def first_fit(
    items: Iterable[T],
    bins: list[B],
    fits: Callable[[B, T], bool],
    place: Callable[[B, T], None],
    open_bin: Callable[[T], B | None],
) -> list[T]:
    """Each item into the first bin of ``bins`` that ``fits`` it, else into a bin ``open_bin``
    opens (appended to ``bins``; None: no bin can take it). Returns the items left out."""
    left_out: list[T] = []
    for item in items:
        target = next((b for b in bins if fits(b, item)), None)
        if target is None:
            target = open_bin(item)
            if target is None:
                left_out.append(item)
                continue
            bins.append(target)
        place(target, item)
    return left_out


def first_fit_decreasing(
    sizes: Sequence[Sequence[int]], counts: Sequence[int], capacity: Sequence[int]
) -> Packing:
    """First fit of the copies, types by their largest share of the capacity, largest first
    (for one dimension, largest first). Every item must fit an empty bin."""

    def share(t: int) -> float:
        return max((w / c for w, c in zip(sizes[t], capacity, strict=True) if c), default=0.0)

    order = [
        t for t in sorted(range(len(sizes)), key=lambda t: -share(t)) for _ in range(counts[t])
    ]
    packing: Packing = []
    if len(capacity) == 1:  # one dimension: rooms as plain integers (this runs in the 1-D presolve)
        width = [w for (w,) in sizes]
        room: list[int] = []

        def fits(b: int, t: int) -> bool:
            return room[b] >= width[t]

        def place(b: int, t: int) -> None:
            room[b] -= width[t]
            packing[b][t] += 1

        def open_bin(t: int) -> int:
            room.append(capacity[0])
            packing.append(Counter())
            return len(room) - 1

        first_fit(order, [], fits, place, open_bin)
        return packing
    rooms: list[list[int]] = []

    def fits_all(b: int, t: int) -> bool:
        return all(r >= w for r, w in zip(rooms[b], sizes[t], strict=True))

    def place_all(b: int, t: int) -> None:
        rooms[b] = [r - w for r, w in zip(rooms[b], sizes[t], strict=True)]
        packing[b][t] += 1

    def open_all(t: int) -> int:
        rooms.append(list(capacity))
        packing.append(Counter())
        return len(rooms) - 1

    first_fit(order, [], fits_all, place_all, open_all)
    return packing


def _largest_first(sizes: Sequence[int]) -> list[int]:
    return sorted(range(len(sizes)), key=lambda t: -sizes[t])


def _fullest_subset(
    sizes: Sequence[int], left: Sequence[int], room: int, rng: random.Random
) -> Counter[int]:
    """Copies of each type (at most ``left[t]``) with the largest total size ≤ ``room``."""
    mask = (1 << (room + 1)) - 1
    prefix = [1]  # prefix[i]: sums reachable with types before the i-th candidate
    order = [t for t in range(len(sizes)) if left[t] > 0 and sizes[t] <= room]
    reach = 1
    for t in order:
        w = sizes[t]
        for _ in range(min(left[t], room // w)):
            reach |= (reach << w) & mask
        prefix.append(reach)
    best = reach.bit_length() - 1
    chosen: Counter[int] = Counter()
    s = best
    for i in range(len(order) - 1, -1, -1):
        t, w = order[i], sizes[order[i]]
        before = prefix[i]
        options = [j for j in range(min(left[t], s // w) + 1) if (before >> (s - j * w)) & 1]
        j = rng.choice(options) if len(options) > 1 else options[0]
        if j:
            chosen[t] = j
            s -= j * w
    return chosen


def minimum_bin_slack(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    seed: int = 0,
    deadline: Deadline | None = None,
) -> Packing | None:
    """One MBS' pass: each bin = largest item left + the fullest subset of the rest (None when
    the deadline passes first)."""
    rng = random.Random(seed)
    left = list(counts)
    order = _largest_first(sizes)
    bins: Packing = []
    while True:
        first = next((t for t in order if left[t] > 0), None)
        if first is None:
            return bins
        if deadline is not None and deadline.expired():
            return None
        left[first] -= 1
        content = _fullest_subset(sizes, left, capacity - sizes[first], rng)
        for t, j in content.items():
            left[t] -= j
        content[first] += 1
        bins.append(content)


def _completions(
    sizes: Sequence[int],
    left: list[int],
    room: int,
    slack: int,
    rng: random.Random,
    deadline: Deadline,
) -> Iterator[Counter[int]]:
    """Multisets of the remaining items filling ``room`` up to at most ``slack`` short, fullest
    first; within a fill, larger items first (with occasional random swaps). Ends early when
    the deadline passes."""
    order = [t for t in range(len(sizes)) if left[t] > 0 and sizes[t] <= room]
    mask = (1 << (room + 1)) - 1
    suffix = [0] * (len(order) + 1)  # sums reachable with order[i:]
    reach = 1
    suffix[len(order)] = 1
    for i in range(len(order) - 1, -1, -1):
        w = sizes[order[i]]
        for _ in range(min(left[order[i]], room // w)):
            reach |= (reach << w) & mask
        suffix[i] = reach
    lowest = max(0, room - slack)
    for target in range(room, lowest - 1, -1):
        if not (suffix[0] >> target) & 1:
            continue
        if deadline.expired():
            return
        chosen: Counter[int] = Counter()
        yield from _exact(sizes, left, order, suffix, 0, target, chosen, rng)


def _exact(
    sizes: Sequence[int],
    left: list[int],
    order: list[int],
    suffix: list[int],
    i: int,
    target: int,
    chosen: Counter[int],
    rng: random.Random,
) -> Iterator[Counter[int]]:
    if target == 0:
        yield Counter(chosen)
        return
    if i == len(order):
        return
    t = order[i]
    w = sizes[t]
    most = min(left[t], target // w)
    options = [j for j in range(most, -1, -1) if (suffix[i + 1] >> (target - j * w)) & 1]
    if len(options) > 1 and rng.random() < 0.1:
        rng.shuffle(options)
    for j in options:
        if j:
            chosen[t] = j
        yield from _exact(sizes, left, order, suffix, i + 1, target - j * w, chosen, rng)
        if j:
            del chosen[t]


def bin_completion(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    bins: int,
    node_limit: int,
    seed: int = 0,
    deadline: Deadline | None = None,
) -> tuple[Packing | None, bool]:
    """A packing into exactly ``bins`` bins by depth-first bin completion (Korf 2002, without
    the dominance rule), or None when none was found within ``node_limit`` bins tried; and
    whether the search was exhaustive (neither the node limit nor the deadline cut it): then
    None proves that ``bins`` bins cannot hold the items.

    Every bin takes the largest item left plus a completion; the total waste may not exceed
    ``bins × C − Σ sizes``, which prunes hard when the target is the lower bound.
    """
    rng = random.Random(seed)
    deadline = deadline or Deadline.never()
    left = list(counts)
    order = _largest_first(sizes)
    total = sum(w * n for w, n in zip(sizes, counts, strict=True))
    budget = bins * capacity - total
    if budget < 0:
        return None, True
    packed: Packing = []
    stack: list[Iterator[Counter[int]]] = []
    wastes: list[int] = []
    nodes = 0

    def open_bin() -> Iterator[Counter[int]] | None:
        first = next((t for t in order if left[t] > 0), None)
        if first is None:
            return None
        avail = list(left)  # the generator's own snapshot: it resumes after deeper undo
        avail[first] -= 1
        spare = budget - sum(wastes)
        gen = _completions(sizes, avail, capacity - sizes[first], spare, rng, deadline)
        return _with_first(gen, first)

    gen = open_bin()
    if gen is None:
        return [], False
    stack.append(gen)
    while stack:
        if packed and len(packed) == len(stack):  # undo the bin this level placed last
            for t, j in packed.pop().items():
                left[t] += j
            wastes.pop()
        content = next(stack[-1], None)
        if content is None:
            stack.pop()
            continue
        nodes += 1
        if nodes > node_limit or deadline.expired():  # a node costs O(types × C / 64)
            return None, False
        for t, j in content.items():
            left[t] -= j
        packed.append(content)
        wastes.append(capacity - sum(sizes[t] * j for t, j in content.items()))
        if len(packed) > bins or not completable(sizes, left, capacity, budget - sum(wastes)):
            continue
        nxt = open_bin()
        if nxt is None:
            return [Counter(b) for b in packed], False
        stack.append(nxt)
    return None, not deadline.expired()  # an expired deadline may have cut a completion


def completable(sizes: Sequence[int], left: Sequence[int], capacity: int, spare: int) -> bool:
    """Whether every item left could still share a bin wasting at most ``spare`` with items
    left (a relaxation: the item may count itself). Where bins must be (nearly) full this
    prunes a branch as soon as some item has lost its every complement, not bins later."""
    mask = (1 << (capacity + 1)) - 1
    reach = 1
    for t, n in enumerate(left):
        for _ in range(min(n, capacity // max(1, sizes[t]))):
            reach |= (reach << sizes[t]) & mask
    window = (1 << (spare + 1)) - 1
    for t, n in enumerate(left):
        if n:
            high = capacity - sizes[t]
            low = max(0, high - spare)
            if not (reach >> low) & window & ((1 << (high - low + 1)) - 1):
                return False
    return True


def _with_first(gen: Iterator[Counter[int]], first: int) -> Iterator[Counter[int]]:
    for content in gen:
        content[first] += 1
        yield content
