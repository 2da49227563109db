"""Vector (multi-resource) bin packing: a lower bound and bin-centric heuristics.

Panigrahy et al. (2011) found bin-centric heuristics — fill one bin at a time, each time adding
the fitting item that best matches the bin's remaining room — stronger than item-centric
first-fit for vectors. ``best_vector_packing`` runs several scores (dot product with the room,
largest normalised size, sum of sizes) plus item-centric first-fit decreasing, then restarts the
dot-product rule with randomly perturbed scores while time is left, keeps the fewest bins, and
stops early at the lower bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..deadline import Deadline
from .heuristics import Packing, first_fit_decreasing


def vector_lower_bound(
    sizes: Sequence[Sequence[int]], counts: Sequence[int], capacity: Sequence[int]
) -> int:
    """max(volume bound per resource, items over half the capacity in one resource)."""
    best = 0
    for d, cap in enumerate(capacity):
        volume = sum(w[d] * n for w, n in zip(sizes, counts, strict=True))
        if cap <= 0:
            if volume:
                raise ValueError(f"items demand resource {d}, which the bins do not have")
            continue  # nobody demands it: no bound
        big = sum(n for w, n in zip(sizes, counts, strict=True) if 2 * w[d] > cap)
        best = max(best, math.ceil(volume / cap), big)
    return best


def _expand(counts: Sequence[int]) -> list[int]:
    return [t for t, n in enumerate(counts) for _ in range(n)]


def bin_centric(
    sizes: Sequence[Sequence[int]],
    counts: Sequence[int],
    capacity: Sequence[int],
    score: str,
    noise: float = 0.0,
    seed: int = 0,
) -> Packing:
    """Fill bins one by one with the fitting item of best ``score``: dot | max | sum (scores
    multiplied by a random factor in [1, 1 + noise] per item, for restarts)."""
    rng = np.random.default_rng(seed)
    types = _expand(counts)
    cap = np.asarray(capacity, dtype=np.float64)
    weights = np.asarray([sizes[t] for t in types], dtype=np.int64).reshape(len(types), -1)
    frac = weights / cap
    jitter = 1.0 + noise * rng.random(len(types))
    left = np.ones(len(types), dtype=bool)
    packing: Packing = []
    while left.any():
        room = np.asarray(capacity, dtype=np.int64).copy()
        content: Counter[int] = Counter()
        while True:
            fits = left & np.all(weights <= room, axis=1)
            if not fits.any():
                break
            if score == "dot":
                value = frac @ (room / cap)
            elif score == "max":
                value = frac.max(axis=1)
            else:
                value = frac.sum(axis=1)
            value = np.where(fits, value * jitter, -1.0)
            k = int(np.argmax(value))
            left[k] = False
            room -= weights[k]
            content[types[k]] += 1
        packing.append(content)
    return packing


def best_vector_packing(
    sizes: Sequence[Sequence[int]],
    counts: Sequence[int],
    capacity: Sequence[int],
    target: int,
    deadline: Deadline,
) -> Packing:
    best = first_fit_decreasing(sizes, counts, capacity)
    for score in ("dot", "max", "sum"):
        if len(best) <= target or deadline.expired():
            break
        trial = bin_centric(sizes, counts, capacity, score)
        if len(trial) < len(best):
            best = trial
    attempt = 0
    while len(best) > target and not deadline.expired():  # randomised restarts
        trial = bin_centric(sizes, counts, capacity, "dot", noise=0.2, seed=attempt)
        if len(trial) < len(best):
            best = trial
        attempt += 1
    return best


def check_vector_packing(
    packing: Packing,
    sizes: Sequence[Sequence[int]],
    counts: Sequence[int],
    capacity: Sequence[int],
) -> bool:
    seen: Counter[int] = Counter()
    for content in packing:
        for d, cap in enumerate(capacity):
            if sum(sizes[t][d] * j for t, j in content.items()) > cap:
                return False
        seen.update(content)
    return all(seen[t] == n for t, n in enumerate(counts))
