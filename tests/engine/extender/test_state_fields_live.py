"""The state's slim pods against a real kube-apiserver (v1.34): pods as the API server stores
and defaults them (host ports, deletion marks set by a real delete, claim and volume fields,
pod-level resources), watched into a ``ClusterState``, build the same problem as the listing."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

import orjson
import pytest

from bench import controlplane
from engine.extender.kubeapi import ClusterWatcher
from engine.extender.state import ClusterState
from engine.kube import manifests_to_problem

from .live import NODE, pods, reset, wait_for

pytestmark = pytest.mark.slow
FINALIZER = "placer.dev/test-hold"
# The plane's own scheduler must leave the pending pods alone (the listing is compared with the
# watch after it is taken).
SCHEDULER = "placer-fields-test"
pod_manifest = partial(controlplane.pod_manifest, scheduler=SCHEDULER)


def subjects() -> list[dict[str, Any]]:
    host_port = pod_manifest("ported-0", "1")
    host_port["spec"]["containers"][0]["ports"] = [{"containerPort": 8443, "hostPort": 8443}]
    host_port["spec"]["nodeName"] = "node-0"
    pending_port = pod_manifest("ported-1", "1")
    pending_port["spec"]["containers"][0]["ports"] = [{"containerPort": 8443, "hostPort": 8443}]
    held = pod_manifest("leaving-0", "2")
    held["spec"]["nodeName"] = "node-1"
    held["metadata"]["finalizers"] = [FINALIZER]  # the delete leaves it terminating
    volume = pod_manifest("stateful-0", "1")
    volume["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    claimed = pod_manifest("gpu-0", "1")
    claimed["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimName": "gpu-claim"}]
    pod_level = pod_manifest("sized-0", "1")
    pod_level["spec"]["resources"] = {"requests": {"cpu": "3", "memory": "1Gi"}}
    return [host_port, pending_port, held, volume, claimed, pod_level]


def listing(core: Any) -> list[dict[str, Any]]:
    nodes = orjson.loads(core.list_node(_preload_content=False).data)["items"]
    return [{"kind": "Node", **n} for n in nodes] + [{"kind": "Pod", **p} for p in pods(core)]


def test_watched_pods_plan_as_the_listed_ones(core: Any) -> None:
    state = ClusterState()
    watcher = ClusterWatcher(core, state, watch_seconds=5, dra=False)
    watcher.start()
    try:
        made = subjects()
        for manifest in made:
            with contextlib.suppress(Exception):  # a field this server refuses: left out
                core.create_namespaced_pod("default", manifest)
        names = {p["metadata"]["name"] for p in pods(core)}
        assert {"ported-0", "ported-1", "leaving-0", "stateful-0"} <= names
        core.delete_namespaced_pod("leaving-0", "default")
        wait_for(
            lambda: (
                any(r.name == "leaving-0" and r.terminating for r in list(state.pods.values()))
                and len(state.pods) == len(names)
                and len(state.nodes) == 3
            ),
            timeout=30,
        )
        listed = listing(core)
        order = {n: i for i, n in enumerate([*state.nodes, *state.pods])}  # the state's order
        listed.sort(
            key=lambda d: order.get(d["metadata"].get("uid"), order.get(d["metadata"]["name"], -1))
        )
        want = manifests_to_problem(listed, "live", scheduler_name=SCHEDULER)

        def watched() -> dict[str, Any]:
            problem = manifests_to_problem(state.documents(), "live", scheduler_name=SCHEDULER)
            return dict(problem.model_dump(mode="json"))

        with contextlib.suppress(AssertionError):  # the watch may be an event behind the list
            wait_for(lambda: watched() == want.model_dump(mode="json"), timeout=20)
        assert watched() == want.model_dump(mode="json")
        assert float(NODE["cpu"]) * 1000 - 2000 == state.nodes["node-1"].free("cpu")
        ported = {p["metadata"]["name"]: p for p in listed if p["kind"] == "Pod"}["ported-1"]
        assert ported["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"  # defaulted
        assert any(c.name == "NodePorts TCP/8443" for c in want.constraints)  # planned apart
        notes = " ".join(want.meta["notes"])
        assert "leaving-0: terminating; not planned" not in notes  # bound: it holds node-1
    finally:
        watcher.stop()
        with contextlib.suppress(Exception):
            core.patch_namespaced_pod("leaving-0", "default", {"metadata": {"finalizers": None}})
        reset(core)
