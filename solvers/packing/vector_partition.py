"""Vector packing over every pattern, when they are few: the exact set-partitioning model.

Where bins hold two or three items (the Caprara–Toth classes 6, 7 and 9 in 5-10 dimensions,
hundreds of items), the item sets that fit a bin number some thousands to tens of thousands
(``vector_fill.fitting_sets``). CP-SAT choosing the sets that partition the items is then the
whole problem, not a restriction of it: its packings are optimal when it says so, and its
objective bound is a lower bound. Bin elimination and column generation's dives stay 1-2 bins
above the optimum there (class6_500_10_0: the optimum 249 needs two of its four fitting triples;
first-fit decreasing, the bin-centric heuristics and bin elimination stop at 250).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..deadline import Deadline, cpsat_solve
from .heuristics import Packing

BUILD_CHECK = 1_000  # sets stated between two looks at the deadline


@dataclass
class Partition:
    packing: Packing | None  # the best found (None: none, not even the hint's)
    bound: int  # a lower bound on the bins of any packing
    optimal: bool


def partition_sets(
    sets: Sequence[np.ndarray],
    counts: Sequence[int],
    hint: Packing,
    lower: int,
    deadline: Deadline,
    seed: int = 0,
) -> Partition | None:
    """The fewest bins by CP-SAT over ``sets`` (every item set that fits a bin, rows of types
    as ``fitting_sets`` lists them), ``hint`` (a packing) as its first solution. None when the
    model is not built by ``deadline``."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    uses: list[Any] = []
    rows: list[list[int]] = []
    by_type: list[tuple[list[Any], list[int]]] = [([], []) for _ in counts]
    for level in sets:
        for row in level.tolist():
            if len(rows) % BUILD_CHECK == 0 and deadline.expired():
                return None
            copies = Counter(row)
            most = min(counts[t] // j for t, j in copies.items())
            use = model.new_bool_var("") if most == 1 else model.new_int_var(0, most, "")
            uses.append(use)
            rows.append(row)
            for t, j in copies.items():
                by_type[t][0].append(use)
                by_type[t][1].append(j)
    for t, n in enumerate(counts):
        if n:
            model.add(cp_model.LinearExpr.weighted_sum(*by_type[t]) == n)
    total = cp_model.LinearExpr.sum(uses)
    model.add(total >= lower)
    model.minimize(total)
    index = {tuple(row): k for k, row in enumerate(rows)}
    hinted = Counter(index.get(tuple(sorted(b.elements())), -1) for b in hint if b)
    if -1 not in hinted:  # (every bin of a packing is a set that fits)
        for k, use in enumerate(uses):
            model.add_hint(use, hinted[k])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.linearization_level = 2  # the LP of the partition: its bound is strong
    status = cpsat_solve(solver, model, deadline)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Partition(None, lower, False)
    packing: Packing = [
        Counter(rows[k]) for k, use in enumerate(uses) for _ in range(solver.value(use))
    ]
    bound = max(lower, math.ceil(solver.best_objective_bound - 1e-6))
    return Partition(packing, bound, status == cp_model.OPTIMAL)
