"""Beam-search pricing for vector column generation.

One greedy fill a pricing round (``knapsack.VectorKnapsack``) stops finding columns that price
out long before the master is optimal on instances of a few items a bin in several
resources (Caprara & Toth's class 1: items of 10–40 % of the capacity in every dimension):
the generation then stalls with a Farley bound far below the volume bound, and dives fix
patterns of an LP that is not optimal. Here patterns grow one item at a time, all of them at
once in numpy: every pattern of the beam takes each fitting item after its last one (items by
value per summed share of the capacity), and the most valuable ``width`` go on. Every pattern
met on the way is a candidate column; the most valuable few are returned. Not exact (the exact
CP-SAT pricing still decides convergence), but a round costs milliseconds and returns several
columns that price out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..deadline import Deadline

BEAM_WIDTH = 128  # patterns kept at each size
MAX_COPIES = 400  # item copies considered (the most valuable per share first)
# (pattern, copy, dimension) entries a step compares at most: the beam is narrower on many
# items in many dimensions (a round of the default beam costs about what the greedy fills do;
# on 120 items in 10 dimensions a 128-wide beam took 10 times as long, and under load the
# generation did not reach the dives that found the best known).
BEAM_CANDIDATES = 1 << 15
MAX_CANDIDATES = 1 << 22  # for a wider beam (exact pricing, before CP-SAT)


class Beam(NamedTuple):
    patterns: list[np.ndarray]  # distinct, most valuable first
    exhaustive: bool  # no pattern worth over the threshold was cut: the first is the best


def beam_patterns(
    table: np.ndarray,
    room: np.ndarray,
    profits: np.ndarray,
    bounds: np.ndarray,
    chosen: np.ndarray,
    keep: int,
    width: int | None = None,
    threshold: float = -math.inf,
    deadline: Deadline | None = None,
) -> Beam:
    """Up to ``keep`` distinct patterns (copies per type, within ``bounds`` and ``room``),
    most valuable under ``profits`` first. Partial patterns that cannot grow past
    ``threshold`` (by the best value per size left in any one dimension) are dropped; when
    no others had to be, the search was exhaustive: nothing beats the first pattern (not so
    when ``deadline`` stops it)."""
    deadline = deadline or Deadline.never()
    share = table[chosen] / np.maximum(room, 1)
    efficiency = profits[chosen] / np.maximum(share.sum(axis=1), 1e-12)
    order = chosen[np.argsort(-efficiency, kind="stable")]
    # One entry per copy, best first (copies beyond what fits a bin are never taken).
    copies = np.minimum(bounds[order], MAX_COPIES)
    types = np.repeat(order, copies)[:MAX_COPIES]
    exhaustive = int(copies.sum()) <= MAX_COPIES
    if not len(types):
        return Beam([], exhaustive)
    w = table[types]  # (copies, d)
    p = profits[types]
    n = len(types)
    most = MAX_CANDIDATES if width else BEAM_CANDIDATES  # a wider beam may cost more
    width = max(1, min(width or BEAM_WIDTH, most // (n * w.shape[1])))
    # Per position and dimension, the most value per unit of size among the copies from there
    # on (no size: unbounded): what the room left in that dimension can still add at most.
    with np.errstate(divide="ignore"):
        ratio = np.where(w > 0, p[:, None] / np.maximum(w, 1), np.inf)
    rest = np.vstack([np.maximum.accumulate(ratio[::-1], axis=0)[::-1], np.zeros(w.shape[1])])
    # The beam: the copies each pattern holds (positions into ``types``), its load and value.
    # A pattern extends only with copies after its last one, so each set is met once.
    members = np.zeros((1, 0), dtype=np.int64)
    load = np.zeros((1, len(room)), dtype=np.int64)
    value = np.zeros(1)
    last = np.full(1, -1)
    found: list[tuple[float, np.ndarray]] = []
    position = np.arange(n)
    while len(value):
        if deadline.expired():
            exhaustive = False
            break
        after = position[None, :] > last[:, None]
        fits = after & np.all(load[:, None, :] + w[None, :, :] <= room, axis=2)
        parent, item = np.nonzero(fits)
        gained = value[parent] + p[item]
        left = room - load[parent] - w[item]
        # inf × 0 room: a later copy of no size in that dimension still fits a full one, so
        # that dimension bounds nothing (read as 0, it cut the best pattern yet the search
        # still called itself exhaustive: a column-generation LP "converged" short of it)
        with np.errstate(invalid="ignore"):
            more = np.nan_to_num(left * rest[item + 1], nan=np.inf).min(axis=1)
        alive = gained + more > threshold
        parent, item, gained = parent[alive], item[alive], gained[alive]
        if not len(parent):
            break
        if len(parent) > width:
            exhaustive = False
        best = np.argsort(-gained, kind="stable")[:width]
        parent, item = parent[best], item[best]
        members = np.concatenate([members[parent], item[:, None]], axis=1)
        load = load[parent] + w[item]
        value, last = gained[best], item
        found.extend(zip(value[:keep].tolist(), members[:keep], strict=True))
    found.sort(key=lambda f: -f[0])
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    for _, held in found:
        pattern = np.bincount(types[held], minlength=len(table)).astype(np.int64)
        key = pattern.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(pattern)
            if len(out) == keep:
                break
    return Beam(out, exhaustive)
