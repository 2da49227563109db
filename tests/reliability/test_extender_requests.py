"""Hostile requests: refused at the edge (400, or the protocol's Error field to the scheduler),
never a 5xx, never stored, never poisoning a later plan; pods in requests never bind anything."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.extender_load import hostile_requests, rich_node, rich_pod, valid_requests
from engine import kube
from engine.extender.handlers import Extender
from engine.extender.state import ClusterState
from engine.extender.wire import WireError
from tests.engine.extender.conftest import serve  # noqa: F401  (the fixture)
from tests.profiles import examples

KNOWN = ["n1", "n2", "n3"]


def service(*, snapshot: bool = True) -> tuple[ClusterState, Extender]:
    state = ClusterState()
    if snapshot:
        nodes = [rich_node(name, zone=f"z{k % 2 + 1}") for k, name in enumerate(KNOWN)]
        low = rich_pod("low", priority=1, node_name="n1")
        low["metadata"]["uid"] = "uid-low"
        state.replace(nodes, [low])
    else:
        state.mark_synced()
    return state, Extender(state, None, binds=True)


def call(ext: Extender, verb: str, body: bytes) -> int:
    """The HTTP status the service would answer (app.py: WireError -> its status; any other
    exception -> 500, which this lets through to fail the test)."""
    try:
        getattr(ext, verb)(body)
    except WireError as exc:
        assert str(exc) and "\n" not in str(exc)
        return exc.status
    return 200


def assert_builds(state: ClusterState) -> None:
    """What is stored always builds: the planner's own input conversion accepts it."""
    docs = state.documents()
    if any(d.get("kind") == "Node" for d in docs):
        kube.manifests_to_problem(docs, "state")


@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot", "request-fed"])
def test_hundreds_of_mutated_requests_no_5xx_nothing_poisoned(snapshot: bool) -> None:
    state, ext = service(snapshot=snapshot)
    statuses: Counter[int] = Counter()
    for n, (verb, body) in enumerate(hostile_requests(seed=7, count=600, known_nodes=KNOWN)):
        statuses[call(ext, verb, body)] += 1
        if n % 50 == 0:
            assert_builds(state)
    assert_builds(state)
    assert sum(statuses.values()) >= 590
    assert set(statuses) <= {200, 400, 404}, statuses
    assert statuses[400] > 100 and statuses[200] > 100  # the generator hits both sides
    assert state.check_usage() == []


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*here, index))
    return out


@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_anywhere_in_any_request(data: st.DataObject) -> None:
    state, ext = service()
    verb, args = data.draw(st.sampled_from(valid_requests(0, KNOWN)))
    args = copy.deepcopy(args)
    path = data.draw(st.sampled_from(_paths(args)))
    value = data.draw(JSON)
    if not path:
        args = value
    else:
        parent = args
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
    assert call(ext, verb, orjson.dumps(args)) in (200, 400, 404)
    assert_builds(state)


def _with(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    parts = path.split(".")
    target = obj
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    target[parts[-1]] = value
    return obj


POD = rich_pod("bad")
NODE = rich_node("bad-node")
TERM = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
# Each one was answered 200 and stored, or crashed into a 500, before (issue 18's audit).
BAD_PODS = {
    "metadata not an object": _with(POD, "metadata", "x"),
    "spec not an object": _with(POD, "spec", "x"),
    "cpu 1e60": _with(POD, "spec.containers.0.resources.requests.cpu", "1e60"),
    "cpu -1": _with(POD, "spec.containers.0.resources.requests.cpu", "-1"),
    "cpu not a quantity": _with(POD, "spec.containers.0.resources.requests.cpu", "lots"),
    "string priority": _with(POD, "spec.priority", "high"),
    "priority beyond int32": _with(POD, "spec.priority", 2**40),
    "bool priority": _with(POD, "spec.priority", True),
    "list-valued label": _with(POD, "metadata.labels.app", ["web"]),
    "label value too long": _with(POD, "metadata.labels.app", "w" * 64),
    "nodeSelector list": _with(POD, "spec.nodeSelector", ["disk"]),
    "unknown affinity operator": _with(
        POD, f"{TERM}.nodeSelectorTerms",
        [{"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["z1"]}]}],
    ),
    "tolerations not a list": _with(POD, "spec.tolerations", {"key": "x"}),
    "toleration operator": _with(POD, "spec.tolerations", [{"key": "x", "operator": "Maybe"}]),
    "spread maxSkew 0": _with(POD, "spec.topologySpreadConstraints.0.maxSkew", 0),
    "spread when": _with(POD, "spec.topologySpreadConstraints.0.whenUnsatisfiable", "Sometimes"),
    "anti-affinity without topologyKey": _with(
        POD, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        [{"labelSelector": {"matchLabels": {"app": "web"}}}],
    ),
    "preferred weight 0": _with(
        POD, "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution.0.weight", 0
    ),
    "unknown PriorityClass": _with(_with(POD, "spec.priority", None), "spec.priorityClassName", "gold"),
    "containers not a list": _with(POD, "spec.containers", {"name": "main"}),
    "no name": _with(POD, "metadata.name", ""),
}  # fmt: skip
BAD_NODES = {
    "taints a string": _with(NODE, "spec.taints", "x"),
    "taint effect": _with(NODE, "spec.taints", [{"key": "k", "effect": "Sometimes"}]),
    "status a string": _with(NODE, "status", "x"),
    "allocatable 1e60": _with(NODE, "status.allocatable.cpu", "1e60"),
    "allocatable a list": _with(NODE, "status.allocatable", ["cpu"]),
    "labels a list": _with(NODE, "metadata.labels", ["zone"]),
    "conditions not a list": _with(NODE, "status.conditions", {"type": "Ready"}),
    "unschedulable a string": _with(NODE, "spec.unschedulable", "yes"),
}  # fmt: skip


@pytest.mark.parametrize("bad", BAD_PODS.values(), ids=BAD_PODS.keys())
@pytest.mark.parametrize("verb", ["filter", "prioritize", "preempt"])
def test_bad_pods_are_refused_and_not_stored(bad: dict[str, Any], verb: str) -> None:
    state, ext = service()
    before = (state.version, len(state.pods))
    if verb == "preempt":
        args: dict[str, Any] = {"Pod": bad, "NodeNameToVictims": None, "NodeNameToMetaVictims": {}}
    else:
        args = {"Pod": bad, "Nodes": None, "NodeNames": KNOWN}
    assert call(ext, verb, orjson.dumps(args)) == 400
    assert (state.version, len(state.pods)) == before
    assert_builds(state)
    # ... and a bad victim is refused the same way.
    victims = {"n1": {"Pods": [bad], "NumPDBViolations": 0}}
    args = {"Pod": rich_pod("ok"), "NodeNameToVictims": victims, "NodeNameToMetaVictims": None}
    if bad.get("metadata") == "x" or bad.get("spec") == "x" or verb != "preempt":
        return
    call(ext, "preempt", orjson.dumps(args))  # 200 or 400, never an exception


@pytest.mark.parametrize("bad", BAD_NODES.values(), ids=BAD_NODES.keys())
@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot", "request-fed"])
def test_bad_nodes_are_refused_and_nothing_of_the_request_is_stored(
    bad: dict[str, Any], snapshot: bool
) -> None:
    state, ext = service(snapshot=snapshot)
    before = (state.version, set(state.nodes), set(state.pods))
    good = rich_node("good-node")
    args = {"Pod": rich_pod("fresh"), "Nodes": {"items": [good, bad]}, "NodeNames": None}
    for verb in ("filter", "prioritize"):
        assert call(ext, verb, orjson.dumps(args)) == 400
    assert (state.version, set(state.nodes), set(state.pods)) == before
    assert_builds(state)


def test_refusals_reach_the_scheduler_in_the_error_field(serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run = serve([rich_node(n) for n in KNOWN], bind=False)
    bad = BAD_PODS["string priority"]
    as_go = {"Pod": bad, "Nodes": None, "NodeNames": KNOWN}  # every field, Go's names
    r = httpx.post(f"{run.url}/scheduler/filter", content=orjson.dumps(as_go))
    assert r.status_code == 200
    assert r.json()["NodeNames"] is None and "spec.priority" in r.json()["Error"]
    # Someone else (a partial body, other casing): 400 with a JSON error.
    r = httpx.post(f"{run.url}/scheduler/filter", content=orjson.dumps({"pod": bad}))
    assert r.status_code == 400 and "spec.priority" in r.json()["Error"]
    # prioritize and preempt have no Error field in the protocol: a 400 for everyone.
    r = httpx.post(f"{run.url}/scheduler/prioritize", content=orjson.dumps(as_go))
    assert r.status_code == 400
    # bind without --bind never answers success.
    bind = {"PodName": "p", "PodNamespace": "default", "PodUID": "u", "Node": "n1"}
    r = httpx.post(f"{run.url}/scheduler/bind", content=orjson.dumps(bind))
    assert r.status_code == 200 and "--bind" in r.json()["Error"]
    r = httpx.post(f"{run.url}/scheduler/bind", content=orjson.dumps({**bind, "extra": 1}))
    assert r.status_code == 404 and "--bind" in r.json()["Error"]


def test_bind_answers_honestly_about_unknown_pods_and_nodes() -> None:
    state, ext = service()
    state.upsert_pod(rich_pod("p"))

    def bind(name: str, node: str, uid: str | None = None) -> str:
        args = {
            "PodName": name,
            "PodNamespace": "team",
            "PodUID": uid or f"uid-{name}",
            "Node": node,
        }
        return str(orjson.loads(ext.bind(orjson.dumps(args)))["Error"])

    assert "node 'ghost' is not known" in bind("p", "ghost")
    assert "pod team/nobody is not known" in bind("nobody", "n2")
    assert "has uid uid-p, not other" in bind("p", "n2", uid="other")
    assert state.pods["uid-p"].node is None
    assert bind("p", "n2") == "" and state.pods["uid-p"].node == "n2"


def test_a_pod_in_a_request_never_changes_bound_state() -> None:
    state, ext = service()
    greedy = rich_pod("greedy", node_name="n2")
    greedy["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1000"
    args = {"Pod": greedy, "Nodes": None, "NodeNames": KNOWN}
    for verb in ("filter", "prioritize", "preempt"):
        body = args if verb != "preempt" else {"Pod": greedy, "NodeNameToVictims": None,
                                               "NodeNameToMetaVictims": None}  # fmt: skip
        assert call(ext, verb, orjson.dumps(body)) == 200
    assert "uid-greedy" not in state.pods
    assert state.nodes["n2"].used.get("cpu", 0) == 0
    # A later pod is not refused n2 on its account.
    result = orjson.loads(ext.filter(orjson.dumps({**args, "Pod": rich_pod("next")})))
    assert "n2" not in result["FailedNodes"]
    # Known pods keep the record the snapshot gave them, whatever a request claims.
    claim = rich_pod("low", node_name="n3")
    claim["metadata"]["uid"] = "uid-low"
    ext.filter(orjson.dumps({**args, "Pod": claim}))
    assert state.pods["uid-low"].node == "n1"


def test_a_request_never_overrules_the_source_of_truth() -> None:
    state, ext = service()
    cordoned = rich_node("n1")
    cordoned["metadata"]["resourceVersion"] = "2"
    cordoned["spec"]["unschedulable"] = True
    cordoned["status"]["allocatable"]["cpu"] = "1"
    args = {"Pod": rich_pod("p"), "Nodes": {"items": [cordoned]}, "NodeNames": None}
    assert call(ext, "filter", orjson.dumps(args)) == 200
    assert state.nodes["n1"].allocatable["cpu"] == 8000 and state.nodes["n1"].unusable is None
    assert "n1" not in state.learned_nodes


def test_hostile_requests_over_http_never_get_a_5xx(serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    nodes = [rich_node(name, zone=f"z{k % 2 + 1}") for k, name in enumerate(KNOWN)]
    run = serve(nodes, bind=True)
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=f"{run.url}/scheduler", timeout=10) as client:
        for verb, body in hostile_requests(seed=11, count=300, known_nodes=KNOWN):
            r = client.post(f"/{verb}", content=body)
            statuses[r.status_code] += 1
            assert r.headers["content-type"] == "application/json"
            r.json()  # always a JSON body
    assert all(code < 500 for code in statuses), statuses
    assert_builds(run.state)
    ok = {"Pod": rich_pod("after"), "Nodes": None, "NodeNames": KNOWN}
    assert httpx.post(f"{run.url}/scheduler/filter", content=orjson.dumps(ok)).status_code == 200


def test_a_pod_name_is_held_by_one_pod_at_a_time() -> None:
    """Two requests' pods with one namespace/name and different uids (found by the HTTP
    hostile run: both were stored and every later plan failed with "duplicate object")."""
    state, ext = service()
    names = {"Nodes": None, "NodeNames": KNOWN}
    first, second = rich_pod("twin"), rich_pod("twin")
    second["metadata"]["uid"] = "uid-twin-2"
    for p in (first, second):
        assert call(ext, "filter", orjson.dumps({"Pod": p, **names})) == 200
    assert "uid-twin" not in state.pods and state.pods["uid-twin-2"].name == "twin"
    assert_builds(state)
    # A request naming a pod the snapshot holds under another uid is answered, not stored.
    impostor = rich_pod("low")
    impostor["metadata"]["uid"] = "uid-impostor"
    assert call(ext, "filter", orjson.dumps({"Pod": impostor, **names})) == 200
    assert "uid-impostor" not in state.pods and "uid-low" in state.pods
    # The watch reporting a recreated pod replaces the old record.
    reborn = rich_pod("low", node_name="n2")
    reborn["metadata"]["uid"] = "uid-low-2"
    state.upsert_pod(reborn)
    assert "uid-low" not in state.pods and state.pods["uid-low-2"].node == "n2"
    assert state.check_usage() == []
    assert_builds(state)


@pytest.mark.slow
def test_thousands_of_mutated_requests_on_a_real_sized_snapshot() -> None:
    """The 600-request test's classes on a 50-node, 500-pod snapshot, long enough for the
    request-learned objects to pile up (bench.extender_load --reliability sends 20,000 over HTTP)."""
    from bench.extender_load import make_cluster

    nodes, pods = make_cluster(50, 500)
    state = ClusterState()
    state.replace(nodes, pods)
    ext = Extender(state, None, binds=True)
    known = [n["metadata"]["name"] for n in nodes[:5]]
    for n, (verb, body) in enumerate(hostile_requests(seed=1, count=5_000, known_nodes=known)):
        assert call(ext, verb, body) in (200, 400, 404)
        if n % 1000 == 999:
            assert_builds(state)
    assert_builds(state)
    assert state.check_usage() == []
