"""Cluster state from a file: Kubernetes manifests (Nodes, Pods, PriorityClasses, DRA objects) or
a placer IR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.quantity import format_quantity

from .state import ClusterState


def load_snapshot(path: str | Path, state: ClusterState) -> tuple[int, int]:
    """Fill ``state`` from a file; returns (nodes, pods). Bad input raises ``InputError``."""
    from engine.io import problem_from_dict, read_documents

    source = str(path)
    docs = read_documents(path)
    if not docs:
        raise InputError("file holds no document", source=source)
    first = docs[0]
    if isinstance(first, dict) and first.get("kind") == "Problem":
        nodes, pods = problem_to_objects(problem_from_dict(first, source))
    else:
        from engine.kube import load_cluster

        try:
            cluster = load_cluster(docs, source)
        except InputError as exc:
            raise exc.with_source(source) from None
        if not cluster.nodes:
            raise InputError("no Node objects found", source=source)
        nodes, pods = cluster.nodes, cluster.pods
        # The planner needs these to resolve priorityClassName and namespace selectors.
        state.extra_docs = [*cluster.priority_classes.values(), *cluster.namespaces.values()]
        # DRA objects (devices, claims), as the live watch would give them.
        for obj in cluster.dra:
            state.upsert_object(obj)
    try:
        state.replace(nodes, pods)
    except InputError as exc:
        raise exc.with_source(source) from None
    return len(state.nodes), len(state.pods)


def problem_to_objects(problem: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An IR problem as Nodes and Pods: bins become nodes, each item a pod (placed ones bound).

    Only resources, labels and priorities carry over; IR constraints have no Pod form here.
    """
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": b.name, "labels": dict(b.labels)},
            "status": {"allocatable": {r: format_quantity(r, v) for r, v in b.capacity.items()}},
        }
        for b in problem.bins
    ]
    pods = []
    for item in problem.items:
        requests = {r: format_quantity(r, v) for r, v in item.demand.items() if r != "pods"}
        bound = [b for b, n in item.placed.items() for _ in range(n)]
        for i in range(item.count):
            spec: dict[str, Any] = {
                "priority": item.priority,
                "containers": [{"name": "main", "resources": {"requests": requests}}],
            }
            if i < len(bound):
                spec["nodeName"] = bound[i]
            name = f"{item.name}-{i}"
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": name,
                        "namespace": "default",
                        "uid": f"{problem.name}/{name}",
                        "labels": dict(item.labels),
                    },
                    "spec": spec,
                }
            )
    return nodes, pods
