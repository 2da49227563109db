"""Bound first, then a packing that meets it: the fast path for pure one-dimensional bin packing.

Order of work, cheapest first, stopping as soon as a packing reaches the lower bound:

1. Martello–Toth L2 lower bound and first-fit decreasing.
2. When the bound leaves little total slack (``k·C − Σ sizes``), list every bin pattern within
   that slack and let CP-SAT choose pattern copies (``patterns``): this is what finds
   exact packings such as Falkenauer's triplets.
3. LP diving on the arc-flow relaxation (``dive``, HiGHS), whose first LP also raises
   the bound to the Gilmore–Gomory value: this is what finds packings with slack (Falkenauer U).
4. While time is left, depth-first bin completion with restarts, then MBS' passes.

The result is a lower bound and the best packing found; the caller (the arc-flow CP-SAT model)
turns the bound into a constraint and the packing into a hint, so CP-SAT proves optimality at
once when they meet and keeps searching from a strong start when they do not.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .bounds import l2_bound
from .dive import lp_dive
from .heuristics import Packing, bin_completion, first_fit_decreasing, minimum_bin_slack
from .patterns import solve_patterns, waste_bounded_patterns

PATTERN_LIMIT = 30_000  # more patterns than this: skip the pattern model
PATTERN_SLICE_S = 1.0  # first CP-SAT run on the pattern model; doubled on each restart
NODE_LIMIT = 20_000  # bins tried per bin-completion restart


@dataclass
class Presolved:
    lower_bound: int
    packing: Packing  # bins as type -> copies
    method: str  # what found the packing
    seconds: float

    @property
    def proven(self) -> bool:
        return len(self.packing) <= self.lower_bound


def presolve(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    seconds: float,
    threads: int = 1,
    seed: int = 0,
) -> Presolved:
    """A lower bound and the best packing found within about ``seconds``."""
    start = time.perf_counter()
    state = _Search(sizes, counts, capacity, start + seconds, threads, seed)
    total = sum(w * n for w, n in zip(sizes, counts, strict=True))
    # Without slack every bin is exactly full and the pattern model is small and decisive (the
    # triplets); with slack the LP dive is the better first try and patterns are many.
    steps = [state.patterns, state.dive] if state.bound * capacity == total else [state.dive]
    for step in steps:
        if not state.done():
            step()
    attempt = 0
    while not state.done():
        state.complete(attempt)
        attempt += 1
    return Presolved(state.bound, state.best, state.method, round(time.perf_counter() - start, 4))


class _Search:
    """The bound and best packing so far, improved by each step until they meet or time is up."""

    def __init__(
        self,
        sizes: Sequence[int],
        counts: Sequence[int],
        capacity: int,
        deadline: float,
        threads: int,
        seed: int,
    ) -> None:
        self.sizes, self.counts, self.capacity = sizes, counts, capacity
        self.deadline, self.threads, self.seed = deadline, threads, seed
        self.bound = l2_bound(sizes, counts, capacity)
        self.best = first_fit_decreasing([(w,) for w in sizes], counts, (capacity,))
        self.method = "ffd"

    def done(self) -> bool:
        return len(self.best) <= self.bound or time.perf_counter() >= self.deadline

    def offer(self, packing: Packing | None, method: str) -> None:
        if packing is not None and len(packing) < len(self.best):
            self.best, self.method = packing, method

    def patterns(self) -> None:
        total = sum(w * n for w, n in zip(self.sizes, self.counts, strict=True))
        slack = self.bound * self.capacity - total
        patterns = waste_bounded_patterns(
            self.sizes, self.counts, self.capacity, slack, PATTERN_LIMIT
        )
        # CP-SAT's time to a solution here is heavy-tailed in the seed: restart with new seeds
        # and growing slices rather than wait on one run.
        slice_s, attempt = PATTERN_SLICE_S, 0
        while patterns and len(self.best) > self.bound:
            left = self.deadline - time.perf_counter()
            if left < 0.05 or (attempt and left < slice_s):
                return
            found = solve_patterns(
                self.sizes,
                self.counts,
                patterns,
                self.bound,
                min(slice_s, left),
                self.threads,
                self.seed + attempt,
            )
            self.offer(found, "patterns")
            slice_s, attempt = 2 * slice_s, attempt + 1

    def dive(self) -> None:
        for nearest in (True, False):  # the fast rounding first, the careful one if needed
            if self.done():
                return
            left = self.deadline - time.perf_counter()
            result = lp_dive(self.sizes, self.counts, self.capacity, left, nearest)
            if result.lp_bound is not None:
                self.bound = max(self.bound, result.lp_bound)
            self.offer(result.packing, "lp dive")

    def complete(self, attempt: int) -> None:
        sizes, counts, capacity, seed = self.sizes, self.counts, self.capacity, self.seed
        found = bin_completion(sizes, counts, capacity, self.bound, NODE_LIMIT, seed + attempt)
        if found is None:
            found = minimum_bin_slack(sizes, counts, capacity, seed=seed + attempt)
        self.offer(found, "bin completion" if len(found) <= self.bound else "mbs")


def check_packing(
    packing: Packing, sizes: Sequence[int], counts: Sequence[int], capacity: int
) -> bool:
    """Every item packed exactly once and no bin over capacity (a guard before hinting)."""
    seen: Counter[int] = Counter()
    for content in packing:
        if sum(sizes[t] * j for t, j in content.items()) > capacity:
            return False
        seen.update(content)
    return all(seen[t] == n for t, n in enumerate(counts))
