"""The hypothesis profiles: the fast one runs a share of every property, the full one all of it,
and every property names its count through ``examples`` (a literal count would run whole in
``make test``)."""

from __future__ import annotations

import re
from pathlib import Path

from .profiles import FAST, FULL, examples

TESTS = Path(__file__).resolve().parent
LITERAL_COUNT = re.compile(r"max_examples\s*=\s*\d")


def test_the_fast_profile_runs_a_share_at_least_a_few_and_never_more() -> None:
    assert [examples(n, FAST) for n in (100, 40, 12, 5, 3, 1)] == [25, 10, 4, 4, 3, 1]
    assert [examples(n, FULL) for n in (100, 40, 12, 5, 3, 1)] == [100, 40, 12, 5, 3, 1]


def test_every_property_names_its_count_through_examples() -> None:
    literal = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LITERAL_COUNT.search(line)
    ]
    assert literal == [], "write max_examples=examples(n) (tests/profiles.py)"
