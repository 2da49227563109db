"""The ``k8s.io/kube-scheduler/extender/v1`` wire format, as Go's ``encoding/json`` speaks it.

The Go structs carry no json tags, so keys are the Go field names (PascalCase), every unset
pointer, map or slice is ``null`` (never omitted), and decoding matches keys case-insensitively.
We emit exactly what Go emits and read whatever casing arrives. Embedded Kubernetes objects
(``v1.Pod``, ``v1.NodeList``) keep their camelCase API keys; if a client lowercased those too,
``canonical_object`` restores them from the official client's field names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

# Fields of Kubernetes objects whose keys are user data (label keys, resource names), never
# field names: their keys are kept exactly as they came.
_FREE_FORM_MAPS = frozenset(
    {
        "labels",
        "annotations",
        "nodeSelector",
        "requests",
        "limits",
        "overhead",
        "capacity",
        "allocatable",
        "matchLabels",
        "data",
    }
)


class WireError(ValueError):
    """A request placer refuses: HTTP ``status`` (400 unless said), or to the scheduler the
    protocol's ``Error`` field where the verb's result has one."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


GO_FIELDS = frozenset(
    {
        "Pod",
        "Nodes",
        "NodeNames",
        "NodeNameToVictims",
        "NodeNameToMetaVictims",
        "PodName",
        "PodNamespace",
        "PodUID",
        "Node",
    }
)


# The fields of each verb's args struct. Go's encoder writes all of them (no omitempty), with
# these exact names and nothing else: a body keyed exactly so was sent by kube-scheduler (or
# something speaking its protocol as strictly), and is answered in the protocol.
ARGS_FIELDS = {
    "filter": frozenset({"Pod", "Nodes", "NodeNames"}),
    "prioritize": frozenset({"Pod", "Nodes", "NodeNames"}),
    "preempt": frozenset({"Pod", "NodeNameToVictims", "NodeNameToMetaVictims"}),
    "bind": frozenset({"PodName", "PodNamespace", "PodUID", "Node"}),
}


def from_scheduler(body: bytes, verb: str) -> bool:
    """Is this body the verb's args struct exactly as Go marshals it?"""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.keys() == ARGS_FIELDS.get(verb)


def decode_body(body: bytes) -> tuple[dict[str, Any], bool]:
    """Parse a request body: (the object with lowercased top-level keys, were keys Go-exact?)."""
    if not body:
        raise WireError("empty request body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WireError(f"expected a JSON object, got {type(data).__name__}")
    exact = all(k in GO_FIELDS for k in data)
    return lower_keys(data), exact


def lower_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower() if isinstance(k, str) else k: v for k, v in data.items()}


def field(data: Mapping[str, Any], name: str) -> Any:
    """A wire-struct field by its lowercased Go name; absent and ``null`` both read as None."""
    return data.get(name)


def object_field(data: Mapping[str, Any], name: str, what: str) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise WireError(f"{what} must be an object or null, got {type(value).__name__}")
    return value


@lru_cache(maxsize=1)
def _kubernetes_field_names() -> dict[str, str]:
    """lowercase -> camelCase for the fields of Pods and Nodes."""
    from .fieldnames import CAMEL_CASE_FIELDS

    return {name.lower(): name for name in CAMEL_CASE_FIELDS}


def canonical_object(obj: Any) -> Any:
    """A Kubernetes object with its camelCase field names restored (label keys untouched).

    Used only for requests whose wire keys were not Go's exact casing: kube-scheduler itself
    always sends API-cased objects, so its requests never pay for this walk.
    """
    if not isinstance(obj, dict):
        return obj
    restored: dict[str, Any] = _restore(obj, _kubernetes_field_names())
    return restored


def _restore(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, list):
        return [_restore(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = names.get(key.lower(), key) if isinstance(key, str) else key
        out[name] = item if name in _FREE_FORM_MAPS else _restore(item, names)
    return out


# ---- responses (exact Go encodings) ----


def filter_result(
    *,
    node_names: list[str] | None,
    nodes: dict[str, Any] | None,
    failed: Mapping[str, str],
    unresolvable: Mapping[str, str],
    error: str = "",
) -> bytes:
    """``ExtenderFilterResult``: all five fields, nil ones as null, as Go marshals it."""
    return orjson.dumps(
        {
            "Nodes": nodes,
            "NodeNames": node_names,
            "FailedNodes": dict(failed),
            "FailedAndUnresolvableNodes": dict(unresolvable),
            "Error": error,
        }
    )


def filter_error(message: str) -> bytes:
    return filter_result(node_names=None, nodes=None, failed={}, unresolvable={}, error=message)


# Node names are DNS subdomains; these need no JSON escaping, so the list can be formatted directly.
_PLAIN = re.compile(r"[A-Za-z0-9._:-]*")


def host_priority_list(scores: Mapping[str, int] | list[tuple[str, int]]) -> bytes:
    """``HostPriorityList``: a bare array of ``{"Host","Score"}``."""
    pairs = list(scores.items()) if isinstance(scores, Mapping) else scores
    if _PLAIN.fullmatch("".join(host for host, _ in pairs)):
        body = ",".join(f'{{"Host":"{host}","Score":{int(score)}}}' for host, score in pairs)
        return f"[{body}]".encode()
    return orjson.dumps([{"Host": host, "Score": int(score)} for host, score in pairs])


def binding_result(error: str = "") -> bytes:
    return orjson.dumps({"Error": error})


def preemption_result(victims: Mapping[str, tuple[list[str], int]]) -> bytes:
    """``ExtenderPreemptionResult``: always ``NodeNameToMetaVictims`` (victims by UID)."""
    return orjson.dumps(
        {
            "NodeNameToMetaVictims": {
                node: {"Pods": [{"UID": uid} for uid in uids], "NumPDBViolations": int(pdb)}
                for node, (uids, pdb) in victims.items()
            }
        }
    )


def error_body(message: str) -> bytes:
    """The JSON error for callers that sent something unreadable (HTTP 4xx)."""
    return orjson.dumps({"Error": message})
