"""An incremental round over a neighbourhood: new pods planned on a few nodes, the rest held.

An incremental round (``incremental.py``) hands the adapter the whole cluster with the pods of
the last plan bound to their targets; its cost follows the cluster (every node rebuilt, every
pod walked), not the few pods that arrived. When the new pods only take capacity, the cluster
beyond their candidate nodes cannot matter to them, so the round is the neighbourhood instead:

- the new pods: no inter-pod rule, spread, host port, DRA claim, preferred node term or
  unmodelled volume of their own, and seen by no selector of a workload, PodDisruptionBudget
  or of any pod's inter-pod rules (the state indexes the pods that have such rules);
- every node's room: allocatable less the bound pods (the state's node table) less what the last
  plan still holds there (its ``reserved``: targets not bound yet, replicas not created yet);
  when the last plan no longer fits some node, this is not the round (the pinning round re-plans
  the pods whose places are gone);
- per group, its candidate nodes: those with room for one pod that pass its node filters (taints,
  node affinity, cordons), the tightest first (big holes stay for big pods), at least
  ``MIN_CANDIDATES`` and ``CANDIDATES_PER_POD`` per new pod of any group (groups compete for
  the same tight nodes);
- the documents: the candidates with their room as allocatable, the new pods, the priority
  classes and namespaces.

The solver's plan of this problem is certified by the verifier like any other; with the room
taken from the last plan's places, it adds to that plan without overlap. When some node with
room was left out, the round's status is ``feasible`` at best (a plan of a restricted problem);
the next full round re-solves everything, starting from the merged plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from engine.errors import InputError

from .fold import allocatable_quantities, rule_selectors

if TYPE_CHECKING:
    from .planner import Plan
    from .state import ClusterState, PodRecord

MIN_CANDIDATES = 8
CANDIDATES_PER_POD = 2


@dataclass
class Neighbourhood:
    docs: list[dict[str, Any]]
    nodes: list[str]
    pods: list[PodRecord]
    complete: bool  # every node with room for a new pod is in (the problem is not restricted)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> its candidate nodes
    retry: bool = False  # restricted, and some new pods were not placed (set by the planner)
    demand: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> one pod's request

    def nowhere(self) -> dict[str, Any]:
        """The plan data when no node has room for any new pod: every pod known, none placed
        (``feasible``: no solver has looked at it)."""
        return {
            "status": "feasible",
            "targets": {},
            "group_of_uid": {p.uid: p.group or "" for p in self.pods},
            "demand": self.demand,
        }


def capacity_only(view: Any) -> bool:
    """Does the pod's own spec involve nothing but capacity and node filters?"""
    return not (
        view.pod_terms
        or view.spread
        or view.host_ports
        or view.claims
        or view.preferred
        or view.unsupported
    )


def _room(
    state: ClusterState, plan: Plan
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]] | None:
    """Per table row, what is left after bound pods and the plan's holds, and which rows are
    nodes (None: some node no longer holds what the plan keeps there)."""
    table = state.table
    room = table.allocatable - table.used
    with plan.lock:
        held = {node: dict(amounts) for node, amounts in plan.reserved.items()}
    for node, amounts in held.items():
        row = table.row_of.get(node)
        if row is None:
            if any(v > 0 for v in amounts.values()):
                return None  # a node the plan holds places on is gone
            continue
        for resource, amount in amounts.items():
            col = table.columns.get(resource)
            if col is None:
                if amount > 0:
                    return None
                continue
            room[row, col] -= amount
    live = np.array([name is not None for name in table.name_at], dtype=bool)
    if (room[live] < 0).any():
        return None
    return room, live


def neighbourhood(state: ClusterState, plan: Plan, new: list[PodRecord]) -> Neighbourhood | None:
    """The neighbourhood round's documents for ``new`` (under the state lock), or None when the
    new pods need the whole cluster (the pinning round then plans them)."""
    from engine.kube import views

    if not new:
        return None
    try:
        parsed = [views.pod_view(p.obj) for p in new]
    except InputError:
        return None  # the whole round reports the bad field
    if not all(capacity_only(v) for v in parsed):
        return None
    others = [*state.extra_docs, *state.objects.values()]
    try:
        selectors = rule_selectors(others, (p.obj for p in state.ruled_pods.values()))
    except InputError:
        return None
    if selectors.everything or any(selectors.sees(v.labels) for v in parsed):
        return None
    roomy = _room(state, plan)
    if roomy is None:
        return None
    room, live = roomy
    table = state.table
    by_group: dict[str, list[int]] = {}
    for n, pod in enumerate(new):
        group = pod.group_key()
        if group is None:
            return None
        by_group.setdefault(group, []).append(n)
    chosen: dict[str, list[str]] = {}
    complete = True
    node_views: dict[str, Any] = {}
    for group, members in by_group.items():
        view = parsed[members[0]]
        # (groups compete for the tightest nodes: each gets candidates for all the new pods)
        want = max(MIN_CANDIDATES, CANDIDATES_PER_POD * len(new))
        picked, scanned_all = _candidates(state, room, live, view, want, node_views)
        chosen[group] = picked
        complete = complete and scanned_all
    names = sorted({name for nodes in chosen.values() for name in nodes})
    docs: list[dict[str, Any]] = [*state.extra_docs]
    for name in names:
        record = state.nodes[name]
        row = table.row_of[name]
        left = {
            resource: int(room[row, col])
            for resource, col in table.columns.items()
            if resource in record.allocatable or room[row, col] > 0
        }
        status = {**(record.obj.get("status") or {}), "allocatable": allocatable_quantities(left)}
        docs.append({**record.obj, "status": status})
    docs.extend(p.obj for p in new)
    demand = {group: dict(parsed[members[0]].request) for group, members in by_group.items()}
    return Neighbourhood(docs, names, list(new), complete, chosen, demand=demand)


def _candidates(
    state: ClusterState,
    room: npt.NDArray[np.int64],
    live: npt.NDArray[np.bool_],
    view: Any,
    want: int,
    node_views: dict[str, Any],
) -> tuple[list[str], bool]:
    """Up to ``want`` nodes with room for one pod of ``view`` that pass its node filters,
    tightest first; and whether every node with room was looked at."""
    from engine.kube import filters, views

    table = state.table
    request = np.zeros(room.shape[1], dtype=np.int64)
    for resource, amount in view.request.items():
        col = table.columns.get(resource)
        if col is None:
            return [], True  # no node has this resource at all
        request[col] = amount
    fits = np.flatnonzero((room >= request).all(axis=1) & live)
    if not len(fits):
        return [], True
    # tightness: the room a pod leaves, as shares of each requested resource's allocatable
    needed = np.array(
        [table.columns[r] for r, v in view.request.items() if v > 0 and r != "pods"],
        dtype=np.int64,
    )
    alloc = np.maximum(table.allocatable[np.ix_(fits, needed)], 1) if len(needed) else None
    leftover = (
        ((room[np.ix_(fits, needed)] - request[needed]) / alloc).sum(axis=1)
        if alloc is not None
        else np.zeros(len(fits))
    )
    order = fits[np.argsort(leftover, kind="stable")]
    picked: list[str] = []
    for row in order.tolist():
        name = table.name_at[row]
        record = state.nodes.get(name) if name else None
        if record is None:
            continue
        node_view = node_views.get(record.name)
        if node_view is None:
            node_view = node_views[record.name] = views.node_view(record.obj)
        if filters.static_reason(view, node_view) is None:
            picked.append(record.name)
            if len(picked) >= want:
                return picked, len(picked) == len(order)
    return picked, True
