"""Packings from column generation: diving, and CP-SAT over the generated patterns.

- ``dive``: residual rounding with re-optimisation (Belov & Scheithauer's primal heuristic):
  solve the master of the items left, fix the patterns it uses whole (rounded down) — or, when
  none is, one copy of the pattern it uses most — and repeat on what is left, generating columns
  for each residual. A dive stops as soon as its fixed bins plus the residual's bound cannot beat
  the best packing known. Later dives choose at random among the most used patterns.
- ``pattern_ip``: the integer master over every pattern generated so far (price-and-branch):
  CP-SAT picks pattern copies covering every item, fewest bins first, with the best packing as
  its hint. Its LP is the Gilmore–Gomory LP over those columns, so on instances with the
  integer round-up property it often closes the gap the moment the right columns are there.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ..deadline import Deadline, cpsat_solve
from .colgen import ColumnGeneration, LpSolution
from .heuristics import Packing

FIXED = 1 - 1e-6  # a master value at least this is a whole copy
BUILD_CHECK = 128  # columns between deadline checks while the pattern model is built
SLOW_PRICING = 0.01  # seconds a pricing call: dives stop generating columns early
# One-dimensional dives: while the residual LP needs over BULK_BINS bins, every pattern used at
# least BULK_SHARE is fixed at once (random 500-1,000 items: dives twice as fast, as many at
# the optimum in a sample of 16).
BULK_BINS = 40
BULK_SHARE = 0.6


def as_bins(patterns: Sequence[np.ndarray]) -> Packing:
    return [Counter({int(t): int(p[t]) for t in np.flatnonzero(p)}) for p in patterns]


def trim(patterns: Sequence[np.ndarray], counts: np.ndarray) -> list[np.ndarray]:
    """Drop surplus copies (covering may take more than there are) and empty bins."""
    left = counts.copy()
    out = []
    for p in patterns:
        take = np.minimum(p, left)
        left -= take
        if take.any():
            out.append(take)
    return out


def round_down(cg: ColumnGeneration, lp: LpSolution) -> tuple[list[np.ndarray], np.ndarray]:
    """The bins of the patterns the LP uses whole (rounded down), and the items left."""
    left = cg.counts.copy()
    bins = []
    for k in np.flatnonzero(lp.primal >= FIXED).tolist():
        for _ in range(int(lp.primal[k] + 1e-6)):
            take = cg.realize(cg.columns[k], left)
            if take.any():
                bins.append(take)
                left -= take
    return bins, left


def dive(
    cg: ColumnGeneration,
    deadline: Deadline,
    beat: int,
    rng: random.Random | None = None,
    spread: float = 0.25,
) -> list[np.ndarray] | None:
    """A packing with fewer than ``beat`` bins, or None (pruned, or out of time).

    With ``rng`` the pattern fixed when none is used whole is drawn among those used at least
    ``1 - spread`` times the most used one (weighted by use); without, the most used."""
    left = cg.counts.copy()
    fixed: list[np.ndarray] = []
    while left.any():
        # Vector pricing is exact only at a cost (CP-SAT): dives price greedily.
        lp = cg.solve(deadline, demand=left, converge=converges(cg), exact=not cg.vector)
        if lp is None or deadline.expired():
            return None
        if len(fixed) + lp.bins_bound >= beat:
            return None
        primal = lp.primal
        chosen = False
        for k, copies in fixed_without_choice(cg, lp):
            for _ in range(copies):
                take = cg.realize(cg.columns[k], left)
                if not take.any():
                    break
                fixed.append(take)
                left -= take
                chosen = True
        if chosen:
            continue
        used = np.flatnonzero(primal > 1e-6)
        if not len(used):  # numerically empty master: nothing left worth a bin
            break
        top = float(primal[used].max())
        if rng is None:
            k = int(used[int(np.argmax(primal[used]))])
        else:
            near = [int(i) for i in used if primal[i] >= (1 - spread) * top]
            k = rng.choices(near, weights=[float(primal[i]) for i in near])[0]
        take = cg.realize(cg.columns[k], left)
        if not take.any():
            break
        fixed.append(take)
        left -= take
    if left.any():
        return None
    return fixed if len(fixed) < beat else None


def fixed_without_choice(cg: ColumnGeneration, lp: LpSolution) -> list[tuple[int, int]]:
    """(column, copies) a dive fixes before it chooses: the whole copies the LP uses, or when
    there are none and the residual is large (over ``BULK_BINS`` bins, in one dimension or
    over a master that is not priced, ``frozen``), one
    copy of every pattern used at least ``BULK_SHARE`` at once. A dive through 1,000 items
    otherwise re-solves the master once per bin (seconds); precision matters in its last
    bins, which it still fixes one at a time."""
    whole = np.flatnonzero(lp.primal >= FIXED)
    if len(whole):
        return [(int(k), int(lp.primal[k] + 1e-6)) for k in whole.tolist()]
    if (cg.vector and not cg.frozen) or lp.value <= BULK_BINS:
        return []
    return [(int(k), 1) for k in np.flatnonzero(lp.primal >= BULK_SHARE).tolist()]


def converges(cg: ColumnGeneration) -> bool:
    """Whether a dive's residual LPs are solved to optimality: not where pricing is slow
    (vectors priced greedily; one dimension with a DP over 10^5 fill levels, Scholl 3, where
    converging each residual took the dive's whole share), there generation stops once the
    rounded-up bound can rise no further."""
    return not cg.vector and cg.pricing_seconds < SLOW_PRICING


def pattern_ip(
    cg: ColumnGeneration,
    deadline: Deadline,
    lower: int,
    hint: Sequence[np.ndarray] | None,
    seed: int = 0,
) -> tuple[list[np.ndarray] | None, bool]:
    """The fewest bins that cover every item with generated patterns (CP-SAT, at least
    ``lower``). Returns (patterns or None, proved optimal over these patterns)."""
    from ortools.sat.python import cp_model

    counts = cg.counts
    columns = cg.columns
    model = cp_model.CpModel()
    uses = []
    for k, p in enumerate(columns):
        # The model is built in Python (about 0.5 s for 1,000 columns under load): not past
        # the deadline.
        if k % BUILD_CHECK == 0 and deadline.expired():
            return None, False
        most = max(math.ceil(counts[t] / p[t]) for t in np.flatnonzero(p))
        uses.append(model.new_int_var(0, int(most), ""))
    by_type: list[list[tuple[int, int]]] = [[] for _ in counts]
    for k, p in enumerate(columns):
        for t in np.flatnonzero(p).tolist():
            by_type[t].append((k, int(p[t])))
    for t, n in enumerate(counts.tolist()):
        if t % BUILD_CHECK == 0 and deadline.expired():
            return None, False
        if n:
            model.add(sum(a * uses[k] for k, a in by_type[t]) >= n)
    total = sum(uses)
    model.add(total >= lower)
    model.minimize(total)
    if hint:
        index = {p.tobytes(): k for k, p in enumerate(columns)}
        hinted: Counter[int] = Counter()
        for p in hint:
            column = index.get(np.asarray(p, dtype=np.int64).tobytes())
            if column is None:  # a bin that is no generated pattern: no hint at all
                hinted = Counter()
                break
            hinted[column] += 1
        if hinted:
            for k, var in enumerate(uses):
                model.add_hint(var, hinted[k])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.linearization_level = 2
    status = cpsat_solve(solver, model, deadline)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    out = []
    for k, var in enumerate(uses):
        out.extend([columns[k]] * solver.value(var))
    return trim(out, counts), status == cp_model.OPTIMAL


def dive_lds(
    cg: ColumnGeneration,
    deadline: Deadline,
    beat: int,
    max_discrepancy: int = 3,
    max_depth: int = 3,
    backtrack: Callable[[], Deadline] | None = None,
) -> list[np.ndarray] | None:
    """A packing with fewer than ``beat`` bins by diving with limited discrepancy search
    (Sadykov, Vanderbeck et al., primal heuristics for branch-and-price): the dive of ``dive``,
    but where fixing the most used pattern leaves a residual whose bound cannot beat ``beat``,
    it backs up and fixes the next most used one instead (that pattern is then tabu below).
    At most ``max_discrepancy`` such changes along a dive, all within its first ``max_depth``
    fractional choices. None when nothing better is found, or the deadline passes.

    With ``backtrack``, the first descent (the plain dive) has until ``deadline`` and the
    backtracking after it until the deadline ``backtrack()`` gives when it begins: a large
    instance's first dive needs seconds, a small one's backtracking could use them all."""
    found: list[np.ndarray] | None = None
    fixed: list[np.ndarray] = []
    limit = [deadline]  # the current one: the descent's, then the backtracking's

    def pruned() -> bool:
        if backtrack is not None and limit[0] is deadline:
            limit[0] = backtrack()
        return False

    def node(left: np.ndarray, tabu: frozenset[int], discrepancy: int, depth: int) -> bool:
        """True to stop the whole search (a packing found, or out of time)."""
        nonlocal found
        added: list[np.ndarray] = []
        try:
            while True:
                if not left.any():
                    if len(fixed) < beat:
                        found = list(fixed)
                    return True
                lp = cg.solve(limit[0], demand=left, converge=converges(cg))
                if lp is None or limit[0].expired():
                    return True
                if len(fixed) + lp.bins_bound >= beat:
                    return pruned()
                taken = False
                for k, copies in fixed_without_choice(cg, lp):
                    for _ in range(copies):
                        take = cg.realize(cg.columns[k], left)
                        if not take.any():
                            break
                        fixed.append(take)
                        added.append(take)
                        left = left - take
                        taken = True
                if not taken:
                    break
            used = np.flatnonzero(lp.primal > 1e-6)
            order = [int(k) for k in used[np.argsort(-lp.primal[used], kind="stable")]]
            order = [k for k in order if k not in tabu] or order[:1]
            tried: set[int] = set()
            for i, k in enumerate(order):
                if i and (discrepancy + i > max_discrepancy or depth >= max_depth):
                    break
                take = cg.realize(cg.columns[k], left)
                if not take.any():
                    continue
                fixed.append(take)
                stop = node(left - take, tabu | tried, discrepancy + i, depth + 1)
                fixed.pop()
                if stop:
                    return True
                tried.add(k)
            return False
        finally:
            for _ in added:
                fixed.pop()

    node(cg.counts.copy(), frozenset(), 0, 0)
    return found
