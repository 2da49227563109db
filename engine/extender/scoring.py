"""The fast, per-request part: does a pod fit a node now, and a greedy score when no plan helps.

This is the one piece of scheduling logic the service keeps for itself, because it must answer in
microseconds per node: a resource-fit check against placer's own usage numbers, and the default
scheduler's ``LeastAllocated`` score over cpu and memory, scaled to 0..9 so that a planned node
(scored 10) always ranks above every other node.
"""

from __future__ import annotations

from collections.abc import Mapping

from .state import NodeRecord

PLANNED_SCORE = 10  # MaxExtenderPriority
MAX_GREEDY_SCORE = 9
SCORED_RESOURCES = ("cpu", "memory")


def insufficient(node: NodeRecord, request: Mapping[str, int]) -> list[str]:
    """Resources the node lacks for this request, in kube-scheduler's order (empty = fits)."""
    short = []
    allocatable = node.allocatable
    used = node.used
    for resource, amount in request.items():
        if amount > 0 and used.get(resource, 0) + amount > allocatable.get(resource, 0):
            short.append(resource)
    return short


def insufficient_reason(resources: list[str]) -> str:
    return ", ".join(f"Insufficient {r}" for r in resources)


def least_allocated(node: NodeRecord, request: Mapping[str, int]) -> int:
    """kube-scheduler's LeastAllocated (free share after placing the pod), mapped to 0..9."""
    total = 0.0
    counted = 0
    for resource in SCORED_RESOURCES:
        capacity = node.allocatable.get(resource, 0)
        if capacity <= 0:
            continue
        free = capacity - node.used.get(resource, 0) - request.get(resource, 0)
        total += max(free, 0) / capacity
        counted += 1
    if counted == 0:
        return 0
    return int(total / counted * MAX_GREEDY_SCORE)
