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

import numpy as np

BEAM_WIDTH = 128  # patterns kept at each size
MAX_COPIES = 400  # item copies considered (the most valuable per share first)


def beam_patterns(
    table: np.ndarray,
    room: np.ndarray,
    profits: np.ndarray,
    bounds: np.ndarray,
    chosen: np.ndarray,
    keep: int,
    width: int | None = None,
) -> list[np.ndarray]:
    """Up to ``keep`` distinct patterns (copies per type, within ``bounds`` and ``room``),
    most valuable under ``profits`` first."""
    width = width or BEAM_WIDTH
    share = table[chosen] / np.maximum(room, 1)
    efficiency = profits[chosen] / np.maximum(share.sum(axis=1), 1e-12)
    order = chosen[np.argsort(-efficiency, kind="stable")]
    # One entry per copy, best first (copies beyond what fits a bin are never taken).
    types = np.repeat(order, np.minimum(bounds[order], MAX_COPIES))[:MAX_COPIES]
    if not len(types):
        return []
    w = table[types]  # (copies, d)
    p = profits[types]
    n = len(types)
    # The beam: the copies each pattern holds (positions into ``types``), its load and value.
    # A pattern extends only with copies after its last one, so each set is met once.
    members = np.zeros((1, 0), dtype=np.int64)
    load = np.zeros((1, len(room)), dtype=np.int64)
    value = np.zeros(1)
    last = np.full(1, -1)
    found: list[tuple[float, np.ndarray]] = []
    position = np.arange(n)
    while len(value):
        after = position[None, :] > last[:, None]
        fits = after & np.all(load[:, None, :] + w[None, :, :] <= room, axis=2)
        parent, item = np.nonzero(fits)
        if not len(parent):
            break
        gained = value[parent] + p[item]
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
    return out
