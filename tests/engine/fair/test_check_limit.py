"""placer fair --check keeps the command's time limit: a check cut short decides nothing and says so."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine import interrupt
from engine.cli import app
from engine.fair.drf import drf
from engine.fair.game import Stopped, profitable_misreport
from engine.fair.market import Market
from engine.fair.properties import CUT_SHORT, PROPERTIES, check_all, check_random, random_market
from engine.fair.report import fair_report
from engine.fair.welfare import proportional
from engine.io import load
from solvers.deadline import Deadline
from tests.engine.fair.test_game_limit import manipulable_market

runner = CliRunner()


@pytest.mark.parametrize("mechanism", [drf, proportional])
def test_a_spent_limit_leaves_every_check_undecided(mechanism) -> None:  # type: ignore[no-untyped-def]
    cut = check_all(mechanism, manipulable_market(), deadline=Deadline.after(0))
    assert set(cut) == set(PROPERTIES)
    for c in cut.values():
        assert c.ok is None and "cut short" in c.as_dict()["stopped"]
    whole = check_all(mechanism, manipulable_market(), deadline=Deadline.never())
    assert all(c.ok is not None and "stopped" not in c.as_dict() for c in whole.values())
    with pytest.raises(Stopped):
        profitable_misreport(mechanism, manipulable_market(), Deadline.after(0))


def test_random_checks_count_only_the_instances_checked_whole() -> None:
    made = 0

    def stop_at_fourth(rng: random.Random) -> Market:
        nonlocal made
        made += 1
        if made == 4:
            interrupt.request_stop()
        return random_market(rng)

    try:
        cut = check_random(
            proportional, instances=20, make=stop_at_fourth, deadline=Deadline.never()
        )
    finally:
        interrupt.reset()
    for c in cut.values():
        assert c.as_dict()["instances"] == 3
        assert "after 3 of 20 instances" in c.as_dict()["stopped"]
        assert c.ok is not None  # three markets were checked whole: that is evidence
    whole = check_random(proportional, instances=3)
    assert {n: c.ok for n, c in cut.items()} == {n: c.ok for n, c in whole.items()}
    none = check_random(drf, instances=20, deadline=Deadline.after(0))
    assert set(none) == set(PROPERTIES)
    assert all(c.ok is None and c.as_dict()["instances"] == 0 for c in none.values())


def test_report_and_cli_say_the_checks_were_cut_short(instances: Path, tmp_path: Path) -> None:
    problem = load(instances / "tenants-drf-paper.yaml")
    doc = fair_report(problem, "drf", check=True, time_limit=0)
    assert all(c["ok"] is None for n, c in doc["checks"].items() if n != "random")
    doc = fair_report(problem, "drf", check=True, time_limit=None)
    assert doc["checks"]["strategy_proof"]["ok"] is True
    assert doc["checks"]["random"]["envy_free"]["instances"] == 20
    # 8 tenants on 200 nodes: thousands of allocations for strategy-proofness alone
    market = tmp_path / "tenants.yaml"
    made = runner.invoke(
        app, ["generate", "tenants", "--tenants", "8", "--nodes", "200", "-o", str(market)]
    )
    assert made.exit_code == 0, made.output
    res = runner.invoke(app, ["fair", str(market), "--check", "-t", "0.001", "--json"])
    assert res.exit_code == 0, res.output
    checks = json.loads(res.output)["checks"]
    assert checks["strategy_proof"] == {"ok": None, "stopped": CUT_SHORT}
    table = runner.invoke(app, ["fair", str(market), "--check", "-t", "0.001"])
    assert table.exit_code == 0 and "cut short by the time" in table.output


def test_the_checks_leave_the_game_its_share(instances: Path) -> None:
    problem = load(instances / "tenants-drf-paper.yaml")
    # the paper instance's checks and game finish in well under a second: nothing is cut short
    doc = fair_report(problem, "drf", check=True, equilibrium=True, time_limit=60)
    assert doc["checks"]["strategy_proof"]["ok"] is True
    assert not doc["equilibrium"]["stopped"]
