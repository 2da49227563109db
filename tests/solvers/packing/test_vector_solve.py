"""The vector packing solver: exact fills found exactly, bounds that never pass a known
optimum, the improvement phase past first-fit decreasing, and the cpsat path around it."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.planted import draw, planted_vectors, vector_triplets
from engine.ir import Bin, ItemGroup, Problem
from engine.solution import Status
from engine.solve import solve
from solvers.deadline import Deadline
from solvers.packing import vector_fill, vector_pairs, vector_solve
from solvers.packing.colgen import ColumnGeneration
from solvers.packing.heuristics import first_fit_decreasing
from solvers.packing.knapsack import VectorKnapsack
from solvers.packing.patterns import Pattern
from solvers.packing.vector import check_vector_packing, vector_lower_bound
from solvers.packing.vector_fill import (
    cover_exact_fills,
    dive_exact_fills,
    exact_fill_patterns,
    fitting_sets,
)
from solvers.packing.vector_pairs import SmallSets
from solvers.packing.vector_partition import partition_sets
from solvers.packing.vector_pricing import beam_patterns
from solvers.packing.vector_solve import solve_vector
from tests.profiles import examples
from tests.slow_import import run_with_slow_cp_sat

from ...timing import held


@settings(max_examples=examples(6), deadline=None)
@given(st.integers(4, 40), st.sampled_from([2, 3, 5]), st.integers(0, 10_000))
def test_vector_triplets_are_solved_exactly(bins: int, d: int, seed: int) -> None:
    items = vector_triplets(bins, 1000, d, seed)
    counts = [1] * len(items)
    result = solve_vector(items, counts, [1000] * d, Deadline.after(10.0))
    assert check_vector_packing(result.packing, items, counts, [1000] * d)
    assert len(result.packing) == bins and result.proven


@settings(max_examples=examples(8), deadline=None)
@given(st.integers(2, 15), st.sampled_from([2, 3]), st.integers(0, 10_000))
def test_vector_bound_never_passes_a_planted_optimum(bins: int, d: int, seed: int) -> None:
    items = planted_vectors(bins, 100, d, seed)
    counts = [1] * len(items)
    result = solve_vector(items, counts, [100] * d, Deadline.after(2.0))
    assert check_vector_packing(result.packing, items, counts, [100] * d)
    assert result.lower_bound <= bins <= len(result.packing)


def test_vector_pricing_bounds_the_best_pattern() -> None:
    rng = np.random.default_rng(5)
    table = rng.integers(1, 60, size=(12, 3))
    room = np.array([100, 100, 100])
    pricer = VectorKnapsack(table, room)
    raw = rng.random(12)
    bounds = np.ones(12, dtype=np.int64)
    best = 0.0  # brute force over the 4,096 subsets
    for mask in range(1 << 12):
        take = np.array([(mask >> t) & 1 for t in range(12)])
        if np.all(take @ table <= room):
            best = max(best, float(take @ raw))
    # Scaled so that no pattern prices out (worth over 1): the beam search proves it (its
    # bound is the threshold), and without the beam the exact pricing must run.
    profits = raw * (0.9 / best)
    beam = pricer.best(profits, bounds, Deadline.after(5.0))
    pricer.beam = False
    exact = pricer.best(profits, bounds, Deadline.after(5.0))
    greedy = pricer.best(profits, bounds, Deadline.after(5.0), exact=False)
    for priced in (beam, exact, greedy):
        assert np.all(priced.pattern @ table <= room)
        assert priced.value <= 0.9 + 1e-9 <= priced.upper + 1e-6
    assert abs(exact.value - 0.9) < 1e-5
    assert beam.upper <= 1.0 + 1e-6  # converged: nothing prices out


def test_vector_column_generation_bound_is_valid() -> None:
    items = planted_vectors(6, 100, 2, seed=11)
    cg = ColumnGeneration(np.array(items), np.ones(len(items), dtype=np.int64), [100, 100])
    lp = cg.solve(Deadline.after(5.0), converge=True)
    assert lp is not None and lp.bins_bound <= 6
    assert vector_lower_bound(items, [1] * len(items), [100, 100]) <= 6


def _vector_problem(items: list[list[int]], capacity: int) -> Problem:
    resources = ("cpu", "mem", "gpu")[: len(items[0])]
    return Problem(
        name="vec",
        bins=tuple(
            Bin(name=f"b{k}", capacity={r: capacity for r in resources}) for k in range(len(items))
        ),
        items=tuple(
            ItemGroup(
                name=f"i{k}", count=1, demand=dict(zip(resources, w, strict=True)), required=True
            )
            for k, w in enumerate(items)
        ),
        objective=({"bins_used": 1.0},),
    )


def test_cpsat_solves_vector_triplets_exactly() -> None:
    items = vector_triplets(30, 1000, 3, seed=9)
    plan = solve(_vector_problem(items, 1000), "cpsat", time_limit=10, threads=1)
    assert plan.verified and plan.status == Status.OPTIMAL
    assert plan.objective == (30.0,) and plan.bound == (30.0,)


def test_cpsat_vector_packing_under_a_limit_never_claims_a_false_optimum() -> None:
    rng = random.Random(2)
    items = [[rng.randint(100, 400) for _ in range(3)] for _ in range(90)]
    began = time.perf_counter()
    plan = solve(_vector_problem(items, 1000), "cpsat", time_limit=3.0, threads=1)
    assert held(3.0, time.perf_counter() - began)
    assert plan.verified and plan.bound is not None and plan.bound[0] is not None
    bound = vector_lower_bound(items, [1] * 90, [1000] * 3)
    assert bound <= plan.bound[0] <= plan.objective[0]
    if plan.status == Status.OPTIMAL:
        assert plan.bound == plan.objective
    else:
        assert plan.bound[0] < plan.objective[0]
    ffd = first_fit_decreasing(items, [1] * 90, [1000] * 3)
    assert plan.objective[0] <= len(ffd)


# A fresh interpreter whose first CP-SAT import takes SLOW_IMPORT_S (as a cold import of
# CP-SAT and pandas does on a starved CPU), solving a class-1-like instance within LIMIT_S.
SLOW_IMPORT_S, LIMIT_S = 3.0, 6.0
SLOW_IMPORT_RUN = """
import random, time
from solvers.deadline import Deadline
from solvers.packing.vector import check_vector_packing
from solvers.packing import vector_fill, vector_pairs, vector_solve
from solvers.packing.vector_solve import solve_vector

rng = random.Random(3)
items = [[rng.randint(100, 400) for _ in range(3)] for _ in range(200)]
began = time.perf_counter()
out = solve_vector(items, [1] * 200, [1000] * 3, Deadline.after(float(sys.argv[2])))
valid = check_vector_packing(out.packing, items, [1] * 200, [1000] * 3)
print(time.perf_counter() - began, slow.at - began, valid)
"""


@pytest.mark.slow
def test_vector_solver_holds_its_deadline_when_loading_cp_sat_is_slow() -> None:
    """Loading a native solver is work before the phases share out the time, not inside a
    late phase that was given a share of a second (it ran seconds past the limit)."""
    seconds, loaded, valid = run_with_slow_cp_sat(SLOW_IMPORT_RUN, SLOW_IMPORT_S, LIMIT_S)
    assert valid == "True"
    # Loaded before the first phase (not a wall-clock claim: the alternative is seconds in).
    assert float(loaded) < 0.1 * LIMIT_S, loaded
    assert held(LIMIT_S, float(seconds)), seconds


# At most 8 types of at most 2 copies: no size of pattern has more than C(16, 8) = 12,870 sets
# of copies, so a beam of UNBOUNDED is never cut (with 11 types, 22 copies, a 4,096 beam was,
# and the search rightly said it was not exhaustive).
UNBOUNDED = 1 << 16


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([2, 3, 5]), st.integers(4, 8))
@example(seed=434, d=3, n=5)  # a dimension filled exactly, a copy of size 0 there still to add
def test_beam_pricing_fills_fit_and_an_unbounded_beam_is_exact(seed: int, d: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 60, size=(n, d))
    room = rng.integers(80, 200, size=d)
    bounds = rng.integers(1, 3, size=n)
    profits = rng.random(n)
    chosen = np.arange(n)
    best = 0.0  # brute force over every pattern within the bounds
    for take in itertools.product(*(range(int(b) + 1) for b in bounds)):
        pattern = np.array(take)
        if np.all(pattern @ table <= room):
            best = max(best, float(pattern @ profits))
    narrow = beam_patterns(table, room, profits, bounds, chosen, keep=5, width=3)
    wide = beam_patterns(table, room, profits, bounds, chosen, keep=5, width=UNBOUNDED)
    assert wide.exhaustive
    for pattern in narrow.patterns + wide.patterns:
        assert np.all(pattern @ table <= room) and np.all(pattern <= bounds)
        assert float(pattern @ profits) <= best + 1e-9
    assert len({p.tobytes() for p in wide.patterns}) == len(wide.patterns)
    assert abs(float(wide.patterns[0] @ profits) - best) < 1e-9
    # Dropping what cannot grow past a threshold keeps every pattern above it: whenever
    # the search says it was exhaustive, its first pattern is the best, or none beats the
    # threshold.
    for threshold in (0.5 * best, best - 1e-6, best + 1e-6):
        for width in (2, 8, UNBOUNDED):
            cut = beam_patterns(table, room, profits, bounds, chosen, 3, width, threshold)
            if cut.exhaustive:
                top = float(cut.patterns[0] @ profits) if cut.patterns else 0.0
                assert abs(top - best) < 1e-9 or best <= threshold


@settings(max_examples=examples(10), deadline=None)
@given(st.integers(2, 4), st.sampled_from([2, 3, 5]), st.integers(0, 10_000))
def test_vector_lp_converged_by_the_beam_is_the_lp_over_every_pattern(
    bins: int, d: int, seed: int
) -> None:
    """Convergence the beam search proves (nothing prices out) is the optimum of the master
    over every feasible pattern (listed by brute force), and its bound never passes the
    planted optimum."""
    items = np.array(planted_vectors(bins, 100, d, seed, fill=(0.7, 1.0), shuffle=True))
    n = len(items)
    counts = np.ones(n, dtype=np.int64)
    cg = ColumnGeneration(items, counts, [100] * d)
    lp = cg.solve(Deadline.after(20.0), converge=True)
    assert lp is not None and lp.bins_bound <= bins
    if not lp.converged:
        return
    subsets = (np.arange(1, 1 << n)[:, None] >> np.arange(n)) & 1
    every = ColumnGeneration(items, counts, [100] * d)
    every.add_many(p for p in subsets if np.all(p @ items <= 100))
    solved = every._master(Deadline.after(20.0))
    assert solved is not None and abs(solved[0] - lp.value) < 1e-6
    # The same master made in one call (the vector solver's, where few sets fit): no pricing.
    bulk = ColumnGeneration(items, counts, [100] * d)
    every_set = [np.flatnonzero(p)[None, :] for p in subsets if np.all(p @ items <= 100)]
    bulk.add_every(every_set)
    whole = bulk.solve(Deadline.after(20.0))
    assert whole is not None and whole.converged and abs(whole.bound - lp.value) < 1e-6


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(2, 5), st.sampled_from([1, 2, 3]), st.integers(0, 10_000))
def test_exact_fills_are_every_subset_filling_each_dimension(bins: int, d: int, seed: int) -> None:
    """On a few items (every set size enumerable), the exact fills listed are exactly the
    item sets whose sizes add up to the capacity in every dimension (brute force)."""
    items = np.array(planted_vectors(bins, 20, d, seed, shuffle=True))
    n = len(items)
    found = exact_fill_patterns(
        items, np.ones(n, dtype=np.int64), np.full(d, 20), 10**6, Deadline.never()
    )
    assert found is not None
    brute = {
        tuple((t, 1) for t in subset)
        for r in range(1, n + 1)
        for subset in itertools.combinations(range(n), r)
        if np.all(items[list(subset)].sum(axis=0) == 20)
    }
    assert set(found) == brute and len(found) == len(brute)


def test_exact_fills_count_copies_of_a_type() -> None:
    table = np.array([[5, 5], [10, 10], [3, 7], [7, 3]])
    found = exact_fill_patterns(
        table, np.array([4, 1, 2, 2]), np.array([20, 20]), 100, Deadline.never()
    )
    assert found is not None
    assert sorted(found) == [
        ((0, 2), (1, 1)),
        ((0, 2), (2, 1), (3, 1)),
        ((0, 4),),
        ((1, 1), (2, 1), (3, 1)),
        ((2, 2), (3, 2)),
    ]


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vector_exact_fills_of_many_bins_are_solved_exactly(d: int, seed: int) -> None:
    """Each of 60 bins cut into 2–4 items in every dimension: the bound leaves no slack,
    and the packing into that many bins is found (at d = 2 the rest of the solver ended one
    or two bins above in 10 s: column generation does not converge there)."""
    items = planted_vectors(60, 1000, d, seed, shuffle=True)
    counts = [1] * len(items)
    result = solve_vector(items, counts, [1000] * d, Deadline.after(60.0))
    assert check_vector_packing(result.packing, items, counts, [1000] * d)
    assert len(result.packing) == 60 and result.proven


def test_lp_dives_find_planted_fills_among_thousands_of_accidental_ones() -> None:
    """Capacity 100 in two dimensions: some 20,000 exact fills on 150 items, where CP-SAT's
    cover found no packing in 20 s; the LP dives find one."""
    items = np.array(planted_vectors(50, 100, 2, 1, shuffle=True))
    counts = np.ones(len(items), dtype=np.int64)
    found = exact_fill_patterns(items, counts, np.array([100, 100]), 10**6, Deadline.never())
    assert found is not None and len(found) > 5_000
    packing = dive_exact_fills(found, counts.tolist(), Deadline.after(120.0), random.Random(0))
    assert packing is not None and len(packing) == 50
    assert check_vector_packing(packing, items.tolist(), counts.tolist(), [100, 100])


def test_exact_cover_search_finds_planted_fills_the_lp_dives_miss() -> None:
    """vbp-planted's vectors-d2-s106 (capacity 128): 95,052 exact fills of 156 items, mostly
    of 5 and 6 items; the 49 planted bins hold 2-4. The LP dives found no cover in 5 s (the
    solver ended at first-fit decreasing's 52 bins); the search over the fills of at most 4
    items, fewest items first, finds one."""
    planted = draw("vectors", 106, bins=[5, 60], capacity=[100, 1000], d=2)
    items = [list(w) for w in planted.sizes]
    counts = [1] * len(items)
    found = exact_fill_patterns(
        np.array(items), np.array(counts), np.array(planted.capacity), 10**6, Deadline.never()
    )
    assert found is not None and len(found) > 50_000
    # Deterministic for its seed (the deadline only guards against a hang).
    packing = cover_exact_fills(found, counts, Deadline.after(120.0), random.Random(0))
    assert packing is not None and len(packing) == planted.optimum == 49
    assert check_vector_packing(packing, items, counts, list(planted.capacity))
    assert max(sum(b.values()) for b in packing) <= 4  # found among the fills of at most 4


def test_a_join_of_many_matches_looks_at_the_deadline_between_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fills of 6 items on vectors-d2-s106 came from one join of 220,000 sets of 3 items
    with themselves, 1.5 million hash matches checked in one go: 2 s at load 8, past the
    listing's deadline. The matches are checked a chunk at a time, and a deadline that passes
    during the first chunk stops the join there."""
    chunks: list[int] = []
    real_chunk = vector_fill._join_chunk

    def counted(*args: Any) -> np.ndarray:
        chunks.append(1)
        return real_chunk(*args)

    class ExpiresAfterTheFirstChunk(Deadline):
        def expired(self) -> bool:
            return bool(chunks)

    monkeypatch.setattr(vector_fill, "_join_chunk", counted)
    n = 1_000  # every set matches every set: 10 chunks of 100,000 matches
    sets = vector_fill._Sets(
        np.zeros((n, 1), dtype=np.int64),
        np.full((n, 2), 5, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
    )
    cap, counts = np.array([10, 10]), np.array([2])
    stopped = vector_fill._join(sets, sets, 0, cap, counts, ExpiresAfterTheFirstChunk(math.inf))
    assert stopped is None and len(chunks) == 1
    chunks.clear()
    rows = vector_fill._join(sets, sets, 0, cap, counts, Deadline.never())
    assert rows is not None and len(rows) == n * n and len(chunks) > 1


def test_fills_listed_before_the_listing_stops_are_covered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fills come by size (2, 3, 4 items, ...), and the exact-cover search runs after each
    size: a listing stopped after the fills of 4 items (its share of the time gone, as under
    load on 87,000 fills) still gives the packing its planted bins of 2-4 items make, and the
    listing is not resumed once they are covered. (Before, the exact fills were used only
    when every size was listed: the solver then ended at the bin-centric packing.)"""
    items = planted_vectors(20, 1000, 2, 3, shuffle=True)
    counts = [1] * len(items)
    sizes_asked: list[int] = []
    real_listing = vector_solve.exact_fills_by_size

    def stopped_after_four(*args: Any, **kwargs: Any) -> Iterator[list[Pattern]]:
        for fills in real_listing(*args, **kwargs):
            size = sum(j for _, j in fills[0]) if fills else 0
            sizes_asked.append(size)
            if size > 4:
                return
            yield fills

    monkeypatch.setattr(vector_solve, "exact_fills_by_size", stopped_after_four)
    result = solve_vector(items, counts, [1000, 1000], Deadline.after(60.0))
    assert check_vector_packing(result.packing, items, counts, [1000, 1000])
    assert len(result.packing) == 20 and result.proven
    assert result.info["found"][-1][0] == "exact fills"
    assert max(sizes_asked) <= 4


def test_exact_cover_search_proves_nothing_when_no_cover_exists() -> None:
    """Two items of 60 in one dimension with a bin of 100: the only exact fill (the item of
    40 twice) covers neither: no packing, and the search says so at once."""
    patterns = [((1, 2),)]
    assert cover_exact_fills(patterns, [2, 2], Deadline.after(60.0), random.Random(0)) is None


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 3]), st.integers(3, 7))
def test_fitting_sets_are_every_multiset_that_fits(seed: int, d: int, types: int) -> None:
    """Every item set that fits a bin, copies of a type counted (brute force over the item
    copies)."""
    rng = np.random.default_rng(seed)
    table = rng.integers(1, 60, size=(types, d))
    counts = rng.integers(1, 4, size=types)
    cap = np.full(d, 100)
    found = fitting_sets(table, counts, cap, 10**6, Deadline.never())
    assert found is not None
    listed = [tuple(row) for level in found for row in level.tolist()]
    copies = [t for t in range(types) for _ in range(counts[t])]
    brute = {
        subset
        for r in range(1, len(copies) + 1)
        for subset in itertools.combinations(copies, r)
        if np.all(table[list(subset)].sum(axis=0) <= cap)
    }
    assert set(listed) == brute and len(listed) == len(brute)
    assert fitting_sets(table, counts, cap, len(brute) - 1, Deadline.never()) is None


def bins_of_two_or_three(n: int, d: int, seed: int) -> list[list[int]]:
    """Items of 20-100 in every dimension, capacity 150 (Caprara and Toth's class 6: bins of
    two items, now and then three)."""
    return np.random.default_rng(seed).integers(20, 101, size=(n, d)).tolist()


def test_every_fitting_set_proves_the_optimum_greedy_misses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """80 items of class 6's kind in ten dimensions: first-fit decreasing uses 47 bins, the
    bin-centric heuristics 46 in half a second, the volume bound says 34; 444 item sets fit a
    bin, and the LP over all of them proves 45 (a dive over them or CP-SAT finds it, if the
    heuristics' restarts did not)."""
    items, cap = bins_of_two_or_three(80, 10, seed=5), [150] * 10
    counts = [1] * len(items)
    ffd = first_fit_decreasing(items, counts, cap)
    assert len(ffd) == 47
    found = solve_vector(items, counts, cap, Deadline.after(60))
    assert check_vector_packing(found.packing, items, counts, cap)
    assert len(found.packing) == 45 and found.proven
    assert found.info["bound_from"] == "every set's LP"
    # From greedy's packing (the heuristics left out), the dives or CP-SAT over every set
    # find 45 before bin elimination starts.
    monkeypatch.setattr(vector_solve, "best_vector_packing", lambda *_: ffd)
    found = vector_solve.solve_vector(items, counts, cap, Deadline.after(60))
    assert check_vector_packing(found.packing, items, counts, cap)
    assert len(found.packing) == 45 and found.proven
    assert found.method in ("dive over every set", "set partition")


@settings(max_examples=examples(10), deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 11))
def test_the_set_partition_bound_never_passes_the_optimum(seed: int, n: int) -> None:
    """Stopped early or not, the set partition's bound is at most the optimum (brute force:
    the fewest bins over every way to split the items), its packing valid."""
    items, cap = bins_of_two_or_three(n, 3, seed), [150] * 3
    counts = [1] * n
    sets = fitting_sets(np.array(items), np.array(counts), np.array(cap), 10**6, Deadline.never())
    assert sets is not None
    fits = {frozenset(row) for level in sets for row in level.tolist()}
    optimum = _fewest_bins(frozenset(range(n)), fits)
    hint = first_fit_decreasing(items, counts, cap)
    for limit in (0.05, 30.0):
        found = partition_sets(sets, counts, hint, 1, Deadline.after(limit))
        if found is None:  # stopped before it had anything (CP-SAT's cold import under load)
            assert limit < 1
            continue
        assert found.bound <= optimum
        if found.packing is not None:
            assert check_vector_packing(found.packing, items, counts, cap)
            assert len(found.packing) >= optimum
        if limit > 1:
            assert found.optimal and found.packing is not None
            assert len(found.packing) == optimum == found.bound


def _fewest_bins(left: frozenset[int], fits: set[frozenset[int]]) -> int:
    """The fewest fitting sets partitioning ``left`` (the smallest item in the first set)."""
    if not left:
        return 0
    first = min(left)
    return 1 + min(_fewest_bins(left - s, fits) for s in fits if first in s and s <= left)


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1, 2, 3]), st.integers(2, 12), st.booleans())
def test_small_set_pricing_finds_the_best_set_of_each_size(
    seed: int, d: int, types: int, few_triples: bool
) -> None:
    """The columns priced from the sets listed fit, respect the copies of each type and price
    out; the most valuable set of each size among them is the best of all (brute force over
    the item copies: of two and three items, and of every size where the triples are few and
    every set is listed), none is returned when no such set prices out, and the most a set
    is worth is the brute force's where every set is listed."""
    rng = np.random.default_rng(seed)
    table = rng.integers(1, 70, size=(types, d))
    counts = rng.integers(0, 4, size=types)
    cap = np.full(d, 100)
    prices = rng.random(types) * 0.9
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vector_pairs, "FEW_TRIPLES", 10**6 if few_triples else -1)
        listed = SmallSets.listed(table, counts, cap, Deadline.never())
    assert listed is not None
    columns, most = listed.price(prices, keep=10**6)
    sizes = range(2, int(counts.sum()) + 1) if listed.complete else (2, 3)
    for column in columns:
        assert np.all(column @ table <= cap) and np.all(column <= counts)
        assert column.sum() in sizes and column @ prices > 1
    worth = [(int(m.sum()), float(m @ prices)) for m in _fitting_multisets(table, counts, cap)]
    for size in sizes:
        best = max((w for k, w in worth if k == size), default=0.0)
        got = [float(c @ prices) for c in columns if c.sum() == size]
        if best > 1 + 1e-6:
            assert max(got) == pytest.approx(best)
        else:
            assert not got
    assert listed.complete == (few_triples or max((k for k, _ in worth), default=0) <= 2)
    if listed.complete:
        assert most == pytest.approx(max((w for _, w in worth), default=0.0))


def _fitting_multisets(table: np.ndarray, counts: np.ndarray, cap: np.ndarray) -> list[np.ndarray]:
    """Every non-empty multiset of the types (copies per type, within ``counts``) that fits
    (brute force: depth first over the types, a branch cut once it does not fit)."""
    out: list[np.ndarray] = []
    chosen = np.zeros(len(counts), dtype=np.int64)

    def extend(t: int, load: np.ndarray) -> None:
        if t == len(counts):
            if chosen.any():
                out.append(chosen.copy())
            return
        for j in range(int(counts[t]) + 1):
            if np.any(load + j * table[t] > cap):
                break
            chosen[t] = j
            extend(t + 1, load + j * table[t])
        chosen[t] = 0

    extend(0, np.zeros(table.shape[1], dtype=np.int64))
    return out


def test_every_set_priced_bounds_the_packing_where_few_triples_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """80 items of class 6's kind in ten dimensions (as below), too many sets to put them all
    into the master: where few triples fit, the sets of four items and more are listed too, so every set is priced and the
    generation's Farley bound (the duals over the most a set is worth) is a bound: here it
    proves the optimum 45 (the volume bound says 34)."""
    items, cap = bins_of_two_or_three(80, 10, seed=5), [150] * 10
    counts = [1] * len(items)
    ffd = first_fit_decreasing(items, counts, cap)
    monkeypatch.setattr(vector_solve, "SETS_LIMIT", 100)
    monkeypatch.setattr(vector_solve, "best_vector_packing", lambda *_: ffd)
    monkeypatch.setattr(vector_solve._VectorSearch, "eliminate_more", lambda *_: None)
    found = vector_solve.solve_vector(items, counts, cap, Deadline.after(60))
    assert check_vector_packing(found.packing, items, counts, cap)
    assert 44 < found.info["small_sets_bound"] <= 45 and found.lower_bound == 45
    assert found.info["bound_from"] == "every set's LP, priced"


@settings(max_examples=examples(6), deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 40))
def test_every_set_priced_never_bounds_above_the_whole_lp(seed: int, n: int) -> None:
    """The Farley bound of the generation over every set listed is at most the whole LP's
    value (every set in the master: its optimum), rounded up."""
    items, cap = bins_of_two_or_three(n, 3, seed), [150] * 3
    counts = [1] * n
    table = np.array(items)
    listed = SmallSets.listed(table, np.array(counts), np.array(cap), Deadline.never())
    assert listed is not None and listed.complete
    search = vector_solve._VectorSearch(items, counts, cap, Deadline.after(60), 0, None)
    search.small_sets(listed, Deadline.after(60))
    whole = ColumnGeneration(table, np.array(counts), cap)
    sets = fitting_sets(table, np.array(counts), np.array(cap), 10**7, Deadline.never())
    assert sets is not None
    whole.add_every(sets)
    lp = whole.solve(Deadline.after(60))
    assert lp is not None and lp.converged
    assert search.info.get("small_sets_bound", 0.0) <= lp.value + 1e-6
    assert search.bound <= math.ceil(lp.value - 1e-6)


def test_priced_pairs_and_triples_improve_where_too_many_sets_fit_to_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The instance above with the listing of every set cut short (as on 500 items, where
    hundreds of thousands fit): column generation over pairs and triples priced in numpy, then
    a dive or CP-SAT over its columns, improve on greedy's 47 bins before anything else (bin
    elimination left out), and claim no bound (the optimum is 45; the sets of four, few here,
    not listed)."""
    items, cap = bins_of_two_or_three(80, 10, seed=5), [150] * 10
    counts = [1] * len(items)
    ffd = first_fit_decreasing(items, counts, cap)
    monkeypatch.setattr(vector_pairs, "FEW_TRIPLES", -1)
    monkeypatch.setattr(vector_solve, "SETS_LIMIT", 100)
    monkeypatch.setattr(vector_solve, "best_vector_packing", lambda *_: ffd)
    monkeypatch.setattr(vector_solve._VectorSearch, "eliminate_more", lambda *_: None)
    found = vector_solve.solve_vector(items, counts, cap, Deadline.after(30))
    assert check_vector_packing(found.packing, items, counts, cap)
    assert found.info["small_set_rounds"] >= 1
    how, bins, _ = found.info["found"][0]
    assert how in ("dive over priced sets", "set partition over priced sets") and bins < 47
    assert found.lower_bound <= 45 <= len(found.packing)


def test_a_frozen_master_prices_nothing_and_claims_no_bound() -> None:
    """Frozen (the caller prices), the master's optimum comes back as it is: not converged,
    bound 0, no column added; unfrozen, generation goes on and converges."""
    items, cap = bins_of_two_or_three(30, 3, seed=1), [150] * 3
    cg = ColumnGeneration(np.array(items), np.ones(len(items), dtype=np.int64), cap)
    cg.frozen = True
    columns = len(cg.columns)
    lp = cg.solve(Deadline.after(30))
    assert lp is not None and not lp.converged and lp.bound == 0.0
    assert len(cg.columns) == columns and lp.value == pytest.approx(len(items))
    cg.frozen = False
    lp = cg.solve(Deadline.after(30), converge=True)
    assert lp is not None and lp.converged and len(cg.columns) > columns


@pytest.mark.parametrize(("size", "priced"), [(24, False), (45, True)])
def test_pairs_and_triples_only_where_optimal_bins_hold_at_most_three_items(
    monkeypatch: pytest.MonkeyPatch, size: int, priced: bool
) -> None:
    """Pairs and triples cannot make a bin of four: the generation over them is for instances
    whose optimal packings hold at most three items a bin on average, which the lower bound
    tells (greedy's bin count does not: a packing of one item a bin would send every instance
    there). Items of 24 % of the bin (four a bin, none full): not priced; of 45 %: priced."""
    items, cap = [[size, size] for _ in range(40)], [100, 100]
    counts = [1] * len(items)
    listed: list[int] = []
    real = SmallSets.listed

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        listed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(vector_solve, "SETS_LIMIT", 1)  # too many sets to list them all
    monkeypatch.setattr(vector_solve.SmallSets, "listed", recorded)
    monkeypatch.setattr(
        vector_solve,
        "first_fit_decreasing",
        lambda sizes, counts, cap: [Counter({i: 1}) for i in range(40)],
    )
    found = vector_solve.solve_vector(items, counts, cap, Deadline.after(5))
    assert check_vector_packing(found.packing, items, counts, cap)
    assert bool(listed) == priced
