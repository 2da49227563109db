"""The four extender verbs as plain functions of (request body) -> response body.

No HTTP here: ``app.py`` calls these and turns ``WireError`` into a 400. Problems that are the
scheduler's business (an unknown pod, a bind the apiserver refused) go back in the ``Error`` field
with HTTP 200, because kube-scheduler treats any other status as a failure and drops the message.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from . import wire
from .planner import Plan, Planner
from .scoring import (
    PLANNED_SCORE,
    insufficient,
    insufficient_reason,
    least_allocated,
)
from .state import ClusterState, NodeRecord, PodRecord, pod_identity, pod_priority, slim_pod
from .wire import WireError

log = logging.getLogger("placer.extender")

RESERVED_REASON = "node capacity is reserved by placer's plan for other pending pods"


class Binder(Protocol):
    def bind(self, namespace: str, name: str, uid: str, node: str) -> str | None:
        """Create the Binding; None on success (including an identical earlier bind)."""


class Counters(Protocol):
    def fallback(self, verb: str, reason: str) -> None: ...

    def planned(self, verb: str) -> None: ...


class _NoCounters:
    def fallback(self, verb: str, reason: str) -> None:
        pass

    def planned(self, verb: str) -> None:
        pass


@dataclass
class StaticFilterCache:
    """kube-style static verdicts (taints, selectors, node affinity) per (pod group, node).

    Pods of one group share their scheduling spec, so the verdict computed for the first pod is
    valid for the rest until the node changes (its generation is part of the key).
    """

    size: int = 200_000
    entries: OrderedDict[tuple[str, str, int], str | None] = field(default_factory=OrderedDict)

    def verdict(
        self, group: str, node: NodeRecord, compute: Callable[[], str | None]
    ) -> str | None:
        key = (group, node.name, node.generation)
        try:
            return self.entries[key]
        except KeyError:
            pass
        value = compute()
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


@dataclass
class PodContext:
    record: PodRecord
    group: str | None
    plan: Plan | None
    targets: Mapping[str, int]
    fallback_reason: str


class Extender:
    """Filter, prioritize, preempt and bind over one cluster state and one planner."""

    def __init__(
        self,
        state: ClusterState,
        planner: Planner | None = None,
        *,
        binder: Binder | None = None,
        counters: Counters | None = None,
        reserve: bool = True,
        static_filter: bool = True,
    ) -> None:
        self.state = state
        self.planner = planner
        self.binder = binder
        self.counters: Counters = counters or _NoCounters()
        self.reserve = reserve
        self.static_filter = static_filter
        self.static_cache = StaticFilterCache()

    # ---- shared request parsing ----
    def _pod(self, args: Mapping[str, Any], exact: bool) -> dict[str, Any]:
        pod = wire.object_field(args, "pod", "Pod")
        if pod is None:
            raise WireError("Pod is required")
        if not exact:
            pod = wire.canonical_object(pod)
        return pod

    def _context(self, pod: dict[str, Any], verb: str) -> PodContext:
        record = self.state.observe_pending(pod)
        if record is None:
            raise WireError("Pod needs metadata.name")
        plan, why = (None, "planner_off") if self.planner is None else self.planner.usable()
        group: str | None = None
        targets: Mapping[str, int] = {}
        if plan is not None:
            group, targets = self.planner.targets_for(  # type: ignore[union-attr]
                plan, record.uid, lambda: self._group_key(record)
            )
            if not targets:
                why = "uncovered_pod"
        if why:
            self.counters.fallback(verb, why)
        else:
            self.counters.planned(verb)
        return PodContext(record, group, plan, targets, why)

    def _group_key(self, record: PodRecord) -> str | None:
        from engine import kube

        try:
            key: str | None = kube.pod_group_key(record.obj)
        except Exception:  # a pod the adapter cannot group is simply not covered by a plan
            return None
        return key

    def _names_and_nodes(
        self, args: Mapping[str, Any], exact: bool
    ) -> tuple[list[str] | None, list[dict[str, Any]] | None]:
        names = args.get("nodenames")
        node_list = wire.object_field(args, "nodes", "Nodes")
        items: list[dict[str, Any]] | None = None
        if node_list is not None:
            raw = node_list.get("items") if exact else wire.lower_keys(node_list).get("items")
            if raw is not None and not isinstance(raw, list):
                raise WireError("Nodes.items must be an array")
            items = [n if exact else wire.canonical_object(n) for n in raw or ()]
            for node in items:
                if not isinstance(node, dict):
                    raise WireError("Nodes.items holds a non-object")
                self.state.upsert_node(node)  # full Nodes are fresh state: learn them
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise WireError("NodeNames must be an array of strings")
            return names, items
        return None, items

    # ---- filter ----
    def filter(self, body: bytes) -> bytes:
        args, exact = wire.decode_body(body)
        pod = self._pod(args, exact)
        names, items = self._names_and_nodes(args, exact)
        if names is None and items is None:
            return wire.filter_result(node_names=None, nodes=None, failed={}, unresolvable={})
        candidates = (
            names if names is not None else [(n.get("metadata") or {}).get("name") for n in items]  # type: ignore[union-attr]
        )
        ctx = self._context(pod, "filter")
        passed, failed, unresolvable = self.filter_names(ctx, [str(c) for c in candidates])
        if names is not None:
            return wire.filter_result(
                node_names=passed, nodes=None, failed=failed, unresolvable=unresolvable
            )
        keep = set(passed)
        kept = [n for n in items or () if (n.get("metadata") or {}).get("name") in keep]
        node_list = {"metadata": {}, "items": kept}
        return wire.filter_result(
            node_names=None, nodes=node_list, failed=failed, unresolvable=unresolvable
        )

    def filter_names(
        self, ctx: PodContext, names: list[str]
    ) -> tuple[list[str], dict[str, str], dict[str, str]]:
        nodes = self.state.nodes
        request = ctx.record.request
        passed: list[str] = []
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        static_group = ctx.group or self._static_key(ctx.record)
        for name in names:
            node = nodes.get(name)
            if node is None:
                passed.append(name)  # not in placer's view: kube-scheduler's own filters judged it
                continue
            if node.unusable:
                unresolvable[name] = node.unusable
                continue
            if self.static_filter and static_group is not None:
                reason = self.static_cache.verdict(
                    static_group, node, partial(self._static, ctx.record, node)
                )
                if reason:
                    unresolvable[name] = reason
                    continue
            short = insufficient(node, request)
            if short:
                failed[name] = insufficient_reason(short)
                continue
            passed.append(name)
        if self.reserve and ctx.plan is not None and ctx.targets:
            passed = self._honour_reservations(ctx, passed, failed)
        return passed, failed, unresolvable

    def _static_key(self, record: PodRecord) -> str | None:
        key = self._group_key(record)
        return f"pod:{record.uid}" if key is None else key

    def _static(self, pod: PodRecord, node: NodeRecord) -> str | None:
        from engine import kube

        try:
            reason: str | None = kube.static_filter(pod.obj, node.obj)
        except Exception as exc:
            log.debug("static filter failed for %s on %s: %s", pod.name, node.name, exc)
            return None
        return reason

    def _honour_reservations(
        self, ctx: PodContext, passed: list[str], failed: dict[str, str]
    ) -> list[str]:
        """Keep capacity the plan holds for other groups, unless that would leave no node at all.

        Only for pods the plan covers, and only when one of the pod's own planned nodes is still
        open: placer never strands a pod on account of its plan.
        """
        plan = ctx.plan
        assert plan is not None
        if not any(name in ctx.targets for name in passed):
            return passed
        request = ctx.record.request
        own = plan.demand.get(ctx.group or "", {})
        kept = []
        for name in passed:
            held = plan.reserved.get(name)
            if held and name not in ctx.targets:
                node = self.state.nodes[name]
                if any(
                    node.free(r) - request.get(r, 0) < amount
                    for r, amount in held.items()
                    if amount > 0
                ):
                    failed[name] = RESERVED_REASON
                    continue
            elif held and name in ctx.targets:
                # Its own reservation here covers this pod; others' must still fit after it.
                node = self.state.nodes[name]
                if any(
                    node.free(r) - request.get(r, 0) < amount - own.get(r, 0)
                    for r, amount in held.items()
                    if amount > 0
                ):
                    failed[name] = RESERVED_REASON
                    continue
            kept.append(name)
        return kept if kept else passed

    # ---- prioritize ----
    def prioritize(self, body: bytes) -> bytes:
        args, exact = wire.decode_body(body)
        pod = self._pod(args, exact)
        names, items = self._names_and_nodes(args, exact)
        if names is None:
            names = [str((n.get("metadata") or {}).get("name")) for n in items or ()]
        ctx = self._context(pod, "prioritize")
        return wire.host_priority_list(self.scores(ctx, names))

    def scores(self, ctx: PodContext, names: list[str]) -> list[tuple[str, int]]:
        nodes = self.state.nodes
        request = ctx.record.request
        targets = ctx.targets
        out: list[tuple[str, int]] = []
        for name in names:
            node = nodes.get(name)
            if node is None:
                out.append((name, 0))
            elif name in targets and not insufficient(node, request):
                out.append((name, PLANNED_SCORE))
            else:
                out.append((name, least_allocated(node, request)))
        return out

    # ---- preempt ----
    def preempt(self, body: bytes) -> bytes:
        args, exact = wire.decode_body(body)
        pod = self._pod(args, exact)
        preemptor = pod_priority(pod)
        meta = wire.object_field(args, "nodenametometavictims", "NodeNameToMetaVictims")
        full = wire.object_field(args, "nodenametovictims", "NodeNameToVictims")
        candidates: dict[str, tuple[list[str], int, list[int | None]]] = {}
        for source, is_meta in ((meta, True), (full, False)):
            for node, victims in (source or {}).items():
                candidates[node] = self._victims(victims, is_meta, exact)
        ctx = self._context(pod, "preempt")
        allowed = {
            node: (uids, pdb)
            for node, (uids, pdb, priorities) in candidates.items()
            if all(p is None or p < preemptor for p in priorities)
        }
        if not allowed:
            return wire.preemption_result({})
        planned = {n: v for n, v in allowed.items() if n in ctx.targets}
        pool = planned or allowed
        fewest = min(pdb for _, pdb in pool.values())
        return wire.preemption_result({n: v for n, v in pool.items() if v[1] == fewest})

    def _victims(
        self, victims: Any, is_meta: bool, exact: bool
    ) -> tuple[list[str], int, list[int | None]]:
        if victims is None:
            return [], 0, []
        if not isinstance(victims, dict):
            raise WireError("victims must be objects")
        v = wire.lower_keys(victims)
        pdb = v.get("numpdbviolations") or 0
        if not isinstance(pdb, int):
            raise WireError("NumPDBViolations must be an integer")
        uids: list[str] = []
        priorities: list[int | None] = []
        for victim in v.get("pods") or ():
            if not isinstance(victim, dict):
                raise WireError("victim pods must be objects")
            if is_meta:
                uid = str(wire.lower_keys(victim).get("uid") or "")
                known = self.state.pods.get(uid)
                priorities.append(known.priority if known else None)
            else:
                obj = victim if exact else wire.canonical_object(victim)
                _, _, uid = pod_identity(obj)
                priorities.append(pod_priority(slim_pod(obj)))
            uids.append(uid)
        return uids, pdb, priorities

    # ---- bind ----
    def bind(self, body: bytes) -> bytes:
        args, _ = wire.decode_body(body)
        name = args.get("podname")
        namespace = args.get("podnamespace") or "default"
        uid = args.get("poduid") or ""
        node = args.get("node")
        if not isinstance(name, str) or not name or not isinstance(node, str) or not node:
            raise WireError("PodName and Node are required strings")
        if not isinstance(namespace, str) or not isinstance(uid, str):
            raise WireError("PodNamespace and PodUID must be strings")
        if self.binder is not None:
            error = self.binder.bind(namespace, name, uid, node)
            if error:
                return wire.binding_result(error)
        error = self.state.bind(namespace, name, uid, node)
        if error and self.binder is not None:
            # The apiserver accepted it; placer's view was behind. The watch will catch up.
            log.info("state disagreed with an accepted binding: %s", error)
            error = None
        return wire.binding_result(error or "")
