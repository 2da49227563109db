"""A HiGHS stage ends on its limit: copying the model into HiGHS counts against the stage's
limit, and a run past its own limit is told to stop right away (a full second of grace, CBC's,
let a 5 s milp solve end at 5.7-6.7 s on a planted perfect packing at load 4)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import Any

import pulp
import pytest

from solvers.milp import drivers
from solvers.milp.drivers import HighsSession, RunSettings, Stages

SETTINGS = RunSettings(solver="highs", time_limit=None, threads=1, seed=0)


def _partition(n: int = 80, seed: int = 0) -> tuple[pulp.LpProblem, pulp.LpAffineExpression]:
    """Number partitioning of ``n`` 12-digit numbers as a MIP: its LP bound is 0 and HiGHS
    searches for many seconds before it finds a partition that meets it."""
    rng = random.Random(seed)
    sizes = [rng.randrange(10**11, 10**12) for _ in range(n)]
    lp = pulp.LpProblem("partition", pulp.LpMinimize)
    x = [pulp.LpVariable(f"x{i}", cat=pulp.LpBinary) for i in range(n)]
    gap = pulp.LpVariable("gap", lowBound=0)
    side = pulp.lpSum(s * v for s, v in zip(sizes, x, strict=True))
    lp += side - sum(sizes) // 2 <= gap
    lp += sum(sizes) // 2 - side <= gap
    return lp, pulp.LpAffineExpression([(gap, 1.0)])


class _Told(threading.Event):
    """The stop flag of a session, remembering when it was first raised."""

    at: float | None = None

    def set(self) -> None:
        if self.at is None:
            self.at = time.monotonic()
        super().set()


def test_a_run_past_its_limit_is_told_to_stop_right_away() -> None:
    lp, objective = _partition()
    session = HighsSession(lp, SETTINGS)
    session.objective(objective)
    session.h.setOptionValue("time_limit", session.hs.kHighsInf)  # only placer can stop it now
    session.stop = told = _Told()
    began = time.monotonic()
    session._run(0.3)
    ended = time.monotonic()
    assert told.at is not None, f"HiGHS finished in {ended - began:.2f} s: too easy to test"
    # told at the limit, a short grace and the poll (0.1 + 0.05 s, with room for a busy
    # machine's late wake-up), not a second later
    assert told.at - began <= 0.3 + 0.45


def test_copying_the_model_into_highs_counts_against_the_stage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy_seconds = 0.4
    limits: list[float | None] = []
    build, run = HighsSession.__init__, HighsSession._run

    def slow_build(self: HighsSession, *args: Any) -> None:
        build(self, *args)
        time.sleep(copy_seconds)  # a large model's copy under load

    def recorded_run(self: HighsSession, limit: float | None) -> bool:
        limits.append(limit)
        return run(self, limit)

    monkeypatch.setattr(HighsSession, "__init__", slow_build)
    monkeypatch.setattr(HighsSession, "_run", recorded_run)
    lp, objective = _partition(n=8)
    Stages(lp, SETTINGS).solve(objective, time_limit=1.0, start=None)
    assert limits and limits[0] is not None
    assert limits[0] <= 1.0 - copy_seconds

    limits.clear()  # a stage left with no time after the copy does not run HiGHS at all
    result = Stages(lp, SETTINGS).solve(objective, time_limit=0.2, start=None)
    assert not limits and result.outcome == "none"


@pytest.mark.parametrize(
    ("slowdown", "expected"), [(1.0, 2.9), (2.0, 2.8), (5.0, 2.7), (50.0, 2.7)]
)
def test_highs_stops_early_by_its_reaction_time_at_todays_speed(
    monkeypatch: pytest.MonkeyPatch, slowdown: float, expected: float
) -> None:
    """HiGHS answers its limit only between steps (0.5 s late at load 9): it gets 0.1 s less
    for each unit of slowdown, never more than a tenth of its stage."""
    limits: list[float | None] = []
    run = HighsSession._run

    def recorded_run(self: HighsSession, limit: float | None) -> bool:
        limits.append(limit)
        return run(self, limit)

    monkeypatch.setattr(HighsSession, "_run", recorded_run)
    monkeypatch.setattr(drivers, "slowdown", lambda: slowdown)
    lp, objective = _partition(n=8)
    session = HighsSession(lp, SETTINGS)
    session.objective(objective)
    session.solve(replace(SETTINGS, time_limit=3.0), None)
    assert limits[0] == pytest.approx(expected)
