"""Kueue's fair sharing: dominant resource share (DRS) of ClusterQueues and Cohorts in a cohort tree.

Follows kubernetes-sigs/kueue ``pkg/cache/scheduler`` (fair_sharing.go, resource_node.go):

- A node's *subtree quota* per (flavor, resource) is its own nominal quota plus, for each child,
  the child's subtree quota minus the child's *local quota* (what a lending limit keeps back:
  ``max(0, subtree − lendingLimit)``). Cohort usage is the children's usage above their local quota.
- *Borrowed* per resource = Σ over flavors of max(0, usage + incoming − subtree quota).
- *Lendable* per resource = Σ over the root's flavors of ``potentialAvailable(parent)``: the parent's
  local quota plus what its own parent can offer, capped by ``subtree + borrowingLimit``.
- DRS = ceil(max_r borrowed_r·1000 / lendable_r ÷ weight), resources with lendable 0 skipped,
  ties on the ratio broken by resource name; a root has DRS 0; weight 0 while borrowing is MaxInt64.

Everything is exact (fractions), so the thresholds land where Kueue's float64 lands on these inputs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import InputError

MAX_INT64 = 2**63 - 1
FlavorResource = tuple[str, str]  # (flavor, resource)


@dataclass(frozen=True)
class Quota:
    nominal: int = 0
    borrowing_limit: int | None = None
    lending_limit: int | None = None


@dataclass
class Node:
    """A ClusterQueue or a Cohort."""

    name: str
    kind: str  # "ClusterQueue" | "Cohort"
    parent: str | None = None
    weight: Fraction = Fraction(1)
    quotas: dict[FlavorResource, Quota] = field(default_factory=dict)
    usage: dict[FlavorResource, int] = field(default_factory=lambda: defaultdict(int))
    subtree: dict[FlavorResource, int] = field(default_factory=lambda: defaultdict(int))
    children: list[str] = field(default_factory=list)

    def local_quota(self, fr: FlavorResource) -> int:
        q = self.quotas.get(fr)
        if q is not None and q.lending_limit is not None:
            return max(0, self.subtree.get(fr, 0) - q.lending_limit)
        return 0


@dataclass(frozen=True)
class DRS:
    value: int
    dominant_resource: str
    borrowing: bool
    precise: Fraction | None  # None when infinite (zero weight while borrowing)


class CohortTree:
    """ClusterQueues and Cohorts; call :meth:`refresh` after changing quotas or usage."""

    def __init__(self, nodes: Mapping[str, Node]) -> None:
        self.nodes = dict(nodes)
        for n in self.nodes.values():
            n.children = []
        for n in list(self.nodes.values()):
            if n.parent is not None:
                if n.parent not in self.nodes:
                    self.nodes[n.parent] = Node(n.parent, "Cohort")
                self.nodes[n.parent].children.append(n.name)
        self._check_acyclic()
        self.cq_usage: dict[str, dict[FlavorResource, int]] = {
            n.name: dict(n.usage) for n in self.nodes.values() if n.kind == "ClusterQueue"
        }
        self.refresh()

    def _check_acyclic(self) -> None:
        for name in self.nodes:
            seen = set()
            cur: str | None = name
            while cur is not None:
                if cur in seen:
                    raise InputError(f"cohort cycle through {cur!r}", path="cohorts")
                seen.add(cur)
                cur = self.nodes[cur].parent

    def roots(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent is None]

    def refresh(self) -> None:
        for root in self.roots():
            self._accumulate(root)

    def _accumulate(self, node: Node) -> None:
        node.subtree = defaultdict(int, {fr: q.nominal for fr, q in node.quotas.items()})
        if node.kind == "ClusterQueue":
            node.usage = defaultdict(int, self.cq_usage.get(node.name, {}))
            return
        node.usage = defaultdict(int)
        for c in node.children:
            child = self.nodes[c]
            self._accumulate(child)
            for fr, q in child.subtree.items():
                node.subtree[fr] += q - child.local_quota(fr)
            for fr, u in child.usage.items():
                node.usage[fr] += max(0, u - child.local_quota(fr))

    def root_of(self, node: Node) -> Node:
        while node.parent is not None:
            node = self.nodes[node.parent]
        return node

    def potential_available(self, node: Node, fr: FlavorResource) -> int:
        if node.parent is None:
            return node.subtree.get(fr, 0)
        available = node.local_quota(fr) + self.potential_available(self.nodes[node.parent], fr)
        q = node.quotas.get(fr)
        if q is not None and q.borrowing_limit is not None:
            available = min(node.subtree.get(fr, 0) + q.borrowing_limit, available)
        return available

    def lendable(self, node: Node) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for fr in self.root_of(node).subtree:
            out[fr[1]] += self.potential_available(node, fr)
        return out

    def drs(self, name: str, incoming: Mapping[FlavorResource, int] | None = None) -> DRS:
        node = self.nodes[name]
        if node.parent is None:
            return DRS(0, "", False, Fraction(0))
        incoming = incoming or {}
        borrowed: dict[str, int] = defaultdict(int)
        for fr, quota in node.subtree.items():
            amount = incoming.get(fr, 0) + node.usage.get(fr, 0) - quota
            if amount > 0:
                borrowed[fr[1]] += amount
        if not borrowed:
            return DRS(0, "", False, Fraction(0))
        lendable = self.lendable(self.nodes[node.parent])
        ratio, dominant = Fraction(0), ""
        for resource, amount in borrowed.items():
            lr = lendable.get(resource, 0)
            if lr > 0:
                r = Fraction(amount * 1000, lr)
                if r > ratio or (r == ratio and dominant and resource < dominant):
                    ratio, dominant = r, resource
        if node.weight == 0:
            return DRS(MAX_INT64, dominant, True, None)
        precise = ratio / node.weight
        return DRS(math.ceil(precise), dominant, True, precise)


# ---------------------------------------------------------------- the shared data format (README §5)


def _weight(value: Any) -> Fraction:
    if value is None:
        return Fraction(1)
    return Fraction(str(value))


def _quotas(raw: Mapping[str, Any] | None, where: str) -> dict[FlavorResource, Quota]:
    out: dict[FlavorResource, Quota] = {}
    for key, q in (raw or {}).items():
        if not isinstance(q, Mapping) or "nominal" not in q:
            raise InputError("a quota needs flavor and nominal", path=f"{where}.{key}")
        resource = key.split("@", 1)[0]
        out[(str(q.get("flavor", "default")), resource)] = Quota(
            int(q["nominal"]), q.get("borrowing_limit"), q.get("lending_limit")
        )
    return out


def tree_from_case(case: Mapping[str, Any]) -> tuple[CohortTree, dict[FlavorResource, int]]:
    """A case of ``kueue_drs_cases.json``: the tree (usage on the first CQ) and the incoming request."""
    nodes: dict[str, Node] = {}
    usage = {_fr(k): int(v) for k, v in (case.get("usage_of_cq") or {}).items()}
    for n, cq in enumerate(case.get("cluster_queues", [])):
        node = Node(
            cq["name"],
            "ClusterQueue",
            cq.get("cohort"),
            _weight(cq.get("fair_weight")),
            _quotas(cq.get("quotas"), f"cluster_queues[{n}].quotas"),
        )
        if n == 0:
            node.usage = defaultdict(int, usage)
        nodes[node.name] = node
    for n, co in enumerate(case.get("cohorts", []) or []):
        nodes[co["name"]] = Node(
            co["name"],
            "Cohort",
            co.get("parent"),
            _weight(co.get("fair_weight")),
            _quotas(co.get("quotas"), f"cohorts[{n}].quotas"),
        )
    incoming = {_fr(k): int(v) for k, v in (case.get("incoming_workload_request") or {}).items()}
    return CohortTree(nodes), incoming


def _fr(key: str) -> FlavorResource:
    flavor, _, resource = key.partition("/")
    return (flavor, resource)


def evaluate_case(case: Mapping[str, Any]) -> list[dict[str, Any]]:
    """DRS of every node named in the case's ``want`` (the incoming workload counts for the CQ)."""
    tree, incoming = tree_from_case(case)
    first = case["cluster_queues"][0]["name"]
    out = []
    for want in case["want"]:
        name = want["name"]
        d = tree.drs(name, incoming if name == first else None)
        out.append(
            {
                "name": name,
                "node_type": tree.nodes[name].kind,
                "dr_value": d.value,
                "dr_name": d.dominant_resource,
                "borrowing": d.borrowing,
            }
        )
    return out


# ---------------------------------------------------------------- Kueue-style admission of a market


def default_nominal(market: Any) -> dict[str, tuple[int, ...]]:
    """Nominal quota per tenant when none is given: capacity split by weight, rounded down."""
    total = sum(market.weight(t) for t in market.tenants)
    return {
        t: tuple(math.floor(c * market.weight(t) / total) for c in market.capacity)
        for t in market.tenants
    }


def kueue(
    market: Any,
    nominal: Mapping[str, tuple[int, ...]] | None = None,
    limits: Mapping[str, tuple[int, ...]] | None = None,
) -> Any:
    """Admit tasks one at a time as Kueue's fair sharing orders them, in one flat cohort.

    Every tenant is a ClusterQueue with a nominal quota (``nominal``; by default the capacity split
    by weight) and its fair-sharing weight; the cohort lends what is unused (the rounding remainder
    is the cohort's own quota). The next admitted task is the one whose ClusterQueue has the lowest
    DRS *with that task counted* (Kueue orders heads this way), ties to the tenant listed first; a
    task that does not fit in the pool, or would exceed the tenant's ``limits``, is not admitted.
    """
    import heapq

    from .market import Allocation, add, fits

    nominal = dict(nominal or default_nominal(market))
    cap = market.capacity
    tasks = {j.name: 0 for j in market.jobs}
    used: tuple[int, ...] = (0,) * len(cap)
    usage = {t: used for t in market.tenants}
    order = {t: n for n, t in enumerate(market.tenants)}

    def next_job(t: str) -> Any:
        for j in market.jobs_of(t):
            if tasks[j.name] >= j.count or not fits(used, j.demand, cap):
                continue
            if limits and t in limits and not fits(usage[t], j.demand, limits[t]):
                continue
            return j
        return None

    def share_with(t: str, demand: tuple[int, ...]) -> Fraction:
        ratio = Fraction(0)
        for r, c in enumerate(cap):
            borrowed = usage[t][r] + demand[r] - nominal[t][r]
            if borrowed > 0 and c > 0:
                ratio = max(ratio, Fraction(borrowed * 1000, c))
        return ratio / market.weight(t)

    heap = []
    for t in market.active_tenants:
        j = next_job(t)
        if j is not None:
            heap.append((share_with(t, j.demand), order[t], t))
    heapq.heapify(heap)
    while heap:
        _, _, t = heapq.heappop(heap)
        j = next_job(t)  # the pool may have filled since this entry was pushed
        if j is None:
            continue
        key = share_with(t, j.demand)
        if heap and (key, order[t]) > heap[0][:2]:
            heapq.heappush(heap, (key, order[t], t))
            continue
        tasks[j.name] += 1
        used = add(used, j.demand)
        usage[t] = add(usage[t], j.demand)
        nxt = next_job(t)
        if nxt is not None:
            heapq.heappush(heap, (share_with(t, nxt.demand), order[t], t))
    drs = {t: math.ceil(share_with(t, (0,) * len(cap))) for t in market.tenants}
    return Allocation(market, tasks, "kueue", {"nominal": nominal, "drs": drs})
