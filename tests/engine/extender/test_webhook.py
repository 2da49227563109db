"""The gate webhook: AdmissionReview v1 round trips, malformed reviews, the generated config."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from engine.extender.narrow import apply_merge_patch
from engine.extender.webhook import WebhookSettings, gate_patch, review, webhook_config
from engine.extender.wire import WireError

GATE = "placer.dev/plan"
NOW = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
SETTINGS = WebhookSettings(gate=GATE)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team-a"},
        "spec": {"containers": [{"name": "c", "image": "x"}], **spec},
    }


def admission(obj: Any, **request: Any) -> bytes:
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "team-a",
            "operation": "CREATE",
            "object": obj,
            **request,
        },
    }
    return orjson.dumps(body)


def answer(body: bytes, settings: WebhookSettings = SETTINGS) -> dict[str, Any]:
    out = orjson.loads(review(body, settings, NOW))
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    return dict(out["response"])


def patched(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    assert response["patchType"] == "JSONPatch"
    ops = orjson.loads(base64.b64decode(response["patch"]))
    out = copy.deepcopy(obj)
    for op in ops:  # RFC 6902 "add", the only operation the webhook sends
        assert op["op"] == "add"
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")
        ]
        target = out
        for key in parents:
            target = target[key]
        if last == "-":
            target.append(op["value"])
        else:
            target[last] = op["value"]  # "add" replaces an existing member
    return out


@pytest.mark.parametrize(
    "spec, meta",
    [
        ({}, {}),
        ({"schedulingGates": [{"name": "example.com/other"}]}, {}),
        ({}, {"annotations": {"a/b": "c"}}),
        ({}, {"annotations": {}}),
    ],
)
def test_new_pods_get_the_gate_and_the_gate_time(
    spec: dict[str, Any], meta: dict[str, Any]
) -> None:
    obj = pod(**spec)
    obj["metadata"].update(meta)
    response = answer(admission(obj))
    assert response["allowed"] is True
    out = patched(obj, response)
    gates = [g["name"] for g in out["spec"]["schedulingGates"]]
    assert gates == [*(g["name"] for g in spec.get("schedulingGates", [])), GATE]
    assert out["metadata"]["annotations"]["placer.dev/gated-at"] == "2025-01-02T03:04:05.678000Z"
    for key, value in (meta.get("annotations") or {}).items():
        assert out["metadata"]["annotations"][key] == value


@pytest.mark.parametrize(
    "obj, request_fields, settings",
    [
        (pod(schedulerName="other"), {}, SETTINGS),
        (pod(nodeName="n1"), {}, SETTINGS),
        (pod(schedulingGates=[{"name": GATE}]), {}, SETTINGS),
        (pod(), {"operation": "UPDATE"}, SETTINGS),
        (pod(), {"subResource": "status"}, SETTINGS),
        (pod(), {}, WebhookSettings(gate=GATE, namespaces=frozenset({"team-b"}))),
    ],
    ids=[
        "other-scheduler",
        "names-its-node",
        "already-gated",
        "update",
        "subresource",
        "namespace",
    ],
)
def test_pods_placer_does_not_plan_are_allowed_unchanged(
    obj: dict[str, Any], request_fields: dict[str, Any], settings: WebhookSettings
) -> None:
    response = answer(admission(obj, **request_fields), settings)
    assert response == {"uid": response["uid"], "allowed": True}


def test_the_selected_scheduler_is_gated_under_any_name() -> None:
    settings = WebhookSettings(gate=GATE, scheduler_names=frozenset({"placer"}))
    assert "patch" in answer(admission(pod(schedulerName="placer")), settings)
    assert "patch" not in answer(admission(pod()), settings)


MALFORMED_OBJECTS = [
    "a string",
    pod(schedulingGates="placer.dev/plan"),
    pod(schedulingGates=["placer.dev/plan"]),
    {**pod(), "spec": []},
    {**pod(), "metadata": {"annotations": ["x"]}},
    pod(schedulerName=7),
]


@pytest.mark.parametrize("obj", MALFORMED_OBJECTS)
def test_a_malformed_pod_is_allowed_unchanged_when_failing_open(obj: Any) -> None:
    response = answer(admission(obj))
    assert response["allowed"] is True and "patch" not in response
    assert response["warnings"][0].startswith("placer did not gate this pod:")


@pytest.mark.parametrize("obj", MALFORMED_OBJECTS)
def test_a_malformed_pod_is_denied_with_its_reason_when_failing_closed(obj: Any) -> None:
    response = answer(admission(obj), WebhookSettings(gate=GATE, fail_open=False))
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("placer: request.")


def test_a_review_of_another_kind_is_refused_as_malformed() -> None:
    body = admission(pod(), kind={"group": "apps", "version": "v1", "kind": "Deployment"})
    assert answer(body)["allowed"] is True
    assert answer(body, WebhookSettings(gate=GATE, fail_open=False))["allowed"] is False


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        orjson.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}),
        orjson.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
        orjson.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 5}}
        ),
    ],
)
def test_a_review_without_a_uid_is_a_400(body: bytes) -> None:
    with pytest.raises(WireError) as caught:
        review(body, SETTINGS)
    assert caught.value.status == 400


def test_the_gate_patch_escapes_the_annotation_key() -> None:
    ops = gate_patch(pod() | {"metadata": {"annotations": {"x": "y"}}}, GATE, NOW)
    assert ops[-1]["path"] == "/metadata/annotations/placer.dev~1gated-at"


def test_generated_configuration_validates_and_follows_fail_open() -> None:
    from kubernetes.client import V1MutatingWebhookConfiguration

    from tests.engine.test_deploy import from_dict

    for fail_open, policy in ((True, "Ignore"), (False, "Fail")):
        settings = WebhookSettings(gate=GATE, fail_open=fail_open)
        config = webhook_config(settings, url="https://placer:443/webhook/gate", ca_bundle=b"PEM")
        model = from_dict(config, V1MutatingWebhookConfiguration)
        (hook,) = model.webhooks
        assert hook.failure_policy == policy
        assert base64.b64decode(hook.client_config.ca_bundle) == b"PEM"
        assert hook.side_effects == "None" and hook.admission_review_versions == ["v1"]


def test_merge_patch_semantics() -> None:
    assert apply_merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {
        "a": 1,
        "b": {"d": 3},
    }
