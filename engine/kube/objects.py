"""Reading Kubernetes objects: flatten Lists, sort documents by kind, name every object.

Everything stays a plain dict (the shape ``kubectl get -o json`` prints): the adapter reads only
the fields kube-scheduler reads, so unknown fields and newer API versions pass through untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "Job")
# Kinds read without effect on placement (kept quiet: they are common in real dumps).
QUIET_KINDS = frozenset({"Service", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event"})
# Kinds kube-scheduler would care about but placer does not plan (reported as notes).
NOT_PLANNED = {
    "DaemonSet": "DaemonSet pods are placed one per node by their controller, not planned",
    "CronJob": "CronJob pods do not exist until a schedule fires; not planned",
}
# Dynamic Resource Allocation (resource.k8s.io): devices of nodes and the claims pods make.
DRA_KINDS = frozenset({"DeviceClass", "ResourceSlice", "ResourceClaimTemplate", "ResourceClaim"})
LIST_KINDS = frozenset({"List", "NodeList", "PodList", "DeploymentList", "StatefulSetList"})


def ref(obj: Mapping[str, Any], kind: str | None = None) -> str:
    """``Kind/namespace/name`` (``Kind/name`` for cluster-scoped objects) for messages."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name", "<unnamed>") if isinstance(meta, dict) else "<unnamed>"
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    kind = kind or str(obj.get("kind") or "<no kind>")
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


def bad(
    obj: Mapping[str, Any], field_path: str, reason: str, kind: str | None = None
) -> InputError:
    """An InputError naming the object and the field inside it."""
    return InputError(
        reason, path=f"{ref(obj, kind)}: {field_path}" if field_path else ref(obj, kind)
    )


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta_of(obj).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    return str(meta_of(obj).get("namespace") or "default")


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = meta_of(obj).get("labels")
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise bad(obj, "metadata.labels", "labels must be a map")
    return string_map(obj, labels, "metadata.labels")


def label_value(obj: Mapping[str, Any], value: Any, field_path: str) -> str:
    """A label value as the API holds it (a string). Unquoted YAML scalars (true, 1.5) read as
    their text; lists and maps are errors (the API server refuses them too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise bad(obj, field_path, f"expected a string, got {type(value).__name__}")
    return str(value)


def string_map(obj: Mapping[str, Any], value: Any, field_path: str) -> dict[str, str]:
    """A map of strings (labels, nodeSelector, matchLabels); errors name the field."""
    return {
        str(k): label_value(obj, v, f"{field_path}.{k}")
        for k, v in mapping(obj, value, field_path).items()
    }


def mapping(obj: Mapping[str, Any], value: Any, field_path: str) -> Mapping[str, Any]:
    """``value`` as a mapping ({} when absent), or an InputError naming the field."""
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(obj, field_path, f"expected a map, got {type(value).__name__}")
    return value


def sequence(obj: Mapping[str, Any], value: Any, field_path: str) -> list[Any]:
    """``value`` as a list ([] when absent), or an InputError naming the field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(obj, field_path, f"expected a list, got {type(value).__name__}")
    return value


@dataclass
class Cluster:
    """The objects of one cluster snapshot, by kind (plain dicts, as the API serves them)."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)
    priority_classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    disruption_budgets: list[dict[str, Any]] = field(default_factory=list)  # for placer migrate
    dra: list[dict[str, Any]] = field(default_factory=list)  # resource.k8s.io objects (devices)
    notes: list[str] = field(default_factory=list)

    def namespace_labels(self, name: str) -> dict[str, str]:
        """A namespace's labels; unknown namespaces carry only the automatic name label."""
        ns = self.namespaces.get(name)
        labels = labels_of(ns) if ns is not None else {}
        return {"kubernetes.io/metadata.name": name, **labels}


def _flatten(docs: Iterable[Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, doc in enumerate(docs):
        here = f"{where}[{n}]"
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InputError(
                f"expected a Kubernetes object (a map), got {type(doc).__name__}", path=here
            )
        kind = doc.get("kind")
        if kind in LIST_KINDS or (kind is None and isinstance(doc.get("items"), list)):
            items = doc.get("items")
            if items is None:
                continue
            if not isinstance(items, list):
                raise InputError("a List's items must be a list", path=f"{here}.items")
            default_kind = str(kind)[: -len("List")] if kind and kind != "List" else None
            for m, item in enumerate(items):
                if isinstance(item, dict) and default_kind and "kind" not in item:
                    item = {**item, "kind": default_kind}  # kubectl omits kind in typed lists
                yield from _flatten([item], f"{here}.items[{m}]")
            continue
        if not isinstance(kind, str) or not kind:
            raise InputError("object has no kind", path=here)
        yield here, doc


def load_cluster(docs: list[Any], source: str = "<manifests>") -> Cluster:
    """Sort the documents (Lists flattened) into a Cluster; unknown kinds become notes."""
    cluster = Cluster()
    seen: set[tuple[str, str, str]] = set()
    for here, doc in _flatten(docs, "documents"):
        kind = doc["kind"]
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise InputError(f"{kind} has no metadata.name", path=here, source=source)
        for field_name in ("name", "namespace"):
            value = meta.get(field_name)
            if value is not None and not isinstance(value, str):
                raise InputError(
                    f"metadata.{field_name} must be a string, got {type(value).__name__}",
                    path=here,
                    source=source,
                )
        key = (
            kind,
            namespace_of(doc)
            if kind not in ("Node", "PriorityClass", "Namespace", "DeviceClass", "ResourceSlice")
            else "",
            name_of(doc),
        )
        if key in seen:
            raise InputError("duplicate object", path=ref(doc), source=source)
        seen.add(key)
        if kind == "Node":
            cluster.nodes.append(doc)
        elif kind == "Pod":
            cluster.pods.append(doc)
        elif kind in WORKLOAD_KINDS:
            cluster.workloads.append(doc)
        elif kind == "PriorityClass":
            cluster.priority_classes[name_of(doc)] = doc
        elif kind == "Namespace":
            cluster.namespaces[name_of(doc)] = doc
        elif kind == "PodDisruptionBudget":
            cluster.disruption_budgets.append(doc)
        elif kind in DRA_KINDS:
            cluster.dra.append(doc)
        elif kind in NOT_PLANNED:
            cluster.notes.append(f"{ref(doc)}: {NOT_PLANNED[kind]}")
        elif kind not in QUIET_KINDS:
            cluster.notes.append(f"{ref(doc)}: kind {kind} is not used for placement; skipped")
    return cluster
