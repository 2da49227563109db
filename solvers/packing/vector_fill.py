"""Exact fills for vector packing: every pattern that fills a bin to the capacity in every
dimension at once.

When the volume bound leaves no slack in any dimension (``bound × C_d = Σ sizes_d`` for every
d), a packing into ``bound`` bins fills each of its bins exactly, in every dimension. Such
patterns are rare: listing them in one dimension and filtering by the others (``patterns``)
lists tens of thousands on a hundred items and gives up, where the exact fills in every
dimension number about one a bin. Here they are found by meet-in-the-middle in numpy: the
item sets of up to ``k`` items that fit are enumerated level by level (each set extended by the
types from its last one on), and a pattern of ``a + b`` items is a set of ``a`` joined with a
set of ``b`` whose summed sizes are the capacity minus the first's — matched through a random
linear hash of the size vectors (exact sums checked after), the first set's last type at most
the second's first, so that each pattern is met once. ``fitting_sets`` lists every item set
that fits a bin the same way, level by level, where they are few (bins of two or three items).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..deadline import Deadline, highs_run
from ..quiet import quiet_stdout
from .patterns import Pattern

SET_LIMIT = 300_000  # item sets of one size enumerated at most (memory: sets × d int64)
JOIN_LIMIT = 2_000_000  # hash matches checked at most for one pattern size
JOIN_CHUNK = 100_000  # hash matches checked between two looks at the deadline


class _Sets:
    """Item sets of one size: their types (ascending, rows), summed sizes and hashes."""

    def __init__(self, types: np.ndarray, sums: np.ndarray, hashes: np.ndarray) -> None:
        self.types, self.sums, self.hashes = types, sums, hashes

    def __len__(self) -> int:
        return len(self.types)


def exact_fill_patterns(
    table: np.ndarray,
    counts: np.ndarray,
    capacity: np.ndarray,
    limit: int,
    deadline: Deadline,
    seed: int = 0,
) -> list[Pattern] | None:
    """Patterns (as ``(type, copies)``, types ascending) filling every dimension exactly,
    of up to twice the largest set size enumerable within ``SET_LIMIT`` (and while the
    matches of one size stay within ``JOIN_LIMIT``); None when there are more than ``limit``
    or the deadline passes. Not every exact fill when bins hold more
    items than that: a cover of what is found is a packing, no cover proves nothing."""
    found: list[Pattern] = []
    for fills in exact_fills_by_size(table, counts, capacity, deadline, seed):
        found += fills
        if len(found) > limit:
            return None
    return None if deadline.expired() else found


def exact_fills_by_size(
    table: np.ndarray,
    counts: np.ndarray,
    capacity: np.ndarray,
    deadline: Deadline,
    seed: int = 0,
) -> Iterator[list[Pattern]]:
    """The exact fills of ``exact_fill_patterns``, those of 1, 2, 3, ... items in turn (one
    list per size); it stops early when the deadline passes."""
    table = np.asarray(table, dtype=np.int64).reshape(len(counts), -1)
    counts = np.asarray(counts, dtype=np.int64)
    cap = np.asarray(capacity, dtype=np.int64)
    usable = np.flatnonzero((counts > 0) & np.all(table <= cap, axis=1) & table.any(axis=1))
    if not len(usable):
        return
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 1 << 62, size=table.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):  # the hash wraps around: matches are checked exactly
        item_hash = table @ weights
        goal = int(cap @ weights)
    levels = [_Sets(usable[:, None], table[usable], item_hash[usable])]
    seen: set[tuple[int, ...]] = set()
    # Exact fills of k items: the set of k // 2 items joined with a set of the rest (sets of
    # more items made only when needed: the few fills of few items come first).
    for k in itertools.count(1):
        a, b = k // 2, k - k // 2
        if b > len(levels) and len(levels[-1]) and not deadline.expired():
            grown = _grow(levels[-1], usable, table, item_hash, counts, cap)
            if grown is not None:
                levels.append(grown)
        if deadline.expired():
            return
        if b > len(levels):
            break
        patterns = (
            _whole(levels[b - 1], cap)
            if a == 0
            else _join(levels[a - 1], levels[b - 1], goal, cap, counts, deadline)
        )
        if patterns is None:  # too many matches: sizes from here on are not listed
            break
        # Rows are ascending: each type's copies are a run (in Python: np.unique per row
        # took half the listing's time over 87,000 fills).
        fills: list[Pattern] = []
        for i, row in enumerate(patterns.tolist()):
            if i % 4096 == 0 and deadline.expired():
                return
            key = tuple(row)
            if key not in seen:
                seen.add(key)
                fills.append(tuple((t, len(list(run))) for t, run in itertools.groupby(row)))
        yield fills


def fitting_sets(
    table: np.ndarray,
    counts: np.ndarray,
    capacity: np.ndarray,
    limit: int,
    deadline: Deadline,
    largest: int | None = None,
    listed: list[np.ndarray] | None = None,
) -> list[np.ndarray] | None:
    """Every item set that fits a bin (of at most ``largest`` items, if given), one array per
    size (rows of types, ascending, a type repeated for its copies); None when there are more
    than ``limit`` or the deadline passes. Level by level: each set extended by each type from
    its last one on (the sets of a level sorted by their last type, so those a type extends
    are a prefix). With ``listed`` (the first levels, as listed here), from the level after
    them on."""
    table = np.asarray(table, dtype=np.int64).reshape(len(counts), -1)
    counts = np.asarray(counts, dtype=np.int64)
    cap = np.asarray(capacity, dtype=np.int64)
    usable = np.flatnonzero((counts > 0) & np.all(table <= cap, axis=1))
    found: list[np.ndarray] = []
    total = 0
    types, sums = usable[:, None], table[usable]
    copies = np.ones(len(usable), dtype=np.int64)  # of the last type
    if listed:
        found, total = list(listed), sum(len(level) for level in listed)
        last = found[-1]
        grown = _grow_sets(
            last,
            table[last].sum(axis=1),
            (last == last[:, -1:]).sum(axis=1),
            usable,
            table,
            counts,
            cap,
            limit - total,
            deadline,
        )
        if grown is None:
            return None
        types, sums, copies = grown
    while len(types):
        total += len(types)
        if total > limit or deadline.expired():
            return None
        found.append(types)
        if len(found) == largest:
            break
        grown = _grow_sets(types, sums, copies, usable, table, counts, cap, limit - total, deadline)
        if grown is None:
            return None
        types, sums, copies = grown
    return found


def _grow_sets(
    types: np.ndarray,
    sums: np.ndarray,
    copies: np.ndarray,
    usable: np.ndarray,
    table: np.ndarray,
    counts: np.ndarray,
    cap: np.ndarray,
    limit: int,
    deadline: Deadline,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``fitting_sets``' next level: the sets one item larger (sorted by their last type);
    None beyond ``limit`` or at the deadline."""
    last = types[:, -1]
    grown: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    made = 0
    # The room each set leaves, one contiguous row per dimension: a type's fit is tested one
    # dimension at a time on the sets still in the running (the tightest dimension first).
    room = np.ascontiguousarray((cap - sums).T)
    for t in usable.tolist():
        if made > limit or deadline.expired():
            return None
        before = int(np.searchsorted(last, t, side="left"))
        upto = int(np.searchsorted(last, t, side="right"))
        size = table[t]
        order = np.argsort(-size / np.maximum(cap, 1), kind="stable")
        rows = np.flatnonzero(room[order[0], :upto] >= size[order[0]])
        for k in order[1:].tolist():
            if not len(rows):
                break
            rows = rows[room[k, rows] >= size[k]]
        rows = rows[(rows < before) | (copies[rows] < counts[t])]
        if len(rows):
            again = np.where(rows >= before, copies[rows] + 1, 1)
            extended = np.concatenate([types[rows], np.full((len(rows), 1), t)], axis=1)
            grown.append((extended, sums[rows] + table[t], again))
            made += len(rows)
    if not grown:
        return types[:0], sums[:0], copies[:0]
    return (
        np.concatenate([g[0] for g in grown]),
        np.concatenate([g[1] for g in grown]),
        np.concatenate([g[2] for g in grown]),
    )


def _grow(
    sets: _Sets,
    usable: np.ndarray,
    table: np.ndarray,
    item_hash: np.ndarray,
    counts: np.ndarray,
    cap: np.ndarray,
) -> _Sets | None:
    """Every set one item larger that fits (the new type at least the set's last one, within
    its count); None when there would be more than ``SET_LIMIT``."""
    last = sets.types[:, -1]
    position = np.searchsorted(usable, last)  # usable is ascending
    # Candidate pairs (set, usable type from its last on), made in chunks to bound memory.
    extend = len(usable) - position
    if int(extend.sum()) > 2 * SET_LIMIT:
        return None
    parent = np.repeat(np.arange(len(sets)), extend)
    offset = np.arange(len(parent)) - np.repeat(np.cumsum(extend) - extend, extend)
    item = usable[np.repeat(position, extend) + offset]
    sums = sets.sums[parent] + table[item]
    keep = np.all(sums <= cap, axis=1)
    same = (sets.types[parent] == item[:, None]).sum(axis=1) + 1
    keep &= same <= counts[item]
    if int(keep.sum()) > SET_LIMIT:
        return None
    parent, item = parent[keep], item[keep]
    types = np.concatenate([sets.types[parent], item[:, None]], axis=1)
    with np.errstate(over="ignore"):
        hashes = sets.hashes[parent] + item_hash[item]
    return _Sets(types, sums[keep], hashes)


def _whole(sets: _Sets, cap: np.ndarray) -> np.ndarray:
    return sets.types[np.all(sets.sums == cap, axis=1)]


def _join(
    first: _Sets,
    second: _Sets,
    goal: int,
    cap: np.ndarray,
    counts: np.ndarray,
    deadline: Deadline,
) -> np.ndarray | None:
    """Rows of types: a set of ``first`` and one of ``second`` adding up to ``cap`` exactly,
    the first's last type at most the second's first, no type beyond its count; None when
    there are too many matches or the deadline passes. The matches are checked a chunk of
    ``first`` at a time, the deadline between chunks (one join of 3 + 3 items over 220,000
    sets, 1.5 million hash matches, took 2 s at load 8 and ran past the deadline)."""
    order = np.argsort(second.hashes, kind="stable")
    ordered = second.hashes[order]
    with np.errstate(over="ignore"):
        wanted = np.int64(goal) - first.hashes
    lo = np.searchsorted(ordered, wanted, side="left")
    hi = np.searchsorted(ordered, wanted, side="right")
    matches = hi - lo
    if int(matches.sum()) > JOIN_LIMIT:
        return None
    found = [np.zeros((0, first.types.shape[1] + second.types.shape[1]), dtype=np.int64)]
    ends = np.cumsum(matches)
    begin = 0
    while begin < len(first):
        if deadline.expired():
            return None
        done = int(ends[begin - 1]) if begin else 0
        end = max(begin + 1, int(np.searchsorted(ends, done + JOIN_CHUNK, side="right")))
        found.append(_join_chunk(first, second, order, lo, matches, begin, end, cap, counts))
        begin = end
    return np.concatenate(found)


def _join_chunk(
    first: _Sets,
    second: _Sets,
    order: np.ndarray,
    lo: np.ndarray,
    matches: np.ndarray,
    begin: int,
    end: int,
    cap: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """``_join``'s rows for the sets ``begin:end`` of ``first``."""
    wanted = matches[begin:end]
    total = int(wanted.sum())
    left = np.repeat(np.arange(begin, end), wanted)
    offset = np.arange(total) - np.repeat(np.cumsum(wanted) - wanted, wanted)
    right = order[np.repeat(lo[begin:end], wanted) + offset]
    # The order first (one comparison: a set of a + b items is matched once per way of
    # splitting it, and only one split is in order), then the sums in every dimension.
    ordered = first.types[left, -1] <= second.types[right, 0]
    left, right = left[ordered], right[ordered]
    ok = np.all(first.sums[left] + second.sums[right] == cap, axis=1)
    rows = np.concatenate([first.types[left[ok]], second.types[right[ok]]], axis=1)
    if len(rows):
        # A type spanning both halves may exceed its count: check each row's copies.
        within = np.ones(len(rows), dtype=bool)
        for j in range(rows.shape[1]):
            within &= (rows == rows[:, j : j + 1]).sum(axis=1) <= counts[rows[:, j]]
        rows = rows[within]
    return rows


def dive_exact_fills(
    patterns: Sequence[Pattern],
    counts: Sequence[int],
    deadline: Deadline,
    rng: random.Random,
) -> list[Counter[int]] | None:
    """Pattern copies covering every item exactly, by LP dives (HiGHS): the covering LP over
    ``patterns``, the patterns it uses whole fixed (else one drawn among the most used), the
    patterns that no longer fit what is left bounded to their copies so far, until every
    item is covered; another dive from scratch while the deadline allows. Where CP-SAT's
    cover gets lost among thousands of accidental exact fills (two dimensions, capacity 100:
    20,000 patterns on 150 items), the LP points at the planted ones."""
    try:
        import highspy
    except ImportError:  # without HiGHS: CP-SAT's cover alone
        return None
    m = len(patterns)
    if not m:
        return None
    rows = np.array([t for p in patterns for t, _ in p], dtype=np.int32)
    copies = np.array([j for p in patterns for _, j in p], dtype=np.int64)
    start = np.cumsum([0] + [len(p) for p in patterns]).astype(np.int32)
    need = np.asarray(counts, dtype=np.int64)
    with quiet_stdout():  # HiGHS prints a banner on stdout when first created
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    # HiGHS' presolve does not read the time limit: on 87,105 fills the first LP took 0.49 s
    # on a 0.05 s limit with it, kept the limit without it. Kept on few fills, where it is
    # quick and the dives found vector triplets (d = 2, seed 103) that they missed without it.
    if m > PRESOLVE_FILLS:
        highs.setOptionValue("presolve", "off")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m, len(need)
    lp.col_cost_ = np.zeros(m)
    lp.col_lower_, lp.col_upper_ = np.zeros(m), np.full(m, highspy.kHighsInf)
    lp.row_lower_ = lp.row_upper_ = need.astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = start, rows
    lp.a_matrix_.value_ = copies.astype(np.float64)
    highs.passModel(lp)
    every = np.arange(m, dtype=np.int32)
    dives = 0
    while not deadline.expired():
        fixed = _dive(highs, rows, copies, start, need, every, deadline, rng, dives > 0)
        dives += 1
        if fixed is not None:
            return [
                Counter(dict(patterns[k]))
                for k in np.flatnonzero(fixed).tolist()
                for _ in range(int(fixed[k]))
            ]
    return None


def _dive(
    highs: Any,
    rows: np.ndarray,
    copies: np.ndarray,
    start: np.ndarray,
    need: np.ndarray,
    every: np.ndarray,
    deadline: Deadline,
    rng: random.Random,
    thin: bool,
) -> np.ndarray | None:
    """One dive: copies per pattern covering ``need`` exactly, or None (a dead end, or out
    of time)."""
    import highspy

    m = len(every)
    lower, upper = np.zeros(m), np.full(m, highspy.kHighsInf)
    highs.changeColsBounds(m, every, lower, upper)
    left = need.copy()
    alive = np.ones(m, dtype=bool)
    owner = np.repeat(np.arange(m), np.diff(start))  # the pattern of each entry
    while left.any():
        if not highs_run(highs, deadline):
            return None
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        used = np.asarray(highs.getSolution().col_value) - lower
        candidates = np.flatnonzero(alive & (used > 1e-6))
        if not len(candidates):
            return None
        whole = candidates[used[candidates] >= 1 - 1e-6]
        if len(whole):
            picks = whole.tolist()
            if thin:  # not the first dive: another way down, even where the LP is integral
                picks = [k for k in picks if rng.random() < 0.5] or [rng.choice(picks)]
        else:
            top = float(used[candidates].max())
            picks = [rng.choice(candidates[used[candidates] >= 0.75 * top].tolist())]
        for k in picks:
            span = slice(start[k], start[k + 1])
            if np.all(left[rows[span]] >= copies[span]):
                left[rows[span]] -= copies[span]
                lower[k] += 1
        # Patterns needing more than is left of a type: no more copies of them.
        short = np.add.reduceat((copies > left[rows]).astype(np.int64), start[:-1]) > 0
        alive &= ~short
        # A type left that no pattern covers any more: a dead end, seen without the LP.
        covering = np.bincount(rows[alive[owner]], minlength=len(left))
        if np.any((left > 0) & (covering == 0)):
            return None
        upper = np.where(alive, np.inf, lower)
        highs.changeColsBounds(m, every, lower, upper)
    return lower.astype(np.int64)


PRESOLVE_FILLS = 5_000  # more exact fills: the dives' LP without HiGHS' presolve
RESTART_BACKTRACKS = 200  # dead ends a descent of the exact-cover search takes before restarting


def cover_exact_fills(
    patterns: Sequence[Pattern],
    counts: Sequence[int],
    deadline: Deadline,
    rng: random.Random,
) -> list[Counter[int]] | None:
    """Pattern copies covering every item exactly, by depth-first search as in Knuth's
    Algorithm X: the item type left with the fewest live patterns next, each of them in turn
    (fewest items first, ties at random), patterns needing more than is left of a type dead;
    restarted with another order after ``RESTART_BACKTRACKS`` dead ends. First over the
    patterns of at most 2 items, then 3, ... (an equal share of the time left each; a search
    that runs out of options ends its share at once): planted packings of 2-4 items a bin hid
    among 50,000-95,000 accidental exact fills of 5 and 6, where the search over all of them
    found no cover in 8 s and the one over those of at most 4 items found it in 0.04 s.
    None: no cover found (which proves nothing)."""
    widths = sorted({len(p) for p in patterns})
    for n, width in enumerate(widths):
        if deadline.expired():
            break
        chosen = [p for p in patterns if len(p) <= width]
        found = cover_among(chosen, counts, deadline.part(1.0 / (len(widths) - n)), rng)
        if found is not None:
            return found
    return None


def cover_among(
    patterns: Sequence[Pattern],
    counts: Sequence[int],
    deadline: Deadline,
    rng: random.Random,
) -> list[Counter[int]] | None:
    """``cover_exact_fills``' search over all of ``patterns`` at once, restarted until the
    deadline; None when it finds no cover (at once when it has tried every option)."""
    if not patterns:
        return None
    cover = _ExactCover(patterns, counts)
    while not deadline.expired():
        found = cover.descend(deadline, rng)
        if found is not None:
            return [Counter(dict(patterns[k])) for k in found]
        if cover.exhausted:
            break
    return None


class _ExactCover:
    """The search state: what is left per type, per pattern how many of its types are short
    (live at 0), and per type how many live patterns hold it; cover and uncover in numpy."""

    def __init__(self, patterns: Sequence[Pattern], counts: Sequence[int]) -> None:
        self.patterns = patterns
        types = len(counts)
        widest = max(len(p) for p in patterns)
        self.members = np.full((len(patterns), widest), types, dtype=np.int64)  # padded
        rows, copies, owner = [], [], []
        for k, p in enumerate(patterns):
            self.members[k, : len(p)] = [t for t, _ in p]
            for t, j in p:
                rows.append(t)
                copies.append(j)
                owner.append(k)
        order = np.argsort(rows, kind="stable")
        self.holder = np.asarray(owner, dtype=np.int64)[order]  # patterns holding each type
        self.copies = np.asarray(copies, dtype=np.int64)[order]
        self.span = np.searchsorted(np.asarray(rows)[order], np.arange(types + 1))
        self.left = np.asarray(counts, dtype=np.int64).copy()
        self.short = np.zeros(len(patterns), dtype=np.int64)
        live = np.bincount(self.members.ravel(), minlength=types + 1)
        self.live = live[:types].copy()
        self.exhausted = False
        # Patterns holding more of a type than there is are dead from the start.
        for t in range(types):
            self._shrink(t, self.left[t] + max(0, int(self.copies[self._of(t)].max(initial=0))))

    def _of(self, t: int) -> slice:
        return slice(int(self.span[t]), int(self.span[t + 1]))

    def _shrink(self, t: int, before: int) -> np.ndarray:
        """``left[t]`` went down from ``before``: the patterns this makes short, now dead
        if they were live (returned, to undo)."""
        span = self._of(t)
        j = self.copies[span]
        hit = self.holder[span][(j > self.left[t]) & (j <= before)]
        self.short[hit] += 1
        died = hit[self.short[hit] == 1]
        self.live -= np.bincount(self.members[died].ravel(), minlength=len(self.live) + 1)[:-1]
        return hit

    def _grow(self, hit: np.ndarray) -> None:
        died = hit[self.short[hit] == 1]
        self.live += np.bincount(self.members[died].ravel(), minlength=len(self.live) + 1)[:-1]
        self.short[hit] -= 1

    def _take(self, k: int) -> list[tuple[int, int, np.ndarray]]:
        undo = []
        for t, j in self.patterns[k]:
            before = int(self.left[t])
            self.left[t] = before - j
            undo.append((t, before, self._shrink(t, before)))
        return undo

    def _give_back(self, undo: list[tuple[int, int, np.ndarray]]) -> None:
        for t, before, hit in reversed(undo):
            self._grow(hit)
            self.left[t] = before

    def descend(self, deadline: Deadline, rng: random.Random) -> list[int] | None:
        """One search from the root (state restored after): the patterns of a cover, or None
        after ``RESTART_BACKTRACKS`` dead ends or at the deadline."""
        stack: list[tuple[list[int], list[tuple[int, int, np.ndarray]] | None]] = []
        chosen: list[int] = []
        dead_ends = 0
        found: list[int] | None = None
        while not deadline.expired():
            if not self.left.any():
                found = list(chosen)
                break
            waiting = np.flatnonzero(self.left > 0)
            t = int(waiting[np.argmin(self.live[waiting])])
            span = self._of(t)
            live = self.holder[span][self.short[self.holder[span]] == 0]
            padded = np.append(self.live, 1 << 30)
            hard = (1.0 / padded[self.members[live]]).sum(axis=1)
            hard *= 1 + 0.3 * np.asarray([rng.random() for _ in range(len(live))])
            width = (self.members[live] < len(self.live)).sum(axis=1)
            options = live[np.lexsort((hard, -width))].tolist()
            stack.append((options, None))
            # Next option at this level, backtracking over exhausted levels.
            while stack:
                options, undo = stack[-1]
                if undo is not None:
                    self._give_back(undo)
                    chosen.pop()
                if options:
                    k = options.pop()
                    stack[-1] = (options, self._take(k))
                    chosen.append(k)
                    break
                stack.pop()
                dead_ends += 1
            if not stack:
                self.exhausted = True  # every option tried: no cover among these patterns
                break
            if dead_ends > RESTART_BACKTRACKS:
                break
        for _, undo in reversed(stack):
            if undo is not None:
                self._give_back(undo)
        return found
