"""cpsat's pool model encodes only the features it names: anything else (a tenant quota when the
master chooses the counts, soft rules, affinity, pinned items, devices, other objective terms...)
makes it refuse, and the per-bin model answers instead. Every plan here must be verified and
every "optimal" true."""

from __future__ import annotations

from typing import Any

import pytest

from engine.ir import FEATURES
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
