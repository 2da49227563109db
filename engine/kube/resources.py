"""Resource arithmetic as kube-scheduler does it: effective pod requests and node allocatable.

The effective request (k8s.io/component-helpers resource.PodRequests, documented under
"Effective Pod requests and limits") is, per resource, the larger of

- the sum over app containers plus every sidecar (init container with ``restartPolicy: Always``),
- for each init container in order: its request plus the sidecars started before it
  (a sidecar's own step counts all sidecars up to and including it),

plus ``spec.overhead`` (RuntimeClass overhead). Every pod also takes one ``pods`` slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..limits import quantity_out_of_range
from ..quantity import QuantityError, parse_quantity
from .objects import bad, mapping, sequence

Resources = dict[str, int]

DEFAULT_MAX_PODS = 110  # the kubelet's default maxPods, for manifests that state no pods


@lru_cache(maxsize=8192)
def _quantity(resource: str, amount: str | int | float) -> int:
    return parse_quantity(resource, amount)  # clusters repeat the same few quantities


def parse_resource_map(obj: Mapping[str, Any], value: Any, field_path: str) -> Resources:
    """{resource: quantity} into exact integers (millicores for cpu); errors name the field."""
    out: Resources = {}
    for resource, amount in mapping(obj, value, field_path).items():
        where = f"{field_path}.{resource}"
        try:
            number = (
                _quantity(str(resource), amount)
                if isinstance(amount, str | int | float)
                else parse_quantity(str(resource), amount)
            )
        except QuantityError as exc:
            raise bad(obj, where, str(exc)) from None
        if number < 0:
            raise bad(obj, where, f"negative quantity {amount!r}")
        if why := quantity_out_of_range(str(resource), number):
            raise bad(obj, where, f"{amount!r}: {why}")
        out[str(resource)] = number
    return out


def _add(into: Resources, more: Mapping[str, int]) -> None:
    for r, v in more.items():
        into[r] = into.get(r, 0) + v


def _max(into: Resources, other: Mapping[str, int]) -> None:
    for r, v in other.items():
        if v > into.get(r, 0):
            into[r] = v


def _container_requests(
    pod: Mapping[str, Any], containers: list[Any], where: str
) -> list[tuple[Resources, bool]]:
    out = []
    for n, c in enumerate(containers):
        if not isinstance(c, dict):
            raise bad(pod, f"{where}[{n}]", "a container must be a map")
        res = mapping(pod, c.get("resources"), f"{where}[{n}].resources")
        requests = parse_resource_map(pod, res.get("requests"), f"{where}[{n}].resources.requests")
        if not res.get("requests") and res.get("limits"):
            # API defaulting: a limit without a request makes the request equal to the limit.
            requests = parse_resource_map(pod, res.get("limits"), f"{where}[{n}].resources.limits")
        out.append((requests, c.get("restartPolicy") == "Always"))
    return out


def pod_request(pod: Mapping[str, Any]) -> Resources:
    """The kube-scheduler's effective request of a pod, including one ``pods`` slot."""
    spec = mapping(pod, pod.get("spec"), "spec")
    total: Resources = {}
    for requests, _ in _container_requests(
        pod, sequence(pod, spec.get("containers"), "spec.containers"), "spec.containers"
    ):
        _add(total, requests)
    sidecars: Resources = {}
    init_peak: Resources = {}
    for requests, restartable in _container_requests(
        pod, sequence(pod, spec.get("initContainers"), "spec.initContainers"), "spec.initContainers"
    ):
        if restartable:
            _add(total, requests)  # sidecars keep running next to the app containers
            _add(sidecars, requests)
            step = dict(sidecars)
        else:
            step = dict(requests)
            _add(step, sidecars)
        _max(init_peak, step)
    _max(total, init_peak)
    pod_level = mapping(pod, spec.get("resources"), "spec.resources")
    if pod_level.get("requests"):
        # Pod-level resources (PodLevelResources): they replace the container sum for the
        # resources they name (cpu and memory only, per the API).
        total.update(parse_resource_map(pod, pod_level.get("requests"), "spec.resources.requests"))
    _add(total, parse_resource_map(pod, spec.get("overhead"), "spec.overhead"))
    total = {r: v for r, v in total.items() if v > 0}
    total["pods"] = 1
    return total


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """``status.allocatable`` (``capacity`` when a hand-written manifest has no allocatable)."""
    status = mapping(node, node.get("status"), "status")
    if status.get("allocatable") is not None:
        field_path, value = "status.allocatable", status.get("allocatable")
    else:
        field_path, value = "status.capacity", status.get("capacity")
    out = parse_resource_map(node, value, field_path)
    out.setdefault("pods", DEFAULT_MAX_PODS)
    return out
