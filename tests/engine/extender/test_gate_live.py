"""Batch planning through a scheduling gate, against a real kube-apiserver and kube-scheduler.

The API server enforces the rules for gated pods itself (gates only removed, node affinity only
narrowed), so every write placer makes here is one a real cluster accepts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.controlplane import ControlPlane, pod_manifest
from engine.extender.gate import GateSettings, solve_batch

from .live import (
    GATE,
    all_bound,
    create,
    fragmentation_pods,
    gate_controller,
    pinned_node,
    pods,
    wait_for,
)


def settings(**overrides: Any) -> GateSettings:
    return GateSettings(name=GATE, **{"window": 1.0, "time_limit": 5.0, **overrides})


def released(gate: Any, expected: dict[str, int], timeout: float = 30.0) -> None:
    """The gate's release counts, once every pod is counted, are ``expected``. A writer thread
    counts a release after its write returns, so on a loaded machine the scheduler can bind the
    pod (and the test see it bound) before the count: read the counts when all are in."""
    total = sum(expected.values())
    with contextlib.suppress(AssertionError):  # the comparison below says what is missing
        wait_for(lambda: sum(gate.stats.released.values()) >= total, timeout=timeout)
    assert gate.stats.released == expected


@pytest.mark.parametrize("spacing", [0.2, 0.0], ids=["200ms-apart", "all-at-once"])
def test_fragmentation_scenario_binds_every_pod_where_the_plan_put_it(
    plane: ControlPlane, core: Any, spacing: float
) -> None:
    # one batch however slowly the pods arrive (a loaded machine stretches 200 ms): it closes
    # when the fifth pod is in, the window is only the fallback
    with gate_controller(plane, settings(window=60.0, batch=5), isolate=False) as gate:
        create(core, fragmentation_pods(), spacing)
        bound = wait_for(lambda: all_bound(core, 5), timeout=90)
        released(gate, {"narrowed": 5})
    for p in bound:
        assert not p["spec"].get("schedulingGates"), p["metadata"]["name"]
        assert pinned_node(p) == p["spec"]["nodeName"], p["metadata"]["name"]
    big = next(p for p in bound if p["metadata"]["name"] == "big-0")
    smalls = {p["spec"]["nodeName"] for p in bound if p is not big}
    assert big["spec"]["nodeName"] not in smalls
    assert gate.stats.plan_failures == 0


def test_without_placer_the_big_pod_is_stranded(plane: ControlPlane, core: Any) -> None:
    """The control: kube-scheduler alone spreads the small pods and strands the big one (so the
    test above can fail)."""
    create(core, fragmentation_pods(gates=()), 0.2)
    wait_for(lambda: sum(1 for p in pods(core) if p["spec"].get("nodeName")) == 4, timeout=60)
    time.sleep(1.0)
    big = next(p for p in pods(core) if p["metadata"]["name"] == "big-0")
    assert not big["spec"].get("nodeName")


def failing_solve(*_: Any) -> dict[str, Any]:
    raise RuntimeError("the solver broke")


def test_a_failed_plan_releases_its_pods_unchanged(plane: ControlPlane, core: Any) -> None:
    with gate_controller(plane, settings(window=0.3), solve=failing_solve) as gate:
        create(core, fragmentation_pods()[:4])
        bound = wait_for(lambda: all_bound(core, 4), timeout=60)
        released(gate, {"failed": 4})
    assert all(pinned_node(p) is None for p in bound)
    assert gate.stats.plan_failures >= 1


def sleepy_solve(*_: Any) -> dict[str, Any]:
    time.sleep(120)
    raise AssertionError("the planning process should have been killed")


def test_a_planning_process_killed_mid_solve_releases_its_pods(
    plane: ControlPlane, core: Any
) -> None:
    with gate_controller(
        plane, settings(window=0.3), solve_function=f"{__name__}:sleepy_solve"
    ) as gate:
        process = gate.process
        assert process is not None
        create(core, fragmentation_pods()[:3])
        wait_for(lambda: gate.inflight and process.pid() and process.up, timeout=60)
        time.sleep(0.5)  # the batch is in the planning process now
        os.kill(process.pid(), signal.SIGKILL)  # type: ignore[arg-type]
        bound = wait_for(lambda: all_bound(core, 3), timeout=60)
        released(gate, {"failed": 3})
    assert all(pinned_node(p) is None for p in bound)


def test_overdue_pods_are_released_on_start(plane: ControlPlane, core: Any) -> None:
    """placer was down while pods waited behind its gate: a restarted placer releases the ones
    past the deadline at once, unchanged, and plans the others."""
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    overdue = pod_manifest("late-0", "1", gates=(GATE,))
    overdue["metadata"]["annotations"] = {"placer.dev/gated-at": old}
    fresh = pod_manifest("fresh-0", "1", gates=(GATE,))
    create(core, [overdue, fresh])
    time.sleep(0.5)
    assert all(p["spec"].get("schedulingGates") for p in pods(core))
    with gate_controller(plane, settings(window=0.3, deadline=60)) as gate:
        bound = wait_for(lambda: all_bound(core, 2), timeout=60)
        released(gate, {"overdue": 1, "narrowed": 1})
    by_name = {p["metadata"]["name"]: p for p in bound}
    assert pinned_node(by_name["late-0"]) is None
    assert pinned_node(by_name["fresh-0"]) == by_name["fresh-0"]["spec"]["nodeName"]


def test_pods_the_plan_leaves_out_are_released_and_other_gates_stay(
    plane: ControlPlane, core: Any
) -> None:
    """A pod no node can hold is released unchanged (kube-scheduler reports it); a pod with
    someone else's gate too loses only placer's."""
    huge = pod_manifest("huge-0", "64", gates=(GATE,))
    shared = pod_manifest("shared-0", "1", gates=("example.com/other", GATE))
    with gate_controller(plane, settings(window=0.3)) as gate:
        create(core, [huge, shared])
        wait_for(lambda: gate.stats.released.get("released", 0) == 2, timeout=60)
    by_name = {p["metadata"]["name"]: p for p in pods(core)}
    assert not by_name["huge-0"]["spec"].get("schedulingGates")
    assert pinned_node(by_name["huge-0"]) is None
    assert [g["name"] for g in by_name["shared-0"]["spec"]["schedulingGates"]] == [
        "example.com/other"
    ]


def test_solve_batch_plans_gated_pods_as_pending() -> None:
    """The planning function on its own: pinned nodes pack the small pods, reasons for the rest."""
    import orjson

    from tests.engine.extender.conftest import node, pod

    docs = [node(f"node-{i}") for i in range(3)]
    docs += [pod(f"small-{i}", "1") for i in range(4)]
    docs += [pod("big-0", "4"), pod("huge-0", "64")]
    answer = solve_batch(orjson.dumps(docs), "default-scheduler", "cpsat", 5.0)
    nodes = answer["nodes"]
    assert len(nodes) == 5
    assert len({nodes[f"uid-small-{i}"] for i in range(4)}) == 1
    assert "Insufficient cpu" in answer["reasons"]["uid-huge-0"]


def test_dra_objects_from_the_live_watch_steer_the_plan(plane: ControlPlane, core: Any) -> None:
    """DeviceClass, ResourceSlice and ResourceClaimTemplate (resource.k8s.io/v1) come through the
    watch; a gated pod claiming a GPU is pinned to the one node whose slice has GPUs. (Without a
    controller-manager its claim is never created, so kube-scheduler leaves it pending.)"""
    from kubernetes import client

    from tests.engine.kube.test_dra import DEVICE_CLASS, slice_, template

    resource = client.ResourceV1Api(plane.client())
    resource.create_device_class(DEVICE_CLASS)
    resource.create_resource_slice(slice_("node-2", 2, "A100"))
    resource.create_namespaced_resource_claim_template("default", template("one-gpu"))
    try:
        claimed = pod_manifest("gpu-0", "1", gates=(GATE,))
        claimed["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
        claimed["spec"]["resourceClaims"] = [
            {"name": "gpu", "resourceClaimTemplateName": "one-gpu"}
        ]
        with gate_controller(plane, settings(window=0.3), isolate=False) as gate:
            wait_for(lambda: len(gate.state.objects) == 3, timeout=90)
            create(core, [claimed])
            wait_for(lambda: gate.stats.released.get("narrowed") == 1, timeout=60)
        (found,) = pods(core)
        assert pinned_node(found) == "node-2"
        assert not found["spec"].get("schedulingGates")
    finally:
        resource.delete_collection_resource_slice()
        resource.delete_device_class("gpu")
        resource.delete_namespaced_resource_claim_template("one-gpu", "default")


def test_the_next_batch_counts_pods_whose_release_is_still_being_written() -> None:
    """Batches are planned while the previous batch's releases are written: a pod planned onto
    a node but still gated in the state is counted as bound there (until the watch shows it
    released), so the next batch does not plan into its room."""
    from engine.extender.gate import GateController
    from engine.extender.state import ClusterState
    from tests.engine.extender.conftest import node, pod

    state = ClusterState()
    gated = [{"name": GATE}]
    state.replace(
        [node("n1", cpu="4"), node("n2", cpu="4")],
        [pod(n, "3", schedulingGates=gated) for n in ("a", "b", "c")],
    )
    gate = GateController(None, state, settings(), isolate=False)
    try:
        gate.assumed = {"uid-a": "n1", "uid-b": "n2"}
        answer = solve_batch(gate._payload({"uid-c"}), "default-scheduler", "cpsat", 5.0)
        assert answer["nodes"] == {}
        assert "Insufficient cpu" in answer["reasons"]["uid-c"]
        # a's release was written and the watch shows it: it is pending, pinned by affinity
        released = pod("a", "3")
        released["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}  # fmt: skip
        state.upsert_pod(released)
        assert gate.assumed == {"uid-b": "n2"}
        answer = solve_batch(gate._payload({"uid-c"}), "default-scheduler", "cpsat", 5.0)
        assert answer["nodes"] == {"uid-a": "n1"}  # pending, planned where it is pinned
        gate.assumed.clear()  # b's write failed: b is gated by someone, its room is free again
        answer = solve_batch(gate._payload({"uid-c"}), "default-scheduler", "cpsat", 5.0)
        assert answer["nodes"] == {"uid-a": "n1", "uid-c": "n2"}
    finally:
        gate.stop()
