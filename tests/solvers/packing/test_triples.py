"""Exact fills of three items a bin by belief propagation over the zero-waste triples."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from bench.planted import triplets
from solvers.deadline import Deadline
from solvers.packing.triples import (
    cover_by_decimation,
    likelihoods,
    three_item_bins,
    triple_packing,
    zero_waste_triples,
)


def test_three_item_bins_needs_every_size_strictly_between_a_quarter_and_a_half() -> None:
    assert three_item_bins([26, 30, 49], 100)
    assert not three_item_bins([25, 30, 45], 100)
    assert not three_item_bins([26, 30, 50], 100)


def test_zero_waste_triples_are_every_triple_adding_up_to_the_capacity() -> None:
    items = [30, 30, 40, 35, 34, 31]
    found = zero_waste_triples(items, 100, Deadline.never())
    assert found is not None
    assert sorted(map(tuple, found.tolist())) == [(0, 1, 2), (3, 4, 5)]


def test_the_unique_cover_is_likelier_than_a_triple_outside_it() -> None:
    # Items 0..5: the cover is {0,1,2} + {3,4,5}; {0,3,4} and {1,2,5} cover nothing together.
    triples = np.array([[0, 1, 2], [3, 4, 5], [0, 3, 4], [1, 2, 3]])
    odds = likelihoods(6, triples, np.zeros(triples.shape))
    assert min(odds[0], odds[1]) > max(odds[2], odds[3])


def test_decimation_covers_every_item_exactly_once() -> None:
    items = triplets(30, 20_000, seed=3)
    random.Random(3).shuffle(items)
    triples = zero_waste_triples(items, 20_000, Deadline.never())
    assert triples is not None
    cover = cover_by_decimation(len(items), triples, Deadline.never(), random.Random(0))
    assert cover is not None
    assert sorted(i for k in cover for i in triples[k].tolist()) == list(range(len(items)))


def test_triple_packing_fills_every_bin_exactly() -> None:
    counted = Counter(triplets(40, 30_000, seed=5))
    sizes = sorted(counted, reverse=True)
    counts = [counted[w] for w in sizes]
    packing = triple_packing(sizes, counts, 30_000, Deadline.never()).packing
    assert packing is not None and len(packing) == 40
    assert all(sum(sizes[t] * j for t, j in b.items()) == 30_000 for b in packing)
    assert sum(packing, Counter()) == Counter(dict(enumerate(counts)))


def test_triple_packing_gives_up_at_an_expired_deadline() -> None:
    counted = Counter(triplets(40, 30_000, seed=5))
    sizes = sorted(counted)
    found = triple_packing(sizes, [counted[w] for w in sizes], 30_000, Deadline.after(0))
    assert found.packing is None and not found.none_exists
