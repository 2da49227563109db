"""Dynamic Resource Allocation manifests -> IR devices (hand-made objects, checked by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.kube import claim_allocations, manifests_to_problem
from engine.kube.dra import SHARED_ATTRIBUTE, Unmodelled, parse_cel
from engine.solve import solve
from engine.verify import verify

DRIVER = "gpu.example.com"


def node(name: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110"}},
    }


def slice_(node_name: str, gpus: int, model: str, shared: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node_name}-gpus"},
        "spec": {
            "driver": DRIVER,
            "nodeName": node_name,
            "pool": {"name": node_name, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {
                    "name": f"gpu-{k}",
                    "attributes": {"model": {"string": model}, "memory": {"int": 16}},
                    "capacity": {"milli": {"value": "1000"}},
                    **({"allowMultipleAllocations": True} if shared else {}),
                }
                for k in range(gpus)
            ],
        },
    }


DEVICE_CLASS = {
    "apiVersion": "resource.k8s.io/v1",
    "kind": "DeviceClass",
    "metadata": {"name": "gpu"},
    "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
}


def template(name: str, **request: Any) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "spec": {
                "devices": {
                    "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu", **request}}]
                }
            }
        },
    }


def claim_object(name: str, **request: Any) -> dict[str, Any]:
    spec = template(name, **request)["spec"]["spec"]
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def pod(
    name: str, claim: dict[str, str], node_name: str | None = None, **status: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": "c", "resources": {"requests": {"cpu": "1"}, "claims": [{"name": "gpu"}]}}
        ],
        "resourceClaims": [{"name": "gpu", **claim}],
    }
    if node_name:
        spec["nodeName"] = node_name
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending", **status},
    }


def test_slices_become_device_groups_with_qualified_attributes() -> None:
    p = manifests_to_problem([node("n1"), slice_("n1", 4, "A100"), DEVICE_CLASS], "dra")
    (group,) = p.bins[0].devices
    assert group.names == ("gpu-0", "gpu-1", "gpu-2", "gpu-3")
    assert group.capacity == {"milli": 1000}
    assert group.attributes == {
        "driver": DRIVER,
        f"{DRIVER}/model": "A100",
        f"{DRIVER}/memory": "16",
        SHARED_ATTRIBUTE: "true",
    }


def test_claims_become_whole_or_shared_requests_with_selectors() -> None:
    docs = [
        node("n1"),
        slice_("n1", 2, "A100"),
        DEVICE_CLASS,
        template("two", count=2),
        template(
            "share",
            capacity={"requests": {"milli": "300"}},
            selectors=[
                {"cel": {"expression": f'device.attributes["{DRIVER}"].model in ["A100", "H100"]'}}
            ],
        ),
        pod("w", {"resourceClaimTemplateName": "two"}),
        pod("s", {"resourceClaimTemplateName": "share"}),
    ]
    p = manifests_to_problem(docs, "dra")
    requests = {i.meta["pods"][0]["name"]: i.devices for i in p.items}
    assert requests["w"] is not None and requests["w"].count == 2 and requests["w"].whole
    assert requests["w"].select == {"driver": (DRIVER,)}
    share = requests["s"]
    assert share is not None and share.share == {"milli": 300}
    assert share.select == {
        "driver": (DRIVER,),
        f"{DRIVER}/model": ("A100", "H100"),
        SHARED_ATTRIBUTE: ("true",),
    }


def test_a_device_that_allows_one_allocation_takes_no_share() -> None:
    docs = [
        node("n1"),
        slice_("n1", 1, "A100", shared=False),
        DEVICE_CLASS,
        template("share", capacity={"requests": {"milli": "300"}}),
        template("one", count=1),
        pod("s1", {"resourceClaimTemplateName": "share"}),
        pod("s2", {"resourceClaimTemplateName": "share"}),
        pod("w", {"resourceClaimTemplateName": "one"}),
    ]
    p = manifests_to_problem(docs, "dra")
    plan = solve(p, "cpsat", time_limit=10)  # two shares would place more: they may not
    placed = {p.item: p.devices for p in plan.placements}
    assert plan.verified and len(placed) == 1
    (item,) = placed
    assert p.item_by_name[item].devices.whole  # type: ignore[union-attr]


def test_a_running_pod_keeps_the_devices_of_its_allocated_claim() -> None:
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "r-gpu-x1", "namespace": "default"},
        "spec": {"devices": {"requests": []}},
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-1"}
                    ]
                }
            }
        },
    }
    docs = [
        node("n1"),
        slice_("n1", 2, "A100"),
        DEVICE_CLASS,
        template("big", capacity={"requests": {"milli": "700"}}),
        claim,
        pod(
            "r",
            {"resourceClaimTemplateName": "big"},
            node_name="n1",
            resourceClaimStatuses=[{"name": "gpu", "resourceClaimName": "r-gpu-x1"}],
        ),
        pod("new1", {"resourceClaimTemplateName": "big"}),
        pod("new2", {"resourceClaimTemplateName": "big"}),
    ]
    p = manifests_to_problem(docs, "dra")
    running = next(i for i in p.items if i.placed)
    assert running.placed_devices == {"n1": (("gpu-1",),)}
    plan = solve(p, "cpsat", time_limit=10)
    assert plan.verified and verify(p, plan).ok
    # gpu-1 holds 700 already: one more 700 share fits (on gpu-0), not two
    assert sum(pl.count for pl in plan.placements) == 2
    assert {pl.devices for pl in plan.placements} == {("gpu-0",), ("gpu-1",)}


@pytest.mark.parametrize(
    ("claim", "extra", "reason"),
    [
        ({"resourceClaimName": "absent"}, [], "ResourceClaim/default/absent is not in the input"),
        (
            {"resourceClaimName": "taken"},
            [{**claim_object("taken"), "status": {"allocation": {"devices": {"results": []}}}}],
            "is already allocated",
        ),
        (
            {"resourceClaimTemplateName": "missing"},
            [],
            "ResourceClaimTemplate default/missing is not in the input",
        ),
        (
            {"resourceClaimTemplateName": "all"},
            [template("all", allocationMode="All")],
            "allocationMode All is not modelled",
        ),
        (
            {"resourceClaimTemplateName": "cel"},
            [
                template(
                    "cel", selectors=[{"cel": {"expression": 'device.capacity["x"].milli > 5'}}]
                )
            ],
            "device.capacity",
        ),
    ],
)
def test_what_dra_mapping_cannot_state_is_reported_per_pod(
    claim: dict[str, str], extra: list[dict[str, Any]], reason: str
) -> None:
    docs = [node("n1"), slice_("n1", 1, "A100"), DEVICE_CLASS, *extra, pod("p", claim)]
    p = manifests_to_problem(docs, "dra")
    assert any(reason in u["reason"] for u in p.meta["unsupported"]), p.meta["unsupported"]


def test_cel_subset() -> None:
    attr = f'device.attributes["{DRIVER}"]'
    assert parse_cel(f'device.driver == "{DRIVER}"') == {"driver": {DRIVER}}
    assert parse_cel(f"{attr}.model == 'A100' && {attr}[\"memory\"] == 16") == {
        f"{DRIVER}/model": {"A100"},
        f"{DRIVER}/memory": {"16"},
    }
    assert parse_cel(f'({attr}.model == "A" || {attr}.model == "B") && device.driver == "d"') == {
        f"{DRIVER}/model": {"A", "B"},
        "driver": {"d"},
    }
    assert parse_cel(f'{attr}.model in ["A", "B"] && {attr}.model in ["B", "C"]') == {
        f"{DRIVER}/model": {"B"}
    }
    for refused in (
        f'{attr}.model == "A" || device.driver == "d"',
        f'{attr}.model != "A"',
        f'{attr}.model.startsWith("A")',
        "true",
        f'{attr}.model == "A" &&',
    ):
        with pytest.raises(Unmodelled):
            parse_cel(refused)


def test_a_claim_no_node_can_satisfy_gets_kube_schedulers_reason() -> None:
    """DynamicResources' own words, per node: no H100 anywhere, and no node with four GPUs."""
    from engine.kube import explain_unplaced

    h100 = [{"cel": {"expression": f'device.attributes["{DRIVER}"].model == "H100"'}}]
    docs = [
        node("n1"),
        node("n2"),
        slice_("n1", 2, "A100"),
        slice_("n2", 2, "A100"),
        DEVICE_CLASS,
        template("h100", selectors=h100),
        template("four", count=4),
        template("one"),
        pod("wants-h100", {"resourceClaimTemplateName": "h100"}),
        pod("wants-four", {"resourceClaimTemplateName": "four"}),
        pod("fits", {"resourceClaimTemplateName": "one"}),
    ]
    p = manifests_to_problem(docs, "dra")
    plan = explain_unplaced(p, solve(p, "cpsat", time_limit=5))
    reasons = {
        p.item_by_name[u.item].meta["pods"][0]["name"]: u.reasons for u in plan.unplaced if u.count
    }
    assert reasons == {
        "wants-h100": "0/2 nodes are available: 2 cannot allocate all claims.",
        "wants-four": "0/2 nodes are available: 2 cannot allocate all claims.",
    }


def test_the_plan_names_the_claim_allocations_it_assumes() -> None:
    """Bindings come with the devices each claim is assumed to get, as a ResourceClaim's
    allocation names them (driver, pool, device) — whole GPUs distinct, shares on one GPU."""
    import yaml

    from engine.kube import binding_files

    docs = [
        node("n1"),
        slice_("n1", 3, "A100"),
        DEVICE_CLASS,
        template("two", count=2),
        template("share", capacity={"requests": {"milli": "300"}}),
        pod("w", {"resourceClaimTemplateName": "two"}),
        pod("s", {"resourceClaimTemplateName": "share"}),
    ]
    p = manifests_to_problem(docs, "dra")
    plan = solve(p, "cpsat", time_limit=5)
    stream, replica_file = binding_files(p, plan, Path("bindings.yaml")).values()
    bindings = list(yaml.safe_load_all(stream))
    (replica,) = yaml.safe_load_all(replica_file)
    assert {b["metadata"]["name"] for b in bindings} == {"w", "s"}
    assert {b["kind"] for b in bindings} == {"Binding"}
    allocs = {a["pod"]: a for a in replica["claimAllocations"]}
    whole, share = allocs["default/w"], allocs["default/s"]
    assert whole["node"] == "n1" and whole["claim"] == "gpu" and whole["template"] == "two"
    assert len({r["device"] for r in whole["results"]}) == 2
    (one,) = share["results"]
    assert one["device"] not in {r["device"] for r in whole["results"]}
    assert {(r["request"], r["driver"], r["pool"]) for r in [*whole["results"], one]} == {
        ("gpu", DRIVER, "n1")
    }


def test_a_claim_one_pending_pod_names_is_its_request_and_a_shared_one_is_reported() -> None:
    own = [node("n1"), slice_("n1", 2, "A100"), DEVICE_CLASS, claim_object("mine", count=2)]
    p = manifests_to_problem([*own, pod("p", {"resourceClaimName": "mine"})], "dra")
    (item,) = p.items
    assert item.devices is not None and item.devices.count == 2 and item.devices.whole
    (allocation,) = claim_allocations(p, solve(p, "cpsat", time_limit=5))
    assert allocation["resourceClaim"] == "mine" and allocation["template"] is None
    assert [r["request"] for r in allocation["results"]] == ["gpu", "gpu"]
    shared = [
        *own,
        pod("p", {"resourceClaimName": "mine"}),
        pod("q", {"resourceClaimName": "mine"}),
    ]
    p = manifests_to_problem(shared, "dra")
    assert all(i.devices is None for i in p.items)
    assert any("shared by several pods" in u["reason"] for u in p.meta["unsupported"])
