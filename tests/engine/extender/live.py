"""Helpers for tests against the real control plane (``bench.controlplane``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from bench import controlplane
from bench.controlplane import ControlPlane, pod_manifest, ready_node
from engine.extender.gate import GateController, GateSettings
from engine.extender.kubeapi import ClusterWatcher
from engine.extender.state import ClusterState

GATE = "placer.dev/plan"
NODE = {"cpu": "4", "memory": "16Gi", "pods": "110"}


def plane_or_skip(**kwargs: Any) -> Iterator[ControlPlane]:
    if not controlplane.available():
        pytest.skip("../shared/controlplane is not present")
    plane = ControlPlane.start(**kwargs)
    try:
        yield plane
    finally:
        plane.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(step)


def pods(core: Any, namespace: str = "default") -> list[dict[str, Any]]:
    return list(
        orjson.loads(core.list_namespaced_pod(namespace, _preload_content=False).data)["items"]
    )


def reset(core: Any) -> None:
    """No pods and no nodes left (tests share one control plane)."""
    for p in pods(core):
        with contextlib.suppress(Exception):
            core.delete_namespaced_pod(p["metadata"]["name"], "default", grace_period_seconds=0)
    for n in orjson.loads(core.list_node(_preload_content=False).data)["items"]:
        with contextlib.suppress(Exception):
            core.delete_node(n["metadata"]["name"])
    wait_for(
        lambda: (
            not pods(core)
            and not orjson.loads(core.list_node(_preload_content=False).data)["items"]
        )
    )


def three_nodes(core: Any) -> None:
    for i in range(3):
        ready_node(core, f"node-{i}", NODE)


def fragmentation_pods(
    gates: tuple[str, ...] = (GATE,), scheduler: str = "default-scheduler"
) -> list[dict[str, Any]]:
    """Four 1-cpu pods, then one 4-cpu pod: spread over three 4-cpu nodes, the big one is stranded."""
    out = [pod_manifest(f"small-{i}", "1", gates=gates, scheduler=scheduler) for i in range(4)]
    out.append(pod_manifest("big-0", "4", gates=gates, scheduler=scheduler))
    return out


def create(core: Any, manifests: list[dict[str, Any]], spacing: float = 0.0) -> None:
    for n, manifest in enumerate(manifests):
        if n and spacing:
            time.sleep(spacing)
        core.create_namespaced_pod("default", manifest)


def all_bound(core: Any, count: int) -> list[dict[str, Any]] | None:
    found = pods(core)
    if len(found) == count and all(p["spec"].get("nodeName") for p in found):
        return found
    return None


def pinned_node(pod: dict[str, Any]) -> str | None:
    """The node placer pinned the pod to (its matchFields metadata.name requirement)."""
    affinity = ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in affinity.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                return str(field["values"][0])
    return None


@contextlib.contextmanager
def gate_controller(
    plane: ControlPlane, settings: GateSettings, **kwargs: Any
) -> Iterator[GateController]:
    """A watch-fed state and a gate controller over the control plane (in this process)."""
    api = plane.core()
    state = ClusterState()
    watcher = ClusterWatcher(api, state, watch_seconds=5)
    gate = GateController(api, state, settings, **kwargs)
    watcher.start()
    gate.start()
    try:
        yield gate
    finally:
        gate.stop()
        watcher.stop()
