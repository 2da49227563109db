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

from ..deadline import Deadline, cpsat_solve

Pattern = tuple[tuple[int, int], ...]  # (type, copies), types ascending
BUILD_CHUNK = 1_000  # patterns stated between two looks at the deadline


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
        if room <= slack and chosen:
            out.append(tuple(sorted(chosen)))
            if len(out) > limit:
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
            ok = walk(i + 1, room - j * w)
            if j:
                chosen.pop()
            if not ok:
                return False
        return True

    if not walk(0, capacity):
        return None
    return out


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
