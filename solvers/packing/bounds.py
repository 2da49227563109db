"""Lower bounds on the number of bins for one-dimensional bin packing.

``l2_bound`` is Martello & Toth's L2 (1990): for every threshold K ≤ C/2, items larger than
C − K each need their own bin, items in (C/2, C − K] need one bin each too and leave room that only
items of size ≥ K can use, and the remaining volume of items in [K, C/2] needs extra bins.
The stronger Gilmore–Gomory (LP) bound needs no code here: CP-SAT's linear relaxation of the
arc-flow model (``linearization_level`` 2) is exactly that LP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def l1_bound(sizes: Sequence[int], counts: Sequence[int], capacity: int) -> int:
    return math.ceil(sum(w * n for w, n in zip(sizes, counts, strict=True)) / capacity)


def l2_bound(sizes: Sequence[int], counts: Sequence[int], capacity: int) -> int:
    """Martello–Toth L2 (at least L1)."""
    pairs = [(w, n) for w, n in zip(sizes, counts, strict=True) if n > 0 and w > 0]
    best = l1_bound(sizes, counts, capacity)
    thresholds = {0} | {w for w, _ in pairs if 2 * w <= capacity}
    for k in thresholds:
        big = sum(n for w, n in pairs if w > capacity - k)
        middle = [(w, n) for w, n in pairs if capacity - k >= w and 2 * w > capacity]
        small = sum(w * n for w, n in pairs if 2 * w <= capacity and w >= k)
        n_mid = sum(n for _, n in middle)
        room = n_mid * capacity - sum(w * n for w, n in middle)
        extra = max(0, math.ceil((small - room) / capacity))
        best = max(best, big + n_mid + extra)
    return best
