"""Pricing pairs and triples, for vector packings whose bins hold two or three items.

Where too many item sets fit a bin to put them all into the master (``vector_fill.
fitting_sets`` stops at 30,000: classes 6, 7 and 9 of Caprara & Toth in three or five
dimensions, 250-500 items, where 30,000-80,000 pairs and 0.2-1.2 million triples fit), the
pairs and triples can still be listed, once, and priced by summing prices over them in numpy:
a column generation over them then converges on 500 items in 10-20 rounds of a few hundred
columns each, where the general pricer (greedy fills, a beam, CP-SAT) is still 20 % below its
optimum after 8 s. Its LP value rounded up was the best known on the tuning instances, and a
dive or CP-SAT over the columns it generated found packings of that many bins or one more.
Sets of four or more items are priced only where the triples are few (then every set that fits
is listed, and the LP's Farley bound is a bound); elsewhere the LP is over sets of at most
three, and its value bounds nothing.
"""

from __future__ import annotations

import numpy as np

from ..deadline import Deadline
from .vector_fill import fitting_sets

# More sets of at most three items than this: not listed, no generation (class7_500_3_6:
# 82,000 pairs and 1.2 million triples, listed in 1.2 s, then 27 rounds, 6.4 s alone at load 10:
# under load it did not settle within its share, and bin elimination, left less time, ended
# 1-8 bins worse than without it; class 9 at 500 items, 0.5 million, settled in 17-18 rounds).
MAX_SETS = 1_000_000
# At most this many triples: the larger sets are listed too (class 6 at 500 items in five
# dimensions: 19,000-22,000 triples, 24-81 sets of four; class 7 at 500 items in ten: 5,000-
# 10,000 triples and none of four); on more, listing them took seconds (class 9 at 500 items
# in three dimensions: 258,000 triples, 150,000 sets of four).
FEW_TRIPLES = 40_000
EPS = 1e-9


class SmallSets:
    """The item sets of two and three items that fit a bin (rows of types, ascending); where
    the triples are few, those of four items and more too: then every set that fits
    (``complete``), so the most a set is worth under the master's prices bounds what any bin
    is worth, and the generation's LP bounds the packing (Farley)."""

    def __init__(self, levels: list[np.ndarray], complete: bool = False) -> None:
        self.singles = levels[0][:, 0] if levels else np.zeros(0, dtype=np.int64)
        self.levels = [level for level in levels[1:] if len(level)]
        self.complete = complete

    @classmethod
    def listed(
        cls, table: np.ndarray, counts: np.ndarray, capacity: np.ndarray, deadline: Deadline
    ) -> SmallSets | None:
        """The pairs and triples (and the rest where few triples fit), or None where there
        are too many or the deadline passes."""
        levels = fitting_sets(table, counts, capacity, MAX_SETS, deadline, largest=3)
        if levels is None:
            return None
        if len(levels) < 3:  # no triple fits: no larger set either
            return cls(levels, complete=True)
        if len(levels[-1]) <= FEW_TRIPLES:
            every = fitting_sets(table, counts, capacity, MAX_SETS, deadline, listed=levels)
            if every is not None:
                return cls(every, complete=True)
        return cls(levels)

    def __len__(self) -> int:
        return sum(len(level) for level in self.levels)

    def price(self, prices: np.ndarray, keep: int) -> tuple[list[np.ndarray], float]:
        """Up to ``keep`` sets of each size worth more than 1 under ``prices`` (per type), the
        most valuable first, as copies per type: the columns that price out (none: no set
        listed does); and the most a set listed is worth (single items too)."""
        prices = np.asarray(prices, dtype=np.float64)
        out: list[np.ndarray] = []
        most = float(prices[self.singles].max(initial=0.0))
        for level in self.levels:
            worth = prices[level].sum(axis=1)
            most = max(most, float(worth.max(initial=0.0)))
            good = np.flatnonzero(worth > 1 + EPS)
            if len(good) > keep:
                good = good[np.argpartition(-worth[good], keep - 1)[:keep]]
            good = good[np.argsort(-worth[good], kind="stable")]
            rows = level[good]
            block = np.zeros((len(rows), len(prices)), dtype=np.int64)
            for j in range(rows.shape[1]):  # (a row's copies of one type sit in distinct places)
                np.add.at(block, (np.arange(len(rows)), rows[:, j]), 1)
            out.extend(block)
        return out, most
