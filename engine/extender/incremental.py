"""Incremental re-planning: pods that arrive after a plan are planned around it, fast.

A full round re-solves the whole cluster and takes up to the plan time limit; pods arriving in
the meantime are steered by nothing (``uncovered_pod``). An incremental round solves only those
pods: every pending pod the last plan covers is handed to the adapter as if already bound to its
target node (so capacity, spreading and (anti-)affinity count it exactly as the scheduler will),
the small problem that is left is solved, and its targets are added to the last plan's. Pinning
is checked against each node's free capacity as the state knows it now: a pod whose target no
longer fits stays pending and is planned again. The next full round starts from the merged plan
as its CP-SAT hint (``hint_counts``), once that plan covers every pending pod and the verifier
accepts it; any change to nodes or DRA objects makes the next round a full one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .coverage import Coverage, plannable

if TYPE_CHECKING:
    from .planner import Plan
    from .state import ClusterState, PodRecord


def uncovered(state: ClusterState, plan: Plan, coverage: Coverage) -> list[PodRecord]:
    """Pending pods the planner would plan that the plan has no place for (under the lock)."""
    return [
        pod
        for pod in state.pending_pods.values()
        if pod.uid not in plan.group_of_uid  # (known pods need no group key)
        and plannable(pod, coverage.scheduler_name)
        and not coverage.covers(plan, pod.uid, pod.group_key())
    ]


@dataclass
class Pinning:
    """The documents of an incremental round: pods the last plan places bound to their nodes.

    ``docs`` holds the documents other than nodes and pods; ``pods`` every pod document (pinned
    ones bound to their target) with its effective request."""

    docs: list[dict[str, Any]]
    pods: list[tuple[dict[str, Any], Mapping[str, int]]] = field(default_factory=list)
    uids: set[str] = field(default_factory=set)  # the pods pinned
    places: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> node -> pods


def pin(state: ClusterState, plan: Plan, scheduler_name: str) -> Pinning:
    """The state's documents with every pending pod the plan places bound to its target node,
    where it still fits (under the lock)."""
    free = {name: dict(node.allocatable) for name, node in state.nodes.items()}
    for name, record in state.nodes.items():
        for resource, amount in record.used.items():
            free[name][resource] = free[name].get(resource, 0) - amount
    with plan.lock:
        left = {group: dict(nodes) for group, nodes in plan.targets.items()}
    out = Pinning([*state.extra_docs, *state.objects.values()])
    # The pods the plan knows take their places first; new pods of a group only what is left
    # (places a workload's plan holds for replicas not created yet).
    known = plan.group_of_uid
    pending = []
    for pod in state.pods.values():  # bound pods stay as they are (only pending ones are sorted)
        if pod.node is None:
            pending.append(pod)
        else:
            out.pods.append((pod.obj, pod.request))
    for pod in sorted(pending, key=lambda p: (p.uid not in known, p.uid)):
        node: str | None = None
        group: str | None = None
        # (a pod with DRA claims is planned again: a bound pod's devices come from its claim's
        # allocation, which a plan does not write)
        if plannable(pod, scheduler_name) and not pod.obj["spec"].get("resourceClaims"):
            group = plan.group_of_uid.get(pod.uid) or pod.group_key()
            node = _take(left.get(group or ""), free, pod.request)
        if node is None or group is None:
            out.pods.append((pod.obj, pod.request))
            continue
        out.uids.add(pod.uid)
        places = out.places.setdefault(group, {})
        places[node] = places.get(node, 0) + 1
        out.pods.append(({**pod.obj, "spec": {**pod.obj["spec"], "nodeName": node}}, pod.request))
    return out


def _take(
    targets: dict[str, int] | None, free: dict[str, dict[str, int]], request: Mapping[str, int]
) -> str | None:
    """A target node with a place left where the pod still fits; its place and room taken."""
    for node, count in sorted((targets or {}).items()):
        room = free.get(node)
        if count <= 0 or room is None:
            continue
        if all(room.get(r, 0) >= amount for r, amount in request.items() if amount > 0):
            for r, amount in request.items():
                room[r] = room.get(r, 0) - amount
            targets[node] = count - 1  # type: ignore[index]
            return node
    return None


def merged(last: Plan, new: Plan, pinning: Pinning) -> Plan:
    """One plan to steer by: the places the pinned pods hold and the new pods' targets. Places
    of the last plan that nothing took (pods gone, or no longer fitting) are dropped; the pinned
    pods keep the last plan's groups (the new solve saw them as bound)."""
    from .planner import Plan

    targets = {group: dict(nodes) for group, nodes in pinning.places.items()}
    for group, nodes in new.targets.items():
        into = targets.setdefault(group, {})
        for node, count in nodes.items():
            into[node] = into.get(node, 0) + count
    with last.lock:
        consumed = dict(last.consumed)
    for group, count in new.consumed.items():
        consumed[group] = consumed.get(group, 0) + count
    return Plan(
        version=new.version,
        created=new.created,
        solve_seconds=new.solve_seconds,
        status=new.status,
        targets=targets,
        group_of_uid={
            **last.group_of_uid,
            **{uid: g for uid, g in new.group_of_uid.items() if uid not in pinning.uids},
        },
        demand={**last.demand, **new.demand},
        consumed=consumed,
        kind="incremental",
    )


def hint_counts(
    problem: Any, targets: Mapping[str, Mapping[str, int]]
) -> dict[tuple[str, str], int]:
    """{(item, bin): pods} of a plan in a problem: the pods already there plus the targets,
    never more than the item's count."""
    bins = {b.name for b in problem.bins}
    counts: dict[tuple[str, str], int] = {}
    for item in problem.items:
        room = item.count
        for node, n in item.placed.items():
            counts[(item.name, node)] = n
            room -= n
        for node, n in sorted((targets.get(item.name) or {}).items()):
            take = min(n, room)
            if take <= 0 or node not in bins:
                continue
            counts[(item.name, node)] = counts.get((item.name, node), 0) + take
            room -= take
    return counts
