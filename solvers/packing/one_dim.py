"""The one-dimensional bin packing solver: a proof when one comes, the best packing by the deadline.

Cheapest first, stopping the moment a packing meets the lower bound:

1. Martello–Toth L2 and first-fit decreasing (and the caller's start packing);
2. without slack at the bound (every bin exactly full, e.g. triplets), limited discrepancy
   search over bin completions with the fewest items first (``full_bins``), or where every bin
   holds three items belief propagation over the zero-waste triples (``triples``); the arc-flow
   graph of the zero-waste paths (``reduced`` with volume prices), in CP-SAT with restarts: it finds
   the packing or proves the bound one higher; the zero-waste pattern model (``patterns``)
   when that graph is too big or undecided;
3. MBS' and the Gilmore–Gomory LP by column generation (``colgen``), whose rounded-up value is
   the bound (the Farley bound when the deadline stops it early), and its rounding; then bin
   elimination toward that bound (``repack``: a tabu search over a pool of three emptied bins;
   where bins hold about three items it closes the last bin that dives spend seconds on);
4. then, until the deadline, the improvement loop: dives with re-optimisation, CP-SAT over the
   generated patterns (``improve``), the arc-flow model reduced by the LP's reduced costs
   (``reduced``: it also proves the bound one higher when no packing meets it), and bin
   completion — each phase with a share of the time left.

Every phase takes its share of the remaining budget (``Deadline``); native calls get what is
left, so the solver ends within its deadline whatever the instance.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from ..deadline import Deadline
from .bounds import l2_bound
from .colgen import ColumnGeneration, LpSolution
from .full_bins import common_split, full_bins_by_discrepancy
from .heuristics import (
    Packing,
    bin_completion,
    first_fit_decreasing,
    minimum_bin_slack,
)
from .improve import as_bins, dive, dive_lds, pattern_ip, round_down
from .patterns import solve_patterns, waste_bounded_patterns
from .reduced import build_fits, reduced_graph, solve_reduced
from .search import Incumbent, Listener, Packed
from .triples import three_item_bins, triple_packing
from .vector_solve import load_native_solvers

PATTERN_LIMIT = 30_000  # more zero-waste patterns than this: skip the pattern model
PATTERN_SLICE_S = 0.5  # shortest CP-SAT run on the pattern model
NODE_LIMIT = 20_000  # bins tried per bin-completion restart
ROOT_SHARE = 0.5  # of the time left: the first column generation
ZERO_WASTE_SHARE = 0.7  # of the time left: the zero-waste pattern model, when it applies
COMPLETION_SHARE = 0.25  # of the time left: one bin-completion restart
LDS_DISCREPANCY = 3  # backtracks of the first dive with limited discrepancy search (then more)
# A dive with backtracking: its first descent may take this share of the time left (through
# 500-1,000 items it takes seconds, and a descent cut short finds nothing); the first dive's
# backtracking after it gets BACKTRACK_SHARE of what is left then (later dives: half).
FIRST_DIVE_SHARE = 0.7
BACKTRACK_SHARE = 0.25
# A larger zero-waste graph goes to the pattern model instead: CP-SAT's model is built in
# Python, about 5 s for 67,000 arcs on a loaded machine (AI instances), past any deadline.
FULL_BINS_ARCS = 20_000
# First CP-SAT run on the zero-waste graph (deterministic time; Falkenauer t501 takes about
# 0.2 where it succeeds), then 1.5 times longer each restart.
FULL_BINS_WORK = 0.5
FULL_BINS_LINEARIZATION = (2, 0)  # CP-SAT's linearization level, run by run
# Without slack at the bound: bin completion into full bins with this share of the time
# first, and this share again where the zero-waste graph is too big to build; restarts after
# this many bins tried, then 1.3 times as many.
EXACT_COMPLETION_FIRST = 0.05
EXACT_COMPLETION_SHARE = 0.3
EXACT_COMPLETION_NODES = 200
EXACT_COMPLETION_GROWTH = 1.3
# Without slack at the bound and not three items a bin: limited discrepancy search over bin
# completions with the fewest items first (``full_bins``), briefly before bin completion, then
# instead of it with this share where the zero-waste graph is too big (generated perfect packings
# of binpack-planted, the tuning seeds 1-100: alone, 97 of 100 in 3 s; 8 of the 10 that missed
# at 10 s in under 1.5 s). Not longer first: Falkenauer T (a few items of exactly C/4, so not
# three a bin) waits for the arc-flow step, which finds their packings in about a second.
FEWEST_ITEMS_SHARE = 0.5
# ... and this share where the rooms split alike (``full_bins.common_split``: AI), whose every
# other step finds nothing (the zero-waste patterns took 1.9 s of 10 after it, counting them).
FEWEST_ITEMS_SPLIT_SHARE = 0.9
# Three items a bin, every bin exactly full: belief propagation over the zero-waste triples
# taking turns with CP-SAT on their exact cover (``triples``) with this share of the time first
# (generated triplets of binpack-planted, the tuning seeds: decimation alone, 4 of the 11 that
# missed at 10 s found in 0.4-3.5 s; CP-SAT finds a few others in 1-2 s of a lucky seed, where
# the zero-waste arc-flow step after it took 3-5 s).
TRIPLES_SHARE = 0.75
MBS_FIRST_SHARE = 0.1  # of the time left: MBS' packing before the three-item step
# Bin elimination (``repack``, CNS): three bins emptied into the pool, as in the vector solver
# (of 44 Scholl 2 N4 W1/W2 instances where FFD is above the optimum, one emptied closed none
# from FFD in 2 s, three closed 23, most in under 0.4 s). Right after the root LP (its bound is
# the target) with the first share of the time left, at most the first seconds, unless every
# bin must be full (it closed 9 of 50 generated triplets, 5 of 50 perfect packings and none of
# the AI instances FFD misses, in 2 s from FFD); after later dives with the second.
ELIMINATION_EMPTIED = 3
ELIMINATION_FIRST_SHARE = 0.2
ELIMINATION_FIRST_SECONDS = 2.0
ELIMINATION_SHARE = 0.1
ELIMINATION_SECONDS = 1.0
SMALL_REDUCED = 5_000  # arcs: a reduced arc-flow model this small usually decides quickly
# MBS', bin completion and the zero-waste patterns work on bitsets of fill levels 0..C: beyond
# this capacity they cost too much per bin, and column generation (whose pricing coarsens its
# grid) and its dives do the work alone.
BITSET_CAPACITY = 1 << 18


def solve(
    sizes: Sequence[int],
    counts: Sequence[int],
    capacity: int,
    deadline: Deadline,
    *,
    seed: int = 0,
    start: Packing | None = None,
    on_found: Listener | None = None,
) -> Packed:
    """A lower bound and the best packing found by ``deadline`` (every item fits a bin).

    ``on_found(packing, bound)`` hears of every better packing (the first is first-fit
    decreasing's) and every higher bound, as they come. Without a bounded deadline the solver
    runs until it proves the optimum, or a stop is requested (``engine.interrupt``)."""
    load_native_solvers()  # before the phases share out the time (a cold import takes seconds)
    search = _Search(sizes, counts, capacity, deadline, seed, on_found)
    if start is not None and check_packing(start, sizes, counts, capacity):
        search.offer(start, "start")
    search.run()
    return search.result()


class _Search(Incumbent):
    """The one-dimensional steps, cheapest first, each with a share of the time left."""

    def __init__(
        self,
        sizes: Sequence[int],
        counts: Sequence[int],
        capacity: int,
        deadline: Deadline,
        seed: int,
        on_found: Listener | None = None,
    ) -> None:
        self.sizes, self.counts, self.capacity = list(sizes), list(counts), capacity
        self.seed, self.rng = seed, random.Random(seed)
        ffd = first_fit_decreasing([(w,) for w in sizes], counts, (capacity,))
        super().__init__(l2_bound(sizes, counts, capacity), ffd, "ffd", deadline, on_found)
        self.info["l2"] = self.bound
        self.cg: ColumnGeneration | None = None
        self.root: LpSolution | None = None
        self.total = sum(w * n for w, n in zip(sizes, counts, strict=True))
        self.bitsets = capacity <= BITSET_CAPACITY

    @property
    def exact_fill(self) -> bool:
        """The bound leaves no slack: every bin must be exactly full."""
        return self.bound * self.capacity == self.total

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        if self.done():
            return
        if self.bitsets and self.exact_fill:
            # No slack at the bound: every bin exactly full. Briefly, bin completion into full
            # bins (perfect packings of many distinct sizes: mostly under 0.2 s, where CP-SAT
            # on the zero-waste graph may take seconds or that graph is too big to build);
            # the arc-flow graph of zero-waste paths where it is small (triplets: a few
            # thousand arcs, a packing in about a second), else bin completion again, longer;
            # then the zero-waste pattern model. Three items a bin: belief propagation first
            # (a nearly unique cover among thousands of triples, which the models miss); else
            # bin completion by fewest items first (``full_bins``: random perfect packings),
            # before the depth-first one (its restarts find others: each search has its luck).
            three = three_item_bins(self.sizes, self.capacity)
            first = EXACT_COMPLETION_FIRST
            if not three:  # the two share the first step's time: the arc-flow step waits no longer
                first /= 2
                self.fewest_items_first(self.deadline.part(first))
            self.exact_completion(self.deadline.part(first))
            if three and not self.done() and self.exact_fill:
                # MBS' packing first (on generated triplets one bin above the bound, in about
                # 0.05 s): where no cover is found it is the answer, whatever the later steps
                # leave of the time (held-out seeds 651-700 under load: two misses ended at
                # first-fit decreasing's 127 and 131 bins, 15-16 above, not at 113 and 118).
                self.mbs(self.seed, self.deadline.part(MBS_FIRST_SHARE))
                found = triple_packing(
                    self.sizes, self.counts, self.capacity,
                    self.deadline.part(TRIPLES_SHARE), self.seed,
                )  # fmt: skip
                self.offer(found.packing, f"triples by {found.how}")
                if found.none_exists:  # no exact cover: one more bin is needed
                    self.raise_bound(self.bound + 1, "triples by cp-sat exact cover")
            settled = self.done() or not self.exact_fill  # found, or proved one bin more
            if not settled and not self.full_bins_arcflow(self.deadline.part(ZERO_WASTE_SHARE)):
                if three:
                    self.exact_completion(self.deadline.part(EXACT_COMPLETION_SHARE))
                else:
                    split = common_split(self.sizes, self.counts, self.capacity) is not None
                    share = FEWEST_ITEMS_SPLIT_SHARE if split else FEWEST_ITEMS_SHARE
                    self.fewest_items_first(self.deadline.part(share))
            if not self.done() and self.exact_fill:  # unless a proof needs one more bin
                self.zero_waste_patterns(self.deadline.part(ZERO_WASTE_SHARE))
        if self.done():
            return
        self.mbs(self.seed)
        if self.done():
            return
        self.column_generation(self.deadline.part(ROOT_SHARE))
        if not self.exact_fill:  # without slack its swaps found nothing (AI, planted exact fills)
            self.eliminate_bins(
                self.deadline.part(ELIMINATION_FIRST_SHARE, at_most=ELIMINATION_FIRST_SECONDS), -1
            )
        attempt = 0
        while not self.done() and self.improve(attempt):
            attempt += 1
        if self.cg is not None:
            self.info["columns"] = len(self.cg.columns)
            self.info["pricing_rounds"] = self.cg.iterations
        self.info["improvement_rounds"] = attempt

    def zero_waste_patterns(self, deadline: Deadline) -> None:
        patterns = waste_bounded_patterns(
            self.sizes, self.counts, self.capacity, 0, PATTERN_LIMIT, deadline
        )
        # One run with the whole budget (restarts with new seeds if it ends early without a
        # cover): on a loaded machine a cut-short run wastes what it spent.
        attempt = 0
        while patterns and len(self.best) > self.bound and not deadline.expired():
            found = solve_patterns(
                self.sizes,
                self.counts,
                patterns,
                self.bound,
                deadline.part(1.0, at_least=PATTERN_SLICE_S),
                self.seed + attempt,
            )
            self.offer(found, "patterns")
            attempt += 1

    def fewest_items_first(self, deadline: Deadline) -> None:
        """Limited discrepancy search over bin completions, fewest items first (``full_bins``)."""
        runs = self.info.get("fewest_items_runs", 0)  # each run its own random ties
        found, exhausted = full_bins_by_discrepancy(
            self.sizes, self.counts, self.capacity, deadline, seed=self.seed + runs
        )
        self.info["fewest_items_runs"] = runs + 1
        self.offer(found, "full bins, fewest items first")
        if exhausted and found is None:  # no packing fills ``bound`` bins: one more is needed
            self.raise_bound(self.bound + 1, "full bins, fewest items first")

    def exact_completion(self, deadline: Deadline) -> None:
        """Bin completion into ``bound`` full bins, restarted on new seeds with node limits
        growing geometrically: its runs have a heavy tail (one seed finds the packing in 0.1 s
        where another is lost in a subtree for seconds)."""
        bins = self.bound
        while not self.done() and self.exact_fill and not deadline.expired():
            attempt = self.info.get("exact_completion_restarts", 0)
            limit = round(EXACT_COMPLETION_NODES * EXACT_COMPLETION_GROWTH**attempt)
            found, exhausted = bin_completion(
                self.sizes, self.counts, self.capacity, bins, limit, self.seed + attempt,
                deadline,
            )  # fmt: skip
            self.offer(found, "exact bin completion")
            if exhausted:  # no packing fills ``bins`` bins: one more is needed
                self.raise_bound(bins + 1, "exact bin completion")
            self.info["exact_completion_restarts"] = attempt + 1

    def full_bins_arcflow(self, deadline: Deadline) -> bool:
        """Volume prices (w / C, dual feasible) leave exactly the zero-waste paths in the
        reduced graph when the bound fills every bin: CP-SAT on that flow finds the packing
        or proves the bound one higher. False when the graph was too big to build."""
        prices = np.array(self.sizes, dtype=np.float64) / self.capacity
        reduced = reduced_graph(
            self.sizes, self.counts, self.capacity, prices, self.bound, deadline.part(0.3),
            max_arcs=FULL_BINS_ARCS,
        )  # fmt: skip
        if reduced is None:
            return False
        self.info["full_bin_arcs"] = len(reduced.graph.arcs)
        # Restarts with new seeds and growing slices: single runs have a heavy tail (the
        # same instance takes 0.2 s with one seed and over 7 s with another). Slices are
        # CP-SAT's deterministic time, so a loaded machine does not cut them short. Every
        # other run without the LP in the search: on generated triplets of 200-360 items
        # (mostly distinct sizes) it found 3 of 12 exact fills in 0.3-0.7 s that runs with
        # the LP missed in 6-8 s; the LP runs go first (Falkenauer t501: 0.7 s with the LP,
        # a first run without it spent 4 s for nothing) and prove the bound one higher.
        work, attempt = FULL_BINS_WORK, 0
        # a model that cannot be built in the time left never will be: no restarts then (they
        # were declined at once, a thousand times a second, until the deadline)
        while not self.done() and build_fits(reduced, deadline):
            outcome, packing = solve_reduced(
                reduced, self.counts, deadline, self.seed + attempt + 1, work=work,
                linearization=FULL_BINS_LINEARIZATION[attempt % 2],
            )  # fmt: skip
            self.info["full_bin_outcome"] = outcome
            self._take(outcome, packing, reduced.bins, "full-bin arc-flow")
            if outcome != "unknown":
                return True
            work, attempt = work * 1.5, attempt + 1
        self.info["full_bin_restarts"] = attempt
        return True

    def column_generation(self, deadline: Deadline) -> None:
        try:
            cg = ColumnGeneration(np.array(self.sizes), np.array(self.counts), self.capacity)
        except ImportError:  # no HiGHS: the combinatorial steps alone
            return
        self.cg = cg
        cg.add_many(cg.pattern_of(b) for b in self.best)
        self.root = cg.solve(deadline)
        self._root_bound()
        if self.root is not None and not self.done():
            self.offer(self._round(self.root), "lp rounding")

    def converge_root(self, deadline: Deadline) -> None:
        assert self.cg is not None
        root = self.cg.solve(deadline, converge=True)
        if root is not None:
            self.root = root
            self._root_bound()

    def _root_bound(self) -> None:
        if self.root is None:
            return
        self.info["lp"] = round(self.root.value, 6)
        self.info["lp_bound"] = round(self.root.bound, 6)
        self.info["lp_converged"] = self.root.converged
        self.raise_bound(self.root.bins_bound, "gilmore-gomory lp")

    def _round(self, lp: LpSolution) -> Packing:
        """Whole copies of the patterns the LP uses, then first-fit decreasing of the rest."""
        assert self.cg is not None
        bins, left = round_down(self.cg, lp)
        rest = first_fit_decreasing([(w,) for w in self.sizes], left.tolist(), (self.capacity,))
        return as_bins(bins) + rest

    def reduced_arcflow(self, attempt: int) -> None:
        """The arc-flow model reduced by the root's prices, asked for ``bound`` bins: a packing
        that meets the bound, or the proof that the bound is one higher. A small model gets
        most of the time left (it decides the instance); a large one a growing share."""
        assert self.cg is not None and self.root is not None
        cg = self.cg
        prices = self.root.duals
        top = cg.best_pattern(prices, cg.per_bin).upper
        prices = prices / max(1.0, top)
        reduced = reduced_graph(
            self.sizes, self.counts, self.capacity, prices, self.bound, self.deadline.part(0.3)
        )
        if reduced is None:
            return
        small = len(reduced.graph.arcs) <= SMALL_REDUCED
        share = 0.6 if small or self.exact_fill else min(0.6, 0.2 * attempt)
        self.info.setdefault("reduced", []).append(
            {"bins": reduced.bins, "arcs": len(reduced.graph.arcs), "kept": round(reduced.kept, 4)}
        )
        deadline = self.deadline.part(share, at_least=0.5)
        outcome, packing = solve_reduced(reduced, self.counts, deadline, self.seed)
        self.info["reduced"][-1]["outcome"] = outcome
        self._take(outcome, packing, reduced.bins, "reduced arc-flow")

    def _take(
        self, outcome: str, packing: list[dict[int, int]] | None, bins: int, how: str
    ) -> None:
        if outcome == "infeasible":
            self.raise_bound(bins + 1, how)
        elif packing is not None:  # every type covered exactly (the models' equalities)
            found = [Counter(b) for b in packing if b]
            self.offer(found, how)
            if outcome == "optimal":
                self.raise_bound(len(found), how)

    def full_arcflow(self) -> None:
        """CP-SAT on the whole arc-flow graph (prices zero keep every arc) from the best
        packing: where every bin must be full its LP is tight and the search from a near
        packing finds the exact fill (triplets) — if the graph is small enough."""
        zero = np.zeros(len(self.sizes))
        graph = reduced_graph(
            self.sizes, self.counts, self.capacity, zero, len(self.best), self.deadline.part(0.2)
        )
        if graph is None:
            return
        self.info["full_arcs"] = len(graph.graph.arcs)
        hint = (self.sizes, [dict(b) for b in self.best])
        outcome, packing = solve_reduced(
            graph, self.counts, self.deadline.part(0.6, at_least=0.5), self.seed, hint
        )
        self._take(outcome, packing, graph.bins, "arc-flow")

    def mbs(self, seed: int, deadline: Deadline | None = None) -> None:
        if self.bitsets:
            found = minimum_bin_slack(
                self.sizes, self.counts, self.capacity, seed, deadline or self.deadline
            )
            self.offer(found, "mbs")

    def improve(self, attempt: int) -> bool:
        """One round of the improvement loop: a dive (with limited discrepancy search in even
        rounds, randomised in odd ones: cheap, and on instances with the round-up property they
        find the optimum), every third round from the first the reduced arc-flow model (it
        finds the packing at the bound, or proves the bound one higher where that property
        fails) and CP-SAT over the patterns generated so far. False when there is nothing left
        to try."""
        cg = self.cg
        if cg is None:
            if not self.bitsets:
                return False
            self.mbs(self.seed + attempt)
            self.complete(attempt)
            return True
        if attempt == 0 and self.exact_fill and not self.done():
            self.full_arcflow()
        if attempt % 4 == 1:
            # Bin elimination, briefly, after the first dive: where bins hold many items
            # (Scholl 2) its swaps close the last bin that dives miss within seconds. Its own
            # random numbers: where it finds nothing, the dives after it run as before.
            self.eliminate_bins(
                self.deadline.part(ELIMINATION_SHARE, at_most=ELIMINATION_SECONDS), attempt
            )
        # Dives first (cheap; with the round-up property they find the optimum), the reduced
        # arc-flow model and the pattern IP after them.
        if attempt % 2 == 0:  # wider searches each time (the columns grow between them)
            # The first descent may take most of the time (a dive through 1,000 items takes
            # seconds, and a cut-short one finds nothing); the first backtracking leaves time
            # for the arc-flow.
            share = BACKTRACK_SHARE if attempt == 0 else 0.5
            self.dive_lds(
                self.deadline.part(FIRST_DIVE_SHARE, at_least=0.5),
                LDS_DISCREPANCY + attempt,
                lambda: self.deadline.part(share, at_least=0.5),
            )
        else:
            self.dive(self.rng, self.deadline.part(0.4, at_least=0.5), 0.25 if attempt % 4 else 0.5)
        if attempt % 3 == 0:
            if self.root is not None and not self.root.converged and not self.done():
                # Exact duals: the reduced arc-flow model is small only near the LP optimum.
                self.converge_root(self.deadline.part(0.5))
            if self.root is not None and not self.done():
                self.reduced_arcflow(attempt // 3)
            if not self.done():
                hint = [cg.pattern_of(b) for b in self.best]
                cg.add_many(hint)
                found, _ = pattern_ip(
                    cg, self.deadline.part(0.3, at_least=1.0), self.bound, hint, self.seed + attempt
                )
                if found is not None:
                    self.offer(as_bins(found), "pattern ip")
        self.complete(attempt)
        return True

    def eliminate_bins(self, deadline: Deadline, attempt: int) -> None:
        table = np.array(self.sizes).reshape(-1, 1)
        rng = random.Random(self.seed + attempt)  # its own: the dives after it run as before
        self.eliminate(table, [self.capacity], deadline, rng, ELIMINATION_EMPTIED)

    def dive(self, rng: random.Random | None, deadline: Deadline, spread: float) -> None:
        assert self.cg is not None
        if not self.done():
            found = dive(self.cg, deadline, len(self.best), rng, spread)
            if found is not None:
                self.offer(as_bins(found), "dive")

    def dive_lds(
        self, deadline: Deadline, discrepancy: int, backtrack: Callable[[], Deadline]
    ) -> None:
        assert self.cg is not None
        if not self.done():
            found = dive_lds(self.cg, deadline, len(self.best), discrepancy, discrepancy, backtrack)
            if found is not None:
                self.offer(as_bins(found), "dive with backtracking")

    def complete(self, attempt: int) -> None:
        if self.bitsets and not self.done():
            bins = self.bound
            packing, exhausted = bin_completion(
                self.sizes, self.counts, self.capacity, bins, NODE_LIMIT,
                self.seed + attempt, self.deadline.part(COMPLETION_SHARE),
            )  # fmt: skip
            self.offer(packing, "bin completion")
            if exhausted:  # no packing into ``bins`` bins
                self.raise_bound(bins + 1, "bin completion")


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
