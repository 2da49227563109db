"""Exact fills of three items a bin: belief propagation with decimation, taking turns with
CP-SAT over the triples (``triple_cover``).

Where every size lies in (C/4, C/2) and the bound fills every bin exactly, each bin holds
exactly three items: a packing at the bound is an exact cover of the items by zero-waste
triples. Of mostly distinct sizes (generated triplets of 210-360 items) that cover is nearly
unique among 500-3,000 triples, a random planted exact cover: CP-SAT on the triples, the
arc-flow and pattern models, LP dives and an exact-cover search by fewest options miss it
in 10-20 s, a local search over the triples stalls 2-4 triples short. Belief propagation
(sum-product on "each item in exactly one chosen triple") estimates how likely each triple
is in a cover; the likeliest is fixed, items with a single triple left are fixed with it,
and the rest is estimated again; restarts with noise after a dead end. Where it misses,
CP-SAT on the exact cover sometimes finds the cover within a second or two of a seed (of 12
covers decimation missed in 10 s on the tuning seeds, 2-3 in 2 s of some seeds); and where no
cover exists, only CP-SAT can tell.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..deadline import Deadline
from .triple_cover import cover_by_cpsat, type_triples

MAX_TRIPLES = 20_000  # more zero-waste triples than this: not tried (seconds per estimate)
ITERATIONS = 60  # message passes of the first estimate
WARM_ITERATIONS = 15  # of the next ones, from the last messages
DAMPING = 0.5  # share of the old message kept each pass
NOISE = 0.1  # spread of the random start messages of a restart (log scale)
RESTART_CHOICES = 3  # a restart fixes one of the likeliest this many at random
MAX_RESTARTS = 1_000  # without a deadline: give up after this many dead ends
# Decimation and CP-SAT take turns: decimation first for this long (it finds most covers in
# well under a second), then slices of each. CP-SAT finds a cover within 1-2.5 s of a seed or
# not for many seconds (generated triplets of 250-360 items: of 8 seeds at 2 s, 6, 3 and 1 found
# it on three instances, none at 5 s that missed at 2 s), so its slices are short; they grow
# for a proof where no cover exists.
DECIMATION_FIRST = 1.0
DECIMATION_SLICE = 1.5
CPSAT_SLICE = 2.0
CPSAT_GROWTH = 1.5


def three_item_bins(sizes: Sequence[int], capacity: int) -> bool:
    """Every size in (C/4, C/2): a full bin holds exactly three items."""
    return all(4 * w > capacity and 2 * w < capacity for w in sizes)


def zero_waste_triples(
    items: Sequence[int], capacity: int, deadline: Deadline
) -> np.ndarray | None:
    """Item index triples (i < j < k) adding up to the capacity; None beyond MAX_TRIPLES or
    at the deadline."""
    where: dict[int, list[int]] = {}
    for i, w in enumerate(items):
        where.setdefault(w, []).append(i)
    found: list[tuple[int, int, int]] = []
    for i, a in enumerate(items):
        if deadline.expired():
            return None
        for j in range(i + 1, len(items)):
            for k in where.get(capacity - a - items[j], ()):
                if k > j:
                    found.append((i, j, k))
            if len(found) > MAX_TRIPLES:
                return None
    return np.asarray(found, dtype=np.int64).reshape(-1, 3)


def likelihoods(
    n: int, triples: np.ndarray, log_r: np.ndarray, iterations: int = ITERATIONS
) -> np.ndarray:
    """Log odds that each triple is in the cover, by belief propagation: item i tells triple
    t the odds r = 1 / (sum over i's other triples s of q_s), where q_s is the product of
    the odds s hears from its other two items. ``log_r`` (one row per triple) holds the
    messages to start from and is updated in place."""
    items = triples.ravel()
    log_r = log_r.ravel()
    for _ in range(iterations):
        per_triple = log_r.reshape(-1, 3)
        log_q = (per_triple.sum(axis=1, keepdims=True) - per_triple).ravel()
        top = float(log_q.max())
        q = np.exp(log_q - top)
        others = np.bincount(items, weights=q, minlength=n)[items] - q
        fresh = -(np.log(np.maximum(others, 1e-300)) + top)
        log_r *= DAMPING
        log_r += (1.0 - DAMPING) * fresh
    return np.asarray(log_r.reshape(-1, 3).sum(axis=1))


def cover_by_decimation(
    n: int, triples: np.ndarray, deadline: Deadline, rng: random.Random, noisy: bool = False
) -> list[int] | None:
    """Row indices of triples covering items 0..n-1 exactly, or None (which proves nothing).
    ``noisy``: every attempt a restart (the plain first one was made by an earlier call)."""
    if len(triples) == 0:
        return None
    for attempt in range(int(noisy), MAX_RESTARTS):
        noise = np.random.default_rng(rng.randrange(1 << 30))
        # Messages kept from one estimate to the next: fixing a triple changes little, so
        # a few passes from the last ones settle again.
        messages = (
            np.zeros(triples.shape) if attempt == 0 else noise.normal(0, NOISE, triples.shape)
        )
        passes = ITERATIONS
        live = np.ones(len(triples), dtype=bool)
        covered = np.zeros(n, dtype=bool)
        chosen: list[int] = []
        while not covered.all():
            if deadline.expired():
                return None
            rows = np.flatnonzero(live)
            options = np.bincount(triples[rows].ravel(), minlength=n)
            if (options[~covered] == 0).any():
                break  # an item no live triple covers: a dead end
            forced = np.flatnonzero((options == 1) & ~covered)
            if len(forced):
                pick = rows[np.flatnonzero((triples[rows] == forced[0]).any(axis=1))[0]]
            else:
                start = messages[rows]
                odds = likelihoods(n, triples[rows], start, passes)
                messages[rows] = start
                passes = WARM_ITERATIONS
                best = np.argsort(-odds)[: 1 if attempt == 0 else RESTART_CHOICES]
                pick = rows[int(rng.choice(best.tolist()))]
            chosen.append(int(pick))
            covered[triples[pick]] = True
            live &= ~covered[triples].any(axis=1)
        else:
            return chosen
    return None


class TripleCover(NamedTuple):
    """What the three-item step found: bins (or None), which search found them, and whether no
    packing fills every bin (proved: every zero-waste triple was in an exhausted search)."""

    packing: list[Counter[int]] | None
    how: str
    none_exists: bool = False


def triple_packing(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    deadline: Deadline,
    seed: int = 0,
) -> TripleCover:
    """Bins of three items each, every bin exactly full: belief propagation with decimation
    and CP-SAT over the triples of types take turns (each finds covers the other misses; both
    are restarts with new random numbers), or the proof from CP-SAT that none exists."""
    types = [t for t, n in enumerate(counts) for _ in range(n)]
    triples = zero_waste_triples([sizes[t] for t in types], capacity, deadline)
    listed = type_triples(sizes, counts, capacity, MAX_TRIPLES, deadline)
    rng = random.Random(seed)
    turn, work = 0, CPSAT_SLICE
    while not deadline.expired() and (triples is not None or listed is not None):
        if triples is not None and (turn % 2 == 0 or listed is None):
            slot = deadline.part(1.0, at_most=DECIMATION_FIRST if turn == 0 else DECIMATION_SLICE)
            cover = cover_by_decimation(len(types), triples, slot, rng, noisy=turn > 0)
            if cover is not None:
                bins = [Counter(types[i] for i in triples[k]) for k in cover]
                return TripleCover(bins, "belief propagation")
        elif listed is not None:
            packing, none_exists = cover_by_cpsat(
                counts, listed, deadline.part(1.0, at_most=work), seed + turn
            )
            if packing is not None or none_exists:
                return TripleCover(packing, "cp-sat exact cover", none_exists)
            work *= CPSAT_GROWTH
        turn += 1
    return TripleCover(None, "")
