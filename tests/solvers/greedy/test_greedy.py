"""The greedy backend: known answers and kube-scheduler behaviour (filters, scores, reasons)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from engine.errors import PlacerError
from engine.ir import ItemGroup, Problem
from engine.solution import Solution, Status
from engine.solve import solve
from engine.verify import verify
from solvers.base import Options
from solvers.greedy.backend import GreedyBackend
from solvers.greedy.model import compile_model
from solvers.greedy.scheduler import Scheduler

from ...cases import HOSTNAME, ZONE, bins, group, problem


def greedy(p: Problem, seed: int = 0, **params: Any) -> Solution:
    solution = solve(p, "greedy", seed=seed, **params)
    if solution.verified:
        assert verify(p, solution).ok
    return solution


def per_bin(solution: Solution, item: str | None = None) -> dict[str, int]:
    out: Counter[str] = Counter()
    for row in solution.placements:
        if item is None or row.item == item:
            out[row.bin] += row.count
    return dict(out)


def reason(solution: Solution, item: str) -> str:
    text = solution.info["unschedulable"][item]
    assert [u.reasons for u in solution.unplaced if u.item == item] == [text]
    return str(text)


# ---------------------------------------------------------------- scoring


def test_least_allocated_spreads_pods() -> None:
    s = greedy(problem(bins(3), [group("web", 3)]))
    assert per_bin(s) == {"n0": 1, "n1": 1, "n2": 1}
    assert s.info["scoring"] == "LeastAllocated"


def test_most_allocated_consolidates_when_the_objective_counts_bins() -> None:
    s = greedy(problem(bins(3), [group("web", 3)], objective=["placed", "bins_used"]))
    assert list(per_bin(s).values()) == [3]
    assert s.info["scoring"] == "MostAllocated"
    assert s.objective == (3.0, 1.0)


def test_scoring_parameter_overrides_the_objective() -> None:
    p = problem(bins(3), [group("web", 3)], objective=["placed", "bins_used"])
    assert len(per_bin(greedy(p, scoring="LeastAllocated"))) == 3
    with pytest.raises(PlacerError, match="scoring must be"):
        greedy(p, scoring="Random")


def test_least_allocated_prefers_the_emptier_node() -> None:
    p = problem(
        bins(2, cpu="4"),
        [group("old", 1, cpu="3", placed={"n0": 1}), group("web", 1, cpu="1")],
    )
    assert per_bin(greedy(p), "web") == {"n1": 1}


def test_most_allocated_fills_the_fuller_node_first() -> None:
    p = problem(
        bins(2, cpu="4"),
        [group("old", 1, cpu="2", placed={"n1": 1}), group("web", 2, cpu="1")],
        objective=["placed", "bins_used"],
    )
    assert per_bin(greedy(p), "web") == {"n1": 2}


def test_item_cost_is_preferred_when_the_objective_has_cost() -> None:
    p = problem(
        bins(3),
        [group("web", 1, cost={"n0": 9.0, "n1": 1.0, "n2": 5.0})],
        objective=["placed", "cost"],
    )
    assert per_bin(greedy(p)) == {"n1": 1}


def test_soft_anti_affinity_lowers_the_score_of_breaking_bins() -> None:
    soft = {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": HOSTNAME, "weight": 1}
    p = problem(bins(2), [group("web", 2)], constraints=[soft], objective=["placed", "bins_used"])
    s = greedy(p)  # MostAllocated would stack both; the soft rule outweighs it
    assert per_bin(s) == {"n0": 1, "n1": 1}
    crowded = problem(bins(1), [group("web", 3)], constraints=[soft], objective=["placed", "soft"])
    s = greedy(crowded)  # still placed: soft rules never filter
    assert per_bin(s) == {"n0": 3} and s.objective == (3.0, 2.0)


def test_ties_are_broken_by_the_seed() -> None:
    p = problem(bins(8), [group("web", 1)])
    chosen = {next(iter(per_bin(greedy(p, seed=seed)))) for seed in range(12)}
    assert len(chosen) > 1
    assert greedy(p, seed=3).placements == greedy(p, seed=3).placements


# ---------------------------------------------------------------- order


def test_higher_priority_first() -> None:
    p = problem(bins(1, cpu="2"), [group("low", 2), group("high", 2, priority=10)])
    s = greedy(p)
    assert per_bin(s, "high") == {"n0": 2} and per_bin(s, "low") == {}


def test_problem_order_among_equal_priorities() -> None:
    p = problem(bins(1, cpu="2"), [group("first", 2), group("second", 2)])
    assert per_bin(greedy(p), "first") == {"n0": 2}


def test_placed_items_stay_even_when_movable() -> None:
    p = problem(
        bins(2),
        [group("web", 3, placed={"n0": 2}, movable=True)],
        objective=["placed", "moves"],
    )
    s = greedy(p)
    assert per_bin(s)["n0"] >= 2 and s.objective == (3.0, 0.0)


# ---------------------------------------------------------------- filters and reasons, table-driven

_ANTI = {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": HOSTNAME}
_AFFINITY = {
    "kind": "affinity",
    "selector": {"app": "api"},
    "target": {"app": "cache"},
    "topology": ZONE,
}
_SPREAD = {"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "max_skew": 1}

# (case, problem, group, where its items go, kube's FitError text for the rest)
FILTERS: list[tuple[str, Problem, str, dict[str, int], str]] = [
    (
        "NodeResourcesFit counts each resource",
        problem(
            [*bins(2, cpu="1", memory="8Gi"), *bins(1, cpu="8", memory="1Gi", prefix="m")],
            [group("big", 1, cpu="2", memory="2Gi")],
        ),
        "big",
        {},
        "0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
    ),
    (
        "a pods capacity reads Too many pods",
        problem(bins(1, pods=2), [group("web", 3, cpu="100m", pods=1)]),
        "web",
        {"n0": 2},
        "0/1 nodes are available: 1 Too many pods.",
    ),
    (
        "allowed is NodeAffinity",
        problem(bins(3, cpu="1"), [group("web", 2, allowed=["n1"])]),
        "web",
        {"n1": 1},
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't match Pod's node affinity/selector.",
    ),
    (
        "hard anti-affinity, one per host",
        problem(bins(3), [group("web", 4)], constraints=[_ANTI]),
        "web",
        {"n0": 1, "n1": 1, "n2": 1},
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.",
    ),
    (
        "affinity without any target placed",
        problem(bins(2, zones=2), [group("api", 1)], constraints=[_AFFINITY]),
        "api",
        {},
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.",
    ),
    (
        "spread: skew, and a bin without the topology label",
        problem(
            [
                *bins(1, zones=["z0"]),
                *bins(1, cpu="0", zones=["z1"], prefix="m"),
                *bins(1, prefix="x"),
            ],
            [group("web", 3)],
            constraints=[_SPREAD],
        ),
        "web",
        {"n0": 1},
        "0/3 nodes are available: 1 Insufficient cpu, "
        "1 node(s) didn't match pod topology spread constraints, "
        "1 node(s) didn't match pod topology spread constraints (missing required label).",
    ),
    (
        "a tenant quota is admission, not a filter",
        problem(
            bins(2),
            [group("job", 4, cpu="1", tenant="team")],
            constraints=[{"kind": "quota", "tenant": "team", "limits": {"cpu": "2"}}],
            tenants=[{"name": "team"}],
        ),
        "job",
        {"n0": 1, "n1": 1},
        "exceeded quota: team, requested: cpu=1, used: cpu=2, limited: cpu=2",
    ),
    (
        "no bins at all",
        problem([], [group("web", 2)]),
        "web",
        {},
        "0/0 nodes are available: no nodes available to schedule pods.",
    ),
]


@pytest.mark.parametrize(
    ("case", "p", "item", "placed", "text"), FILTERS, ids=[c[0] for c in FILTERS]
)
def test_filters_and_their_reasons(
    case: str, p: Problem, item: str, placed: dict[str, int], text: str
) -> None:
    s = greedy(p)
    if case.startswith("a tenant quota"):  # which bins LeastAllocated picks is not the point
        assert sum(per_bin(s, item).values()) == sum(placed.values())
    else:
        assert per_bin(s, item) == placed, case
    assert reason(s, item) == text, case


def test_anti_affinity_with_target_blocks_both_sides() -> None:
    rule = {
        "kind": "anti_affinity",
        "selector": {"app": "web"},
        "target": {"app": "batch"},
        "topology": HOSTNAME,
    }
    p = problem(
        bins(2),
        [group("batch", 2, placed={"n0": 1}), group("web", 3, priority=1)],
        constraints=[rule],
    )
    s = greedy(p)  # web first: only n1 is free of batch; then batch only fits beside batch
    assert per_bin(s, "web") == {"n1": 3} and per_bin(s, "batch") == {"n0": 2}
    blocked = problem(
        bins(1), [group("web", 1, placed={"n0": 1}), group("batch", 1)], constraints=[rule]
    )
    s = greedy(blocked)
    assert reason(s, "batch") == (
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    )


def test_affinity_follows_the_target_zone() -> None:
    rule = {
        "kind": "affinity",
        "selector": {"app": "api"},
        "target": {"app": "cache"},
        "topology": ZONE,
    }
    p = problem(
        bins(4, zones=2), [group("cache", 1, placed={"n1": 1}), group("api", 3)], constraints=[rule]
    )
    s = greedy(p)
    assert set(per_bin(s, "api")) <= {"n1", "n3"}  # zone z1
    assert sum(per_bin(s, "api").values()) == 3


def test_affinity_first_pod_rule_then_the_same_zone() -> None:
    rule = {
        "kind": "affinity",
        "selector": {"app": "web"},
        "target": {"app": "web"},
        "topology": ZONE,
    }
    s = greedy(problem(bins(6, zones=3), [group("web", 4)], constraints=[rule]), seed=5)
    zones = {f"n{k}": f"z{k % 3}" for k in range(6)}
    assert len({zones[b] for b in per_bin(s)}) == 1 and sum(per_bin(s).values()) == 4


def test_spread_over_zones() -> None:
    rule = {"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "max_skew": 1}
    p = problem(
        bins(6, zones=3), [group("web", 7)], constraints=[rule], objective=["placed", "bins_used"]
    )
    s = greedy(p)
    zones = Counter({f"z{k}": 0 for k in range(3)})
    for b, n in per_bin(s).items():
        zones[f"z{int(b[1:]) % 3}"] += n
    assert sorted(zones.values()) == [2, 2, 3]


def test_traffic_needs_known_delays() -> None:
    p = problem(
        bins(3),
        [group("a", 1, placed={"n0": 1}), group("b", 2)],
        traffic=[{"items": ["a", "b"], "volume": 1.0}],
        delays={"n0": {"n1": 2.0}},
    )
    s = greedy(p)
    assert set(per_bin(s, "b")) <= {"n0", "n1"}


def test_gang_is_all_or_nothing() -> None:
    p = problem(
        bins(1, cpu="3"),
        [group("trainer", 2), group("ps", 2), group("solo", 1)],
        constraints=[{"kind": "gang", "items": ["trainer", "ps"]}],
    )
    s = greedy(p)
    assert per_bin(s, "trainer") == {} and per_bin(s, "ps") == {}
    assert per_bin(s, "solo") == {"n0": 1}
    text = reason(s, "trainer")
    assert text.startswith("gang [trainer, ps] rolled back: ps: 0/1 nodes are available")
    assert reason(s, "ps") == text


def test_gang_that_fits_is_placed_whole() -> None:
    p = problem(
        bins(2, cpu="2"),
        [group("trainer", 2), group("ps", 2)],
        constraints=[{"kind": "gang", "items": ["trainer", "ps"]}],
    )
    assert sum(per_bin(greedy(p)).values()) == 4


def test_required_group_left_out_means_no_plan() -> None:
    s = greedy(problem(bins(1, cpu="1"), [group("web", 2, required=True)]))
    assert s.status == Status.UNKNOWN and not s.verified
    assert s.info["required_unplaced"] == ["web"]


def test_never_claims_optimal() -> None:
    s = GreedyBackend().solve(problem(bins(1), [group("web")]), Options())
    assert s.status == Status.FEASIBLE and s.bound is None


def test_demo_instance(instances: Any) -> None:
    from engine.io import load

    p = load(instances / "demo-cluster.yaml")
    s = greedy(p)
    assert s.verified and sum(per_bin(s).values()) == 20


# ---------------------------------------------------------------- internals: the batched paths


def _scheduler() -> Scheduler:
    return Scheduler(compile_model(problem(bins(1), [group("x")])), seed=0)


def test_best_cells_equals_replaying_falling_rows() -> None:
    rng = np.random.default_rng(1)
    table = np.sort(rng.permutation(10_000)[:360].reshape(30, 12), axis=1)[:, ::-1].copy()
    kmax = rng.integers(0, 13, size=30)
    valid = np.arange(12)[None, :] < kmax[:, None]
    s = _scheduler()
    for todo in (1, 7, 50, 400):
        assert s._best_cells(table, valid, todo).tolist() == s._replay(table, kmax, todo).tolist()


def test_fill_in_turn_equals_replaying_rising_rows() -> None:
    rng = np.random.default_rng(2)
    table = np.sort(rng.permutation(10_000)[:200].reshape(20, 10), axis=1)
    kmax = rng.integers(0, 11, size=20)
    s = _scheduler()
    for todo in (1, 9, 40, 300):
        got = s._fill_in_turn(table[:, 0], kmax, todo)
        assert got.tolist() == s._replay(table, kmax, todo).tolist()


# ---------------------------------------------------------------- movable running items, table-driven

_ANTI_TARGET = {
    "kind": "anti_affinity",
    "selector": {"app": "api"},
    "target": {"app": "cache"},
    "topology": HOSTNAME,
}


def gpu_bins(n: int, gpus: int = 2, cpu: str = "4") -> list[dict[str, Any]]:
    """Bins n0.. with ``gpus`` GPUs of 1000 gpu-milli each."""
    return [
        {
            "name": f"n{k}",
            "capacity": {"cpu": cpu, "memory": "16Gi"},
            "labels": {HOSTNAME: f"n{k}"},
            "devices": [{"name": "gpu", "count": gpus, "capacity": {"gpu-milli": 1000}}],
        }
        for k in range(n)
    ]


_WHOLE = {"count": 1}


def holders(
    name: str, gpus: list[str], request: dict[str, Any] = _WHOLE, **fields: Any
) -> ItemGroup:
    """Items running on n0, one on each GPU listed (a GPU listed twice is overcommitted)."""
    lists = [[gpu] for gpu in gpus]
    return group(
        name,
        fields.pop("count", len(gpus)),
        cpu=fields.pop("cpu", "1"),
        devices=request,
        placed={"n0": len(gpus)},
        placed_devices={"n0": lists},
        **{"movable": True, **fields},
    )


_GANG = {"kind": "gang", "items": ["web", "ps"]}

# (case, problem, the plan's rows per item, evicted per item) — every plan must verify.
RUNNING: list[tuple[str, Problem, dict[str, dict[str, int]], dict[str, dict[str, int]]]] = [
    (
        "capacity: an overfull bin sheds movable items",
        problem(
            bins(2, cpu="4"),
            [group("web", 3, cpu="2", placed={"n0": 3}, movable=True)],
            objective=["placed", "moves"],
        ),
        {"web": {"n0": 2, "n1": 1}},
        {"web": {"n0": 1}},
    ),
    (
        "capacity: the lower priority moves, the higher stays",
        problem(
            bins(2, cpu="4"),
            [
                group("low", 2, cpu="2", placed={"n0": 2}, movable=True, priority=1),
                group("high", 1, cpu="2", placed={"n0": 1}, movable=True, priority=9),
            ],
            objective=["placed", "moves"],
        ),
        {"high": {"n0": 1}, "low": {"n0": 1, "n1": 1}},
        {"low": {"n0": 1}},
    ),
    (
        "quota: the tenant over its quota gives back what it must",
        problem(
            bins(2, cpu="4"),
            [group("web", 3, cpu="1", placed={"n0": 3}, movable=True, tenant="team")],
            constraints=[{"kind": "quota", "tenant": "team", "limits": {"cpu": "2"}}],
            tenants=[{"name": "team"}],
        ),
        {"web": {"n0": 2}},
        {"web": {"n0": 1}},
    ),
    (
        "anti-affinity: two on one host, one moves",
        problem(
            bins(2),
            [group("web", 2, placed={"n0": 2}, movable=True)],
            constraints=[_ANTI],
            objective=["placed", "moves"],
        ),
        {"web": {"n0": 1, "n1": 1}},
        {"web": {"n0": 1}},
    ),
    (
        "anti-affinity with a target: the selected item leaves the target's host",
        problem(
            bins(2),
            [
                group("api", 1, placed={"n0": 1}, movable=True),
                group("cache", 1, placed={"n0": 1}),
            ],
            constraints=[_ANTI_TARGET],
        ),
        {"api": {"n1": 1}, "cache": {"n0": 1}},
        {"api": {"n0": 1}},
    ),
    (
        "affinity: the selected item joins its target's zone",
        problem(
            bins(4, zones=2),
            [
                group("api", 2, placed={"n1": 2}, movable=True),
                group("cache", 1, placed={"n0": 1}),
            ],
            constraints=[_AFFINITY],
        ),
        {"api": {"n2": 2}, "cache": {"n0": 1}},
        {"api": {"n1": 2}},
    ),
    (
        "affinity: an evicted target takes its selected items along (a second pass)",
        problem(
            [*bins(1, cpu="4", zones=["z0"]), *bins(2, cpu="2", zones=["z1", "z1"], prefix="m")],
            [
                group("cache", 1, cpu="3", placed={"m0": 1}, movable=True, priority=5),
                group("api", 1, cpu="1", placed={"m1": 1}, movable=True, priority=1),
            ],
            constraints=[_AFFINITY],
        ),
        {"cache": {"n0": 1}, "api": {"n0": 1}},
        {"cache": {"m0": 1}, "api": {"m1": 1}},
    ),
    (
        "spread judges only receiving domains: a skewed running layout stays",
        problem(
            bins(2, zones=2),
            [group("web", 3, placed={"n0": 3}, movable=True)],
            constraints=[_SPREAD],
            objective=["placed", "moves"],
        ),
        {"web": {"n0": 3}},
        {},
    ),
    (
        "taints and node affinity do not re-judge running items: it stays",
        problem(
            bins(2),
            [group("web", 1, placed={"n0": 1}, movable=True, allowed=["n1"])],
            objective=["placed", "moves"],
        ),
        {"web": {"n0": 1}},
        {},
    ),
    (
        "not movable: it stays, although it breaks the rule",
        problem(
            bins(2),
            [group("web", 2, placed={"n0": 2})],
            constraints=[_ANTI],
        ),
        {"web": {"n0": 2}},
        {},
    ),
    (
        "devices: a GPU holder on an overfull bin moves and gets a GPU where it lands",
        problem(
            gpu_bins(2, gpus=3),
            [holders("train", ["gpu-0", "gpu-1", "gpu-2"], cpu="2")],
        ),
        {"train": {"n0": 2, "n1": 1}},
        {"train": {"n0": 1}},
    ),
    (
        "devices: a GPU taken whole by two, one moves to a free GPU",
        problem(gpu_bins(1), [holders("train", ["gpu-0", "gpu-0"])]),
        {"train": {"n0": 2}},
        {"train": {"n0": 1}},
    ),
    (
        "devices: shares over a GPU's capacity, the lower priority moves",
        problem(
            gpu_bins(1),
            [
                holders("low", ["gpu-0"], {"share": {"gpu-milli": 600}}, priority=1),
                holders("high", ["gpu-0"], {"share": {"gpu-milli": 600}}, priority=9),
            ],
        ),
        {"low": {"n0": 1}, "high": {"n0": 1}},
        {"low": {"n0": 1}},
    ),
    (
        "devices: a share on a GPU another item takes whole, the share moves",
        problem(
            gpu_bins(1),
            [
                holders("whole", ["gpu-1"], movable=False, priority=5),
                holders("share", ["gpu-1"], {"share": {"gpu-milli": 100}}),
            ],
        ),
        {"whole": {"n0": 1}, "share": {"n0": 1}},
        {"share": {"n0": 1}},
    ),
    (
        "devices: a GPU holder that breaks anti-affinity moves",
        problem(
            gpu_bins(2),
            [holders("web", ["gpu-0", "gpu-1"])],
            constraints=[_ANTI],
        ),
        {"web": {"n0": 1, "n1": 1}},
        {"web": {"n0": 1}},
    ),
    (
        "gang: a member that breaks anti-affinity moves, the gang stays whole",
        problem(
            bins(3),
            [
                group("web", 2, placed={"n0": 2}, movable=True),
                group("ps", 1, placed={"n1": 1}, movable=True),
            ],
            constraints=[_ANTI, _GANG],
            objective=["placed", "moves"],
        ),
        {"web": {"n0": 1, "n2": 1}, "ps": {"n1": 1}},
        {"web": {"n0": 1}},
    ),
    (
        "gang: one that cannot be made whole again is taken off entirely",
        problem(
            bins(1),
            [
                group("web", 2, placed={"n0": 2}, movable=True),
                group("ps", 1, placed={"n0": 1}, movable=True),
            ],
            constraints=[_ANTI, _GANG],
        ),
        {"web": {}, "ps": {}},
        {"web": {"n0": 2}, "ps": {"n0": 1}},
    ),
    (
        "not movable: a gang with a pinned member keeps its breaking member in place",
        problem(
            bins(3),
            [
                group("web", 2, placed={"n0": 2}, movable=True),
                group("ps", 1, placed={"n1": 1}),
            ],
            constraints=[_ANTI, _GANG],
        ),
        {"web": {"n0": 2}, "ps": {"n1": 1}},
        {},
    ),
    (
        "not movable: a GPU holder stays on its overcommitted GPU",
        problem(gpu_bins(1), [holders("train", ["gpu-0", "gpu-0"], movable=False)]),
        {"train": {"n0": 2}},
        {},
    ),
]


@pytest.mark.parametrize(
    ("case", "p", "rows", "evicted"), RUNNING, ids=[case for case, *_ in RUNNING]
)
def test_movable_running_items_that_break_a_rule_are_scheduled_again(
    case: str, p: Problem, rows: dict[str, dict[str, int]], evicted: dict[str, dict[str, int]]
) -> None:
    s = greedy(p)
    assert {item.name: per_bin(s, item.name) for item in p.items} == rows
    assert s.info.get("evicted", {}) == evicted
    if case.startswith("not movable"):
        assert not s.verified  # the plan breaks the rule: nothing greedy may do about it
    else:
        assert s.verified and s.status == Status.FEASIBLE


def test_device_models_are_matched_once_per_select() -> None:
    """Groups asking for the same device attributes share one [bins, devices] mask (walking
    every node for every group was most of greedy's time at 5,000 nodes); other attributes
    get their own, and each group keeps to its model."""
    from solvers.greedy.devices import DevicePlugin
    from solvers.lowering import lower

    nodes = [
        {
            "name": f"n{k}",
            "capacity": {"cpu": "8"},
            "devices": [
                {
                    "name": "gpu",
                    "count": 2,
                    "capacity": {"gpu-milli": 1000},
                    "attributes": {"model": "A" if k % 2 else "B"},
                }
            ],
        }
        for k in range(4)
    ]

    def pods(name: str, model: str) -> dict[str, Any]:
        return {
            "name": name,
            "count": 2,
            "demand": {"cpu": "1"},
            "devices": {"select": {"model": [model]}},
        }

    p = Problem.model_validate(
        {
            "name": "models",
            "bins": nodes,
            "items": [pods("a1", "A"), pods("a2", "A"), pods("b", "B")],
        }
    )
    plugin = DevicePlugin(p, lower(p).devices)
    assert plugin.accept(0) is plugin.accept(1)
    assert plugin.accept(2) is not plugin.accept(0)
    assert plugin.accept(0)[:, :2].all(axis=1).tolist() == [False, True, False, True]
    assert plugin.accept(2)[:, :2].all(axis=1).tolist() == [True, False, True, False]
    s = greedy(p)
    assert s.verified and set(per_bin(s, "a1")) | set(per_bin(s, "a2")) <= {"n1", "n3"}
    assert set(per_bin(s, "b")) <= {"n0", "n2"}
