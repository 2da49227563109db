"""The step-by-step checker: every kind of broken sequence is caught and named by its step."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InputError
from engine.migrate.check import check_plan
from engine.migrate.model import MigrationPlan, SequenceStatus, plan_from_dict
from engine.migrate.run import migrate

from ...cases import bins, group, problem
from .scenarios import swap, target


def _plan(name: str, steps: list[dict[str, Any]]) -> MigrationPlan:
    return plan_from_dict(
        {"kind": "MigrationPlan", "problem": name, "status": "feasible", "steps": steps}, "<test>"
    )


def _row(item: str, bin_: str, count: int = 1) -> dict[str, Any]:
    return {"item": item, "bin": bin_, "count": count}


def test_a_valid_swap_passes() -> None:
    p, t = swap()
    plan = _plan(
        "swap",
        [{"evict": [_row("a", "n0"), _row("b", "n1")], "bind": [_row("a", "n1"), _row("b", "n0")]}],
    )
    assert check_plan(p, t.counts(), plan) == []


def test_capacity_broken_in_an_intermediate_state() -> None:
    p, t = swap(budget=None)
    plan = _plan(
        "swap",
        [
            {"evict": [_row("a", "n0")], "bind": [_row("a", "n1")]},  # n1 still holds b
            {"evict": [_row("b", "n1")], "bind": [_row("b", "n0")]},
        ],
    )
    found = check_plan(p, t.counts(), plan)
    assert len(found) == 1 and found[0].startswith("step 1: capacity: n1")


def test_a_budget_overrun_is_caught() -> None:
    p = problem(
        bins(2, cpu="4"),
        [group("web", 3, cpu="1", placed={"n0": 3}, movable=True)],
        disruption_budgets=[{"selector": {"app": "web"}, "max_unavailable": "34%"}],  # ceil(1.02)=2
    )
    t = target(p, {("web", "n1"): 3})
    two = _plan(
        "case",
        [
            {"evict": [_row("web", "n0", 2)], "bind": [_row("web", "n1", 2)]},
            {"evict": [_row("web", "n0")], "bind": [_row("web", "n1")]},
        ],
    )
    assert check_plan(p, t.counts(), two) == []
    three = _plan("case", [{"evict": [_row("web", "n0", 3)], "bind": [_row("web", "n1", 3)]}])
    (why,) = check_plan(p, t.counts(), three)
    assert why == (
        "step 1: evicts 3 item(s) of disruption budget disruption_budgets[0], which allows 2 "
        "(3 running, 1 must stay up)"
    )


def test_missing_items_wrong_goal_and_pinned_items() -> None:
    p = problem(
        bins(2, cpu="4"),
        [group("web", 1, placed={"n0": 1}, movable=True), group("db", 1, placed={"n1": 1})],
    )
    t = target(p, {("web", "n1"): 1, ("db", "n1"): 1})
    ghost = _plan("case", [{"evict": [_row("web", "n1")], "bind": [_row("web", "n0")]}])
    found = check_plan(p, t.counts(), ghost)
    assert found[0] == "step 1: evicts 1 web from n1, which holds 0"
    assert found[-1].startswith("after the last step web has")
    pinned = _plan(
        "case",
        [
            {
                "evict": [_row("web", "n0"), _row("db", "n1")],
                "bind": [_row("web", "n1"), _row("db", "n0")],
            },
            {"evict": [_row("db", "n0")], "bind": [_row("db", "n1")]},
        ],
    )
    assert any("pinned" in v and v.startswith("step 1") for v in check_plan(p, t.counts(), pinned))


def test_malformed_plans_are_input_errors() -> None:
    p, t = swap()
    with pytest.raises(InputError, match=r"steps\[0\]\.bind\[0\]\.item: unknown item 'zz'"):
        check_plan(p, t.counts(), _plan("swap", [{"bind": [_row("zz", "n0")]}]))
    with pytest.raises(InputError, match="not 'swap'"):
        check_plan(p, t.counts(), _plan("other", []))
    with pytest.raises(
        InputError, match=r"steps\[0\]\.evict\[0\]\.count: Input should be greater than 0"
    ):
        _plan("swap", [{"evict": [_row("a", "n0", -1)]}])
    with pytest.raises(InputError, match="kind: MigrationPlan"):
        plan_from_dict({"kind": "Solution"}, "<test>")


def test_the_checker_is_not_fooled_by_the_search() -> None:
    # a sequence the search produced, then tampered with: two steps merged break the budget
    p = problem(
        bins(2, cpu="4"),
        [group("web", 2, cpu="1", placed={"n0": 2}, movable=True)],
        disruption_budgets=[{"selector": {"app": "web"}, "max_unavailable": 1}],
    )
    t = target(p, {("web", "n1"): 2})
    plan = migrate(p, t)
    assert plan.status == SequenceStatus.OPTIMAL and len(plan.steps) == 2
    merged = plan.model_copy(
        update={
            "steps": (
                plan.steps[0].model_copy(
                    update={
                        "evict": plan.steps[0].evict + plan.steps[1].evict,
                        "bind": plan.steps[0].bind + plan.steps[1].bind,
                    }
                ),
            )
        }
    )
    assert any("disruption budget" in v for v in check_plan(p, t.counts(), merged))
