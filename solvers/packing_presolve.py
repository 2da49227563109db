"""Bound first, then a packing that meets it: the fast path for pure one-dimensional bin packing.

Order of work, cheapest first, stopping as soon as a packing reaches the lower bound:

1. Martello–Toth L2 lower bound and first-fit decreasing.
2. When the bound leaves little total slack (``k·C − Σ sizes``), list every bin pattern within
   that slack and let CP-SAT choose pattern copies (``packing_patterns``): this is what finds
   exact packings such as Falkenauer's triplets.
3. LP diving on the arc-flow relaxation (``packing_dive``, HiGHS), whose first LP also raises
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

from .packing_bounds import l2_bound
from .packing_dive import lp_dive
from .packing_heuristics import Packing, bin_completion, first_fit_decreasing, minimum_bin_slack
from .packing_patterns import solve_patterns, waste_bounded_patterns

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
    deadline = start + seconds
    bound = l2_bound(sizes, counts, capacity)
    best, method = first_fit_decreasing(sizes, counts, capacity), "ffd"

    def done() -> bool:
        return len(best) <= bound or time.perf_counter() >= deadline

    total = sum(w * n for w, n in zip(sizes, counts, strict=True))
    if not done():
        patterns = waste_bounded_patterns(
            sizes, counts, capacity, bound * capacity - total, PATTERN_LIMIT
        )
        # CP-SAT's time to a solution here is heavy-tailed in the seed: restart with new seeds
        # and growing slices rather than wait on one run.
        slice_s, attempt = PATTERN_SLICE_S, 0
        while patterns and len(best) > bound:
            left = deadline - time.perf_counter()
            if left < 0.05 or (attempt and left < slice_s):
                break
            found = solve_patterns(
                sizes, counts, patterns, bound, min(slice_s, left), threads, seed + attempt
            )
            if found is not None and len(found) < len(best):
                best, method = found, "patterns"
            slice_s, attempt = 2 * slice_s, attempt + 1
    if not done():
        dive = lp_dive(sizes, counts, capacity, deadline - time.perf_counter())
        if dive.lp_bound is not None and dive.lp_bound > bound:
            bound = dive.lp_bound
        if dive.packing is not None and len(dive.packing) < len(best):
            best, method = dive.packing, "lp dive"
    attempt = 0
    while not done():
        found = bin_completion(sizes, counts, capacity, bound, NODE_LIMIT, seed=seed + attempt)
        if found is None:
            found = minimum_bin_slack(sizes, counts, capacity, seed=seed + attempt)
        if len(found) < len(best):
            best, method = found, "bin completion" if len(found) <= bound else "mbs"
        attempt += 1
    return Presolved(bound, best, method, round(time.perf_counter() - start, 4))


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
