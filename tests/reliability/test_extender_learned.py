"""What requests alone teach the service stays bounded: LRU caps on nodes, pods and bytes, a TTL,
metrics; the watch or snapshot is never evicted."""

from __future__ import annotations

import time

import orjson
from prometheus_client import generate_latest

from bench.extender_load import rich_node, rich_pod
from engine.extender.handlers import Extender
from engine.extender.metrics import Metrics
from engine.extender.state import ClusterState, LearnLimits

from .extender_helpers import metric


def flood(ext: Extender, requests: int, nodes_per_request: int) -> None:
    for r in range(requests):
        items = [rich_node(f"flood-{r}-{k}") for k in range(nodes_per_request)]
        args = {"Pod": rich_pod(f"flood-{r}"), "Nodes": {"items": items}, "NodeNames": None}
        ext.filter(orjson.dumps(args))


def test_caps_bound_learned_nodes_and_pods_and_keep_the_snapshot() -> None:
    state = ClusterState(LearnLimits(nodes=40, pods=25, bytes=2**30, ttl=3600))
    state.replace([rich_node("truth")], [rich_pod("truth-pod", node_name="truth")])
    metrics = Metrics()
    metrics.watch(state, None)
    ext = Extender(state)
    flood(ext, requests=100, nodes_per_request=10)  # 1,000 nodes and 100 pods, all distinct
    assert len(state.learned_nodes) <= 40 and len(state.learned_pods) <= 25
    assert len(state.nodes) <= 41 and len(state.pods) <= 26
    assert "truth" in state.nodes and "uid-truth-pod" in state.pods
    # The most recently seen survive; the oldest went first.
    assert "flood-99-9" in state.nodes and "flood-0-0" not in state.nodes
    assert "uid-flood-99" in state.pods and "uid-flood-0" not in state.pods
    assert state.table.size <= 128  # rows of evicted nodes are reused
    assert state.check_usage() == []
    text = generate_latest(metrics.registry).decode()
    assert metric(text, 'placer_extender_learned_objects{kind="nodes"}') == len(state.learned_nodes)
    assert metric(text, 'placer_extender_learned_evictions_total{kind="nodes"}') == 1000 - 40
    assert metric(text, 'placer_extender_learned_evictions_total{kind="pods"}') == 100 - 25


def test_the_byte_cap_and_the_ttl() -> None:
    state = ClusterState(LearnLimits(nodes=10**6, pods=10**6, bytes=64 * 1024, ttl=0.3))
    ext = Extender(state)
    flood(ext, requests=50, nodes_per_request=20)
    total = state.learned_nodes.bytes + state.learned_pods.bytes
    assert 0 < total <= 64 * 1024
    time.sleep(0.4)
    state.expire_learned()
    assert len(state.learned_nodes) == len(state.learned_pods) == 0
    assert not state.nodes and not state.pods


def test_a_learned_pod_seen_again_stays_and_the_watch_takes_it_over() -> None:
    state = ClusterState(LearnLimits(nodes=100, pods=3, bytes=2**30, ttl=3600))
    ext = Extender(state)
    names = {"Nodes": None, "NodeNames": []}
    for name in ("a", "b", "c"):
        ext.filter(orjson.dumps({"Pod": rich_pod(name), **names}))
    ext.filter(orjson.dumps({"Pod": rich_pod("a"), **names}))  # a is the most recent now
    ext.filter(orjson.dumps({"Pod": rich_pod("d"), **names}))
    assert set(state.pods) == {"uid-a", "uid-c", "uid-d"}
    state.upsert_pod(rich_pod("c", node_name="x"))  # the watch reports c: no longer learned
    assert "uid-c" not in state.learned_pods and state.pods["uid-c"].node == "x"
    for name in ("e", "f", "g", "h"):
        ext.filter(orjson.dumps({"Pod": rich_pod(name), **names}))
    assert "uid-c" in state.pods and len(state.learned_pods) == 3
