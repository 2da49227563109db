"""Backend parameters: unknown names and values of the wrong type are refused before solving."""

from __future__ import annotations

import pytest

from engine.errors import PlacerError
from engine.solve import solve
from solvers import registry

from ..cases import bins, group, problem


@pytest.mark.parametrize(
    ("backend", "params", "message"),
    [
        ("qubo", {"num_reads": "abc"}, "num_reads expects an integer, got 'abc'"),
        ("qubo", {"num_reads": True}, "num_reads expects an integer"),
        ("milp", {"warm_start": "yes"}, "warm_start expects true or false"),
        ("milp", {"gap": "small"}, "gap expects a number"),
        ("greedy", {"scoring": 3}, "scoring expects a string"),
        ("cpsat", {"log": "notabool"}, "log expects true or false"),
        ("cpsat", {"linearization_level": 1.5}, "linearization_level expects an integer"),
        ("greedy", {"nope": 1}, "does not take parameter(s) nope"),
    ],
)
def test_bad_parameters_are_refused(backend: str, params: dict[str, object], message: str) -> None:
    if backend not in registry.available():
        pytest.skip(f"{backend} unavailable")
    p = problem(bins(1), [group("web", 1)])
    with pytest.raises(PlacerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        solve(p, backend, time_limit=2, **params)


def test_numbers_are_accepted_for_float_parameters() -> None:
    p = problem(bins(1), [group("web", 1)])
    assert solve(p, "milp", time_limit=5, gap=0).verified
