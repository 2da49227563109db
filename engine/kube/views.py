"""Parsed, validated scheduling views of nodes and pods (read once, used for every pair)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .dra import PodClaim, pod_claims
from .objects import bad, labels_of, mapping, meta_of, name_of, namespace_of, sequence
from .resources import Resources, node_allocatable, pod_request
from .selectors import (
    LabelSelector,
    NodeMatcher,
    PreferredTerm,
    Requirement,
    Taint,
    Toleration,
    node_matcher,
    parse_label_selector,
    parse_taints,
    parse_tolerations,
    preferred_node_terms,
)

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
# Labels the controllers set per pod; left out of the group key so replicas form one group.
PER_POD_LABELS = frozenset(
    {
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
    }
)
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# A pod's worth in the objective's ``value`` level (placed first, then value): e.g. the GPUs it
# runs on, so that among plans placing the most pods the one putting the most GPUs to work wins.
VALUE_ANNOTATION = "placer.dev/value"
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")  # v1.ContainerPort.protocol


@dataclass(frozen=True)
class NodeView:
    name: str
    labels: dict[str, str]
    allocatable: Resources
    taints: tuple[Taint, ...]  # including the implicit not-ready / unreachable taint
    unschedulable: bool


def node_view(node: Mapping[str, Any]) -> NodeView:
    spec = mapping(node, node.get("spec"), "spec")
    taints = list(parse_taints(node))
    status = mapping(node, node.get("status"), "status")
    for n, cond in enumerate(sequence(node, status.get("conditions"), "status.conditions")):
        c = mapping(node, cond, f"status.conditions[{n}]")
        if c.get("type") != "Ready" or c.get("status") == "True":
            continue
        # The node lifecycle controller taints a node that is not Ready; a snapshot may predate it.
        key = NOT_READY_TAINT if c.get("status") == "False" else UNREACHABLE_TAINT
        if not any(t.key == key for t in taints):
            taints.append(Taint(key, "", "NoSchedule"))
    return NodeView(
        name=name_of(node),
        labels=labels_of(node),
        allocatable=node_allocatable(node),
        taints=tuple(taints),
        unschedulable=bool(spec.get("unschedulable")),
    )


@dataclass(frozen=True)
class PodAffinityTerm:
    selector: LabelSelector | None  # None selects no pod
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None  # with namespaces: union; {} selects every namespace
    topology_key: str
    anti: bool
    weight: int | None  # set for preferred terms

    def canonical(self) -> str:
        return json.dumps(
            [
                None if self.selector is None else self.selector.canonical(),
                sorted(self.namespaces),
                None if self.namespace_selector is None else self.namespace_selector.canonical(),
                self.topology_key,
            ]
        )


@dataclass(frozen=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # DoNotSchedule
    selector: LabelSelector | None
    min_domains: int | None
    honor_affinity: bool  # nodeAffinityPolicy (default Honor)
    honor_taints: bool  # nodeTaintsPolicy (default Ignore)


@dataclass(frozen=True)
class PodView:
    ref: str
    name: str
    namespace: str
    uid: str
    labels: dict[str, str]
    request: Resources
    node_name: str
    scheduler_name: str
    phase: str
    terminating: bool
    gated: bool
    owner: tuple[str, str] | None  # (kind, name) of the controller
    priority: int | None
    priority_class: str
    nodes: NodeMatcher
    preferred: tuple[PreferredTerm, ...]
    tolerations: tuple[Toleration, ...]
    pod_terms: tuple[PodAffinityTerm, ...]
    spread: tuple[SpreadConstraint, ...]
    host_ports: tuple[tuple[str, int], ...]  # (protocol, hostPort): at most one such pod per node
    unsupported: tuple[str, ...]
    spec_hash: str
    claims: tuple[PodClaim, ...] = ()  # DRA: spec.resourceClaims, resolved where known
    value: float | None = None  # the VALUE_ANNOTATION (None: not annotated)

    @property
    def bound(self) -> bool:
        return bool(self.node_name)

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES


def _pod_terms(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> list[PodAffinityTerm]:
    affinity = mapping(pod, spec.get("affinity"), "spec.affinity")
    out = []
    for kind, anti in (("podAffinity", False), ("podAntiAffinity", True)):
        block = mapping(pod, affinity.get(kind), f"spec.affinity.{kind}")
        where = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        for n, raw in enumerate(
            sequence(pod, block.get("requiredDuringSchedulingIgnoredDuringExecution"), where)
        ):
            out.append(_pod_term(pod, raw, f"{where}[{n}]", anti, None))
        where = f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
        for n, raw in enumerate(
            sequence(pod, block.get("preferredDuringSchedulingIgnoredDuringExecution"), where)
        ):
            entry = mapping(pod, raw, f"{where}[{n}]")
            weight = entry.get("weight")
            if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
                raise bad(
                    pod,
                    f"{where}[{n}].weight",
                    f"weight must be an integer in 1..100, got {weight!r}",
                )
            out.append(
                _pod_term(
                    pod, entry.get("podAffinityTerm"), f"{where}[{n}].podAffinityTerm", anti, weight
                )
            )
    return out


def _pod_term(
    pod: Mapping[str, Any], raw: Any, where: str, anti: bool, weight: int | None
) -> PodAffinityTerm:
    term = mapping(pod, raw, where)
    key = term.get("topologyKey")
    if not isinstance(key, str) or not key:
        raise bad(pod, f"{where}.topologyKey", "a pod affinity term needs a topologyKey")
    selector = parse_label_selector(pod, term.get("labelSelector"), f"{where}.labelSelector")
    labels = labels_of(pod)
    for field_name, op in (("matchLabelKeys", "In"), ("mismatchLabelKeys", "NotIn")):
        keys = sequence(pod, term.get(field_name), f"{where}.{field_name}")
        if keys and selector is not None:
            extra = tuple(
                Requirement(str(k), op, (labels[str(k)],)) for k in keys if str(k) in labels
            )
            selector = LabelSelector(selector.requirements + extra)
    namespaces = frozenset(
        str(n) for n in sequence(pod, term.get("namespaces"), f"{where}.namespaces")
    )
    ns_selector = parse_label_selector(
        pod, term.get("namespaceSelector"), f"{where}.namespaceSelector"
    )
    if not namespaces and ns_selector is None:
        namespaces = frozenset({namespace_of(pod)})  # the default: the pod's own namespace
    return PodAffinityTerm(selector, namespaces, ns_selector, key, anti, weight)


def _spread(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> list[SpreadConstraint]:
    out = []
    labels = labels_of(pod)
    for n, raw in enumerate(
        sequence(pod, spec.get("topologySpreadConstraints"), "spec.topologySpreadConstraints")
    ):
        where = f"spec.topologySpreadConstraints[{n}]"
        c = mapping(pod, raw, where)
        skew = c.get("maxSkew")
        if not isinstance(skew, int) or isinstance(skew, bool) or skew < 1:
            raise bad(pod, f"{where}.maxSkew", f"maxSkew must be an integer >= 1, got {skew!r}")
        key = c.get("topologyKey")
        if not isinstance(key, str) or not key:
            raise bad(pod, f"{where}.topologyKey", "topologyKey is required")
        when = c.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise bad(
                pod,
                f"{where}.whenUnsatisfiable",
                f"expected DoNotSchedule or ScheduleAnyway, got {when!r}",
            )
        min_domains = c.get("minDomains")
        if min_domains is not None:
            if not isinstance(min_domains, int) or isinstance(min_domains, bool) or min_domains < 1:
                raise bad(
                    pod,
                    f"{where}.minDomains",
                    f"minDomains must be an integer >= 1, got {min_domains!r}",
                )
            if when != "DoNotSchedule":
                raise bad(
                    pod, f"{where}.minDomains", "minDomains needs whenUnsatisfiable: DoNotSchedule"
                )
        policies = []
        for field_name, default in (
            ("nodeAffinityPolicy", "Honor"),
            ("nodeTaintsPolicy", "Ignore"),
        ):
            value = c.get(field_name) or default
            if value not in ("Honor", "Ignore"):
                raise bad(pod, f"{where}.{field_name}", f"expected Honor or Ignore, got {value!r}")
            policies.append(value == "Honor")
        selector = parse_label_selector(pod, c.get("labelSelector"), f"{where}.labelSelector")
        keys = sequence(pod, c.get("matchLabelKeys"), f"{where}.matchLabelKeys")
        if keys and selector is not None:
            extra = tuple(
                Requirement(str(k), "In", (labels[str(k)],)) for k in keys if str(k) in labels
            )
            selector = LabelSelector(selector.requirements + extra)
        out.append(
            SpreadConstraint(
                skew, key, when == "DoNotSchedule", selector, min_domains, policies[0], policies[1]
            )
        )
    return out


def _unsupported(spec: Mapping[str, Any]) -> list[str]:
    """Scheduling inputs placer does not model: reported per pod, never silently dropped."""
    out = []
    if any(
        isinstance(v, dict) and ("persistentVolumeClaim" in v or "ephemeral" in v)
        for v in spec.get("volumes") or []
    ):
        out.append(
            "spec.volumes: volume topology and limits (VolumeBinding, VolumeZone) are not modelled"
        )
    return out


def _host_ports(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """NodePorts: the host ports of the app containers and sidecars (hostIP is not told apart)."""
    containers = [
        ("spec.containers", n, c)
        for n, c in enumerate(sequence(pod, spec.get("containers"), "spec.containers"))
    ]
    containers += [
        ("spec.initContainers", n, c)
        for n, c in enumerate(sequence(pod, spec.get("initContainers"), "spec.initContainers"))
        if isinstance(c, dict) and c.get("restartPolicy") == "Always"
    ]
    out = set()
    for where, n, c in containers:
        if not isinstance(c, dict):
            continue
        for m, port in enumerate(sequence(pod, c.get("ports"), f"{where}[{n}].ports")):
            host = port.get("hostPort") if isinstance(port, dict) else None
            if host is None or host == 0:
                continue
            if not isinstance(host, int) or isinstance(host, bool) or not 0 < host < 65536:
                raise bad(
                    pod,
                    f"{where}[{n}].ports[{m}].hostPort",
                    f"expected a port number, got {host!r}",
                )
            protocol = port.get("protocol") or "TCP"
            if protocol not in PORT_PROTOCOLS:
                raise bad(
                    pod,
                    f"{where}[{n}].ports[{m}].protocol",
                    f"expected one of {', '.join(PORT_PROTOCOLS)}, got {protocol!r}",
                )
            out.add((protocol, host))
    return tuple(sorted(out))


def _owner(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    owners = [o for o in meta_of(pod).get("ownerReferences") or [] if isinstance(o, dict)]
    controller = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if controller is None:
        return None
    return str(controller.get("kind", "")), str(controller.get("name", ""))


# Parsed scheduling views by the raw fields they come from: replicas share one parse.
_PARSED: dict[str, dict[str, Any]] = {}
_PARSED_LIMIT = 8192


def _parse_key(
    pod: Mapping[str, Any], spec: Mapping[str, Any], labels: dict[str, str]
) -> str | None:
    """The raw inputs of the scheduling view, as text (None when they are not plain JSON)."""
    containers = spec.get("containers")
    init = spec.get("initContainers")
    if not isinstance(containers, list | None) or not isinstance(init, list | None):
        return None
    data = [
        namespace_of(pod),
        labels,
        [
            [c.get("resources"), c.get("restartPolicy")] if isinstance(c, dict) else c
            for c in containers or []
        ],
        [
            [c.get("resources"), c.get("restartPolicy")] if isinstance(c, dict) else c
            for c in init or []
        ],
        [spec.get(k) for k in SCHEDULING_FIELDS],
        [
            c.get("ports") if isinstance(c, dict) else None
            for c in [*(containers or []), *(init or [])]
        ],
    ]
    try:
        return json.dumps(data, sort_keys=True)
    except (TypeError, ValueError):
        return None


SCHEDULING_FIELDS = (
    "overhead",
    "resources",
    "priority",
    "priorityClassName",
    "schedulerName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "resourceClaims",
)


def _parse_spec(
    pod: Mapping[str, Any], spec: Mapping[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    priority = spec.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise bad(pod, "spec.priority", f"priority must be an integer, got {priority!r}")
    parsed: dict[str, Any] = dict(
        request=pod_request(pod),
        nodes=node_matcher(pod, spec),
        preferred=preferred_node_terms(pod, spec),
        tolerations=parse_tolerations(pod, spec),
        pod_terms=tuple(_pod_terms(pod, spec)),
        spread=tuple(_spread(pod, spec)),
        host_ports=_host_ports(pod, spec),
        priority=priority,
    )
    relevant = {
        "ns": namespace_of(pod),
        "labels": {k: v for k, v in sorted(labels.items()) if k not in PER_POD_LABELS},
        "request": sorted(parsed["request"].items()),
        "hostPorts": parsed["host_ports"],
        **{
            k: spec.get(k)
            for k in SCHEDULING_FIELDS
            if k not in ("overhead", "resources") and (k != "resourceClaims" or spec.get(k))
        },
    }
    text = json.dumps(relevant, sort_keys=True, default=str)
    parsed["spec_hash"] = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    return parsed


def pod_value(pod: Mapping[str, Any]) -> float | None:
    """The pod's ``placer.dev/value`` annotation: a finite number >= 0 (None: absent)."""
    annotations = mapping(pod, meta_of(pod).get("annotations"), "metadata.annotations")
    raw = annotations.get(VALUE_ANNOTATION)
    if raw is None:
        return None
    where = f"metadata.annotations[{VALUE_ANNOTATION}]"
    if not isinstance(raw, str):  # the API holds annotation values as strings
        raise bad(pod, where, f"an annotation value is a string, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise bad(pod, where, f"expected a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise bad(pod, where, f"expected a finite number >= 0, got {raw!r}")
    return value


def pod_view(pod: Mapping[str, Any]) -> PodView:
    spec = mapping(pod, pod.get("spec"), "spec")
    status = mapping(pod, pod.get("status"), "status")
    meta = meta_of(pod)
    labels = labels_of(pod)
    key = _parse_key(pod, spec, labels)
    parsed = _PARSED.get(key) if key is not None else None
    if parsed is None:
        parsed = _parse_spec(pod, spec, labels)
        if key is not None:
            if len(_PARSED) >= _PARSED_LIMIT:
                _PARSED.clear()
            _PARSED[key] = parsed
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace") or "default")
    return PodView(
        ref=f"Pod/{namespace}/{name}",
        name=name,
        namespace=namespace,
        uid=str(meta.get("uid") or ""),
        labels=labels,
        node_name=str(spec.get("nodeName") or ""),
        scheduler_name=str(spec.get("schedulerName") or "default-scheduler"),
        phase=str(status.get("phase") or "Pending"),
        terminating=meta.get("deletionTimestamp") is not None,
        gated=bool(spec.get("schedulingGates")),
        owner=_owner(pod),
        priority_class=str(spec.get("priorityClassName") or ""),
        unsupported=tuple(_unsupported(spec)),
        claims=pod_claims(pod) if spec.get("resourceClaims") else (),
        value=pod_value(pod),
        **parsed,
    )


def group_key(view: PodView) -> str:
    """Owner + scheduling-relevant spec hash; a pod without owner is a group of its own."""
    if view.owner is None:
        return f"{view.namespace}/{view.name}"
    kind, name = view.owner
    worth = "" if view.value is None else f"/value-{view.value!r}"
    return f"{view.namespace}/{kind}/{name}/{view.spec_hash}{worth}"
