"""List+watch and Bindings against a fake CoreV1Api (no cluster needed)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.extender.kubeapi import ApiBinder, ClusterWatcher
from engine.extender.state import ClusterState

from .conftest import node, pod


class Raw:
    """What the client returns with ``_preload_content=False``: ``.data`` and ``.stream()``."""

    def __init__(self, data: bytes = b"", events: list[dict[str, Any]] | None = None) -> None:
        self.data = data
        self.events = events or []
        self.released = False

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        # Events split across chunks, as a real chunked response may deliver them.
        text = b"".join(orjson.dumps(e) + b"\n" for e in self.events)
        for i in range(0, len(text), 37):
            yield text[i : i + 37]

    def release_conn(self) -> None:
        self.released = True


class ApiException(Exception):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = message
        self.body = orjson.dumps({"message": message})


class FakeCoreV1:
    def __init__(self) -> None:
        self.nodes = [node("n1"), node("n2")]
        self.pods = [pod("a", node_name="n1"), pod("b")]
        self.node_events: list[list[dict[str, Any]]] = []
        self.pod_events: list[list[dict[str, Any]]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.bound: dict[tuple[str, str], str] = {}

    def _list(self, kind: str, items: list[dict], events: list, **kw: Any) -> Raw:
        self.calls.append((kind, kw))
        if kw.get("watch"):
            return Raw(events=events.pop(0) if events else [])
        # Two pages, to exercise the continue token.
        if kw.get("_continue") is None and len(items) > 1:
            meta = {"resourceVersion": "10", "continue": "page2"}
            return Raw(orjson.dumps({"metadata": meta, "items": items[:1]}))
        rest = items[1:] if kw.get("_continue") else items
        return Raw(orjson.dumps({"metadata": {"resourceVersion": "10"}, "items": rest}))

    def list_node(self, **kw: Any) -> Raw:
        return self._list("nodes", self.nodes, self.node_events, **kw)

    def list_pod_for_all_namespaces(self, **kw: Any) -> Raw:
        return self._list("pods", self.pods, self.pod_events, **kw)

    def create_namespaced_pod_binding(self, name: str, namespace: str, body: Any, **kw: Any) -> Raw:
        assert kw.get("_preload_content") is False
        assert body.target.kind == "Node"
        key = (namespace, name)
        if key in self.bound:
            raise ApiException(409, f'pods "{name}" is already assigned to node')
        if name == "forbidden":
            raise ApiException(403, "binding is forbidden")
        self.bound[key] = body.target.name
        return Raw(b"{}")

    def read_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> Raw:
        return Raw(orjson.dumps({"spec": {"nodeName": self.bound.get((namespace, name))}}))


def test_list_then_watch_applies_events() -> None:
    api = FakeCoreV1()
    state = ClusterState()
    watcher = ClusterWatcher(api, state)
    nodes, pods = watcher.kinds
    assert watcher.list(nodes) == "10"
    assert not state.synced  # pods not listed yet
    watcher.list(pods)
    assert state.synced
    assert set(state.nodes) == {"n1", "n2"} and set(state.pods) == {"uid-a", "uid-b"}
    assert state.nodes["n1"].used["cpu"] == 1000

    bound_b = pod("b", node_name="n2")
    bound_b["metadata"]["resourceVersion"] = "12"
    api.pod_events.append(
        [
            {"type": "MODIFIED", "object": bound_b},
            {"type": "ADDED", "object": pod("c", cpu="2", node_name="n2")},
            {"type": "DELETED", "object": pod("a", node_name="n1")},
            {"type": "BOOKMARK", "object": {"kind": "Pod", "metadata": {"resourceVersion": "15"}}},
        ]
    )
    assert watcher.watch(pods, "10") == "15"
    assert state.pods["uid-b"].node == "n2"
    assert "uid-a" not in state.pods
    assert state.nodes["n1"].used.get("cpu", 0) == 0
    assert state.nodes["n2"].used["cpu"] == 3000
    assert state.check_usage() == []
    watch_call = next(kw for kind, kw in api.calls if kind == "pods" and kw.get("watch"))
    assert watch_call["resource_version"] == "10" and watch_call["allow_watch_bookmarks"]

    cordoned = node("n1")
    cordoned["spec"]["unschedulable"] = True
    cordoned["metadata"]["resourceVersion"] = "20"
    api.node_events.append(
        [{"type": "MODIFIED", "object": cordoned}, {"type": "DELETED", "object": node("n2")}]
    )
    watcher.watch(nodes, "10")
    assert state.nodes["n1"].unusable == "node(s) were unschedulable"
    assert "n2" not in state.nodes


def test_watch_expired_asks_for_relist() -> None:
    api = FakeCoreV1()
    state = ClusterState()
    watcher = ClusterWatcher(api, state)
    api.node_events.append([{"type": "ERROR", "object": {"code": 410, "message": "too old"}}])
    assert watcher.watch(watcher.kinds[0], "3") is None
    api.node_events.append([{"type": "ERROR", "object": {"code": 500, "message": "boom"}}])
    with pytest.raises(RuntimeError, match="boom"):
        watcher.watch(watcher.kinds[0], "3")


def test_relist_drops_vanished_objects() -> None:
    api = FakeCoreV1()
    state = ClusterState()
    watcher = ClusterWatcher(api, state)
    watcher.run(watcher.kinds[0], once=True)
    watcher.run(watcher.kinds[1], once=True)
    api.nodes = [node("n2")]
    api.pods = [pod("b", node_name="n2")]
    watcher.run(watcher.kinds[0], once=True)
    watcher.run(watcher.kinds[1], once=True)
    assert set(state.nodes) == {"n2"} and set(state.pods) == {"uid-b"}
    assert state.check_usage() == []


def test_api_binder_is_idempotent() -> None:
    api = FakeCoreV1()
    binder = ApiBinder(api)
    assert binder.bind("default", "p", "uid-p", "n1") is None
    assert binder.bind("default", "p", "uid-p", "n1") is None  # retried after a lost reply
    assert binder.bind("default", "p", "uid-p", "n2") == "pod default/p is already bound to node n1"
    error = binder.bind("default", "forbidden", "", "n1")
    assert error is not None and "binding is forbidden" in error


@pytest.mark.parametrize(
    ("spec", "ready", "reason"),
    [
        ({"unschedulable": True}, "True", "node(s) were unschedulable"),
        ({}, "False", "node(s) had untolerated taint(s)"),  # before the lifecycle taint lands
        ({}, "Unknown", "node(s) had untolerated taint(s)"),
        (
            {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]},
            "True",
            "node(s) had untolerated taint(s)",
        ),
        ({"taints": [{"key": "other", "effect": "NoSchedule"}]}, "True", None),
        ({}, "True", None),
    ],
)
def test_serve_and_solve_give_a_node_the_same_unusable_reason(
    spec: dict[str, Any], ready: str, reason: str | None
) -> None:
    """The extender's node records take kube-scheduler's words from engine.kube (v1.34 texts)."""
    from engine.kube import node_unusable_reason

    obj = node("n1")
    obj["spec"] = spec
    obj["status"]["conditions"] = [{"type": "Ready", "status": ready}]
    state = ClusterState()
    state.upsert_node(obj)
    assert state.nodes["n1"].unusable == node_unusable_reason(obj) == reason
