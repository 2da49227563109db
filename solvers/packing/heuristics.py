"""Fast one-dimensional bin packing heuristics: first-fit decreasing and minimum bin slack.

Items come as *types*: ``sizes[t]`` with ``counts[t]`` copies, sizes sorted largest first. A
packing is a list of bins, each a ``Counter`` of type → copies.

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
import time
from collections import Counter
from collections.abc import Iterator, Sequence

Packing = list[Counter[int]]


def first_fit_decreasing(sizes: Sequence[int], counts: Sequence[int], capacity: int) -> Packing:
    """First-fit decreasing over types given largest first (best-fit would rarely differ here)."""
    bins: Packing = []
    room: list[int] = []
    for t in _largest_first(sizes):
        w = sizes[t]
        for _ in range(counts[t]):
            for b, left in enumerate(room):
                if left >= w:
                    bins[b][t] += 1
                    room[b] = left - w
                    break
            else:
                bins.append(Counter({t: 1}))
                room.append(capacity - w)
    return bins


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
    sizes: Sequence[int], counts: Sequence[int], capacity: int, seed: int = 0
) -> Packing:
    """One MBS' pass: each bin = largest item left + the fullest subset of the rest."""
    rng = random.Random(seed)
    left = list(counts)
    order = _largest_first(sizes)
    bins: Packing = []
    while True:
        first = next((t for t in order if left[t] > 0), None)
        if first is None:
            return bins
        left[first] -= 1
        content = _fullest_subset(sizes, left, capacity - sizes[first], rng)
        for t, j in content.items():
            left[t] -= j
        content[first] += 1
        bins.append(content)


def best_packing(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    target: int,
    seconds: float,
    seed: int = 0,
) -> Packing:
    """The fewest-bin packing found by FFD and MBS' restarts, stopping early at ``target`` bins."""
    deadline = time.perf_counter() + seconds
    best = first_fit_decreasing(sizes, counts, capacity)
    attempt = 0
    while len(best) > target and (attempt == 0 or time.perf_counter() < deadline):
        trial = minimum_bin_slack(sizes, counts, capacity, seed=seed + attempt)
        if len(trial) < len(best):
            best = trial
        attempt += 1
    return best


def _completions(
    sizes: Sequence[int], left: list[int], room: int, slack: int, rng: random.Random
) -> Iterator[Counter[int]]:
    """Multisets of the remaining items filling ``room`` up to at most ``slack`` short, fullest
    first; within a fill, larger items first (with occasional random swaps)."""
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
) -> Packing | None:
    """A packing into exactly ``bins`` bins by depth-first bin completion (Korf 2002, without
    the dominance rule), or None when none was found within ``node_limit`` bins tried.

    Every bin takes the largest item left plus a completion; the total waste may not exceed
    ``bins × C − Σ sizes``, which prunes hard when the target is the lower bound.
    """
    rng = random.Random(seed)
    left = list(counts)
    order = _largest_first(sizes)
    total = sum(w * n for w, n in zip(sizes, counts, strict=True))
    budget = bins * capacity - total
    if budget < 0:
        return None
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
        gen = _completions(sizes, avail, capacity - sizes[first], spare, rng)
        return _with_first(gen, first)

    gen = open_bin()
    if gen is None:
        return []
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
        if nodes > node_limit:
            return None
        for t, j in content.items():
            left[t] -= j
        packed.append(content)
        wastes.append(capacity - sum(sizes[t] * j for t, j in content.items()))
        if len(packed) > bins:
            continue
        nxt = open_bin()
        if nxt is None:
            return [Counter(b) for b in packed]
        stack.append(nxt)
    return None


def _with_first(gen: Iterator[Counter[int]], first: int) -> Iterator[Counter[int]]:
    for content in gen:
        content[first] += 1
        yield content
