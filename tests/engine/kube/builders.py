"""Small manifest builders and the feasible-node oracle the kube scenario tests share."""

from __future__ import annotations

from typing import Any

from engine.ir import Problem
from engine.kube import manifests_to_problem
from engine.verify import verify_counts


def node(
    name: str,
    zone: str | None = None,
    *,
    labels: dict[str, str] | None = None,
    cpu: str = "4",
    memory: str = "16Gi",
    pods: int = 110,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    ready: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    all_labels = {
        "kubernetes.io/hostname": name,
        **({"topology.kubernetes.io/zone": zone} if zone else {}),
    }
    all_labels.update(labels or {})
    status: dict[str, Any] = {
        "allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    }
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels},
        "spec": spec,
        "status": status,
    }


def pod(
    name: str,
    *,
    ns: str = "default",
    labels: dict[str, str] | None = None,
    cpu: str = "100m",
    memory: str = "128Mi",
    on: str | None = None,
    owner: str | None = None,
    phase: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": f"uid-{ns}-{name}",
        "labels": labels or {},
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
        ]
    body: dict[str, Any] = {
        "containers": [
            {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        ],
        **spec,
    }
    if on:
        body["nodeName"] = on
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": body,
        "status": {"phase": phase or ("Running" if on else "Pending")},
    }


def problem_of(*docs: dict[str, Any], **kwargs: Any) -> Problem:
    return manifests_to_problem(list(docs), "<test>", **kwargs)


def pending(problem: Problem) -> list[str]:
    return [i.name for i in problem.items if not i.meta.get("bound")]


def base_counts(problem: Problem) -> dict[tuple[str, str], int]:
    return {(i.name, b): n for i in problem.items for b, n in i.placed.items()}


def feasible(
    problem: Problem, group: str | None = None, extra: dict[tuple[str, str], int] | None = None
) -> set[str]:
    """Nodes where one more pod of the group is valid (hard rules), judged by the verifier."""
    if group is None:
        (group,) = pending(problem)
    out = set()
    for b in problem.bins:
        counts = {**base_counts(problem), **(extra or {})}
        counts[(group, b.name)] = counts.get((group, b.name), 0) + 1
        if verify_counts(problem, counts).ok:
            out.add(b.name)
    return out


def zones(**spec: str) -> list[dict[str, Any]]:
    """node(name, zone) for each name=zone."""
    return [node(name, zone) for name, zone in spec.items()]
