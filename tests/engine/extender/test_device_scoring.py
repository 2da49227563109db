"""Prioritize with device scoring: placer's online GPU policy over DRA devices, cases by hand.

The cluster (DRA objects as the live watch or a snapshot gives them):

- ``a``: 32 CPUs, 2 shared A100s, both idle;
- ``b``: 32 CPUs, 2 shared A100s, ``gpu-0`` holding a 500-milli share (its claim's allocation);
- ``c``: 8 CPUs, 4 shared V100s, idle;
- ``d``: 64 CPUs, no devices.

The policy measures fragmentation against the pod shapes the service has seen in requests; each
case first shows it a few pods (``taught``), then asks for the pod under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from engine.extender.devices import DeviceScorer, LearnedShapes
from engine.extender.handlers import Extender
from engine.extender.state import ClusterState
from tests.engine.kube.test_dra import DEVICE_CLASS, DRIVER, slice_, template

from .conftest import node, pod

MODEL = f'device.attributes["{DRIVER}"].model'


def claim_pod(name: str, template_name: str | None, cpu: str = "2") -> dict[str, Any]:
    p = pod(name, cpu=cpu)
    if template_name is not None:
        p["spec"]["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
        p["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": template_name}]
    return p


def allocated_claim(name: str, node_name: str, device: str, milli: int | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "request": "gpu",
        "driver": DRIVER,
        "pool": node_name,
        "device": device,
    }
    if milli is not None:
        result["consumedCapacity"] = {"milli": str(milli)}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": template(name, capacity={"requests": {"milli": str(milli or 1000)}})["spec"][
            "spec"
        ],
        "status": {"allocation": {"devices": {"results": [result]}}},
    }


TEMPLATES = [
    template("whole-1", count=1),
    template("whole-2", count=2),
    template("share-500", capacity={"requests": {"milli": "500"}}),
    template("share-300", capacity={"requests": {"milli": "300"}}),
    template(
        "v100-1",
        count=1,
        selectors=[{"cel": {"expression": f'{MODEL} in ["V100"]'}}],
    ),
    template(
        "h100-1",
        count=1,
        selectors=[{"cel": {"expression": f'{MODEL} in ["H100"]'}}],
    ),
]


def cluster(*claims: dict[str, Any], dra: bool = True) -> ClusterState:
    state = ClusterState()
    for n in (node("a", cpu="32"), node("b", cpu="32"), node("c", cpu="8"), node("d", cpu="64")):
        state.upsert_node(n)
    if dra:
        for obj in (
            DEVICE_CLASS,
            slice_("a", 2, "A100"),
            slice_("b", 2, "A100"),
            slice_("c", 4, "V100"),
            *TEMPLATES,
            *claims,
        ):
            state.upsert_object(obj)
    return state


HALF_USED_B = allocated_claim("held", "b", "gpu-0", 500)


def prioritize(ext: Extender, p: dict[str, Any], names: list[str]) -> dict[str, int]:
    body = orjson.dumps({"Pod": p, "Nodes": None, "NodeNames": names})
    return {h["Host"]: h["Score"] for h in orjson.loads(ext.prioritize(body))}


CASES = [
    pytest.param(
        # whole GPUs seen: a 500 share on the idle a would leave a half GPU no whole-GPU pod
        # can use; on b it fills the half that was already such a fragment
        [("whole-1", 3)],
        "share-500",
        {"b": 9, "a": 0, "c": 0},
        id="share-fills-the-half-used-gpu",
    ),
    pytest.param(
        # the same share on b's free half leaves b's idle gpu-1 for whole GPUs: no fragment
        # grows; on c (CPUs 8, 4 idle V100s) a V100 is broken instead
        [("whole-1", 2), ("share-500", 1)],
        "share-500",
        {"b": 9},
        id="share-prefers-the-partial-gpu-over-other-models",
    ),
    pytest.param(
        [("whole-1", 1)],
        "whole-2",
        {"a": 9, "b": 0},  # b has one idle GPU only; c is the later row of an equal score
        id="two-whole-gpus-only-where-two-are-idle",
    ),
    pytest.param(
        [],
        "v100-1",
        {"c": 9, "a": 0, "b": 0, "d": 0},
        id="selector-keeps-the-model",
    ),
    pytest.param(
        # the GPU pods seen take 8 CPUs each: 4 CPUs off c (8 CPUs) leave its four V100s
        # unusable to them (the largest fragmentation growth: c scores 0); a, b and d lose
        # nothing, and of those the first in node order that keeps a CPU surplus (CPU beyond
        # 8 CPUs per 1000 milli of its free GPUs) is a (28 CPUs left for 2 GPUs)
        [("whole-1-cpu8", 2)],
        None,
        {"a": 9},
        id="cpu-only-pod-avoids-the-node-whose-cpu-its-gpus-need",
    ),
]


@pytest.mark.parametrize(("taught", "asked", "expected"), CASES)
def test_prioritize_scores_uncovered_pods_by_the_gpu_policy(
    taught: list[tuple[str, int]], asked: str | None, expected: dict[str, int]
) -> None:
    ext = Extender(cluster(HALF_USED_B), None, device_scoring=True)
    names = ["a", "b", "c", "d"]
    for shape, count in taught:
        template_name, _, cpu = shape.partition("-cpu")
        for k in range(count):
            prioritize(ext, claim_pod(f"t-{shape}-{k}", template_name, cpu or "2"), names)
    scores = prioritize(ext, claim_pod("asked", asked, cpu="4"), names)
    assert {n: scores[n] for n in expected} == expected
    top = max(scores.values())
    assert [n for n, s in scores.items() if s == top] == [n for n, s in expected.items() if s == 9]


def test_the_view_reads_capacity_and_allocations_by_hand() -> None:
    state = cluster(HALF_USED_B, allocated_claim("whole", "c", "gpu-3", None))
    view = DeviceScorer(state).view()
    rows = {n: state.table.row_of[n] for n in "abcd"}
    share = view.free_milli("milli")
    whole = view.free_milli(None)
    assert share[rows["a"]].tolist()[:2] == [1000, 1000]
    assert share[rows["b"]].tolist()[:2] == [500, 1000]
    assert share[rows["c"]].tolist() == [1000, 1000, 1000, 0]  # gpu-3 taken exclusively
    assert whole[rows["b"]].tolist()[:2] == [0, 1000]  # a shared GPU is not a whole one
    assert (view.kind[rows["d"]] == -1).all()
    assert len(view.kinds) == 2  # A100 and V100
    # what a request sees: free milli on the kinds it accepts only, computed once per view
    v100 = np.array([attrs[f"{DRIVER}/model"] == "V100" for attrs in view.layout.kind_attributes])
    usable = view.usable_milli("milli", v100)
    assert usable[rows["c"]].tolist() == [1000, 1000, 1000, 0]
    assert usable[rows["a"]].tolist()[:2] == [0, 0] and usable[rows["b"]].tolist()[:2] == [0, 0]
    assert view.usable_milli("milli", v100) is usable and not usable.flags.writeable
    assert (view.usable_milli("milli") == share).all()


@pytest.mark.parametrize(
    ("dra", "device_scoring", "template_name"),
    [
        pytest.param(False, True, None, id="no-dra-objects"),
        pytest.param(True, False, "whole-1", id="scoring-off"),
        pytest.param(True, True, "missing-template", id="claim-not-modelled"),
        pytest.param(True, True, "h100-1", id="no-device-of-its-kind"),
    ],
)
def test_least_allocated_where_device_scoring_does_not_apply(
    dra: bool, device_scoring: bool, template_name: str | None
) -> None:
    """Without devices, with the option off, or for a claim the view cannot state, the
    uncovered pod gets LeastAllocated over cpu and memory, as before."""
    ext = Extender(cluster(dra=dra), None, device_scoring=device_scoring)
    scores = prioritize(ext, claim_pod("p", template_name, cpu="4"), ["a", "b", "c", "d"])
    # LeastAllocated 0..9: (free cpu share + free memory share) / 2
    assert scores == {"a": 8, "b": 8, "c": 6, "d": 8}


def test_the_policy_counts_memory_in_the_measure() -> None:
    """``roomy`` (64Gi) and ``tight`` (8Gi), both with two idle A100s and 32 CPUs, roomy first
    in row order. Whole-GPU pods of 12Gi have been seen, so the policy learns their median
    memory, 12Gi. A 500-milli share of 1Gi on roomy leaves its broken GPU useless to them (the
    fragmentation grows by half a GPU for a shape of weight 3/4); on tight they never fitted
    (12Gi > 8Gi), so all its free GPU was already a fragment for them, and the share shrinks it.
    FGD's measure without memory ties the two and would take roomy, the first row."""
    state = ClusterState()
    for name, memory in (("roomy", "64Gi"), ("tight", "8Gi")):
        state.upsert_node(node(name, cpu="32", memory=memory))
    for obj in (DEVICE_CLASS, slice_("roomy", 2, "A100"), slice_("tight", 2, "A100"), *TEMPLATES):
        state.upsert_object(obj)
    ext = Extender(state, None, device_scoring=True)
    names = ["roomy", "tight"]
    for k in range(3):
        whole = claim_pod(f"whole-{k}", "whole-1")
        whole["spec"]["containers"][0]["resources"]["requests"]["memory"] = "12Gi"
        prioritize(ext, whole, names)
    assert prioritize(ext, claim_pod("asked", "share-500"), names) == {"roomy": 0, "tight": 9}


def test_learned_shapes_keep_each_shape_s_median_memory() -> None:
    shapes = LearnedShapes(limit=3)
    share = (2000, 500, 1, ())
    for uid, memory in (("p", 100), ("q", 300), ("r", 200)):
        shapes.add(uid, share, memory)
    assert [(s.weight, s.memory) for s in shapes.distribution()] == [(1.0, 200)]
    shapes.add("q", share, 50)  # the same pod asked again with less memory: 100, 50, 200
    assert shapes.distribution()[0].memory == 100
    shapes.add("s", (4000, 1000, 1, ()), 900)  # the oldest, p, goes: 50, 200 (lower median 50)
    assert shapes.total == 3
    by_cpu = {s.cpu: (round(s.weight, 3), s.memory) for s in shapes.distribution()}
    assert by_cpu == {2000: (0.667, 50), 4000: (0.333, 900)}


def test_the_view_follows_claim_changes() -> None:
    state = cluster()
    scorer = DeviceScorer(state)
    row = state.table.row_of["b"]
    assert scorer.view().free_milli("milli")[row, 0] == 1000
    state.upsert_object(HALF_USED_B)
    assert scorer.view().free_milli("milli")[row, 0] == 500
    state.delete_object(HALF_USED_B)
    assert scorer.view().free_milli("milli")[row, 0] == 1000


# ---- against the real control plane (skipped cleanly without ../shared/controlplane) ----


@pytest.mark.slow
def test_the_live_watch_feeds_device_scoring(plane: Any) -> None:
    """DeviceClass, ResourceSlices, claim templates and an allocated ResourceClaim (its status
    written as kube-scheduler's DRA plugin writes it) reach prioritize through the watch. This
    v1.34 API server runs without the alpha DRAConsumableCapacity gate, so it drops
    ``consumedCapacity`` and the allocation holds node-1's gpu-0 whole, as the view reads it.
    With two-GPU pods seen, a one-GPU pod goes to node-1's last GPU rather than breaking
    node-0's pair."""
    from kubernetes import client

    from engine.extender.kubeapi import ClusterWatcher

    from .live import reset, three_nodes, wait_for

    core = plane.core()
    reset(core)
    three_nodes(core)  # node-0, node-1, node-2 (4 CPUs each)
    resource = client.ResourceV1Api(plane.client())
    held = allocated_claim("held", "node-1", "gpu-0", 500)
    status = held.pop("status")
    state = ClusterState()
    watcher = ClusterWatcher(core, state, watch_seconds=5)
    try:
        resource.create_device_class(DEVICE_CLASS)
        for name in ("node-0", "node-1"):
            resource.create_resource_slice(slice_(name, 2, "A100"))
        for t in TEMPLATES[:3]:
            resource.create_namespaced_resource_claim_template("default", t)
        resource.create_namespaced_resource_claim("default", held)
        resource.patch_namespaced_resource_claim_status("held", "default", {"status": status})
        watcher.start()
        wait_for(lambda: _node1_holds_one_gpu(state), timeout=90)
        ext = Extender(state, None, device_scoring=True)
        names = ["node-0", "node-1", "node-2"]
        for k in range(3):
            prioritize(ext, claim_pod(f"t-{k}", "whole-2", cpu="1"), names)
        scores = prioritize(ext, claim_pod("asked", "whole-1", cpu="1"), names)
        assert scores == {"node-1": 9, "node-0": 0, "node-2": 0}
    finally:
        watcher.stop()
        resource.delete_collection_resource_slice()
        resource.delete_device_class("gpu")
        resource.delete_collection_namespaced_resource_claim_template("default")
        resource.delete_collection_namespaced_resource_claim("default")


def _node1_holds_one_gpu(state: ClusterState) -> bool:
    """The watch has delivered the class, the templates, both slices and the claim's
    allocation."""
    kinds = [key[0] for key in list(state.objects)]
    if kinds.count("DeviceClass") < 1 or kinds.count("ResourceClaimTemplate") < 3:
        return False
    found = [state.table.row_of.get(n) for n in ("node-0", "node-1")]
    rows = [r for r in found if r is not None]
    if len(rows) < 2:
        return False
    free = DeviceScorer(state).view().free_milli(None)
    return free.shape[1] == 2 and free[rows].tolist() == [[1000, 1000], [0, 1000]]
