"""The mutating admission webhook that puts placer's scheduling gate on new pods.

kube-apiserver POSTs an ``AdmissionReview`` (``admission.k8s.io/v1``) for each pod CREATE the
``MutatingWebhookConfiguration`` selects; placer answers with the same uid, ``allowed: true``
and a base64 JSONPatch adding the gate and the ``placer.dev/gated-at`` annotation (the time the
deadline counts from). Pods of other schedulers, pods already bound, pods already carrying the
gate and pods of namespaces outside ``--gate-namespace`` are allowed unchanged.

A review placer cannot read is answered so that the API server can act on it: without a uid it
is a 400 with a JSON error (the API server then applies the configuration's ``failurePolicy``);
with a uid but a malformed object it is allowed unchanged when failing open (the default: an
optimiser must never stop pods from being created) and denied with the reason when failing
closed (``--webhook-fail-closed``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .gate import GATED_AT_ANNOTATION
from .narrow import gate_names
from .wire import WireError

API_VERSION = "admission.k8s.io/v1"


@dataclass(frozen=True, kw_only=True)
class WebhookSettings:
    gate: str
    scheduler_names: frozenset[str] = frozenset({"default-scheduler"})
    namespaces: frozenset[str] = frozenset()  # empty: every namespace
    fail_open: bool = True


class Malformed(Exception):
    pass


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def gate_patch(pod: Mapping[str, Any], gate: str, now: datetime) -> list[dict[str, Any]]:
    """JSONPatch operations adding ``gate`` and the gate-time annotation to ``pod``."""
    ops: list[dict[str, Any]] = []
    spec = pod.get("spec") or {}
    entry = {"name": gate}
    if spec.get("schedulingGates"):
        ops.append({"op": "add", "path": "/spec/schedulingGates/-", "value": entry})
    else:
        ops.append({"op": "add", "path": "/spec/schedulingGates", "value": [entry]})
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    meta = pod.get("metadata") or {}
    if isinstance(meta.get("annotations"), Mapping) and meta["annotations"]:
        path = f"/metadata/annotations/{_pointer(GATED_AT_ANNOTATION)}"
        ops.append({"op": "add", "path": path, "value": stamp})
    else:
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {GATED_AT_ANNOTATION: stamp}}
        )
    return ops


def _check_pod(pod: Any) -> Mapping[str, Any]:
    if not isinstance(pod, Mapping):
        raise Malformed("request.object must be a Pod object")
    for key in ("metadata", "spec"):
        if pod.get(key) is not None and not isinstance(pod.get(key), Mapping):
            raise Malformed(f"request.object.{key} must be an object")
    spec = pod.get("spec") or {}
    if not isinstance(spec.get("schedulerName", ""), str | None):
        raise Malformed("request.object.spec.schedulerName must be a string")
    gates = spec.get("schedulingGates")
    if gates is not None and (
        not isinstance(gates, list) or not all(isinstance(g, Mapping) for g in gates)
    ):
        raise Malformed("request.object.spec.schedulingGates must be an array of objects")
    annotations = (pod.get("metadata") or {}).get("annotations")
    if annotations is not None and not isinstance(annotations, Mapping):
        raise Malformed("request.object.metadata.annotations must be an object")
    return pod


def wants_gate(pod: Mapping[str, Any], namespace: str, settings: WebhookSettings) -> str | None:
    """None when the pod gets the gate; else why not (for the response's warning-free log)."""
    spec = pod.get("spec") or {}
    scheduler = spec.get("schedulerName") or "default-scheduler"
    if scheduler not in settings.scheduler_names:
        return f"schedulerName {scheduler!r} is not planned by placer"
    if spec.get("nodeName"):
        return "the pod names its node"
    if settings.gate in gate_names(spec):
        return "the pod already carries the gate"
    if settings.namespaces and namespace not in settings.namespaces:
        return f"namespace {namespace!r} is not gated"
    return None


def review(body: bytes, settings: WebhookSettings, now: datetime | None = None) -> bytes:
    """The AdmissionReview response for a request body; ``WireError`` (400) without a uid."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise WireError("an AdmissionReview must be a JSON object")
    if doc.get("kind") != "AdmissionReview" or doc.get("apiVersion") != API_VERSION:
        raise WireError(f"expected kind AdmissionReview, apiVersion {API_VERSION}")
    request = doc.get("request")
    if not isinstance(request, Mapping):
        raise WireError("AdmissionReview.request is missing")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise WireError("AdmissionReview.request.uid must be a non-empty string")
    try:
        patch = _mutation(request, settings, now or datetime.now(UTC))
    except Malformed as exc:
        if settings.fail_open:
            return _response(uid, allowed=True, warning=f"placer did not gate this pod: {exc}")
        return _response(uid, allowed=False, message=f"placer: {exc}")
    if patch is None:
        return _response(uid, allowed=True)
    return _response(uid, allowed=True, patch=patch)


def _mutation(
    request: Mapping[str, Any], settings: WebhookSettings, now: datetime
) -> list[dict[str, Any]] | None:
    kind = request.get("kind")
    if not isinstance(kind, Mapping) or (kind.get("group"), kind.get("kind")) != ("", "Pod"):
        raise Malformed(f"request.kind must be core/v1 Pod, got {kind!r}")
    if request.get("operation") != "CREATE":
        return None  # placer only gates pods as they are created
    if request.get("subResource"):
        return None
    pod = _check_pod(request.get("object"))
    namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or ""
    if not isinstance(namespace, str):
        raise Malformed("request.namespace must be a string")
    if wants_gate(pod, namespace, settings) is not None:
        return None
    return gate_patch(pod, settings.gate, now)


def _response(
    uid: str,
    *,
    allowed: bool,
    patch: list[dict[str, Any]] | None = None,
    message: str | None = None,
    warning: str | None = None,
) -> bytes:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if patch is not None:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(patch)).decode()
    if message is not None:
        response["status"] = {"code": 400, "reason": "BadRequest", "message": message}
    if warning is not None:
        response["warnings"] = [warning]
    return orjson.dumps(
        {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
    )


_SERVICE_URL = re.compile(
    r"^https://(?P<name>[a-z0-9-]+)\.(?P<namespace>[a-z0-9-]+)\.svc(?:\.cluster\.local)?"
    r"(?::(?P<port>\d+))?(?P<path>/.*)?$"
)


def client_config(url: str) -> dict[str, Any]:
    """A Service reference for ``https://NAME.NAMESPACE.svc[:PORT]/PATH`` (the API server finds
    the Service itself, without cluster DNS), the URL as it is otherwise."""
    m = _SERVICE_URL.match(url)
    if m is None:
        return {"url": url}
    service: dict[str, Any] = {"namespace": m["namespace"], "name": m["name"]}
    if m["path"]:
        service["path"] = m["path"]
    service["port"] = int(m["port"] or 443)
    return {"service": service}


def webhook_config(
    settings: WebhookSettings,
    *,
    url: str,
    ca_bundle: bytes | None,
    name: str = "placer-gate",
    annotations: dict[str, str] | None = None,
    timeout_seconds: int = 5,
    exclude_namespaces: tuple[str, ...] = ("kube-system", "placer-system"),
) -> dict[str, Any]:
    """The ``MutatingWebhookConfiguration`` (admissionregistration.k8s.io/v1) for this gate."""
    client = client_config(url)
    if ca_bundle is not None:
        client["caBundle"] = base64.b64encode(ca_bundle).decode()
    schedulers = sorted(settings.scheduler_names)
    condition = " || ".join(
        f"(has(object.spec.schedulerName) ? object.spec.schedulerName : 'default-scheduler') == '{s}'"
        for s in schedulers
    )
    namespace_selector: dict[str, Any]
    if settings.namespaces:
        namespace_selector = {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": sorted(settings.namespaces),
                }
            ]
        }
    else:
        namespace_selector = {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "NotIn",
                    "values": list(exclude_namespaces),
                }
            ]
        }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, **({"annotations": annotations} if annotations else {})},
        "webhooks": [
            {
                "name": f"{name}.placer.dev",
                "admissionReviewVersions": ["v1"],
                "clientConfig": client,
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "matchConditions": [{"name": "planned-scheduler", "expression": condition}],
                "namespaceSelector": namespace_selector,
                # Fail open: with placer down, pods are created ungated and scheduled as usual.
                "failurePolicy": "Ignore" if settings.fail_open else "Fail",
                "sideEffects": "None",
                "timeoutSeconds": timeout_seconds,
                "reinvocationPolicy": "Never",
            }
        ],
    }
