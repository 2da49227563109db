"""Each verb over real HTTP, with bodies shaped as kube-scheduler sends them (extender/v1)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from .conftest import node, pod, wait_for

NODES = [node("n1", cpu="4"), node("n2", cpu="2"), node("n3", cpu="8")]
BOUND = [pod("web-0", cpu="3", node_name="n1")]


def post(url: str, verb: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(f"{url}/scheduler/{verb}", content=orjson.dumps(body), timeout=10, **kw)


def names_args(p: dict, names: list[str] | None) -> dict:
    # ExtenderArgs as Go marshals it with nodeCacheCapable: true (Nodes is null, never omitted).
    return {"Pod": p, "Nodes": None, "NodeNames": names}


def list_args(p: dict, nodes: list[dict]) -> dict:
    # nodeCacheCapable: false -> a full v1.NodeList and NodeNames null.
    return {"Pod": p, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}


def test_filter_with_node_names(serve) -> None:
    run = serve(NODES, BOUND)
    r = post(run.url, "filter", names_args(pod("p", cpu="2"), ["n1", "n2", "n3"]))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    # Go's encoding: all five fields present, nil ones as null, PascalCase, in struct order.
    assert list(r.json()) == [
        "Nodes",
        "NodeNames",
        "FailedNodes",
        "FailedAndUnresolvableNodes",
        "Error",
    ]
    assert r.json() == {
        "Nodes": None,
        "NodeNames": ["n2", "n3"],
        "FailedNodes": {"n1": "Insufficient cpu"},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }


def test_filter_with_node_list_answers_nodes(serve) -> None:
    run = serve(NODES, BOUND)
    items = [node("n1", cpu="4"), node("n2", cpu="2"), node("new", cpu="1")]
    r = post(run.url, "filter", list_args(pod("p", cpu="2"), items))
    body = r.json()
    assert r.status_code == 200
    assert body["NodeNames"] is None
    assert [n["metadata"]["name"] for n in body["Nodes"]["items"]] == ["n2"]
    # The full Node objects come back as they were sent.
    assert body["Nodes"]["items"][0] == items[1]
    assert body["FailedNodes"] == {"n1": "Insufficient cpu", "new": "Insufficient cpu"}
    assert "new" in run.state.nodes  # full Nodes in requests feed the service's state


def test_filter_cordoned_node_is_unresolvable(serve) -> None:
    cordoned = node("c1")
    cordoned["spec"]["unschedulable"] = True
    run = serve([*NODES, cordoned])
    r = post(run.url, "filter", names_args(pod("p"), ["c1", "n3"]))
    body = r.json()
    assert body["NodeNames"] == ["n3"]
    assert "c1" in body["FailedAndUnresolvableNodes"]
    assert "c1" not in body["FailedNodes"]


def test_filter_returns_only_requested_names_and_passes_unknown(serve) -> None:
    run = serve(NODES)
    r = post(run.url, "filter", names_args(pod("p"), ["n2", "ghost"]))
    assert r.json()["NodeNames"] == ["n2", "ghost"]
    r = post(run.url, "filter", names_args(pod("p"), None))
    assert r.json()["NodeNames"] is None and r.json()["Nodes"] is None


def test_prioritize_bare_array_scores_0_to_10(serve) -> None:
    run = serve(NODES, BOUND)
    r = post(run.url, "prioritize", names_args(pod("p", cpu="1"), ["n1", "n2", "n3"]))
    scores = r.json()
    assert r.status_code == 200
    assert isinstance(scores, list)
    assert [s["Host"] for s in scores] == ["n1", "n2", "n3"]
    assert all(set(s) == {"Host", "Score"} for s in scores)
    assert all(isinstance(s["Score"], int) and 0 <= s["Score"] <= 10 for s in scores)
    by_host = {s["Host"]: s["Score"] for s in scores}
    assert by_host["n3"] > by_host["n2"] > by_host["n1"]  # least allocated wins without a plan


def test_prioritize_with_node_list(serve) -> None:
    run = serve()
    r = post(
        run.url,
        "prioritize",
        list_args(pod("p", cpu="1"), [node("a", cpu="2"), node("b", cpu="8")]),
    )
    by_host = {s["Host"]: s["Score"] for s in r.json()}
    assert by_host["b"] > by_host["a"]


def lower_all_keys(value: object) -> object:
    """What TestCompatibility does to the JSON, keys only (label values keep their case)."""
    if isinstance(value, dict):
        return {k.lower(): lower_all_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_all_keys(v) for v in value]
    return value


def test_lowercased_keys_are_accepted(serve) -> None:
    run = serve(NODES, BOUND, bind=True)
    body = lower_all_keys(names_args(pod("p", cpu="2"), ["n1", "n2"]))
    assert "schedulername" in str(body) and "schedulerName" not in str(body)
    r = httpx.post(f"{run.url}/scheduler/filter", content=orjson.dumps(body))
    assert r.status_code == 200
    assert r.json()["NodeNames"] == ["n2"]
    # Every field name of the embedded Pod was lowercased too: requests must still parse.
    r = httpx.post(f"{run.url}/scheduler/prioritize", content=orjson.dumps(body))
    assert len(r.json()) == 2
    bind = {"podname": "p", "podnamespace": "default", "poduid": "uid-p", "node": "n2"}
    assert post(run.url, "bind", bind).json() == {"Error": ""}


def test_bind_is_idempotent_and_updates_state(serve) -> None:
    run = serve(NODES, [pod("p", cpu="2")], bind=True)
    args = {"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "n3"}
    assert post(run.url, "bind", args).json() == {"Error": ""}
    assert post(run.url, "bind", args).json() == {"Error": ""}  # a retried bind succeeds
    other = post(run.url, "bind", {**args, "Node": "n1"})
    assert other.status_code == 200
    assert "already bound to node n3" in other.json()["Error"]
    assert run.state.pods["uid-p"].node == "n3"
    assert run.state.nodes["n3"].used["cpu"] == 2000
    assert run.state.check_usage() == []


def test_bind_goes_through_the_binder(serve) -> None:
    calls = []

    class Refusing:
        def bind(self, namespace: str, name: str, uid: str, node: str) -> str | None:
            calls.append((namespace, name, uid, node))
            return 'pods "p" is forbidden' if node == "n1" else None

    run = serve(NODES, [pod("p")], binder=Refusing(), bind=True)
    args = {"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "n1"}
    assert post(run.url, "bind", args).json()["Error"] == 'pods "p" is forbidden'
    assert run.state.pods["uid-p"].node is None
    assert post(run.url, "bind", {**args, "Node": "n2"}).json() == {"Error": ""}
    assert calls == [("default", "p", "uid-p", "n1"), ("default", "p", "uid-p", "n2")]


def test_preempt_meta_victims(serve) -> None:
    victims = [
        pod("low-a", node_name="n1", priority=10),
        pod("low-b", node_name="n2", priority=10),
        pod("high", node_name="n3", priority=1000),
    ]
    run = serve(NODES, victims)
    args = {
        "Pod": pod("pre", priority=100),
        "NodeNameToVictims": None,
        "NodeNameToMetaVictims": {
            "n1": {"Pods": [{"UID": "uid-low-a"}], "NumPDBViolations": 1},
            "n2": {"Pods": [{"UID": "uid-low-b"}], "NumPDBViolations": 0},
            "n3": {"Pods": [{"UID": "uid-high"}], "NumPDBViolations": 0},
        },
    }
    r = post(run.url, "preempt", args)
    assert r.status_code == 200
    # n3 would evict a higher-priority pod; n1 breaks more PDBs than n2.
    assert r.json() == {
        "NodeNameToMetaVictims": {"n2": {"Pods": [{"UID": "uid-low-b"}], "NumPDBViolations": 0}}
    }


def test_preempt_full_victims_answers_meta_victims(serve) -> None:
    run = serve(NODES)
    args = {
        "Pod": pod("pre", priority=100),
        "NodeNameToVictims": {
            "n1": {"Pods": [pod("v1", node_name="n1", priority=5)], "NumPDBViolations": 0},
            "n2": {"Pods": [pod("v2", node_name="n2", priority=500)], "NumPDBViolations": 0},
        },
        "NodeNameToMetaVictims": None,
    }
    assert post(run.url, "preempt", args).json() == {
        "NodeNameToMetaVictims": {"n1": {"Pods": [{"UID": "uid-v1"}], "NumPDBViolations": 0}}
    }


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("filter", b"{not json"),
        ("filter", b""),
        ("filter", b"[1, 2]"),
        ("filter", b'{"Pod": null, "NodeNames": ["n1"]}'),
        ("filter", b'{"Pod": {"metadata": {"name": "p"}}, "NodeNames": "n1"}'),
        ("prioritize", b'{"Pod": 7}'),
        ("prioritize", b'{"Pod": {"metadata": {"name": "p"}}, "Nodes": {"items": 3}}'),
        ("bind", b'{"PodName": "p"}'),
        ("bind", b'{"PodName": 1, "Node": "n1"}'),
        ("preempt", b'{"Pod": {"metadata": {"name": "p"}}, "NodeNameToMetaVictims": {"n1": 3}}'),
    ],
)
def test_bad_bodies_get_400_and_service_keeps_serving(serve, verb: str, body: bytes) -> None:
    run = serve(NODES)
    r = httpx.post(f"{run.url}/scheduler/{verb}", content=body)
    assert r.status_code == 400
    assert r.json()["Error"]
    ok = post(run.url, "filter", names_args(pod("p"), ["n1"]))
    assert ok.status_code == 200 and ok.json()["NodeNames"] == ["n1"]


def test_oversized_body_gets_413(serve) -> None:
    run = serve(NODES, max_body_bytes=1000)
    big = names_args(pod("p"), [f"node-{i}" for i in range(500)])
    r = post(run.url, "filter", big)
    assert r.status_code == 413
    assert "exceeds" in r.json()["Error"]
    # Chunked upload with no Content-Length is counted as it streams.
    r = httpx.post(f"{run.url}/scheduler/filter", content=iter([orjson.dumps(big)]))
    assert r.status_code == 413
    assert post(run.url, "filter", names_args(pod("p"), ["n1"])).status_code == 200


def test_routes_prefix_health_metrics(serve) -> None:
    run = serve(NODES, prefix="/ext/v1/")
    assert httpx.get(f"{run.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{run.url}/readyz").status_code == 200
    assert httpx.post(f"{run.url}/scheduler/filter", content=b"{}").status_code == 404
    assert httpx.get(f"{run.url}/ext/v1/filter").status_code == 405
    body = orjson.dumps(names_args(pod("p"), ["n1"]))
    assert httpx.post(f"{run.url}/ext/v1/filter", content=body).status_code == 200
    text = httpx.get(f"{run.url}/metrics").text
    assert 'placer_extender_requests_total{code="200",verb="filter"} 1.0' in text
    assert "placer_extender_request_seconds_bucket" in text
    assert 'placer_extender_fallbacks_total{reason="planner_off",verb="filter"} 1.0' in text
    assert "placer_extender_plan_age_seconds -1.0" in text
    assert "placer_extender_nodes 3.0" in text


def test_pending_pods_from_requests_are_learned(serve) -> None:
    run = serve(NODES)
    post(run.url, "filter", names_args(pod("newcomer"), ["n1"]))
    wait_for(lambda: "uid-newcomer" in run.state.pods)
    assert run.state.pods["uid-newcomer"].node is None
