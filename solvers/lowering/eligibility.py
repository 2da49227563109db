"""Eligible (group, bin) pairs with the bounds of their counts, stored sparse.

Only pairs that may hold items are kept (compressed by group, bins ascending), so memory follows
the eligible pairs, not groups × bins: a cluster of 5,000 nodes where each of 1,000 groups may
use 50 of them keeps 50,000 pairs. ``dense`` gives a [groups, bins] view for code that wants one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.ir import Problem

from .devices import Devices

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Eligibility:
    """Group g's pairs are positions ``start[g]:start[g + 1]`` of ``bin``/``low``/``high``/``open``.

    ``high`` > 0 at every pair (capacity, count and ``allowed`` permitting); ``low``: items that
    may not move stay; ``open``: new items may go there (allowed, and one fits an empty bin).
    """

    groups: int
    bins: int
    start: IntArray  # [groups + 1]
    bin: IntArray  # [pairs]
    low: IntArray  # [pairs]
    high: IntArray  # [pairs]
    open: BoolArray  # [pairs]

    def __len__(self) -> int:
        return len(self.bin)

    def span(self, g: int) -> slice:
        return slice(int(self.start[g]), int(self.start[g + 1]))

    def bins_of(self, g: int) -> IntArray:
        """The bins group g may be on, ascending."""
        return self.bin[self.span(g)]

    def open_bins(self, g: int) -> IntArray:
        """The bins new items of group g may go to, ascending."""
        s = self.span(g)
        return self.bin[s][self.open[s]]

    def find(self, g: int, b: int) -> int | None:
        """The position of pair (g, b), None when it may hold no item."""
        lo, hi = int(self.start[g]), int(self.start[g + 1])
        at = lo + int(np.searchsorted(self.bin[lo:hi], b))
        return at if at < hi and int(self.bin[at]) == b else None

    @property
    def group(self) -> IntArray:
        """The group of every pair."""
        return np.repeat(np.arange(self.groups, dtype=np.int64), np.diff(self.start))

    def by_bin(self) -> tuple[IntArray, IntArray]:
        """(order, start): pair positions sorted by bin (groups ascending within a bin), and where
        each bin's run begins in that order ([bins + 1])."""
        order = np.argsort(self.bin, kind="stable")
        start = np.zeros(self.bins + 1, np.int64)
        np.cumsum(np.bincount(self.bin, minlength=self.bins), out=start[1:])
        return order, start

    def column_keys(self) -> Iterator[bytes]:
        """Per bin in order, what its pairs are (groups, bounds, open) as bytes: equal bytes, equal
        columns. One bin's bytes at a time."""
        order, start = self.by_bin()
        table = np.empty((len(order), 4), np.int64)
        for k, column in enumerate((self.group, self.low, self.high, self.open)):
            table[:, k] = column[order]
        for b in range(self.bins):
            yield table[start[b] : start[b + 1]].tobytes()

    def dense(self, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """A per-pair array as a [groups, bins] matrix (zero where no pair): groups × bins memory."""
        out = np.zeros((self.groups, self.bins), values.dtype)
        out[self.group, self.bin] = values
        return out


def eligibility(
    problem: Problem, demand: IntArray, capacity: IntArray, devices: Devices | None
) -> Eligibility:
    """Bounds of every (group, bin) count. ``high``: as many as fit an empty bin, its devices
    included (at most the group's count) where the group may go; items already on a bin may stay
    there even where new ones may not (pinned ones must: ``low``). One group at a time, so only
    one row of groups × bins is ever held."""
    groups, bins = len(problem.items), len(problem.bins)
    index = {b.name: n for n, b in enumerate(problem.bins)}
    start = np.zeros(groups + 1, np.int64)
    parts: dict[str, list[np.ndarray[Any, Any]]] = {"bin": [], "low": [], "high": [], "open": []}
    for n, g in enumerate(problem.items):
        on = demand[n] > 0
        if on.any():
            fit = (capacity[:, on] // demand[n, on]).min(axis=1)
        else:
            fit = np.full(bins, g.count, np.int64)
        if devices is not None and devices.need[n] > 0:
            fit = np.minimum(fit, devices.fit(n))
        ok = fit >= 1
        if g.allowed is not None:
            allowed = np.zeros(bins, bool)
            allowed[[index[b] for b in g.allowed]] = True
            ok &= allowed
        high = np.where(ok, np.minimum(g.count, fit), 0)
        low = np.zeros(bins, np.int64) if g.placed and not g.movable else None
        for b, k in g.placed.items():
            i = index[b]
            if low is not None:
                low[i] = k
                high[i] = max(int(high[i]), k) if ok[i] else k
            elif not ok[i]:  # may stay (as many as fit), never receive
                high[i] = min(k, int(fit[i]))
        where = np.flatnonzero(high > 0)
        parts["bin"].append(where)
        parts["low"].append(low[where] if low is not None else np.zeros(len(where), np.int64))
        parts["high"].append(high[where].astype(np.int64))
        parts["open"].append(ok[where])
        start[n + 1] = start[n] + len(where)

    def joined(field: str, dtype: Any) -> Any:
        """One field's pairs in one array (its parts freed before the next field is joined)."""
        out = np.concatenate(parts.pop(field)).astype(dtype, copy=False) if groups else None
        return out if out is not None else np.zeros(0, dtype)

    return Eligibility(
        groups=groups,
        bins=bins,
        start=start,
        bin=joined("bin", np.int64),
        low=joined("low", np.int64),
        high=joined("high", np.int64),
        open=joined("open", bool),
    )
