"""A verified plan -> Kubernetes objects: v1 Bindings for pending pods, a replica plan for workloads.

Two files, because ``kubectl create -f`` must accept the first as it is:

1. ``plan_to_bindings_yaml``: a multi-document stream of ``v1 Binding`` objects only, one per
   existing pending pod the plan places (``kubectl create -f FILE`` posts each to the pod's
   ``binding`` subresource), pods taken in name order and nodes in the problem's node order, so
   the same plan always gives the same file;
2. ``replica_plan_yaml`` (written beside it, ``replica_plan_path``): one ``placer/v1 ReplicaPlan``
   document, which no API server knows: for every workload whose pods do not exist yet, how many
   replicas go to which node (``nodes``) and how many the plan leaves pending (``unplaced``); the
   pending pods left unbound (``unboundPods``), each with kube-scheduler's reason; and the rules
   placer could not model (``unsupported``); the DRA devices the plan assumes for each bound pod's
   claim (``claimAllocations``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..ir import ItemGroup, Problem
from ..solution import Solution


def _new_counts(problem: Problem, solution: Solution) -> dict[str, list[tuple[str, int]]]:
    """Per pending group: (node, new pods) in the problem's node order."""
    order = {b.name: n for n, b in enumerate(problem.bins)}
    out: dict[str, list[tuple[str, int]]] = {}
    for (item, node), n in sorted(
        solution.counts().items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 0))
    ):
        group = problem.item_by_name.get(item)
        if group is None or group.meta.get("bound"):
            continue
        new = n - group.placed.get(node, 0)
        if new > 0:
            out.setdefault(item, []).append((node, new))
    return out


def _assigned(
    problem: Problem, solution: Solution
) -> list[tuple[ItemGroup, dict[str, Any], str, tuple[str, ...] | None]]:
    """(group, pod, node, devices) per existing pending pod the plan places, deterministic:
    pods in name order, nodes in the problem's order, each pod its own row of devices."""
    out = []
    new = _new_counts(problem, solution)
    devices: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for row in solution.placements:
        if row.devices:
            devices.setdefault((row.item, row.bin), []).extend([row.devices] * row.count)
    for group in problem.items:
        pods = group.meta.get("pods") if not group.meta.get("bound") else None
        if not pods:
            continue
        queue = iter(pods)
        for node, n in new.get(group.name, []):
            rows = devices.get((group.name, node), [])
            for k in range(n):
                pod = next(queue, None)
                if pod is None:
                    break
                out.append((group, pod, node, rows[k] if k < len(rows) else None))
    return out


def plan_to_bindings(problem: Problem, solution: Solution) -> list[dict[str, Any]]:
    """One v1 Binding per existing pending pod that the plan places (deterministic order)."""
    bindings = []
    for _, pod, node, _ in _assigned(problem, solution):
        meta = {"name": pod["name"], "namespace": pod["namespace"]}
        if pod.get("uid"):
            meta["uid"] = pod["uid"]
        bindings.append(
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": meta,
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            }
        )
    return bindings


def claim_allocations(problem: Problem, solution: Solution) -> list[dict[str, Any]]:
    """The DRA claim allocations the plan assumes for the pods it binds: per pod, its claim and
    the devices as a ResourceClaim's ``status.allocation.devices.results`` names them."""
    refs = problem.meta.get("dra_devices") or {}
    out = []
    for group, pod, node, devices in _assigned(problem, solution):
        claim = group.meta.get("claim")
        if claim is None or not devices:
            continue
        results = []
        for device in devices:
            driver, pool, name = refs.get(node, {}).get(device, [None, None, device])
            results.append(
                {"request": claim.get("request"), "driver": driver, "pool": pool, "device": name}
            )
        out.append(
            {
                "pod": f"{pod['namespace']}/{pod['name']}",
                "node": node,
                "claim": claim.get("name"),
                "template": claim.get("template"),
                "resourceClaim": claim.get("resourceClaim"),
                "results": results,
            }
        )
    return out


def _unbound(
    problem: Problem, solution: Solution, new: dict[str, list[tuple[str, int]]]
) -> list[dict[str, str]]:
    """Pending pods the plan leaves unbound, each with why: kube-scheduler's message for its group
    (``Unplaced.reasons``, filled by ``explain_unplaced``) or the rule that kept it out of the plan."""
    why = {u.item: u.reasons for u in solution.unplaced}
    out = []
    for group in problem.items:
        if group.meta.get("bound"):
            continue
        placed = sum(n for _, n in new.get(group.name, []))
        for pod in (group.meta.get("pods") or [])[placed:]:
            reason = why.get(group.name) or "the plan leaves it pending"
            out.append({"pod": f"{pod['namespace']}/{pod['name']}", "reason": reason})
    for u in problem.meta.get("unsupported") or ():
        if isinstance(u, dict) and not u.get("group"):  # never planned (a gated pod, ...)
            pod = str(u.get("pod", "")).removeprefix("Pod/")
            out.append({"pod": pod, "reason": f"not planned: {u.get('reason', '')}"})
    return out


def replica_plan(problem: Problem, solution: Solution) -> dict[str, Any]:
    """The per-node plan for workload replicas without pods, and the pods left pending (why)."""
    new = _new_counts(problem, solution)
    workloads = []
    for group in problem.items:
        if group.meta.get("bound") or not group.meta.get("workload"):
            continue
        placed = sum(n for _, n in new.get(group.name, []))
        workloads.append(
            {
                "workload": group.meta["workload"],
                "group": group.name,
                "replicas": group.count,
                "nodes": {node: n for node, n in new.get(group.name, [])},
                "unplaced": group.count - placed,
            }
        )
    return {
        "apiVersion": "placer/v1",
        "kind": "ReplicaPlan",
        "metadata": {"name": problem.name},
        "status": str(solution.status),
        "workloads": workloads,
        "unboundPods": _unbound(problem, solution, new),
        # rules placer could not honour, per pod (see problem.meta["unsupported"])
        "unsupported": list(problem.meta.get("unsupported") or []),
        # DRA: the devices the plan assumes each bound pod's claim is allocated
        "claimAllocations": claim_allocations(problem, solution),
    }


def _dump(docs: list[dict[str, Any]]) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(docs, Dumper=dumper, sort_keys=False, default_flow_style=False)


def plan_to_bindings_yaml(problem: Problem, solution: Solution) -> str:
    """The v1 Bindings alone, as one multi-document YAML stream (``kubectl create -f`` takes it).
    With nothing to bind it is a comment only, which kubectl refuses as "no objects passed"."""
    bindings = plan_to_bindings(problem, solution)
    if not bindings:
        return "# placer: the plan binds no existing pending pod (see the ReplicaPlan)\n"
    return _dump(bindings)


def replica_plan_yaml(problem: Problem, solution: Solution) -> str:
    return _dump([replica_plan(problem, solution)])


def replica_plan_path(bindings: Path) -> Path:
    """Where the ReplicaPlan goes: beside the Bindings (bindings.yaml -> bindings.replicaplan.yaml)."""
    return bindings.with_name(f"{bindings.stem}.replicaplan{bindings.suffix or '.yaml'}")


def binding_files(problem: Problem, solution: Solution, bindings: Path) -> dict[Path, str]:
    """The files ``--format bindings -o FILE`` writes: the Bindings to FILE, the ReplicaPlan
    beside it."""
    return {
        bindings: plan_to_bindings_yaml(problem, solution),
        replica_plan_path(bindings): replica_plan_yaml(problem, solution),
    }
