"""Constraint kinds come from the IR, and every backend encodes every kind it claims: the
conformance kit fails a backend that supports a kind without an encoder for it."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import given, settings

from bench.strategies import problems
from engine.errors import PlacerError
from engine.ir import CONSTRAINT_KINDS, CONSTRAINT_TYPES, FEATURES, ConstraintBase, Problem
from engine.solution import Solution
from solvers import registry
from solvers.base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from solvers.testing import assert_backend_api
from tests.profiles import examples


def test_kinds_and_features_come_from_the_ir_union() -> None:
    assert set(CONSTRAINT_KINDS.values()) == set(CONSTRAINT_TYPES)
    assert set(CONSTRAINT_KINDS) <= FEATURES
    assert ALL_FEATURES == FEATURES


@settings(max_examples=examples(40), deadline=None)
@given(p=problems(max_bins=3, max_groups=3, max_count=2))
def test_a_problem_names_only_known_features(p: Problem) -> None:
    assert p.features() <= FEATURES


@pytest.mark.parametrize("name", registry.names())
def test_every_supported_kind_has_an_encoder(name: str) -> None:
    backend = registry.get(name)
    for kind, cls in CONSTRAINT_KINDS.items():
        if kind in backend.supports:
            assert cls in backend.encoders, f"{name}: {kind}"


class Fancy(ConstraintBase):
    """A constraint kind added to the IR without any backend learning it."""

    kind: Literal["fancy"]


class Forgetful(Backend):
    name = "forgetful"
    supports = ALL_FEATURES

    def compile(self, problem: Problem, options: Options) -> Compiled[None, None]:
        return Compiled(problem, None, None)

    def run(self, compiled: Compiled[Any, Any], options: Options) -> RawResult:
        raise AssertionError("never reached")

    def decode(self, compiled: Compiled[Any, Any], raw: RawResult) -> Solution:
        raise AssertionError("never reached")


def test_a_kind_without_an_encoder_fails_the_conformance_kit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What happens when a kind joins the IR: every backend claiming it must encode it."""
    from solvers import testing

    monkeypatch.setitem(CONSTRAINT_KINDS, "fancy", Fancy)
    monkeypatch.setattr(testing, "CONSTRAINT_KINDS", CONSTRAINT_KINDS)
    be = Forgetful()
    be.supports = ALL_FEATURES | {"fancy"}
    be.encoders = {cls: None for cls in CONSTRAINT_TYPES}  # every kind but the new one
    with pytest.raises(AssertionError, match="fancy"):
        assert_backend_api(be)
    for name in ("cpsat", "milp", "greedy"):  # they claim every feature
        shipped = registry.get(name)
        shipped.supports = shipped.supports | {"fancy"}
        with pytest.raises(AssertionError, match="fancy"):
            assert_backend_api(shipped)


@pytest.mark.parametrize("name", ["cpsat", "milp", "qubo", "greedy"])
def test_a_model_meeting_a_kind_without_an_encoder_says_so(name: str) -> None:
    """Dispatch tables fail loudly: no silent drop, no crash deep inside a model."""
    p = Problem.model_construct(
        name="fancy",
        bins=(),
        items=(),
        constraints=(Fancy.model_construct(kind="fancy"),),
        objective=({"placed": 1.0},),
        tenants=(),
        traffic=(),
        delays={},
        meta={},
    )
    backend = registry.get(name)
    with pytest.raises(PlacerError, match="fancy"):
        backend.solve(p, Options(time_limit=2.0))
