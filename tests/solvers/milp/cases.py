"""Tiny problems with answers worked out by hand, one per constraint kind and objective term.

Each case is (id, problem, expected objective per level), or expected ``None`` for infeasible.
Shared by the milp known-answer tests (and usable by any exact backend's tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.ir import Problem

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def nodes(n: int, cpu: str = "4", zones: Sequence[str] | None = None, **more: Any) -> list[dict]:
    out = []
    for k in range(n):
        labels = {HOST: f"n{k}"}
        if zones is not None and zones[k]:
            labels[ZONE] = zones[k]
        out.append({"name": f"n{k}", "capacity": {"cpu": cpu}, "labels": labels, **more})
    return out


def item(name: str, count: int, cpu: str = "1", **more: Any) -> dict:
    return {"name": name, "count": count, "demand": {"cpu": cpu}, "labels": {"app": name}, **more}


def problem(
    bins: list[dict],
    items: list[dict],
    constraints: Sequence[dict] = (),
    objective: Sequence[Any] = ("placed",),
    **more: Any,
) -> Problem:
    return Problem.model_validate(
        {
            "name": "case",
            "bins": bins,
            "items": items,
            "constraints": list(constraints),
            "objective": list(objective),
            **more,
        }
    )


def aa(selector: str, topology: str = HOST, **more: Any) -> dict:
    return {"kind": "anti_affinity", "selector": {"app": selector}, "topology": topology, **more}


def two_zone_bins() -> list[dict]:
    return nodes(3, "4", zones=["z0", "z1", "z0"])


CASES: list[tuple[str, Problem, tuple[float, ...] | None]] = [
    # capacity: 1.5 cpu items, two 4-cpu bins hold two each
    (
        "capacity",
        problem(nodes(2), [item("web", 5, "1500m")], objective=["placed", {"bins_used": 1}]),
        (4, 2),
    ),
    # pinned items stay and use capacity: n0 keeps 2 db (3 cpu), so web gets n1 only
    (
        "pinned",
        problem(
            nodes(2),
            [item("db", 2, "1500m", placed={"n0": 2}), item("web", 3, "1500m")],
        ),
        (4,),
    ),
    # movable items make room for a higher-priority item; each replica moved is one move
    (
        "moves",
        problem(
            nodes(2, "2"),
            [
                item("db", 2, "1", placed={"n0": 2}, movable=True),
                item("big", 1, "2", allowed=["n0"], priority=1),
            ],
            objective=["placed", "moves"],
        ),
        (2 + 3, 2),
    ),
    # bins_used weighs each used bin by its cost: everything on the cheap bin
    (
        "bins_used_cost",
        problem(
            [
                {"name": "cheap", "capacity": {"cpu": "4"}, "cost": 1.0},
                {"name": "dear", "capacity": {"cpu": "4"}, "cost": 5.0},
            ],
            [item("web", 3)],
            objective=["placed", {"bins_used": 1}],
        ),
        (3, 1.0),
    ),
    # item cost per bin
    (
        "cost",
        problem(
            nodes(2, "2"),
            [item("web", 3, cost={"n0": 2.0, "n1": 1.0})],
            objective=["placed", "cost"],
        ),
        (3, 4.0),
    ),
    # balance: the largest utilisation, best spread evenly
    ("balance", problem(nodes(2), [item("web", 4)], objective=["placed", "balance"]), (4, 0.5)),
    # fairness: dominant shares of two tenants on one 4-cpu bin: 2 + 2 -> 0.5 each
    (
        "fairness",
        problem(
            nodes(1),
            [item("a", 4, tenant="ta"), item("b", 4, tenant="tb")],
            objective=["fairness", "placed"],
            tenants=[{"name": "ta"}, {"name": "tb"}],
        ),
        (0.5, 4),
    ),
    # weighted fairness: tb has weight 2, so its share counts half: best min(sa, sb/2) on 6 cpu
    (
        "fairness_weighted",
        problem(
            nodes(1, "6"),
            [item("a", 6, tenant="ta"), item("b", 6, tenant="tb")],
            objective=["fairness"],
            tenants=[{"name": "ta"}, {"name": "tb", "weight": 2.0}],
        ),
        (2 / 6,),
    ),
    # anti-affinity: at most one web per node
    ("anti_affinity", problem(nodes(3), [item("web", 4)], [aa("web")]), (3,)),
    # max_per_domain 2 per zone, two zones
    (
        "anti_affinity_zone",
        problem(two_zone_bins(), [item("web", 6)], [aa("web", ZONE, max_per_domain=2)]),
        (4,),
    ),
    # with a target: web never shares a node with db
    (
        "anti_affinity_target",
        problem(nodes(1), [item("web", 2), item("db", 1)], [aa("web", target={"app": "db"})]),
        (2,),
    ),
    # the distinct-item rule: a group that is its own target may hold one per node, not two
    (
        "anti_affinity_self_target",
        problem(nodes(2), [item("solo", 3)], [aa("solo", target={"app": "solo"})]),
        (2,),
    ),
    # affinity: web must share a zone with cache (cache only fits n1 in z1; n2 is z0)
    (
        "affinity",
        problem(
            [
                {"name": "n0", "capacity": {"cpu": "4"}, "labels": {ZONE: "z0"}},
                {"name": "n1", "capacity": {"cpu": "2"}, "labels": {ZONE: "z1"}},
            ],
            [item("cache", 1, allowed=["n1"]), item("web", 3)],
            [
                {
                    "kind": "affinity",
                    "selector": {"app": "web"},
                    "target": {"app": "cache"},
                    "topology": ZONE,
                }
            ],
        ),
        (2,),
    ),
    # first-pod rule: a lone self-target item is exempt; a second needs a shared zone
    (
        "affinity_first_pod",
        problem(
            nodes(2, "1", zones=["z0", "z1"]),
            [item("self", 2)],
            [
                {
                    "kind": "affinity",
                    "selector": {"app": "self"},
                    "target": {"app": "self"},
                    "topology": ZONE,
                }
            ],
        ),
        (1,),
    ),
    # spread over zones, z1 holds one item only: z0 may hold min + 1 = 2
    (
        "spread",
        problem(
            [
                *nodes(2, "4", zones=["z0", "z0"]),
                {"name": "n2", "capacity": {"cpu": "1"}, "labels": {ZONE: "z1"}},
            ],
            [item("web", 5)],
            [{"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "max_skew": 1}],
        ),
        (3,),
    ),
    # min_domains above the number of zones: min counts as 0, so at most max_skew per zone
    (
        "spread_min_domains",
        problem(
            two_zone_bins(),
            [item("web", 5)],
            [{"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "min_domains": 3}],
        ),
        (2,),
    ),
    # only receiving zones are judged: z0 already holds 4 (pinned) and takes no new item
    (
        "spread_receives",
        problem(
            nodes(2, "4", zones=["z0", "z1"]),
            [item("web", 5, placed={"n0": 4})],
            [{"kind": "spread", "selector": {"app": "web"}, "topology": ZONE}],
        ),
        (5,),
    ),
    # bins restriction: domains of the listed bins only (n1's zone z1 does not count)
    (
        "spread_bins",
        problem(
            nodes(3, "4", zones=["z0", "z1", "z2"]),
            [item("web", 4, allowed=["n0", "n2"])],
            [
                {
                    "kind": "spread",
                    "selector": {"app": "web"},
                    "topology": ZONE,
                    "bins": ["n0", "n2"],
                }
            ],
        ),
        (4,),
    ),
    # gang: trainer + ps need 3 cpu together, only 2 fit, so neither; filler takes the room
    (
        "gang",
        problem(
            nodes(1, "2"),
            [item("trainer", 2), item("ps", 1), item("filler", 1)],
            [{"kind": "gang", "items": ["trainer", "ps"]}],
        ),
        (1,),
    ),
    # quota (constraint) and Tenant.quota
    (
        "quota",
        problem(
            nodes(2),
            [item("a", 4, tenant="ta"), item("b", 4, tenant="tb")],
            [{"kind": "quota", "tenant": "ta", "limits": {"cpu": "2"}}],
            tenants=[{"name": "ta"}, {"name": "tb", "quota": {"cpu": "3"}}],
        ),
        (5,),
    ),
    # required groups that cannot all fit: infeasible
    ("required_infeasible", problem(nodes(1, "2"), [item("web", 3, required=True)]), None),
    # a required low-priority group still wins over an optional high-priority one
    (
        "required_priority",
        problem(nodes(1, "2"), [item("low", 2, required=True), item("high", 1, "2", priority=5)]),
        (2,),
    ),
    # priority tiers: one high item (weight 2 + 1 = 3) beats both low ones
    (
        "priority",
        problem(nodes(1, "2"), [item("low", 2), item("high", 1, "2", priority=1)]),
        (3,),
    ),
    # a mixed level uses the tier weights directly
    (
        "priority_mixed_level",
        problem(
            nodes(2, "2", cost=1.0),
            [item("low", 2), item("high", 1, "2", priority=1)],
            objective=[{"placed": 1, "bins_used": 0.5}],
        ),
        (0.5 * 2 - 5,),  # a mixed level is minimised: its maximised terms count negated
    ),
    # soft anti-affinity: the third web breaks it once (weight 2)
    (
        "soft_anti_affinity",
        problem(nodes(2), [item("web", 3)], [aa("web", weight=2.0)], ["placed", "soft"]),
        (3, 2.0),
    ),
    # soft spread: 3 in a zone with 0 in the other is 2 above min + 1
    (
        "soft_spread",
        problem(
            [
                {"name": "n0", "capacity": {"cpu": "4"}, "labels": {ZONE: "z0"}},
                {"name": "n1", "capacity": {"cpu": "0"}, "labels": {ZONE: "z1"}},
            ],
            [item("web", 3)],
            [{"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "weight": 1.5}],
            ["placed", "soft"],
        ),
        (3, 3.0),
    ),
    # soft affinity with no target anywhere: each domain holding web is one violation
    (
        "soft_affinity",
        problem(
            nodes(2, "1", zones=["z0", "z1"]),
            [item("web", 2)],
            [
                {
                    "kind": "affinity",
                    "selector": {"app": "web"},
                    "target": {"app": "none"},
                    "topology": ZONE,
                    "weight": 1.0,
                }
            ],
            ["placed", "soft"],
        ),
        (2, 2.0),
    ),
    # soft anti-affinity with target on one node: one broken domain
    (
        "soft_anti_affinity_target",
        problem(
            nodes(1),
            [item("web", 2), item("db", 1)],
            [aa("web", target={"app": "db"}, weight=4.0)],
            ["placed", "soft"],
        ),
        (3, 4.0),
    ),
    # traffic: 2 a + 2 b, nodes hold 2 items each, delay 5 between them: the best split puts one
    # of each per node, 2 cross pairs of 4 -> 1 * (5 + 5) / 4 (interior counts: 1 x 1 products)
    (
        "traffic",
        problem(
            nodes(2, "2"),
            [item("a", 2), item("b", 2)],
            objective=["placed", "traffic"],
            traffic=[{"items": ["a", "b"], "volume": 1.0}],
            delays={"n0": {"n1": 5.0}},
        ),
        (4, 2.5),
    ),
    # traffic without a known delay between bins: those bins cannot hold the two partners
    (
        "traffic_no_delay",
        problem(
            nodes(2, "1"),
            [item("a", 1), item("b", 1)],
            traffic=[{"items": ["a", "b"], "volume": 1.0}],
        ),
        (1,),
    ),
]
