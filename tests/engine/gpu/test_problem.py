"""Arrival lists as placer Problems (``engine.gpu.problem``) and plans mapped back to arrivals."""

from __future__ import annotations

import numpy as np

from engine.gpu.cluster import ClusterState
from engine.gpu.problem import (
    URGENT,
    Running,
    arrival_problem,
    forecast_of,
    held_places,
    placements,
)
from engine.gpu.workload import pod_at
from engine.solve import solve
from engine.verify import verify
from tests.engine.gpu.example import NODES, WORKLOAD, example_state


def test_shapes_become_groups_with_device_requests() -> None:
    arrivals = [0, 1, 2, 3, 0]  # s1 twice; s1 and s2 are one shape
    p = arrival_problem(NODES, WORKLOAD, arrivals)
    groups = {g.name: g for g in p.items}
    assert [(name, g.count) for name, g in groups.items()] == [
        ("new-c2000-m1024-g1x300-s0", 3),
        ("new-c4000-m2048-g1x1000-s0", 1),
        ("new-c1000-m512-g0x0-s0", 1),
    ]
    share = groups["new-c2000-m1024-g1x300-s0"]
    assert share.devices is not None and share.devices.share == {"gpu-milli": 300}
    assert share.value == 300
    whole = groups["new-c4000-m2048-g1x1000-s0"]
    assert whole.devices is not None and whole.devices.share is None
    assert groups["new-c1000-m512-g0x0-s0"].devices is None
    assert [len(b.devices[0].device_names) if b.devices else 0 for b in p.bins] == [2, 4, 1]
    assert p.bins[1].devices[0].attributes == {"model": "G2"}
    assert [list(level) for level in p.objective] == [["value"], ["placed"]]


def test_running_pods_stay_on_their_gpus() -> None:
    running = [Running(pod=2, node=0, gpus=(1,)), Running(pod=0, node=1, gpus=(3,))]
    p = arrival_problem(NODES, WORKLOAD, [0, 1, 2], running=running)
    stay = {g.name: g for g in p.items if g.name.startswith("run-")}
    assert stay["run-c4000-m2048-g1x1000-s0"].placed_devices == {"a": (("gpu-1",),)}
    assert stay["run-c2000-m1024-g1x300-s0"].placed == {"b": 1}
    plan = solve(p, "cpsat", time_limit=10)
    assert verify(p, plan).ok
    taken = {
        (pl.bin, d)
        for pl in plan.placements
        if pl.item.startswith("new-")
        for d in pl.devices or ()
    }
    assert ("a", "gpu-1") not in taken  # the whole GPU a pod holds


def test_a_plan_maps_back_onto_the_arrivals_and_replays() -> None:
    arrivals = np.array([0, 1, 2, 3, 0, 1, 2, 2])  # three whole GPUs, four shares, one CPU pod
    p = arrival_problem(NODES, WORKLOAD, arrivals)
    plan = solve(p, "cpsat", time_limit=10)
    assert plan.verified
    where = placements(NODES, WORKLOAD, arrivals, plan)
    assert len(where) == len(arrivals)
    placed = [k for k, w in enumerate(where) if w is not None]
    assert len(placed) == sum(pl.count for pl in plan.placements)
    state = example_state()  # already holds 500 milli on a's gpu-0, which the plan ignores
    fresh = ClusterState(state.cluster)
    for i, w in zip(arrivals.tolist(), where, strict=True):
        if w is not None:
            fresh.place(pod_at(WORKLOAD, i), w)  # raises on any over-allocation
    assert fresh.allocated_milli == plan.objective[0]
    # seven GPUs: three whole, four 300 shares fit on what is left; nothing stays pending
    assert plan.objective == (3 * 1000 + 4 * 300, 8.0)


def test_a_forecast_follows_the_pod_lists_proportions() -> None:
    later = forecast_of(WORKLOAD, 3200)  # the list asks 1,600 milli-GPU: twice the list
    assert later == {
        (2000, 1024, 1, 300, 0): 4,
        (4000, 2048, 1, 1000, 0): 2,
        (1000, 512, 0, 0, 0): 2,
    }
    assert forecast_of(WORKLOAD, 0) == {}


def test_arrivals_come_before_the_forecast_and_the_plan_holds_places_for_it() -> None:
    later = {(2000, 1024, 1, 300, 0): 6}
    p = arrival_problem(NODES, WORKLOAD, [2], forecast=later)
    values = {g.name: g.value for g in p.items}
    assert values == {
        "new-c4000-m2048-g1x1000-s0": URGENT * 1001,
        "later-c2000-m1024-g1x300-s0": 300,
    }
    plan = solve(p, "cpsat", time_limit=10)
    assert plan.verified
    [where] = placements(NODES, WORKLOAD, [2], plan)
    assert where is not None
    held = held_places(NODES, later, plan)
    assert sum(n for _, n in held[(2000, 1024, 1, 300, 0)]) == 6  # room for all six shares
    for place, _ in held[(2000, 1024, 1, 300, 0)]:
        assert not (place.node == where.node and set(place.gpus) & set(where.gpus))
