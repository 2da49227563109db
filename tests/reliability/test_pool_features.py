"""cpsat's pool model encodes only the features it names: anything else (a tenant quota when the
master chooses the counts, soft rules, affinity, pinned items, devices, other objective terms...)
makes it refuse, and the per-bin model answers instead. Every plan here must be verified and
every "optimal" true."""

from __future__ import annotations

from typing import Any

import pytest

from engine.ir import FEATURES, Problem
from engine.solution import Status
from engine.solve import solve
from solvers.cpsat.pool.driver import POOL_FEATURES, pool_applies
from solvers.lowering import lower

from ..cases import HOSTNAME, ZONE, bins, group, problem

POOL_OBJECTIVE = ["placed", {"bins_used": 1.0}]


def quota_case(where: str) -> Any:
    """Eight identical 4-cpu nodes, a tenant limited to 2 cpus with 4 one-cpu pods: greedy places
    two and leaves two, so a pool master free to choose the counts must still honour the quota."""
    tenant: dict[str, Any] = {"name": "t"}
    constraints: list[dict[str, Any]] = []
    if where == "tenant":
        tenant["quota"] = {"cpu": "2"}
    else:
        constraints.append({"kind": "quota", "tenant": "t", "limits": {"cpu": "2"}})
    return problem(
        bins(8, cpu="4", memory="16Gi"),
        [group("a", 4, cpu="1", tenant="t"), group("b", 6, cpu="2")],
        constraints=constraints,
        tenants=[tenant],
        objective=POOL_OBJECTIVE,
    )


@pytest.mark.parametrize("where", ["tenant", "constraint"])
def test_a_quota_is_never_ignored_when_items_stay_unplaced(where: str) -> None:
    p = quota_case(where)
    plan = solve(p, "cpsat", time_limit=20)
    assert plan.verified, plan.info
    assert plan.status == Status.OPTIMAL
    placed_a = sum(r.count for r in plan.placements if r.item == "a")
    assert placed_a == 2
    assert plan.info.get("formulation") != "pool"


@pytest.mark.parametrize("where", ["tenant", "constraint"])
def test_the_pool_refuses_count_rules_under_a_partial_start(where: str) -> None:
    p = quota_case(where)
    start = {("a", "n0"): 2, ("b", "n1"): 2, ("b", "n2"): 2, ("b", "n3"): 2}
    reason = pool_applies(lower(p), start)
    assert reason is not None and "quota" in reason


EXTRA: dict[str, dict[str, Any]] = {
    "soft": {
        "constraints": [
            {"kind": "anti_affinity", "selector": {"app": "a"}, "topology": HOSTNAME, "weight": 1}
        ]
    },
    "affinity": {
        "constraints": [
            {"kind": "affinity", "selector": {"app": "a"}, "target": {"app": "b"}, "topology": ZONE}
        ]
    },
    "anti_affinity:target": {
        "constraints": [
            {
                "kind": "anti_affinity",
                "selector": {"app": "a"},
                "target": {"app": "b"},
                "topology": HOSTNAME,
            }
        ]
    },
    "traffic": {"traffic": [{"items": ["a", "b"], "volume": 1.0}]},
    "objective:cost": {"objective": ["placed", {"bins_used": 1.0, "cost": 0.1}]},
    "objective:balance": {"objective": ["placed", {"bins_used": 1.0}, "balance"]},
}


@pytest.mark.parametrize("feature", sorted(EXTRA))
def test_a_feature_outside_the_pool_model_refuses_it(feature: str) -> None:
    fields = {"objective": POOL_OBJECTIVE, **EXTRA[feature]}
    p = problem(bins(4, zones=2), [group("a", 2), group("b", 2)], **fields)
    assert feature in p.features() - POOL_FEATURES
    start = {("a", "n0"): 2, ("b", "n1"): 2}
    assert pool_applies(lower(p), start) is not None
    plan = solve(p, "cpsat", time_limit=10)
    assert plan.verified and plan.info.get("formulation") != "pool"


def test_pool_features_are_names_the_ir_knows() -> None:
    assert POOL_FEATURES <= FEATURES


def pool_gap() -> Problem:
    """Two node pools, hostname anti-affinity: the pool model's integer master is optimal over
    its columns at 15 bins-cost in milliseconds but cannot prove it, and 14 exists."""
    small = {"cpu": "4", "memory": "16Gi"}
    large = {"cpu": "8", "memory": "8Gi"}
    return Problem.model_validate(
        {
            "bins": [
                {
                    "name": f"n{i}",
                    "capacity": small if i % 2 == 0 else large,
                    "labels": {"kubernetes.io/hostname": f"n{i}"},
                    "cost": 1.0 if i % 2 == 0 else 2.0,
                }
                for i in range(14)
            ],
            "items": [
                {
                    "name": name,
                    "count": count,
                    "demand": {"cpu": cpu, "memory": memory},
                    "labels": {"app": name},
                    "priority": priority,
                }
                for name, count, cpu, memory, priority in [
                    ("g0", 3, "2", "3Gi", 0),
                    ("g1", 7, "2", "2Gi", 10),
                    ("g2", 7, "4", "1Gi", 0),
                    ("g3", 7, "1", "2Gi", 0),
                ]
            ],
            "constraints": [
                {
                    "kind": "anti_affinity",
                    "selector": {"app": g},
                    "topology": "kubernetes.io/hostname",
                }
                for g in ("g0", "g1")
            ],
            "objective": ["placed", {"bins_used": 1}],
        }
    )


def test_an_unproved_pool_plan_is_continued_by_the_per_bin_model() -> None:
    """Auto-chosen pool formulation, unproved with time left: the per-bin model continues from
    its plan and proves the optimum the per-bin model alone proves."""
    problem = pool_gap()
    plan = solve(problem, "cpsat", time_limit=30, lns="off")
    alone = solve(problem, "cpsat", time_limit=30, lns="off", formulation="per_bin")
    assert alone.status == Status.OPTIMAL
    assert plan.info["formulation"].startswith("pool")
    assert plan.status == Status.OPTIMAL and plan.verified, plan.info
    assert plan.objective == alone.objective
