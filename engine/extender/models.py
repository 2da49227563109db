"""Pydantic models of the parts of extender requests that placer reads, with Go's types.

Only shape and type are checked here (strict: no "5" for an int, no list for a string, Go's
int32/int64 ranges); the meaning (operators, effects, policies) is checked by the same parsers
the planner's IR builder uses (``admission.py``), so there is one place for each rule. Fields
placer does not read are ignored, so newer Kubernetes objects still pass.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Int32 = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
# Kubernetes label syntax bounds: a key is an optional DNS-subdomain prefix (253) + "/" + name
# (63); a value at most 63 characters. Real objects always fit; these bound what one label costs.
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=317)]
LabelValue = Annotated[str, StringConstraints(max_length=63)]
Labels = dict[LabelKey, LabelValue]
# resource.Quantity marshals as a string; its decoder also takes a JSON number.
Quantity = str | int | float  # strict (the model config): never a bool
ResourceList = dict[Annotated[str, StringConstraints(min_length=1, max_length=317)], Quantity]
Strings = list[str]


class Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class OwnerReference(Model):
    apiVersion: str | None = None
    kind: str | None = None
    name: str | None = None
    uid: str | None = None
    controller: bool | None = None


class ObjectMeta(Model):
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    labels: Labels | None = None
    ownerReferences: list[OwnerReference] | None = None
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None


class Requirement(Model):
    key: str
    operator: str
    values: Strings | None = None


class LabelSelector(Model):
    matchLabels: Labels | None = None
    matchExpressions: list[Requirement] | None = None


class NodeSelectorTerm(Model):
    matchExpressions: list[Requirement] | None = None
    matchFields: list[Requirement] | None = None


class NodeSelector(Model):
    nodeSelectorTerms: list[NodeSelectorTerm] | None = None


class PreferredSchedulingTerm(Model):
    weight: Int32
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(Model):
    labelSelector: LabelSelector | None = None
    namespaces: Strings | None = None
    namespaceSelector: LabelSelector | None = None
    topologyKey: str | None = None
    matchLabelKeys: Strings | None = None
    mismatchLabelKeys: Strings | None = None


class WeightedPodAffinityTerm(Model):
    weight: Int32
    podAffinityTerm: PodAffinityTerm


class PodAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: list[PodAffinityTerm] | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[WeightedPodAffinityTerm] | None = None


class Affinity(Model):
    nodeAffinity: NodeAffinity | None = None
    podAffinity: PodAffinity | None = None
    podAntiAffinity: PodAffinity | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    tolerationSeconds: Int64 | None = None


class TopologySpreadConstraint(Model):
    maxSkew: Int32
    topologyKey: str
    whenUnsatisfiable: str
    labelSelector: LabelSelector | None = None
    minDomains: Int32 | None = None
    nodeAffinityPolicy: str | None = None
    nodeTaintsPolicy: str | None = None
    matchLabelKeys: Strings | None = None


class ResourceRequirements(Model):
    requests: ResourceList | None = None
    limits: ResourceList | None = None


class ContainerPort(Model):
    containerPort: Int32 | None = None
    hostPort: Int32 | None = None
    protocol: str | None = None
    hostIP: str | None = None


class Container(Model):
    name: str | None = None
    resources: ResourceRequirements | None = None
    restartPolicy: str | None = None
    ports: list[ContainerPort] | None = None


class SchedulingGate(Model):
    name: str


class PodSpec(Model):
    nodeName: str | None = None
    schedulerName: str | None = None
    priority: Int32 | None = None
    priorityClassName: str | None = None
    preemptionPolicy: str | None = None
    nodeSelector: Labels | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    topologySpreadConstraints: list[TopologySpreadConstraint] | None = None
    overhead: ResourceList | None = None
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None
    schedulingGates: list[SchedulingGate] | None = None
    resources: ResourceRequirements | None = None
    hostNetwork: bool | None = None


class PodStatus(Model):
    phase: str | None = None


class Pod(Model):
    metadata: ObjectMeta
    spec: PodSpec | None = None
    status: PodStatus | None = None


class Taint(Model):
    key: str
    value: str | None = None
    effect: str
    timeAdded: str | None = None


class NodeSpec(Model):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeCondition(Model):
    type: str
    status: str


class NodeStatus(Model):
    allocatable: ResourceList | None = None
    capacity: ResourceList | None = None
    conditions: list[NodeCondition] | None = None


class Node(Model):
    metadata: ObjectMeta
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


class MetaPod(Model):
    """``MetaPod`` with its keys lowercased (the wire's keys are matched case-insensitively)."""

    uid: str


class Victims(Model):
    """``Victims``/``MetaVictims``, keys lowercased; the pods are checked by the caller."""

    pods: list[Any] | None = None
    numpdbviolations: Int64 | None = None


def first_error(exc: ValidationError, what: str) -> str:
    """One line: where in the object, and what is wrong (and how many more problems)."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    path = what
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:  # a key with a newline or quote in it must not break the one-line message
            path += f".{part}" if str(part).isprintable() else f"[{str(part)!r}]"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) else f", got {_short(value)}"
    return f"{path}: {error['msg']}{shown}{more}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
