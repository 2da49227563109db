"""What the extender's state keeps of a Pod is what scheduling reads.

The state slims every pod to the fields scheduling reads (``slim_pod``). Each row of the table
below is a pod carrying one field the adapter, the filters or the planner read, together with
fields nothing reads (env, images, probes, config volumes, annotations, managed fields); the
adapter must read the slim pod exactly as it reads the whole one: the same view, the same
request, the same problem beside other pods on a node. Then the planner's own uses: terminating
pods are never planned, DRA pods are never pinned by an incremental round.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from engine.extender.coverage import Coverage, plannable
from engine.extender.fold import fold
from engine.extender.incremental import pin, uncovered
from engine.extender.planner import Planner
from engine.extender.state import ClusterState, footprint, slim_pod
from engine.kube import manifests_to_problem
from engine.kube.resources import pod_request
from engine.kube.views import pod_view
from tests.engine.kube.test_dra import DEVICE_CLASS, slice_, template

from .conftest import node, pod

NOISE_META = {
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}" * 50},
    "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
    "resourceVersion": "41",
    "generateName": "web-",
}
NOISE_CONTAINER = {
    "image": "registry.example.com/web:1.0",
    "env": [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(20)],
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
    "ports": [{"containerPort": 8080, "protocol": "TCP"}],  # no host port: nothing to schedule
    "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
}
NOISE_STATUS = {
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
    "qosClass": "Burstable",
}


def noisy(p: dict[str, Any]) -> dict[str, Any]:
    """The pod as the apiserver lists it: the same scheduling fields, much else besides."""
    out = copy.deepcopy(p)
    out["metadata"].update(copy.deepcopy(NOISE_META))
    for c in out["spec"]["containers"]:
        for key, value in NOISE_CONTAINER.items():
            c.setdefault(key, copy.deepcopy(value))
    out["spec"].setdefault("volumes", []).append({"name": "config", "configMap": {"name": "web"}})
    out["spec"]["dnsPolicy"] = "ClusterFirst"
    out["status"] = {**copy.deepcopy(NOISE_STATUS), **(out.get("status") or {})}
    return out


def with_host_port(p: dict[str, Any], port: int = 8443, where: str = "containers") -> dict:
    spec = p["spec"]
    if where == "initContainers":
        spec["initContainers"] = [
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
        ]
    spec[where][0]["ports"] = [
        {"containerPort": 8080, "protocol": "TCP"},
        {"containerPort": port, "hostPort": port, "protocol": "TCP"},
    ]
    return p


def terminating(p: dict[str, Any]) -> dict[str, Any]:
    p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    p["metadata"]["deletionGracePeriodSeconds"] = 30
    return p


def with_claim(p: dict[str, Any], resolved: bool) -> dict[str, Any]:
    p["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}]
    p["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    if resolved:
        p["status"] = {"resourceClaimStatuses": [{"name": "gpu", "resourceClaimName": "x-gpu"}]}
    return p


def pod_level(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["resources"] = {"requests": {"cpu": "3", "memory": "2Gi"}}
    return p


def pvc(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    return p


def ephemeral(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["volumes"] = [
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {}}}}}
    ]
    return p


BOUND = {"node_name": "a", "owner": "web"}
PENDING = {"owner": "web"}
# (id, the pod under test, what the adapter must see of it); neighbours are in ``cluster``.
CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("host-port-pending", with_host_port(pod("web-1", **PENDING)), lambda v: v.host_ports),
    ("host-port-bound", with_host_port(pod("web-1", **BOUND)), lambda v: v.host_ports),
    (
        "host-port-sidecar",
        with_host_port(pod("web-1", **PENDING), where="initContainers"),
        lambda v: v.host_ports,
    ),
    ("terminating-bound", terminating(pod("web-1", **BOUND)), lambda v: v.terminating),
    ("terminating-pending", terminating(pod("web-1", **PENDING)), lambda v: v.terminating),
    ("dra-claim-template", with_claim(pod("web-1", **PENDING), False), lambda v: v.claims),
    ("dra-claim-resolved", with_claim(pod("web-1", **BOUND), True), lambda v: v.claims),
    ("pod-level-resources", pod_level(pod("web-1", **PENDING)), lambda v: v.request),
    ("pod-level-resources-bound", pod_level(pod("web-1", **BOUND)), lambda v: v.request),
    ("pvc-volume", pvc(pod("web-1", **PENDING)), lambda v: v.unsupported),
    ("ephemeral-volume", ephemeral(pod("web-1", **PENDING)), lambda v: v.unsupported),
    (
        "overhead-priority-tolerations",
        pod(
            "web-1",
            **PENDING,
            overhead={"cpu": "250m"},
            priority=100,
            preemptionPolicy="Never",
            tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
        lambda v: (v.request, v.priority, v.tolerations),
    ),
    (
        "selector-affinity-spread",
        pod(
            "web-1",
            **PENDING,
            nodeSelector={"zone": "z1"},
            affinity={
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"app": "web"}},
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            },
            topologySpreadConstraints=[
                {
                    "maxSkew": 1,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}},
                }
            ],
        ),
        lambda v: (v.nodes, v.pod_terms, v.spread),
    ),
    ("gated", pod("web-1", **PENDING, schedulingGates=[{"name": "x"}]), lambda v: v.gated),
    ("other-scheduler", pod("web-1", **PENDING, schedulerName="x"), lambda v: v.scheduler_name),
]
IDS = [c[0] for c in CASES]


def cluster(subject: dict[str, Any]) -> list[dict[str, Any]]:
    """Two nodes with GPUs, a bound pod holding host port 8443 on ``a``, the subject."""
    neighbour = with_host_port(pod("web-0", **BOUND))
    return [
        node("a", cpu="8", zone="z1"),
        node("b", cpu="8", zone="z1"),
        slice_("a", 2, "A100"),
        slice_("b", 2, "A100"),
        DEVICE_CLASS,
        template("one-gpu"),
        neighbour,
        subject,
    ]


def slimmed(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [slim_pod(d) if d.get("kind") == "Pod" else d for d in docs]


@pytest.mark.parametrize(("case", "subject", "seen"), CASES, ids=IDS)
def test_the_adapter_reads_a_slim_pod_as_the_whole_one(case: str, subject: dict, seen: Any) -> None:
    whole = noisy(subject)
    slim = slim_pod(whole)
    assert seen(pod_view(slim)) == seen(pod_view(whole))  # the field the row is about survives
    assert pod_view(slim) == pod_view(whole)
    assert pod_request(slim) == pod_request(whole)
    docs = cluster(whole)
    full = manifests_to_problem(docs, case, scheduler_name="default-scheduler")
    small = manifests_to_problem(slimmed(docs), case, scheduler_name="default-scheduler")
    assert small.model_dump(mode="json") == full.model_dump(mode="json")
    assert footprint(slim) < footprint(whole) / 2  # and the noise is gone


@pytest.mark.parametrize(("case", "subject", "seen"), CASES, ids=IDS)
def test_the_state_charges_what_the_scheduler_charges(case: str, subject: dict, seen: Any) -> None:
    state = ClusterState()
    state.replace([node("a", cpu="8"), node("b", cpu="8")], [noisy(subject)])
    (record,) = state.pods.values()
    assert record.request == pod_request(subject)
    assert record.terminating == ("deletionTimestamp" in subject["metadata"])
    bound = subject["spec"].get("nodeName")
    if bound:
        assert state.nodes[bound].used == pod_request(subject)
    assert not state.check_usage()


def test_terminating_pods_are_never_planned_but_hold_their_capacity() -> None:
    """A pending pod being deleted is not the planner's to place (the scheduler skips it), and a
    bound one keeps its node's capacity until it is gone, apart from the folded pods (it does
    not count for spreading)."""
    state = ClusterState()
    state.replace(
        [node("a", cpu="4"), node("b", cpu="4")],
        [
            noisy(terminating(pod("old", cpu="3", node_name="a", owner="old"))),
            noisy(pod("web-0", cpu="3", owner="web")),
        ],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    plan = planner.current
    assert plan is not None
    assert plan.targets[plan.group_of_uid["uid-web-0"]] == {"b": 1}  # a is held by "old"
    late = state.upsert_pod(noisy(terminating(pod("late", cpu="1", owner="late"))))
    assert late is not None and not plannable(late, "default-scheduler")
    assert uncovered(state, plan, Coverage(state, "default-scheduler")) == []
    nodes = {n.name: (n.obj, n.allocatable) for n in state.nodes.values()}
    folded = fold([], nodes, [(p.obj, p.request) for p in state.pods.values() if p.node])
    assert folded.pods_folded == 0 and folded.pods_kept == 1  # the adapter sees it apart


def test_an_incremental_round_never_pins_a_pod_with_dra_claims() -> None:
    """A plan does not write claim allocations, so a pending DRA pod is planned again rather
    than bound to its target as if its devices were settled."""
    state = ClusterState()
    state.replace(
        [node("a", cpu="8"), node("b", cpu="8")],
        [noisy(with_claim(pod("gpu-0", **PENDING), False)), noisy(pod("cpu-0", owner="cpu"))],
    )
    for doc in (slice_("a", 2, "A100"), slice_("b", 2, "A100"), DEVICE_CLASS, template("one-gpu")):
        state.upsert_object(doc)
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    plan = planner.current
    assert plan is not None and len(plan.targets) == 2
    pinning = pin(state, plan, "default-scheduler")
    assert pinning.uids == {"uid-cpu-0"}
    pinned = {d["metadata"]["name"]: d for d, _ in pinning.pods}
    assert "nodeName" not in pinned["gpu-0"]["spec"]
    assert pinned["gpu-0"]["spec"]["resourceClaims"]


def test_the_slim_pod_is_plain_json() -> None:
    whole = noisy(with_claim(with_host_port(terminating(pod("web-1", **BOUND))), True))
    slim = slim_pod(whole)
    assert orjson.loads(orjson.dumps(slim)) == slim
    assert [p.get("hostPort") for p in slim["spec"]["containers"][0]["ports"]] == [8443]
    assert set(slim["metadata"]) == {
        "name",
        "namespace",
        "uid",
        "labels",
        "ownerReferences",
        "deletionTimestamp",
    }


@pytest.mark.parametrize("protocol", ["tcp", "ICMP", "é" * 80, 6])
def test_a_host_port_protocol_the_api_refuses_is_refused_with_its_field(protocol: Any) -> None:
    """Kept host ports must not let a request's bad protocol into the state, where every later
    planning round would fail on it: the adapter names the field, the admission refuses it."""
    from engine.errors import InputError
    from engine.extender.admission import admit_pod
    from engine.extender.wire import WireError

    bad = with_host_port(pod("web-1", **PENDING))
    bad["spec"]["containers"][0]["ports"][1]["protocol"] = protocol
    with pytest.raises(InputError, match=r"spec.containers\[0\].ports\[1\].protocol"):
        manifests_to_problem(cluster(bad), "bad", scheduler_name="default-scheduler")
    with pytest.raises(WireError, match="protocol"):
        admit_pod(bad, {"cpu", "memory", "pods"}, set())
