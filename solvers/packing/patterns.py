"""Exact packing into a target number of bins through the patterns that target leaves room for.

A packing into ``k`` bins wastes ``k·C − Σ sizes`` in total, so no bin of it wastes more. When
``k`` is the lower bound that slack is small (zero on Falkenauer's triplets, where every bin is
exactly full), and the bins that can appear are few enough to list. CP-SAT then picks how many
copies of each pattern to use — a set-partitioning model with one integer per pattern, whose LP
relaxation is the Gilmore–Gomory bound — which finds such exact packings where a search that
builds bins one at a time gets lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..deadline import Deadline, cpsat_solve

Pattern = tuple[tuple[int, int], ...]  # (type, copies), types ascending
BUILD_CHUNK = 1_000  # patterns stated between two looks at the deadline
COUNT_CELLS = 50_000_000  # types × (capacity + 1) up to which patterns are counted before listing


def waste_bounded_patterns(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    slack: int,
    limit: int,
    deadline: Deadline | None = None,
) -> list[Pattern] | None:
    """Every non-empty pattern wasting at most ``slack`` (None when more than ``limit``, or
    when the deadline passes first)."""
    deadline = deadline or Deadline.never()
    types = [t for t in range(len(sizes)) if counts[t] > 0 and 0 < sizes[t] <= capacity]
    types.sort(key=lambda t: -sizes[t])
    # Counted first where that is cheap: listing up to the limit before giving up took 0.7-1.8 s
    # (AI instances, perfect packings at capacities near 100,000), time the later steps lack.
    if len(types) * (capacity + 1) <= COUNT_CELLS:
        counted = [(sizes[t], counts[t]) for t in types]
        if more_patterns_than(counted, capacity, slack, limit, deadline):
            return None
    mask = (1 << (capacity + 1)) - 1
    suffix = [1] * (len(types) + 1)  # suffix[i]: bitset of the sums types[i:] can make
    for i in range(len(types) - 1, -1, -1):
        if deadline.expired():
            return None
        reach, w = suffix[i + 1], sizes[types[i]]
        for _ in range(min(counts[types[i]], capacity // w)):
            reach |= (reach << w) & mask
        suffix[i] = reach
    window = (1 << (slack + 1)) - 1
    out: list[Pattern] = []
    chosen: list[tuple[int, int]] = []
    visited = [0]

    def walk(i: int, room: int) -> bool:
        visited[0] += 1
        if visited[0] % 4096 == 0 and deadline.expired():
            return False
        if i == len(types) or room == 0:
            return True
        # No sum of the remaining types brings the waste within the slack: prune.
        if not (suffix[i] >> max(0, room - slack)) & (window if room >= slack else mask):
            return True
        t = types[i]
        w = sizes[t]
        for j in range(min(counts[t], room // w), -1, -1):
            if j:
                chosen.append((t, j))
                # Listed where its last type is added (listed on entering the next level, a
                # pattern with slack was listed once more for every type skipped after it).
                if room - j * w <= slack:
                    out.append(tuple(sorted(chosen)))
                    if len(out) > limit:
                        return False
            ok = walk(i + 1, room - j * w)
            if j:
                chosen.pop()
            if not ok:
                return False
        return True

    if not walk(0, capacity):
        return None
    return out


def more_patterns_than(
    items: Sequence[tuple[int, int]], capacity: int, slack: int, limit: int, deadline: Deadline
) -> bool:
    """Whether more than ``limit`` non-empty patterns of these (size, copies) waste at most
    ``slack``: a count of the multisets by every sum (a bounded-copies DP, a windowed sum per
    residue of the size). Counts are capped above ``limit``: a cap on every term keeps each
    count at least min(true count, cap), so the answer is exact and the integers stay small."""
    cap = limit + 1
    ways = np.zeros(capacity + 1, dtype=np.int64)
    ways[0] = 1
    for w, n in items:
        if deadline.expired():
            return False  # undecided: the listing then stops at the deadline itself
        copies = min(n, capacity // w)
        rows = -(-(capacity + 1) // w)
        flat = np.zeros(rows * w, dtype=np.int64)
        flat[: capacity + 1] = ways
        running = np.cumsum(flat.reshape(rows, w), axis=0)  # row r, column c: the sum r·w + c
        running[copies + 1 :] -= running[: rows - copies - 1].copy()  # 0..copies of this size
        ways = np.minimum(running.reshape(-1)[: capacity + 1], cap)
    return int(ways[max(1, capacity - slack) :].sum()) > limit


def solve_patterns(
    sizes: Sequence[int],
    counts: Sequence[int],
    patterns: list[Pattern],
    bins: int,
    deadline: Deadline,
    seed: int = 0,
) -> list[Counter[int]] | None:
    """Pick pattern copies covering every item exactly in at most ``bins`` bins (CP-SAT)."""
    from ortools.sat.python import cp_model

    # The deadline is checked every BUILD_CHUNK patterns: tens of thousands of patterns take a
    # second or more to state in Python under load, time the deadline may not have.
    model = cp_model.CpModel()
    use: list[Any] = []
    by_type: dict[int, tuple[list[Any], list[int]]] = {}
    for k, p in enumerate(patterns):
        if k % BUILD_CHUNK == 0 and deadline.expired():
            return None
        use.append(model.new_int_var(0, min(counts[t] // j for t, j in p), ""))
        for t, j in p:
            variables, copies = by_type.setdefault(t, ([], []))
            variables.append(use[-1])
            copies.append(j)
    for t, n in enumerate(counts):
        if n == 0:
            continue
        if t not in by_type:
            return None
        model.add(cp_model.LinearExpr.weighted_sum(*by_type[t]) == n)
    model.add(cp_model.LinearExpr.sum(use) <= bins)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    status = cpsat_solve(solver, model, deadline)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    packing: list[Counter[int]] = []
    for k, p in enumerate(patterns):
        for _ in range(solver.value(use[k])):
            packing.append(Counter(dict(p)))
    return packing
