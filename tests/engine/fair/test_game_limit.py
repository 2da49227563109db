"""The declaration game keeps the command's time limit and stops on Ctrl-C with what it reached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine import interrupt
from engine.cli import app
from engine.fair.drf import drf
from engine.fair.game import best_response_dynamics
from engine.fair.market import Market
from engine.fair.report import fair_report
from engine.fair.welfare import proportional
from engine.io import load
from solvers.deadline import Deadline

runner = CliRunner()


def manipulable_market() -> Market:
    # proportional is manipulable here: the game moves, so it needs several best responses
    return Market.build(
        {"cpu": 9, "mem": 18},
        [("a", "A", {"cpu": 1, "mem": 4}, 3), ("b", "B", {"cpu": 3, "mem": 1}, 3)],
    )


@pytest.mark.parametrize("mechanism", [drf, proportional])
def test_a_spent_limit_stops_before_any_best_response(mechanism) -> None:  # type: ignore[no-untyped-def]
    market = manipulable_market()
    eq = best_response_dynamics(mechanism, market, deadline=Deadline.after(0))
    assert eq.stopped and not eq.converged and eq.best_responses == 0
    assert not eq.liars(market)  # the truthful start, where it was when the time ran out
    whole = best_response_dynamics(mechanism, market)
    assert not whole.stopped and whole.best_responses >= len(market.active_tenants)


def test_a_stop_request_ends_the_game_at_the_next_declaration() -> None:
    market = manipulable_market()
    turns: list[tuple[int, int, int]] = []

    def stop_at_second_tenant(round_: int, tenant: int, tenants: int) -> None:
        turns.append((round_, tenant, tenants))
        if tenant == 1:
            interrupt.request_stop()

    try:
        eq = best_response_dynamics(
            proportional, market, deadline=Deadline.never(), on_turn=stop_at_second_tenant
        )
    finally:
        interrupt.reset()
    assert eq.stopped and eq.best_responses == 1
    assert turns == [(1, 0, 2), (1, 1, 2)]


def test_report_and_cli_say_the_game_was_cut_short(instances: Path, tmp_path: Path) -> None:
    problem = load(instances / "tenants-drf-paper.yaml")
    doc = fair_report(problem, "proportional", equilibrium=True, time_limit=0)
    assert doc["equilibrium"]["stopped"] and not doc["equilibrium"]["converged"]
    doc = fair_report(problem, "proportional", equilibrium=True, time_limit=None)
    assert not doc["equilibrium"]["stopped"]
    # 8 tenants: about 500 allocations in a round, far more than the 0.05 s the CLI's least
    # budget allows
    market = tmp_path / "tenants.yaml"
    made = runner.invoke(
        app, ["generate", "tenants", "--tenants", "8", "--nodes", "200", "-o", str(market)]
    )
    assert made.exit_code == 0, made.output
    res = runner.invoke(app, ["fair", str(market), "--equilibrium", "-t", "0.001"])
    assert res.exit_code == 0, res.output
    assert "stopped by the time limit" in res.output


def test_the_utilitarian_optimum_is_solved_within_the_limit(
    instances: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--equilibrium's utilitarian MILP had no limit of its own; it gets a share of the time
    left, and an optimum it did not prove is not reported (nor a price of anarchy from it)."""
    from engine.fair import report
    from engine.fair.market import Allocation

    given: list[float | None] = []
    real = report.utilitarian

    def recorded(market: Market, *, time_limit: float | None = None) -> Allocation:
        given.append(time_limit)
        return real(market, time_limit=time_limit)

    monkeypatch.setattr(report, "utilitarian", recorded)
    problem = load(instances / "tenants-drf-paper.yaml")
    doc = fair_report(problem, "proportional", equilibrium=True, time_limit=10)
    assert given[0] is not None and 0 < given[0] <= 10 * report.OPTIMUM_SHARE
    assert doc["equilibrium"]["utilitarian_optimum"] is not None  # proved at once here
    assert doc["equilibrium"]["price_of_anarchy"] >= 1

    def unproved(market: Market, *, time_limit: float | None = None) -> Allocation:
        found = real(market, time_limit=time_limit)
        return Allocation(market, found.tasks, found.mechanism, {**found.info, "optimal": False})

    monkeypatch.setattr(report, "utilitarian", unproved)
    doc = fair_report(problem, "proportional", equilibrium=True, time_limit=10)
    assert doc["equilibrium"]["utilitarian_optimum"] is None
    assert doc["equilibrium"]["price_of_anarchy"] is None


def test_a_welfare_milp_given_no_time_is_still_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit of 0 s was taken for none (``if time_limit``): HiGHS ran to the optimum."""
    import scipy.optimize

    from engine.fair import welfare

    calls: list[dict[str, Any]] = []
    real_milp = scipy.optimize.milp

    def recorded(*args: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        calls.append(dict(options or {}))
        return real_milp(*args, options=options, **kwargs)

    monkeypatch.setattr(scipy.optimize, "milp", recorded)
    welfare.utilitarian(manipulable_market(), time_limit=0.0)
    welfare.nash(manipulable_market(), time_limit=None)
    assert calls[0]["time_limit"] == welfare.MIN_SECONDS
    assert "time_limit" not in calls[1]
