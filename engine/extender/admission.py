"""Objects from requests, checked before anything is stored: shape, then the IR builder's rules.

A Node or Pod placer learns from a request ends up in the planner's input; if it could fail the
build, every later plan would fail with it. So a request object is admitted only when

1. it has the shape and Go types of the parts placer reads (``models.py``, pydantic, strict);
2. the Kubernetes adapter's own parsers (``engine.kube.views`` — the code the IR builder runs)
   accept it: operators, effects, spread rules, quantities, priorities;
3. its amounts are ones every backend represents, and it names no resource beyond the cap on
   distinct resource names (each one is a column of the node table).

Anything else is a ``WireError`` (a 400, or the protocol's ``Error`` field to the scheduler).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from pydantic import ValidationError

from engine.errors import InputError
from engine.limits import MAX_QUANTITY

from . import models
from .state import slim_node, slim_pod
from .wire import WireError, lower_keys

# Distinct resource names the service tracks (real clusters use a few dozen).
MAX_RESOURCE_NAMES = 256
# One amount in base units (millicores, bytes): the IR's own bound, exact in a double, so every
# backend computes with it exactly (2^53 bytes is 8 PiB, 2^53 millicores 9 billion cores).
MAX_AMOUNT = MAX_QUANTITY


def _shape(model: type[models.Model], obj: Any, what: str) -> None:
    try:
        model.model_validate(obj)
    except ValidationError as exc:
        raise WireError(models.first_error(exc, what)) from None


def _amounts(what: str, field: str, amounts: Mapping[str, int]) -> None:
    for resource, amount in amounts.items():
        if amount > MAX_AMOUNT:
            raise WireError(
                f"{what}: {field}.{resource}: {amount} is beyond what placer plans with "
                f"(at most 2^53 base units)"
            )


def _resource_names(what: str, names: Collection[str], known: Collection[str]) -> None:
    new = [r for r in names if r not in known]
    if new and len(known) + len(new) > MAX_RESOURCE_NAMES:
        raise WireError(
            f"{what}: resource {new[0]!r} would exceed the {MAX_RESOURCE_NAMES} distinct "
            f"resource names placer tracks"
        )


def _adapter_error(exc: InputError) -> WireError:
    return WireError(f"{exc.path}: {exc.reason}" if exc.path else exc.reason)


def admit_node(obj: Any, resources: Collection[str]) -> tuple[dict[str, Any], dict[str, int]]:
    """(the slim Node to store, its allocatable) or a WireError; ``resources``: names tracked."""
    _shape(models.Node, obj, "Node")
    slim = slim_node(obj)
    if not slim["metadata"].get("name"):
        raise WireError("Node needs metadata.name")
    from engine.kube.views import node_view

    try:
        view = node_view(slim)
    except InputError as exc:
        raise _adapter_error(exc) from None
    what = f"Node/{view.name}"
    _amounts(what, "status.allocatable", view.allocatable)
    _resource_names(what, view.allocatable, resources)
    return slim, view.allocatable


def admit_pod(
    obj: Any, resources: Collection[str], priority_classes: Collection[str]
) -> tuple[dict[str, Any], dict[str, int], str]:
    """(the slim pending Pod to store, its request, its group key) or a WireError.

    A pod in a request is pending by definition: ``spec.nodeName`` is dropped (only the watch,
    the snapshot or a bind placer performs says where a pod runs).
    """
    _shape(models.Pod, obj, "Pod")
    slim = slim_pod(obj)
    if not slim["metadata"].get("name"):
        raise WireError("Pod needs metadata.name")
    slim["spec"].pop("nodeName", None)
    from engine.kube.views import group_key, pod_view

    try:
        view = pod_view(slim)
    except InputError as exc:
        raise _adapter_error(exc) from None
    what = view.ref
    if (
        view.priority is None
        and view.priority_class
        and view.priority_class not in priority_classes
    ):
        # The builder would refuse it; a live Pod always carries spec.priority (admission sets it).
        raise WireError(
            f"{what}: spec.priorityClassName: unknown PriorityClass {view.priority_class!r} "
            f"and no spec.priority"
        )
    _amounts(what, "spec.containers[*].resources.requests", view.request)
    _resource_names(what, view.request, resources)
    return slim, view.request, group_key(view)


def check_victims(
    victims: Any, meta: bool, canonical: Callable[[Any], Any] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One node's ``Victims``/``MetaVictims`` checked for shape: (pods, NumPDBViolations).

    Meta pods come back with lowercased keys; full pods as Kubernetes objects (``canonical``
    restores their field names when the request's casing was not Go's).
    """
    if victims is None:
        return [], 0
    if not isinstance(victims, dict):
        raise WireError(f"victims must be objects, got {type(victims).__name__}")
    v = lower_keys(victims)
    _shape(models.Victims, v, "Victims")
    pods = []
    for n, pod in enumerate(v.get("pods") or ()):
        where = f"Victims.Pods[{n}]"
        if not isinstance(pod, dict):
            raise WireError(f"{where} must be an object, got {type(pod).__name__}")
        if meta:
            pod = lower_keys(pod)
            _shape(models.MetaPod, pod, where)
        else:
            pod = canonical(pod) if canonical is not None else pod
            _shape(models.Pod, pod, where)
        pods.append(pod)
    return pods, int(v.get("numpdbviolations") or 0)
