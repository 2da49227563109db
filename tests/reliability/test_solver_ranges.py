"""Numbers at the edge of what each backend represents: a plan that is verified, or one line that
says why not (exit 2) — never an overflow traceback, a protobuf dump or a false claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import PlacerError
from engine.io import dump_problem
from engine.ir import Problem
from engine.limits import quantity_out_of_range
from engine.solution import Status
from engine.solve import solve

BACKENDS = ["cpsat", "milp", "greedy", "qubo"]


def tiers(classes: int, count: int, objective: list[Any]) -> Problem:
    """``classes`` priority classes of ``count`` pods each: priority weights grow as count^classes."""
    return Problem.model_validate(
        {
            "bins": [{"name": f"n{i}", "capacity": {"cpu": "8"}} for i in range(4)],
            "items": [
                {
                    "name": f"g{p}",
                    "count": count,
                    "demand": {"cpu": "1"},
                    "priority": p,
                    "cost": {"n0": 1.5},
                }
                for p in range(classes)
            ],
            "objective": objective,
        }
    )


def huge(objective: list[Any]) -> Problem:
    """Capacities and demands near 2^53 base units, coprime (no common divisor helps)."""
    return Problem.model_validate(
        {
            "bins": [
                {
                    "name": f"n{i}",
                    "capacity": {"cpu": str(2**53 // 1000 - i), "memory": str(2**53 - 7 * i)},
                }
                for i in range(4)
            ],
            "items": [
                {
                    "name": f"g{p}",
                    "count": 3,
                    "demand": {"cpu": f"{2**40 + p}m", "memory": str(2**50 + 3 * p)},
                    "tenant": "t",
                }
                for p in range(4)
            ],
            "tenants": [{"name": "t"}],
            "objective": objective,
        }
    )


CASES = {
    "10 priority tiers mixed with cost": tiers(10, 1000, [{"placed": 1, "cost": 0.1}]),
    "huge quantities, bins_used": huge(["placed", {"bins_used": 1}]),
    "huge quantities, balance": huge(["placed", "balance"]),
    "huge quantities, fairness": huge(["placed", "fairness"]),
    "huge quantities, cost": huge(["placed", {"cost": 1}]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_verified_plan_or_one_clear_refusal(name: str, backend: str) -> None:
    problem = CASES[name]
    try:
        plan = solve(problem, backend, time_limit=5, max_variables=100_000)
    except PlacerError as exc:
        assert "\n" not in str(exc)
        assert "Traceback" not in str(exc)
        return
    assert plan.status.has_plan and plan.verified, plan.info
    assert plan.status in (Status.OPTIMAL, Status.FEASIBLE)


def test_the_refusals_name_what_to_change() -> None:
    with pytest.raises(PlacerError, match="level of its own"):
        solve(CASES["10 priority tiers mixed with cost"], "cpsat", time_limit=5)
    with pytest.raises(PlacerError, match="level of its own"):
        solve(CASES["10 priority tiers mixed with cost"], "milp", time_limit=5)
    with pytest.raises(PlacerError, match="larger units"):
        solve(CASES["huge quantities, balance"], "cpsat", time_limit=5)
    with pytest.raises(PlacerError, match="larger units"):
        solve(CASES["huge quantities, fairness"], "cpsat", time_limit=5)
    with pytest.raises(PlacerError, match="larger units"):
        solve(CASES["huge quantities, bins_used"], "milp", time_limit=5)


def test_placed_in_its_own_level_solves_the_same_tiers(tmp_path: Path) -> None:
    """The advice works: placed first (tier by tier), then the cost."""
    plan = solve(tiers(10, 1000, ["placed", {"cost": 0.1}]), "cpsat", time_limit=20)
    assert plan.verified and plan.status == Status.OPTIMAL


def test_on_the_command_line_it_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    dump_problem(CASES["huge quantities, fairness"], path)
    with pytest.raises(SystemExit) as exit_info:
        main(["solve", str(path), "-t", "5", "-o", str(tmp_path / "plan.json")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("placer: error:")
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize(
    "amount",
    [2**53 + 1, int(1.7e308) * 1000, 10**5000, -(10**400)],
    ids=["2^53+1", "beyond-double", "5000-digits", "negative-400-digits"],
)
def test_a_quantity_beyond_a_double_is_refused_in_one_line(amount: int) -> None:
    """Formatting the refusal must not overflow itself (a float too large for a double)."""
    reason = quantity_out_of_range("cpu", amount)
    assert reason is not None and "out of range" in reason and "\n" not in reason
