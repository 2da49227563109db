"""The vector (d ≥ 2) bin packing solver: the one-dimensional solver's loop over vector patterns.

1. the vector lower bound, first-fit decreasing; where the bound leaves a dimension (nearly)
   no slack, every pattern wasting at most that slack there and fitting the others, and
   CP-SAT choosing pattern copies (``patterns``): exact for "is there a packing into bound
   bins", and what solves instances whose bins can be filled exactly (vector triplets);
   where no dimension has slack, the patterns filling every dimension exactly instead
   (``vector_fill``: met in the middle, covered by LP dives and an exact-cover search in
   turns, then CP-SAT); then the bin-centric heuristics (``vector``); where few item sets
   fit a bin (bins of 2-3 items), all of them into column generation's master, whose LP is
   then exact and dives over it exact re-optimisations (``vector_fill.fitting_sets``, CP-SAT
   over them on a few thousand: ``vector_partition``); where more fit but bins still hold
   at most three items on average, column generation over the pairs and triples
   (``vector_pairs``, priced by summing prices over them), a dive and CP-SAT over the columns
   it made; bin elimination (``repack``; where bins hold many items two bins emptied, one
   search resumed in each later slice);
2. Gilmore–Gomory column generation over vector patterns (``colgen``, CP-SAT pricing): its
   rounded-up value is the bound (Farley's when the deadline stops it early), its rounding a
   packing;
3. until the deadline: CP-SAT over the patterns generated so far with the best packing as its
   hint (price-and-branch, ``improve.pattern_ip``: on instances whose bins can be filled
   exactly it finds the exact fills as soon as their patterns are priced), dives with
   re-optimisation (bin elimination instead where bins hold many items and the LP is far
   from converging) and bin elimination — each with a growing share of the time left.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence

import numpy as np

from ..deadline import Deadline
from .colgen import ColumnGeneration, LpSolution
from .heuristics import Packing, first_fit_decreasing
from .improve import as_bins, dive, pattern_ip, round_down
from .patterns import Pattern, solve_patterns, waste_bounded_patterns
from .repack import BinElimination
from .search import Incumbent, Listener, Packed
from .vector import best_vector_packing, vector_lower_bound
from .vector_fill import (
    cover_among,
    cover_exact_fills,
    dive_exact_fills,
    exact_fills_by_size,
    fitting_sets,
)
from .vector_pairs import SmallSets
from .vector_partition import partition_sets

TIGHT_SLACK = 0.02  # bins' worth of slack at most in the tightest dimension: list patterns
TIGHT_SHARE = 0.4  # of the time left, for listing and covering them
PATTERN_LIMIT = 30_000  # more patterns than this: skip
# No slack in any dimension: the exact fills get this share, up to this many of them (LP dives
# cover 45,000 of a 166-item instance at capacity 199 in 2 s; at 0.7, where they failed on
# 87,000, the rest of the solver ended at first-fit decreasing's packing, 0.5 left it time).
EXACT_FILL_SHARE = 0.5
EXACT_FILL_LIMIT = 100_000
CP_SAT_FILLS = 5_000  # more exact fills: no CP-SAT cover after the dives
# Of the exact fills' time left: the first of LP dives and the exact-cover search, then the
# other (with few fills; with many it takes the rest).
FILL_FIRST_SHARE = 0.5
FILL_THEN_SHARE = 0.5
# The listing gets this share of the exact fills' time at most; after each size, while at most
# this many are listed, the exact-cover search over them gets this share of what is left.
FILL_LISTING_SHARE = 0.6
QUICK_COVER_FILLS = 20_000
QUICK_COVER = 0.1
# Fewer item sets fit a bin than this (bins of 2-3 items): all of them into column generation's
# master, with this share of the time left after the heuristics, of which the dives over them
# get this share (each takes 0.03-0.3 s on 250-500 items of class 6, where the first found the
# optimum 249 of class6_500_10_0) and CP-SAT over them the rest.
SETS_LIMIT = 30_000
EVERY_SET_SHARE = 0.6
EVERY_SET_DIVES = 0.5
# CP-SAT over every set (here, and the pattern model of the improvement rounds) only on at most
# this many: on 18,367 (class6_500_10_1) a run at load 8 ended 8.7 s past its limit, where
# CP-SAT's root LP does not look at the time; on 3,400-4,000 it proves class 6 in a second.
CP_SAT_SETS = 5_000
# Bins of at most this many items on average, too many sets to list them: column generation
# over pairs and triples priced in numpy, with this share of the time left after the
# heuristics, of which the generation gets this share (on 500 items it converged in 10-20
# rounds, 2.5-8 s alone at load 5) and CP-SAT over its columns the rest, on at most this many
# (8,080 on class7_500_3_6 kept CP-SAT's 5 s limit alone).
SMALL_BIN_ITEMS = 3.0
SMALL_SETS_LISTING = 0.2  # of the time left at most, for listing the pairs and triples
SMALL_SETS_SHARE = 0.8
SMALL_SETS_LP = 0.6
SMALL_SETS_KEEP = 100  # columns of each size a round at least (else as many as types)
# Fewer new columns than this share of those kept, the LP down by less than this: done.
SMALL_SETS_TAIL = 0.25
STALL = 0.05
SMALL_SETS_DIVE = 0.4  # then one dive over them (of what is left), CP-SAT the rest
# Where every set is listed: after the dive, the generation goes on to the LP optimum (its
# bound) with this share of what is left.
SMALL_SETS_BOUND = 0.3
SMALL_SETS_CP_SAT = 10_000
HEURISTIC_SHARE = 0.25  # of the time left: the bin-centric heuristics
# At most this plus so much per item: on large instances their restarts are what improves the
# first packing, on small ones the dives do better with the time.
HEURISTIC_SECONDS = 0.5
HEURISTIC_SECONDS_PER_ITEM = 0.002
ROOT_SHARE = 0.3  # of the time left: the first column generation, greedy pricing
EXACT_SHARE = 0.1  # then: exact pricing for the bound
# Then bin elimination (``repack``) with this share of the time left per item, at most the
# most: on hundreds of items column generation hardly starts within seconds, and the local
# search is what improves the bin-centric packing there.
ELIMINATION_SHARE_PER_ITEM = 0.0015
ELIMINATION_MOST = 0.75
# Bins it empties at once, refilling one fewer (Buljubašić & Vasquez: the pool need only fit
# into two bins, not be empty): on replicates 1 and 3 of classes 1, 6, 7 and 9 with 120-500
# items (24 instances, 10 s), fewer bins than emptying one on 14, more on one.
EMPTIED = 3
# But two where bins hold more items than this on average, the pool refilled into one. Class 5
# (15 a bin): on class5_120_10_4 first-fit decreasing's 9 bins stayed 9 for 8 s emptying three
# (a pool of some 40 items, too many to split in two); emptying one, the pool shrank to one item
# that fit no bin and stayed there on 5 of 12 seeds (3 s each, tabu moves of 1-for-1 swaps);
# emptying two, the best known 8 came on 12 of 12 within 230 moves (0.2 s). Equal on
# replicates 1 and 3 of class 5 (18 instances, 3 s from the bin-centric packing).
MANY_ITEMS = 10
MANY_EMPTIED = 2
# Column generation's LP bound below this share of the vector bound, bins of many items: bin
# elimination instead of the dives (class 7 at 120 items, LP 47.4 of 49, improves by dives).
FAR_OFF = 0.9


def solve_vector(
    sizes: Sequence[Sequence[int]],
    counts: Sequence[int],
    capacity: Sequence[int],
    deadline: Deadline,
    *,
    seed: int = 0,
    on_found: Listener | None = None,
) -> Packed:
    """A lower bound and the best vector packing found by ``deadline`` (every item fits)."""
    load_native_solvers()
    search = _VectorSearch(sizes, counts, capacity, deadline, seed, on_found)
    search.run()
    return search.result()


def load_native_solvers() -> None:
    """Import CP-SAT and HiGHS now, before any phase takes its share of the time: a cold import
    (about 1.2 s for CP-SAT, which brings pandas, alone; four times that on a starved CPU) inside
    a late phase ran seconds past the deadline, since the phase's share was set before it."""
    import contextlib

    with contextlib.suppress(ImportError):  # without HiGHS: the heuristics alone
        import highspy  # noqa: F401
    from ortools.sat.python import cp_model  # noqa: F401


class _VectorSearch(Incumbent):
    def __init__(
        self,
        sizes: Sequence[Sequence[int]],
        counts: Sequence[int],
        capacity: Sequence[int],
        deadline: Deadline,
        seed: int,
        on_found: Listener | None,
    ) -> None:
        self.sizes = [list(w) for w in sizes]
        self.counts, self.capacity = list(counts), list(capacity)
        self.seed, self.rng = seed, random.Random(seed)
        bound = vector_lower_bound(self.sizes, self.counts, self.capacity)
        ffd = first_fit_decreasing(self.sizes, self.counts, self.capacity)
        super().__init__(bound, ffd, "ffd", deadline, on_found)
        self.cg: ColumnGeneration | None = None
        self.root: LpSolution | None = None
        self.elimination: BinElimination | None = None

    def run(self) -> None:
        if self.done():
            return
        no_slack = all(s == 0 for _, s, _ in self._slacks())
        self.tight_patterns(self.deadline.part(EXACT_FILL_SHARE if no_slack else TIGHT_SHARE))
        if self.done():
            return
        sets = fitting_sets(
            np.array(self.sizes),
            np.array(self.counts),
            np.array(self.capacity),
            SETS_LIMIT,
            self.deadline.part(EVERY_SET_SHARE),
        )
        # bins of at most three items on average in every optimal packing (it has at least
        # ``bound`` bins; greedy's count, larger, sent class 1 at 120 items and d = 10 here, whose
        # optima hold 3.3-3.5 items a bin that pairs and triples cannot make: 9 of 10 one bin
        # worse on the whole set)
        small = (
            SmallSets.listed(
                np.array(self.sizes),
                np.array(self.counts),
                np.array(self.capacity),
                self.deadline.part(SMALL_SETS_LISTING),
            )
            if sets is None and sum(self.counts) <= SMALL_BIN_ITEMS * self.bound
            else None
        )
        # (Shorter where the generation over pairs and triples follows: it needs the time.)
        per_item = 0 if small is not None else HEURISTIC_SECONDS_PER_ITEM
        most = HEURISTIC_SECONDS + per_item * sum(self.counts)
        budget = self.deadline.part(HEURISTIC_SHARE, at_most=most)
        found = best_vector_packing(self.sizes, self.counts, self.capacity, self.bound, budget)
        self.offer(found, "bin-centric")
        if sets is not None:
            self.every_set(sets, self.deadline.part(EVERY_SET_SHARE))
        elif small is not None:
            self.small_sets(small, self.deadline.part(SMALL_SETS_SHARE))
        if self.done():
            return
        share = min(ELIMINATION_MOST, ELIMINATION_SHARE_PER_ITEM * sum(self.counts))
        self.eliminate_more(self.deadline.part(share))
        if self.done():
            return
        cg = self._column_generation()
        if cg is None:
            return
        # Greedy pricing first (milliseconds a round); exact pricing (CP-SAT, a multi-
        # dimensional knapsack) only for the bound, with what the share leaves.
        self.root = cg.solve(self.deadline.part(ROOT_SHARE), converge=True, exact=False)
        if not self.done():
            exact = cg.solve(self.deadline.part(EXACT_SHARE), converge=True)
            if exact is not None and (self.root is None or exact.bound > self.root.bound):
                self.root = exact
        if self.root is not None:
            self.info["lp_bound"] = round(self.root.bound, 6)
            self.info["lp_converged"] = self.root.converged
            self.raise_bound(self.root.bins_bound, "column generation")
            if not self.done():
                self.offer(self._round(self.root), "lp rounding")
        attempt = 0
        while not self.done():
            self.improve(attempt)
            attempt += 1
        self.info["columns"] = len(cg.columns)
        self.info["pricing_rounds"] = cg.iterations
        self.info["improvement_rounds"] = attempt

    def eliminate_more(self, deadline: Deadline) -> None:
        """Bin elimination until ``deadline``. Where bins hold many items (two emptied), where
        the last slice stopped (its search for one bin fewer takes many slices); elsewhere,
        and when something else found a better packing, afresh from the best packing (a new
        pool and random draws: on class 9 at 250 items, 2 items a bin, resuming was worse
        than starting afresh on 7 of 12 held-out instances, better on none)."""
        if self.done():
            return
        many = self._many_items_a_bin()
        if not many or self.elimination is None or self.elimination.bins_used > len(self.best):
            self.elimination = BinElimination(
                np.array(self.sizes),
                self.capacity,
                self.best,
                self.rng,
                MANY_EMPTIED if many else EMPTIED,
            )
        self.offer(self.elimination.run(self.bound, deadline), "bin elimination")

    def every_set(self, sets: list[np.ndarray], deadline: Deadline) -> None:
        """Where the item sets that fit a bin are few (bins of 2-3 items; ``sets``, all of
        them): every one into the master, whose LP is then the whole Gilmore-Gomory LP (its
        bound a bound); dives over them, then CP-SAT choosing among them, the exact model."""
        if self.done():
            return
        cg = self._column_generation()
        if cg is None:
            return
        self.info["fitting_sets"] = sum(len(level) for level in sets)
        cg.add_every(sets)
        lp = cg.solve(deadline)
        if lp is None:
            return
        self.root = lp
        self.raise_bound(lp.bins_bound, "every set's LP")
        dives = deadline.part(EVERY_SET_DIVES)
        attempt = 0
        while not self.done() and not dives.expired():
            found = dive(cg, dives, len(self.best), self.rng if attempt else None, 0.25)
            self.offer(as_bins(found) if found is not None else None, "dive over every set")
            attempt += 1
        if not self.done() and self.info["fitting_sets"] <= CP_SAT_SETS:
            exact = partition_sets(sets, self.counts, self.best, self.bound, deadline, self.seed)
            if exact is not None:
                self.offer(exact.packing, "set partition")
                self.raise_bound(exact.bound, "set partition")

    def small_sets(self, listed: SmallSets, deadline: Deadline) -> None:
        """Where bins hold few items but too many sets fit to put them all into the master:
        column generation over pairs and triples priced in numpy (``vector_pairs``; a master
        restricted to them, so its optimum is no bound, unless every set was listed: then
        its Farley bound is one), then CP-SAT choosing among the columns it made."""
        if self.done():
            return
        cg = self._column_generation()
        if cg is None:
            return
        self.info["small_sets"] = len(listed)
        keep = max(SMALL_SETS_KEEP, len(self.counts))
        cg.frozen = True
        try:
            generation = deadline.part(SMALL_SETS_LP)
            # (Dives over an LP far from its optimum: bin elimination instead.)
            if not self._price_small_sets(cg, listed, keep, generation, False) or self.done():
                return
            found = dive(cg, deadline.part(SMALL_SETS_DIVE), len(self.best))
            self.offer(as_bins(found) if found is not None else None, "dive over priced sets")
            if listed.complete:  # on to the LP optimum, for the bound
                self._price_small_sets(cg, listed, keep, deadline.part(SMALL_SETS_BOUND), True)
        finally:
            cg.frozen = False
        cg.add_many(cg.pattern_of(b) for b in self.best)
        if self.done() or len(cg.columns) > SMALL_SETS_CP_SAT:
            return
        by_size: dict[int, list[np.ndarray]] = {}
        kinds = np.arange(len(self.counts))
        for column in cg.columns:
            by_size.setdefault(int(column.sum()), []).append(np.repeat(kinds, column))
        sets = [np.array(rows) for _, rows in sorted(by_size.items())]
        # (Its bound holds over these columns only, not over every packing.)
        chosen = partition_sets(sets, self.counts, self.best, self.bound, deadline, self.seed)
        if chosen is not None:
            self.offer(chosen.packing, "set partition over priced sets")

    def _price_small_sets(
        self,
        cg: ColumnGeneration,
        listed: SmallSets,
        keep: int,
        deadline: Deadline,
        converge: bool,
    ) -> bool:
        """Rounds of the generation over ``listed`` until its last rounds add few columns and
        hardly move the LP (``converge``: until nothing prices out) or the deadline; whether
        it got there (its first rounds, degenerate duals, add many and move it little). Where
        every set is listed, each round's Farley bound (the master's duals over the most a
        set is worth under them) is a bound; elsewhere the master's optimum bounds nothing."""
        value, calm = math.inf, False
        while not deadline.expired() and not self.done():
            lp = cg.solve(deadline)
            if lp is None:
                break
            columns, most = listed.price(lp.duals, keep)
            if listed.complete:
                bound = float(cg.counts @ lp.duals) / max(1.0, most)
                self.info["small_sets_bound"] = round(
                    max(bound, self.info.get("small_sets_bound", 0.0)), 6
                )
                self.raise_bound(math.ceil(bound - 1e-6), "every set's LP, priced")
            added = cg.add_many(columns)
            self.info["small_set_rounds"] = self.info.get("small_set_rounds", 0) + 1
            calm |= not added or (added < SMALL_SETS_TAIL * keep and value - lp.value < STALL)
            value = lp.value
            if not added or (calm and not converge):
                return True
        return calm

    def _column_generation(self) -> ColumnGeneration | None:
        """The master (made once), with the best packing's bins as its first columns; None
        without HiGHS."""
        if self.cg is None:
            try:
                self.cg = ColumnGeneration(
                    np.array(self.sizes), np.array(self.counts), self.capacity
                )
            except ImportError:  # no HiGHS: the heuristics alone
                return None
        self.cg.add_many(self.cg.pattern_of(b) for b in self.best)
        return self.cg

    def _many_items_a_bin(self) -> bool:
        return sum(self.counts) > MANY_ITEMS * len(self.best)

    def tight_patterns(self, deadline: Deadline) -> None:
        """In the dimension with the least slack at the bound (``bound × C − Σ sizes``), every
        bin of a packing into ``bound`` bins wastes at most that slack: list those patterns
        (when few), keep the ones that fit every dimension, and let CP-SAT cover the items."""
        slacks = self._slacks()
        share, slack, d = min(slacks)
        if share > TIGHT_SLACK:
            return
        if all(s == 0 for _, s, _ in slacks) and self.exact_fills(deadline):
            return
        cap = self.capacity[d]
        column = [w[d] for w in self.sizes]
        found = waste_bounded_patterns(column, self.counts, cap, slack, PATTERN_LIMIT, deadline)
        if not found:
            return
        fitting = [p for p in found if self._fits(p)]
        self.info["tight_patterns"] = len(fitting)
        packing = solve_patterns(column, self.counts, fitting, self.bound, deadline, self.seed)
        self.offer(packing, "tight patterns")

    def _slacks(self) -> list[tuple[float, int, int]]:
        """Per dimension: the room a packing into ``bound`` bins leaves (in bins, in size
        units), and the dimension."""
        out = []
        for d, cap in enumerate(self.capacity):
            total = sum(w[d] * n for w, n in zip(self.sizes, self.counts, strict=True))
            out.append(((self.bound * cap - total) / cap, self.bound * cap - total, d))
        return out

    def exact_fills(self, deadline: Deadline) -> bool:
        """No slack in any dimension: every bin of a packing into ``bound`` bins is full in
        every dimension; cover the items with such exact fills (True when that packed them).
        The fills are listed by size (those of 2, 3, ... items), and after each size a short
        exact-cover search over what is listed: the fills of few items come in milliseconds,
        the last size can take most of the listing (74,000 fills of 6 items among 87,000 on
        vectors-d2-s106, 2 s at load 8, where its planted bins of 2-4 items were among the
        first 982). What the listing's share leaves unlisted is not waited for."""
        found: list[Pattern] = []
        packing: Packing | None = None
        listing = deadline.part(FILL_LISTING_SHARE)
        for fills in exact_fills_by_size(
            np.array(self.sizes),
            np.array(self.counts),
            np.array(self.capacity),
            listing,
            self.seed,
        ):
            if len(found) + len(fills) > EXACT_FILL_LIMIT:
                break
            found += fills
            if fills and len(found) <= QUICK_COVER_FILLS:
                packing = cover_among(found, self.counts, deadline.part(QUICK_COVER), self.rng)
                if packing is not None:
                    break
        if not found:
            return False
        self.info["exact_fills"] = len(found)
        if packing is None:
            packing = self.cover_fills(found, deadline)
        self.offer(packing, "exact fills")
        return packing is not None

    def cover_fills(self, found: list[Pattern], deadline: Deadline) -> Packing | None:
        """LP dives (they find planted fills among thousands of accidental ones, and solve
        vector triplets) and the exact-cover search, then CP-SAT's cover (exact: what both
        miss on few patterns; not on many, where it found nothing in 20 s and building its
        model alone ran 2.5 s past the deadline). On many, the search first: it found the
        planted fills among 15,000-95,000 in 0.01-2 s (the dives missed 95,000 in 5 s), and
        it stops on time (HiGHS' first LP over 87,000 columns took 1.2 s on a 0.45 s limit)."""
        few = len(found) <= CP_SAT_FILLS
        dives = functools.partial(dive_exact_fills, found, self.counts, rng=self.rng)
        search = functools.partial(cover_exact_fills, found, self.counts, rng=self.rng)
        first, then = (dives, search) if few else (search, dives)
        packing = first(deadline=deadline.part(FILL_FIRST_SHARE))
        if packing is None:
            packing = then(deadline=deadline.part(FILL_THEN_SHARE if few else 1.0))
        if packing is None and few and not deadline.expired():
            column = [w[0] for w in self.sizes]  # (solve_patterns reads only the counts)
            packing = solve_patterns(column, self.counts, found, self.bound, deadline, self.seed)
        return packing

    def _fits(self, pattern: Sequence[tuple[int, int]]) -> bool:
        return all(
            sum(self.sizes[t][d] * j for t, j in pattern) <= cap
            for d, cap in enumerate(self.capacity)
        )

    def _round(self, lp: LpSolution) -> Packing:
        """Whole copies of the patterns the LP uses, then first-fit decreasing of the rest."""
        assert self.cg is not None
        bins, left = round_down(self.cg, lp)
        rest = first_fit_decreasing(self.sizes, left.tolist(), self.capacity)
        return as_bins(bins) + rest

    def improve(self, attempt: int) -> None:
        """Dives (randomised after the first; each also prices new columns), and every third
        round CP-SAT over the patterns generated so far with the best packing as its hint."""
        cg = self.cg
        assert cg is not None
        if attempt % 3 == 2 and not (cg.complete and len(cg.columns) > CP_SAT_SETS):
            hint = [cg.pattern_of(b) for b in self.best]
            cg.add_many(hint)
            found, _ = pattern_ip(
                cg, self.deadline.part(0.3, at_least=0.2), self.bound, hint, self.seed + attempt
            )
            if found is not None:
                self.offer(as_bins(found), "pattern ip")
            return
        # The local search again; instead of the dives where bins hold many items and column
        # generation is far from converging (they fix patterns of a poor LP: on 120 items of
        # 15 a bin in 10 dimensions its bound stayed near 4.8 of 8 for 8 s). Not where bins
        # hold few: on class 9 at 250 items (2 a bin) a dive of an LP at 12-68 of the bound
        # 103 still found 3 bins fewer, and bin elimination instead ended worse on 7 of 12
        # held-out instances.
        far_off = self.root is None or self.root.bound < FAR_OFF * self.bound
        if attempt % 4 == 3 or (far_off and self._many_items_a_bin()):
            self.eliminate_more(self.deadline.part(0.5, at_least=0.2))
            return
        rng = None if attempt == 0 else self.rng
        spread = 0.5 if attempt % 2 else 0.25
        dived = dive(cg, self.deadline.part(0.5, at_least=0.2), len(self.best), rng, spread)
        if dived is not None:
            self.offer(as_bins(dived), "dive")
