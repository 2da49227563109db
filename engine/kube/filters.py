"""kube-scheduler's per-node filters that depend only on the pod and the node, in plugin order.

Reason texts are the plugins' own (pkg/scheduler/framework/plugins/*), as kube-scheduler v1.34
prints them in FailedScheduling events (checked against the real scheduler: a taint is reported as
"node(s) had untolerated taint(s)", without its key; a NotReady node is refused through the
``node.kubernetes.io/not-ready`` taint the node lifecycle controller puts on it, not by a Ready
check of its own). Like the scheduler, a node reports the first failing filter. ``solve``'s
explanations and ``serve``'s filter verdicts both take their texts from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .selectors import Taint
from .views import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    UNSCHEDULABLE_TAINT,
    NodeView,
    PodView,
    node_view,
    pod_view,
)

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_SPREAD_LABEL = (
    "node(s) didn't match pod topology spread constraints (missing required label)"
)
REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TAINT = "node(s) had untolerated taint(s)"


def insufficient_reason(resource: str) -> str:
    return REASON_TOO_MANY_PODS if resource == "pods" else f"Insufficient {resource}"


def untolerated(pod: PodView, node: NodeView, effects: frozenset[str]) -> list[Taint]:
    return [
        t
        for t in node.taints
        if t.effect in effects and not any(tol.tolerates(t) for tol in pod.tolerations)
    ]


HARD_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
NO_EXECUTE = "NoExecute"


def taint_eviction(pod: PodView, node: NodeView) -> tuple[Taint, int] | None:
    """What the taint eviction controller does to a pod bound to this node: None when it may
    stay (no NoExecute taint, or each one tolerated without ``tolerationSeconds``), else the
    NoExecute taint that evicts it and after how many seconds (0: now).

    As kube-controller-manager's taint-eviction-controller: every NoExecute taint needs a
    toleration (the first that tolerates it counts), or the pod is deleted at once; otherwise it
    is deleted after the smallest ``tolerationSeconds`` among those tolerations (a value <= 0:
    at once), never when none of them has one.
    """
    soonest: tuple[Taint, int] | None = None
    for taint in node.taints:
        if taint.effect != NO_EXECUTE:
            continue
        toleration = next((t for t in pod.tolerations if t.tolerates(taint)), None)
        if toleration is None:
            return taint, 0
        if toleration.seconds is None:
            continue
        seconds = max(toleration.seconds, 0)
        if soonest is None or seconds < soonest[1]:
            soonest = (taint, seconds)
    return soonest


SOFT_EFFECTS = frozenset({"PreferNoSchedule"})


def static_reason(pod: PodView, node: NodeView) -> str | None:
    """NodeUnschedulable, TaintToleration, NodeAffinity: None if the node passes, else the reason."""
    if node.unschedulable and not any(
        t.tolerates(Taint(UNSCHEDULABLE_TAINT, "", "NoSchedule")) for t in pod.tolerations
    ):
        return REASON_UNSCHEDULABLE
    if untolerated(pod, node, HARD_EFFECTS):
        return REASON_TAINT
    if (eviction := taint_eviction(pod, node)) is not None and eviction[1] == 0:
        return REASON_TAINT  # tolerated for 0 s: kube would bind it and evict it at once
    if not pod.nodes.matches(node.labels, node.name):
        return REASON_NODE_AFFINITY
    return None


def topology_reason(pod: PodView, node: NodeView) -> str | None:
    """Static parts of PodTopologySpread and InterPodAffinity: the node must carry the keys."""
    if any(c.hard and c.topology_key not in node.labels for c in pod.spread):
        return REASON_SPREAD_LABEL
    if any(
        not t.anti and t.weight is None and t.topology_key not in node.labels for t in pod.pod_terms
    ):
        return REASON_POD_AFFINITY
    return None


def static_filter(pod: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
    """Does this node pass the pod's node-level filters? None if so, else kube-scheduler's reason.

    Checks, in the scheduler's plugin order: ``spec.unschedulable`` (NodeUnschedulable), untolerated
    NoSchedule/NoExecute taints including the implicit not-ready taint (TaintToleration), and
    nodeSelector plus required node affinity with matchFields (NodeAffinity).
    """
    return static_reason(pod_view(pod), node_view(node))


def node_unusable_reason(node: Mapping[str, Any]) -> str | None:
    """Why no ordinary pending pod can use this node at all, in kube-scheduler's words: cordoned
    ("node(s) were unschedulable"), or not Ready / unreachable (the lifecycle controller's
    NoSchedule taint: "node(s) had untolerated taint(s)"); None if it may take pods. A pod that
    tolerates those taints (a DaemonSet's) may still use the node: ``static_filter`` decides."""
    view = node_view(node)
    if view.unschedulable:
        return REASON_UNSCHEDULABLE
    lifecycle = (NOT_READY_TAINT, UNREACHABLE_TAINT)
    if any(t.key in lifecycle and t.effect in HARD_EFFECTS for t in view.taints):
        return REASON_TAINT
    return None
