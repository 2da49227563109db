"""Packings into exactly full bins by limited discrepancy search over completions with the
fewest items first."""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.planted import draw, planted
from solvers.deadline import Deadline
from solvers.packing.full_bins import (
    _most_constrained_opener,
    common_split,
    fewest_items_completions,
    full_bins_by_discrepancy,
)
from tests.profiles import examples


def _types(weights: list[int]) -> tuple[list[int], list[int]]:
    counted = Counter(weights)
    sizes = sorted(counted, reverse=True)
    return sizes, [counted[w] for w in sizes]


def _every_completion(sizes: list[int], left: list[int], room: int) -> list[Counter[int]]:
    copies = [range(n + 1) for n in left]
    found = []
    for take in itertools.product(*copies):
        if any(take) and sum(w * j for w, j in zip(sizes, take, strict=True)) == room:
            found.append(Counter({t: j for t, j in enumerate(take) if j}))
    return found


@settings(max_examples=examples(30), deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=7, unique=True),
    st.lists(st.integers(1, 3), min_size=7, max_size=7),
    st.integers(1, 60),
    st.none() | st.floats(0.0, 0.5),
)
def test_completions_are_every_exact_fill_fewest_items_first(
    widths: list[int], copies: list[int], room: int, split: float | None
) -> None:
    # a common split orders the pairs, and leaves none out
    sizes = sorted(widths, reverse=True)
    left = copies[: len(sizes)]
    found = list(fewest_items_completions(sizes, left, room, split=split))
    assert sorted(map(sorted, (c.items() for c in found))) == sorted(
        map(sorted, (c.items() for c in _every_completion(sizes, left, room)))
    )
    items = [sum(c.values()) for c in found]
    assert items == sorted(items)


def test_among_as_many_items_larger_items_come_first() -> None:
    found = list(fewest_items_completions([6, 5, 4, 3, 2, 1], [1] * 6, 7))
    assert found == [
        Counter({0: 1, 5: 1}),  # 6 + 1
        Counter({1: 1, 4: 1}),  # 5 + 2
        Counter({2: 1, 3: 1}),  # 4 + 3
        Counter({2: 1, 4: 1, 5: 1}),  # 4 + 2 + 1
    ]


def _split_rooms(bins: int, capacity: int, seed: int) -> list[int]:
    """Bins of an item above half the bin and two that fill its room, the smaller one a
    sixth of the room rounded down to an even size (as AI instances build their bins)."""
    rng = random.Random(seed)
    weights = []
    for _ in range(bins):
        room = rng.randint(capacity // 10, capacity // 2 - 1)
        low = room // 6 // 2 * 2
        weights += [capacity - room, room - low, low]
    return weights


def test_a_common_split_is_found_where_rooms_split_alike_only() -> None:
    sizes, counts = _types(_split_rooms(60, 4000, 0))
    split = common_split(sizes, counts, 4000)
    assert split is not None and abs(split - 1 / 6) < 0.01
    # perfect packings (pieces cut at random) and instances without items above half the bin
    for seed in range(1, 11):
        perfect = draw("perfect", seed, bins=[3, 120], capacity=[100, 100_000])
        sizes, counts = _types([w for (w,) in perfect.sizes])
        assert common_split(sizes, counts, perfect.capacity[0]) is None
    assert common_split([40, 30], [5, 10], 100) is None
    # an item as large as the bin leaves no room to split (it divided by zero)
    sizes, counts = _types([*_split_rooms(60, 4000, 0), 4000])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert common_split(sizes, counts, 4000) == common_split(
            *_types(_split_rooms(60, 4000, 0)), 4000
        )


def test_pairs_nearest_the_common_split_come_first() -> None:
    # room 60: 50 + 10 (a sixth) before 55 + 5 and 40 + 20; one item before any pair
    sizes = [60, 55, 50, 40, 20, 10, 5]
    found = list(fewest_items_completions(sizes, [1] * 7, 60, split=1 / 6))
    assert found[:4] == [
        Counter({0: 1}),
        Counter({2: 1, 5: 1}),
        Counter({1: 1, 6: 1}),
        Counter({3: 1, 4: 1}),
    ]
    unsplit = list(fewest_items_completions(sizes, [1] * 7, 60))
    assert unsplit[1] == Counter({1: 1, 6: 1})  # larger first without a split


def test_rooms_split_alike_are_filled_without_backtracking() -> None:
    # 30 bins split alike (seed 2): within no discrepancy, the pairs nearest the common
    # split fill every bin; by larger items first (no split) they lead nowhere
    sizes, counts = _types(_split_rooms(30, 1000, 2))
    found, _ = full_bins_by_discrepancy(sizes, counts, 1000, Deadline.never(), max_budget=0)
    assert found is not None and len(found) == 30
    assert all(sum(sizes[t] * j for t, j in b.items()) == 1000 for b in found)
    assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


def test_a_pass_out_of_budget_builds_no_sums_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where a level has used its budget, whether it has another completion is not asked: the
    # tables of sums of three items and more (seconds on 80,000-wide rooms) were built for
    # every room left on the way back; 30 bins split alike, seed 0: 20 tables, now 1.
    import solvers.packing.full_bins as full_bins

    built = [0]
    tables = full_bins._ExactSums.__init__

    def counted(self: object, *args: object) -> None:
        built[0] += 1
        tables(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(full_bins._ExactSums, "__init__", counted)
    sizes, counts = _types(_split_rooms(30, 1000, 0))
    full_bins_by_discrepancy(sizes, counts, 1000, Deadline.never(), max_budget=0)
    assert built[0] <= 1


def test_rooms_without_a_pair_near_the_split_are_opened_last() -> None:
    # 700 leaves 300 = 250 + 50 (a sixth) = 200 + 100; 601 leaves 399 = 340 + 59 only (59 is
    # 0.15 of it, 7 below a sixth: not near). By every pair 601 has the fewest fills; near
    # the split it has none and waits, and 700 opens.
    sizes = [700, 601, 340, 250, 200, 100, 59, 50]
    order = list(range(len(sizes)))
    assert _most_constrained_opener(sizes, [1] * 8, 1000, order) == 1
    assert _most_constrained_opener(sizes, [1] * 8, 1000, order, split=1 / 6) == 0


def test_a_random_perfect_packing_of_distinct_sizes_is_found() -> None:
    """128 items of 126 sizes filling 33 bins of 24,804 exactly (binpack-planted's perfect
    seed 31): depth-first bin completion and every model missed it in 10 s; this search
    finds it with a budget of one discrepancy (the generous deadline only guards a hang)."""
    instance = draw("perfect", 31, bins=[3, 120], capacity=[100, 100_000])
    assert instance.optimum == 33 and instance.capacity == (24_804,)
    sizes, counts = _types([w for (w,) in instance.sizes])
    found, _ = full_bins_by_discrepancy(sizes, counts, 24_804, Deadline.after(60.0))
    assert found is not None and len(found) == 33
    assert all(sum(sizes[t] * j for t, j in b.items()) == 24_804 for b in found)
    assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(1, 8), st.sampled_from([20, 100, 1000]), st.integers(0, 10_000))
def test_small_perfect_packings_are_found_every_time(bins: int, capacity: int, seed: int) -> None:
    weights = planted(bins, capacity, (2, 4), seed)
    random.Random(seed).shuffle(weights)
    sizes, counts = _types(weights)
    found, exhausted = full_bins_by_discrepancy(sizes, counts, capacity, Deadline.never())
    assert found is not None and not exhausted
    assert len(found) == bins
    assert all(sum(sizes[t] * j for t, j in b.items()) == capacity for b in found)
    assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


def test_an_exhausted_search_proves_no_bins_are_all_full() -> None:
    # 3 x 6 = 2 x 9, yet no subset of the sixes adds up to 9.
    assert full_bins_by_discrepancy([6], [3], 9, Deadline.never()) == (None, True)
    # Volume not a multiple of the capacity: nothing to search.
    assert full_bins_by_discrepancy([5, 4], [1, 1], 10, Deadline.never()) == (None, True)
    # 7+3, 6+4 and 5+5 fill bins of 10; 7 with 4 does not: a search must undo it.
    found, _ = full_bins_by_discrepancy([7, 6, 5, 4, 3], [1, 1, 2, 1, 1], 10, Deadline.never())
    assert found is not None and sorted(sorted(b.items()) for b in found) == [
        [(0, 1), (4, 1)],
        [(1, 1), (3, 1)],
        [(2, 2)],
    ]


def _expires_after(calls: int) -> Deadline:
    """A deadline that expires at its ``calls + 1``-th look (wherever the search looks)."""
    seen = [0]

    class Countdown(Deadline):
        def expired(self) -> bool:
            seen[0] += 1
            return seen[0] > calls

    return Countdown(math.inf)


@pytest.mark.parametrize("calls", range(12))
def test_a_search_cut_by_the_deadline_never_claims_exhaustion(calls: int) -> None:
    sizes, counts = _types(planted(4, 100, (2, 4), seed=3))
    found, exhausted = full_bins_by_discrepancy(sizes, counts, 100, _expires_after(calls))
    assert not exhausted  # the packing exists: only a cut search can miss it
    assert found is None or len(found) == 4


def test_the_search_gives_up_at_an_expired_deadline() -> None:
    sizes, counts = _types(planted(30, 10_000, (2, 5), seed=1))
    assert full_bins_by_discrepancy(sizes, counts, 10_000, Deadline.after(0)) == (None, False)


@settings(max_examples=examples(20), deadline=None)
@given(
    st.integers(1, 8), st.sampled_from([20, 100, 1000]), st.integers(0, 10_000), st.integers(1, 3)
)
def test_items_as_large_as_the_bin_take_a_bin_each(
    bins: int, capacity: int, seed: int, whole: int
) -> None:
    """An item as large as the bin is completed by no items at all (the completions started
    at one item: the search found none, called itself exhaustive and the bound rose above the
    optimum, so cpsat claimed 34 bins optimal where 33 suffice)."""
    weights = planted(bins, capacity, (2, 4), seed) + [capacity] * whole
    random.Random(seed).shuffle(weights)
    sizes, counts = _types(weights)
    found, exhausted = full_bins_by_discrepancy(sizes, counts, capacity, Deadline.never())
    assert found is not None and not exhausted
    assert len(found) == bins + whole
    assert all(sum(sizes[t] * j for t, j in b.items()) == capacity for b in found)
    assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


def test_no_false_optimum_with_items_as_large_as_the_bin() -> None:
    from engine.formats import packing_problem
    from engine.solve import solve

    weights = planted(30, 1000, (2, 5), 0) + [1000] * 3  # 33 bins, all full
    problem = packing_problem("whole", [1000], Counter((w,) for w in weights), {})
    plan = solve(problem, "cpsat", time_limit=30)
    assert plan.verified and plan.objective == (33.0,)
    assert plan.bound is not None and plan.bound[0] is not None and plan.bound[0] <= 33


def _has_full_packing(sizes: list[int], left: list[int], capacity: int) -> bool:
    """Brute force: the largest item left with each of its completions in turn."""
    first = next((t for t in range(len(sizes)) if left[t]), None)
    if first is None:
        return True
    left = list(left)
    left[first] -= 1
    for content in _every_completion(sizes, left, capacity - sizes[first]) or (
        [Counter()] if sizes[first] == capacity else []
    ):
        rest = [n - content[t] for t, n in enumerate(left)]
        if min(rest) >= 0 and _has_full_packing(sizes, rest, capacity):
            return True
    return False


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.integers(2, 15), min_size=1, max_size=12), st.integers(8, 16))
@example([8, 7, 5, 5, 5, 4, 3, 3, 2], 14)  # its first completions lead nowhere: rare at random
def test_exhaustion_agrees_with_brute_force(weights: list[int], capacity: int) -> None:
    # Pairs that fill a bin are fixed first (a dominance): an exhausted search must still
    # find a packing wherever one exists, and fill every bin of what it returns.
    weights = [min(w, capacity) for w in weights]
    if sum(weights) % capacity:
        weights.append(capacity - sum(weights) % capacity)
    sizes, counts = _types(weights)
    found, exhausted = full_bins_by_discrepancy(sizes, counts, capacity, Deadline.never())
    assert (found is not None) == _has_full_packing(sizes, counts, capacity)
    assert found is not None or exhausted
    if found is not None:
        assert all(sum(sizes[t] * j for t, j in b.items()) == capacity for b in found)
        assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


def test_the_room_with_the_fewest_small_fills_is_opened_first() -> None:
    # 70 leaves 30: {30}, {20, 10}, {25, 5}; 60 leaves 40: {30, 10}, {25, 15}: 60 goes first,
    # though smaller. Without items above half the bin, the largest item left opens it.
    sizes = [70, 60, 30, 25, 20, 15, 10, 5]
    order = list(range(len(sizes)))
    assert _most_constrained_opener(sizes, [1] * 8, 100, order) == 1
    assert _most_constrained_opener(sizes, [0, 0, 1, 1, 1, 1, 1, 1], 100, order) == 2
    # a room no one or two items fill comes last: 70 (30 = 25 + 5, gone) after 60 (25 + 15)
    assert _most_constrained_opener(sizes, [1, 1, 0, 1, 0, 1, 1, 0], 100, order) == 1


def test_the_fewest_fills_first_find_rooms_filled_by_pairs_without_backtracking() -> None:
    # Six bins, each an item above half the bin and two smaller ones (as AI instances): by
    # the rooms with the fewest fills first, the first completions fill every bin; largest
    # first, they lead nowhere within no discrepancy.
    weights = [72, 71, 66, 59, 55, 51, 34, 26, 25, 25, 24, 20, 18, 16, 16, 12, 7, 3]
    sizes, counts = _types(weights)
    found, _ = full_bins_by_discrepancy(sizes, counts, 100, Deadline.never(), max_budget=0)
    assert found is not None and len(found) == 6
    assert sum(found, Counter()) == Counter(dict(enumerate(counts)))


def test_random_ties_open_either_of_two_rooms_as_constrained() -> None:
    import numpy as np

    # 70 leaves 30 = 25 + 5, 60 leaves 40 = 35 + 5: one fill each, a tie
    sizes, left, order = [70, 60, 35, 25, 5], [1, 1, 1, 1, 1], [0, 1, 2, 3, 4]
    assert _most_constrained_opener(sizes, left, 100, order) == 0  # the larger one
    picked = {
        _most_constrained_opener(sizes, left, 100, order, np.random.default_rng(seed))
        for seed in range(20)
    }
    assert picked == {0, 1}


def test_passes_with_random_ties_only_where_rooms_can_tie(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import solvers.packing.full_bins as full_bins

    passes: list[bool] = []  # whether each pass breaks ties at random

    def counted(*args: object) -> tuple[object, bool]:
        passes.append(args[-1] is not None)
        return None, False

    monkeypatch.setattr(full_bins, "_pass", counted)
    # no item above half the bin: budgets 0, 1, 2 once each
    full_bins_by_discrepancy([40, 30], [5, 10], 100, Deadline.never(), max_budget=2)
    assert passes == [False] * 3
    passes.clear()
    full_bins_by_discrepancy([60, 40], [5, 5], 100, Deadline.never(), max_budget=2)
    assert passes == [False] + [False, True, True] * 2
