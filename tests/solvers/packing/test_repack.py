"""Bin elimination (``solvers.packing.repack``): packings that stay valid and never grow, the
optimum of a planted instance that first-fit decreasing misses by three bins, and a deadline
that holds on hundreds of items."""

from __future__ import annotations

import random
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.planted import planted_vectors
from solvers.deadline import Deadline
from solvers.packing.heuristics import first_fit_decreasing
from solvers.packing.repack import eliminate_bins
from solvers.packing.vector import check_vector_packing, vector_lower_bound
from tests.profiles import examples

from ...timing import held


def planted_with_slack(bins: int, capacity: int, d: int, seed: int) -> list[list[int]]:
    """Each bin filled to 90–100 % in every dimension by 2–4 items, shuffled."""
    return planted_vectors(bins, capacity, d, seed, fill=(0.9, 1.0), shuffle=True)


def test_bin_elimination_reaches_a_planted_optimum_first_fit_decreasing_misses() -> None:
    items = planted_with_slack(30, 100, 3, seed=1)
    counts = [1] * len(items)
    ffd = first_fit_decreasing(items, counts, [100] * 3)
    assert len(ffd) == 33
    # The search is deterministic for its seed: the deadline only guards against a hang.
    out = eliminate_bins(np.array(items), [100] * 3, ffd, 30, Deadline.after(120), random.Random(0))
    assert check_vector_packing(out, items, counts, [100] * 3)
    assert len(out) == 30


@settings(max_examples=examples(15), deadline=None)
@given(
    st.integers(2, 4),
    st.lists(st.integers(1, 3), min_size=3, max_size=40),
    st.integers(0, 10_000),
)
def test_bin_elimination_keeps_every_item_and_never_adds_a_bin(
    d: int, counts: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    capacity = [rng.choice([10, 100, 1000]) for _ in range(d)]
    sizes = [[rng.randint(1, c * 2 // 3) for c in capacity] for _ in counts]
    start = first_fit_decreasing(sizes, counts, capacity)
    bound = vector_lower_bound(sizes, counts, capacity)
    out = eliminate_bins(
        np.array(sizes), capacity, start, bound, Deadline.after(0.3), random.Random(seed)
    )
    assert check_vector_packing(out, sizes, counts, capacity)
    assert bound <= len(out) <= len(start)


def test_bin_elimination_holds_its_deadline_on_hundreds_of_items() -> None:
    rng = random.Random(4)
    sizes = [[rng.randint(20, 100) for _ in range(5)] for _ in range(600)]
    counts = [1] * len(sizes)
    start = first_fit_decreasing(sizes, counts, [150] * 5)
    began = time.perf_counter()
    out = eliminate_bins(np.array(sizes), [150] * 5, start, 1, Deadline.after(0.5), rng)
    assert held(0.5, time.perf_counter() - began), time.perf_counter() - began
    assert check_vector_packing(out, sizes, counts, [150] * 5)
