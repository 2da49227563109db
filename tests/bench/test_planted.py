"""Generated packings with a known optimum (``bench.planted``) and the suite kind that runs them:
every planted bin full (so the planted count is the optimum), the same instance in every process,
and a suite that says what is wrong with a kind, key or name it does not know."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.planted import KINDS, draw
from bench.suites import build_problem, load_suite
from engine.errors import InputError
from tests.profiles import examples


@settings(max_examples=examples(40), deadline=None)
@given(st.sampled_from(sorted(KINDS)), st.integers(0, 10_000), st.sampled_from([2, 3, 5]))
def test_every_planted_bin_is_full_so_the_count_is_the_optimum(
    kind: str, seed: int, d: int
) -> None:
    params = {"bins": [3, 40], "capacity": [100, 5000], "d": d}
    if kind in ("perfect", "triplets"):
        del params["d"]
    instance = draw(kind, seed, **params)
    assert 3 <= instance.optimum <= 40
    for k, capacity in enumerate(instance.capacity):
        assert 100 <= capacity <= 5000
        # The volume bound equals the planted count: no packing uses fewer bins.
        assert sum(row[k] for row in instance.sizes) == instance.optimum * capacity
        assert all(0 < row[k] < capacity for row in instance.sizes)
    problem = instance.problem()
    assert sum(g.count for g in problem.items) == len(instance.sizes)
    assert problem.meta["planted_bins"] == instance.optimum


def test_a_draw_depends_only_on_kind_seed_and_ranges() -> None:
    a = draw("perfect", 7, bins=[3, 120], capacity=[100, 100_000])
    assert a == draw("perfect", 7, bins=[3, 120], capacity=[100, 100_000])
    assert a != draw("perfect", 8, bins=[3, 120], capacity=[100, 100_000])
    assert draw("triplets", 1, bins=10, capacity=1000).optimum == 10


def _suite(tmp_path: Path, instances: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: t\nbackends: [greedy]\ninstances:\n{instances}", encoding="utf-8")
    return path


def test_a_planted_source_gives_its_optimum_as_the_best_known(tmp_path: Path) -> None:
    body = """  - planted: triplets
    params: {bins: [3, 9], capacity: [100, 1000]}
    seeds: 3
  - planted: vectors
    params: {bins: 4, capacity: 100, d: 2}
    seeds: [5]
"""
    suite = load_suite(str(_suite(tmp_path, body)))
    names = [c.instance for c in suite.cases]
    assert names == ["triplets-s1", "triplets-s2", "triplets-s3", "vectors-d2-s5"]
    for case in suite.cases:
        assert case.optimal_known and case.best_known is not None
        problem = build_problem(case)
        assert problem.meta["planted_bins"] == case.best_known
    assert suite.cases[-1].best_known == 4


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("  - planted: perfekt\n    params: {bins: 3, capacity: 100}\n", "unknown planted kind"),
        ("  - planted: vectors\n    params: {bins: 3, capacity: 100}\n", "missing: ['d']"),
        ("  - planted: triplets\n    params: {bins: 3, capacity: 50}\n", "at least 66"),
        ("  - planted: perfect\n    parms: {bins: 3}\n", "unknown key(s) ['parms']"),
        ("  - bpplib: x/*.txt\n    best_knwon: {}\n", "unknown key(s) ['best_knwon']"),
        ("  - planted_vectors: {}\n", "give exactly one of"),
        (
            "  - planted: perfect\n    params: {bins: 3, capacity: 100}\n" * 2,
            "instance names given twice",
        ),
    ],
)
def test_unknown_kinds_keys_and_twice_given_names_are_errors(
    tmp_path: Path, body: str, says: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_suite(str(_suite(tmp_path, body)))
    assert says in str(caught.value)


def test_the_shipped_planted_suites_parse() -> None:
    for name in ("binpack-planted", "binpack-planted-heldout", "vbp-planted"):
        suite = load_suite(name)
        assert suite.cases and all(c.optimal_known for c in suite.cases)
    assert len(load_suite("binpack-planted").cases) == 100
