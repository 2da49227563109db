"""``placer migrate -t``: the search leaves the independent check its share of the limit, and a
check the time cut short is said to be one ("not checked"), never passed off as valid."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import engine.migrate.run as run_module
from engine.migrate.check import check_plan
from engine.migrate.model import SequenceStatus
from engine.migrate.run import migrate
from engine.migrate.search import Planner

from ..test_cli import run
from .scenarios import swap
from .test_cli import _files


def test_the_search_is_handed_the_limit_less_the_checks_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[float | None] = []
    real = Planner.run

    def recorded(self: Planner, time_limit: float | None = None) -> Any:
        given.append(time_limit)
        return real(self, time_limit)

    monkeypatch.setattr(Planner, "run", recorded)
    monkeypatch.setattr(run_module, "check_inputs", lambda *_: 1.0)  # judging one state: 1 s
    p, t = swap()
    plan = migrate(p, t, time_limit=100.0)
    assert plan.status == SequenceStatus.OPTIMAL and plan.info["checked"] is True
    # a lower bound of 1 step: the check keeps back 1 s (the start) + 1/4 s (its step)
    assert given and given[0] is not None and given[0] <= 100.0 - 1.25


def _cut_check(*args: Any, **kwargs: Any) -> list[str]:
    return check_plan(*args, **{**kwargs, "deadline": 0.0})  # the time is up at its first step


def test_a_check_cut_short_is_not_called_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "check_plan", _cut_check)
    p, t = swap()
    plan = migrate(p, t, time_limit=30.0)
    assert plan.info["checked"] is False and plan.steps
    assert plan.info["note"].startswith("not checked: ") and "0 of 1 step(s)" in plan.info["note"]


def test_the_command_says_not_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "check_plan", _cut_check)
    prob, plan = _files(tmp_path, swap())
    code, out, err = run(["migrate", str(prob), str(plan), "-t", "30"], capsys)
    assert code == 0, err
    assert "NOT checked" in out and "not checked: the time limit ran out" in out
    assert "checked step by step" not in out


def test_no_search_is_set_up_without_the_time_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search's set-up looks at no deadline (3,000 nodes: 2.5 s at load 19): with less
    left than a few times judging the start took, it is not begun and the answer says why."""

    def no_planner(*_: Any, **__: Any) -> None:
        raise AssertionError("the search was set up without time for it")

    monkeypatch.setattr(run_module, "check_inputs", lambda *_: 1.0)  # judging one state: 1 s
    monkeypatch.setattr(run_module, "Planner", no_planner)
    p, t = swap()
    plan = migrate(p, t, time_limit=2.0)
    assert plan.status == SequenceStatus.UNKNOWN and not plan.steps
    assert plan.info["reason"].startswith("time limit reached before the search began")


def test_the_inputs_are_not_checked_without_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading 3,000 nodes' files at a fifth of a core took the whole `-t 10`, and checking
    them (1.5-3.5 s more there) looks at no deadline: with nothing left it is not begun, and
    the start is not judged once checking the target took the rest."""
    from engine.migrate import check as check_module

    def no_verify(*_: Any, **__: Any) -> None:
        raise AssertionError("the inputs were checked with no time left")

    p, t = swap()
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "verify", no_verify)
        plan = migrate(p, t, time_limit=0.05)
    assert plan.status == SequenceStatus.UNKNOWN and not plan.steps
    assert plan.info["reason"] == "time limit reached before the inputs were checked"

    real = run_module.verify

    def slow_verify(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # the target's check took the time left
        return real(*args, **kwargs)

    def no_judge(*_: Any, **__: Any) -> None:
        raise AssertionError("the start was judged past the deadline")

    monkeypatch.setattr(run_module, "verify", slow_verify)
    monkeypatch.setattr(check_module, "StateJudge", no_judge)
    monkeypatch.setattr(run_module, "StateJudge", no_judge)
    plan = migrate(p, t, time_limit=0.2)
    assert plan.info["reason"] == "time limit reached before the inputs were checked"
