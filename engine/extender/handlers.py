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
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from . import admission, wire
from .coverage import Coverage
from .devices import DeviceScorer, NotScored
from .planner import Plan, Planner
from .scoring import MAX_GREEDY_SCORE, PLANNED_SCORE, insufficient_reason
from .state import ClusterState, PodRecord, pod_identity, pod_priority
from .table import NodeTable
from .wire import WireError

log = logging.getLogger("placer.extender")

RESERVED_REASON = "node capacity is reserved by placer's plan for other pending pods"
NOT_A_BINDER = (
    "placer serve runs without --bind and binds nothing: leave bindVerb empty in the "
    "scheduler configuration (kube-scheduler then binds), or start placer with --bind"
)


class Binder(Protocol):
    def bind(self, namespace: str, name: str, uid: str, node: str) -> str | None:
        """Create the Binding; None on success (including an identical earlier bind)."""


class Counters(Protocol):
    def fallback(self, verb: str, reason: str) -> None: ...

    def planned(self, verb: str) -> None: ...

    def device_scored(self, outcome: str) -> None: ...


class _NoCounters:
    def fallback(self, verb: str, reason: str) -> None:
        pass

    def planned(self, verb: str) -> None:
        pass

    def device_scored(self, outcome: str) -> None:
        pass


@dataclass
class _Verdicts:
    state: npt.NDArray[np.int8]  # per table row: 0 unknown, 1 passes, 2 fails
    generation: npt.NDArray[np.int64]  # the node generation each verdict was computed for
    reasons: dict[int, str] = field(default_factory=dict)


class StaticFilterCache:
    """kube-style static verdicts (taints, selectors, node affinity) per pod group and node row.

    Pods of one group share their scheduling spec, so the verdict computed for the first pod holds
    for the rest until the node changes (a verdict is only trusted for the node generation it
    was computed against). Least recently used groups are dropped beyond ``groups``.
    """

    def __init__(self, groups: int = 256) -> None:
        self.groups = groups
        self.entries: OrderedDict[str, _Verdicts] = OrderedDict()

    def failures(
        self,
        group: str,
        rows: npt.NDArray[np.int64],
        table: NodeTable,
        compute: Callable[[int], str | None],
    ) -> tuple[npt.NDArray[np.bool_], dict[int, str]]:
        """(mask over ``rows`` of nodes that fail, reasons by row)."""
        entry = self.entries.get(group)
        size = table.size
        if entry is None:
            entry = _Verdicts(np.zeros(size, np.int8), np.zeros(size, np.int64))
            self.entries[group] = entry
            if len(self.entries) > self.groups:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(group)
        if len(entry.state) < size:
            grow = size - len(entry.state)
            entry.state = np.pad(entry.state, (0, grow))
            entry.generation = np.pad(entry.generation, (0, grow))
        generations = table.generation[rows]
        stale = (entry.state[rows] == 0) | (entry.generation[rows] != generations)
        for row in np.unique(rows[stale]).tolist():
            reason = compute(row)
            entry.state[row] = 2 if reason else 1
            entry.generation[row] = table.generation[row]
            if reason:
                entry.reasons[row] = reason
            else:
                entry.reasons.pop(row, None)
        return entry.state[rows] == 2, entry.reasons


@dataclass
class PodContext:
    record: PodRecord
    group: str | None
    plan: Plan | None
    targets: Mapping[str, int]
    fallback_reason: str
    obj: Mapping[str, Any]  # the pod as the request carried it (its DRA claims)


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
        binds: bool = True,
        device_scoring: bool = False,
    ) -> None:
        self.state = state
        # placer's online GPU policy for pods the plan does not cover (devices.py)
        self.devices = DeviceScorer(state) if device_scoring else None
        self.binds = binds  # serve the bind verb (placer serve --bind)
        self.planner = planner
        self.binder = binder
        self.counters: Counters = counters or _NoCounters()
        self.reserve = reserve
        self.static_filter = static_filter
        self.static_cache = StaticFilterCache()
        self.coverage = Coverage(
            state, planner.scheduler_name if planner is not None else "default-scheduler"
        )
        self._node_views: dict[tuple[str, int], Any] = {}  # parsed nodes, by generation

    # ---- shared request parsing ----
    def _pod(self, args: Mapping[str, Any], exact: bool) -> dict[str, Any]:
        pod = wire.object_field(args, "pod", "Pod")
        if pod is None:
            raise WireError("Pod is required")
        if not exact:
            pod = wire.canonical_object(pod)
        return pod

    def _admit_pod(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        slim, _, _ = admission.admit_pod(
            obj, self.state.table.columns, self.state.priority_class_names()
        )
        return slim

    def _admit_node(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        slim, _ = admission.admit_node(obj, self.state.table.columns)
        return slim

    def _context(self, pod: dict[str, Any], verb: str) -> PodContext:
        record = self.state.learn_pod(pod, self._admit_pod)
        plan, why = (None, "planner_off") if self.planner is None else self.planner.usable()
        group: str | None = None
        targets: Mapping[str, int] = {}
        if plan is not None:
            group, targets = self.planner.targets_for(  # type: ignore[union-attr]
                plan, record.uid, record.group_key
            )
            if targets and not self.coverage.covers(plan, record.uid, group):
                targets = {}  # planned for other pods of its group, not for this one
            if not targets:
                why = "uncovered_pod"
            elif self.coverage.ignored(plan):
                # Steered by a plan that does not know every pending pod: said so, counted.
                self.counters.fallback(verb, "plan_ignores_pending")
        if why:
            self.counters.fallback(verb, why)
        else:
            self.counters.planned(verb)
        return PodContext(record, group, plan, targets, why, pod)

    def _names_and_nodes(
        self, args: Mapping[str, Any], exact: bool, pod: dict[str, Any], verb: str
    ) -> tuple[list[str] | None, list[dict[str, Any]] | None, PodContext]:
        names = args.get("nodenames")
        node_list = wire.object_field(args, "nodes", "Nodes")
        items: list[dict[str, Any]] | None = None
        if node_list is not None:
            raw = node_list.get("items") if exact else wire.lower_keys(node_list).get("items")
            if raw is not None and not isinstance(raw, list):
                raise WireError("Nodes.items must be an array")
            items = [n if exact else wire.canonical_object(n) for n in raw or ()]
            for n, node in enumerate(items):
                if not isinstance(node, dict):
                    raise WireError(f"Nodes.items[{n}] must be an object")
        if names is not None and (
            not isinstance(names, list) or not set(map(type, names)) <= {str}
        ):
            raise WireError("NodeNames must be an array of strings")
        # Every part is checked before anything is stored: a rejected request leaves no trace.
        learned = self.state.admit_nodes(items or (), self._admit_node)
        ctx = self._context(pod, verb)
        self.state.store_learned_nodes(learned)
        return names, items, ctx

    # ---- filter ----
    def filter(self, body: bytes) -> bytes:
        args, exact = wire.decode_body(body)
        pod = self._pod(args, exact)
        names, items, ctx = self._names_and_nodes(args, exact, pod, "filter")
        if names is None and items is None:
            return wire.filter_result(node_names=None, nodes=None, failed={}, unresolvable={})
        candidates = (
            names if names is not None else [(n.get("metadata") or {}).get("name") for n in items]  # type: ignore[union-attr]
        )
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
        """Split the names into passing, failed (preemption may help) and unresolvable."""
        state = self.state
        table = state.table
        rows = table.rows(names)
        known = np.flatnonzero(rows >= 0)  # positions in ``names`` placer knows about
        krows = rows[known]
        request = self._request_vector(ctx.record)
        verdict = np.zeros(len(names), np.int8)  # 0 passes, 1 failed, 2 unresolvable
        short = table.short(krows, request)
        verdict[known[short.any(axis=1)]] = 1
        unusable = ~table.usable[krows]
        static_reasons: dict[int, str] = {}
        if self.static_filter:
            group = ctx.record.group_key() or f"pod:{ctx.record.uid}"
            static_fail, static_reasons = self.static_cache.failures(
                group, krows, table, self._static_checker(ctx.record)
            )
            # the pod's own tolerations decide for cordoned and not-ready nodes, as in
            # kube-scheduler (a DaemonSet's pods tolerate them): the static check covers both
            unusable = static_fail
        verdict[known[unusable]] = 2
        failed: dict[str, str] = {}
        unresolvable: dict[str, str] = {}
        index_in_known = np.full(len(names), -1, np.int64)
        index_in_known[known] = np.arange(len(known))
        for pos in np.flatnonzero(verdict).tolist():
            name = names[pos]
            i = int(index_in_known[pos])
            if verdict[pos] == 2:
                record = state.nodes.get(name)
                row = int(krows[i])
                reason = (record.unusable if record else None) or static_reasons.get(row)
                unresolvable[name] = reason or "node(s) didn't match placer's node filters"
            else:
                lacking = [table.column_names[c] for c in np.flatnonzero(short[i]).tolist()]
                failed[name] = insufficient_reason(lacking)
        passed = [names[pos] for pos in np.flatnonzero(verdict == 0).tolist()]
        if self.reserve and ctx.plan is not None and ctx.targets:
            passed = self._honour_reservations(ctx, passed, failed)
        return passed, failed, unresolvable

    def _request_vector(self, pod: PodRecord) -> npt.NDArray[np.int64]:
        table = self.state.table
        if any(r not in table.columns for r in pod.request):
            with self.state.lock:  # a resource no node has: add its column under the lock
                return table.vector(pod.request)
        return table.vector(pod.request)

    def _static_checker(self, pod: PodRecord) -> Callable[[int], str | None]:
        """kube.static_filter for one pod over table rows, parsing the pod once per request."""
        from engine.kube import filters, views

        parsed: list[Any] = []

        def check(row: int) -> str | None:
            name = self.state.table.name_at[row]
            node = self.state.nodes.get(name) if name else None
            if node is None:
                return None
            try:
                if not parsed:
                    parsed.append(views.pod_view(pod.obj))
                key = (node.name, node.generation)
                node_view = self._node_views.get(key)
                if node_view is None:
                    if len(self._node_views) > 50_000:
                        self._node_views.clear()
                    node_view = self._node_views[key] = views.node_view(node.obj)
                reason: str | None = filters.static_reason(parsed[0], node_view)
            except Exception as exc:
                log.debug("static filter failed for %s on %s: %s", pod.name, node.name, exc)
                return None
            return reason

        return check

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
            node = self.state.nodes.get(name)
            if held and node is not None and name not in ctx.targets:
                if any(
                    node.free(r) - request.get(r, 0) < amount
                    for r, amount in held.items()
                    if amount > 0
                ):
                    failed[name] = RESERVED_REASON
                    continue
            elif held and node is not None:
                # Its own reservation here covers this pod; others' must still fit after it.
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
        names, items, ctx = self._names_and_nodes(args, exact, pod, "prioritize")
        if names is None:
            names = [str((n.get("metadata") or {}).get("name")) for n in items or ()]
        return wire.host_priority_list(self.scores(ctx, names))

    def scores(self, ctx: PodContext, names: list[str]) -> list[tuple[str, int]]:
        """Planned nodes where the pod fits now: 10. Every other node: LeastAllocated, 0..9, or
        with device scoring on, placer's online GPU policy, 0..9 (devices.py)."""
        table = self.state.table
        rows = table.rows(names)
        known = np.flatnonzero(rows >= 0)
        krows = rows[known]
        request = self._request_vector(ctx.record)
        score = np.zeros(len(names), np.int64)
        targets = ctx.targets
        if self.devices is not None and not targets:
            try:
                score[known] = self.devices.scores(ctx.record, ctx.obj, krows, MAX_GREEDY_SCORE)
                self.counters.device_scored("scored")
                return list(zip(names, score.tolist(), strict=True))
            except NotScored as exc:
                self.counters.device_scored(str(exc))
        score[known] = table.least_allocated(krows, request, MAX_GREEDY_SCORE)
        if targets:
            fits = np.asarray(~table.short(krows, request).any(axis=1), dtype=bool)
            for i, pos in enumerate(known.tolist()):
                if names[pos] in targets and fits[i]:
                    score[pos] = PLANNED_SCORE
        return list(zip(names, score.tolist(), strict=True))

    # ---- preempt ----
    def preempt(self, body: bytes) -> bytes:
        args, exact = wire.decode_body(body)
        pod = self._pod(args, exact)
        meta = wire.object_field(args, "nodenametometavictims", "NodeNameToMetaVictims")
        full = wire.object_field(args, "nodenametovictims", "NodeNameToVictims")
        candidates: dict[str, tuple[list[str], int, list[int | None]]] = {}
        for source, is_meta in ((meta, True), (full, False)):
            for node, victims in (source or {}).items():
                candidates[node] = self._victims(victims, is_meta, exact)
        ctx = self._context(pod, "preempt")
        preemptor = ctx.record.priority
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
        canonical = None if exact or is_meta else wire.canonical_object
        pods, pdb = admission.check_victims(victims, is_meta, canonical)
        uids: list[str] = []
        priorities: list[int | None] = []
        for victim in pods:
            if is_meta:
                uid = str(victim["uid"])
                known = self.state.pods.get(uid)
                priorities.append(known.priority if known else None)
            else:
                _, _, uid = pod_identity(victim)
                priorities.append(pod_priority(victim))
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
        if not self.binds:
            raise WireError(NOT_A_BINDER, status=404)
        if node not in self.state.nodes and (self.binder is None or self.state.synced):
            return wire.binding_result(f"node {node!r} is not known to placer")
        if self.binder is not None:
            error = self.binder.bind(namespace, name, uid, node)
            if error:
                return wire.binding_result(error)
        error = self.state.bind(namespace, name, uid, node, known_only=self.binder is None)
        if error and self.binder is not None:
            # The apiserver accepted it; placer's view was behind. The watch will catch up.
            log.info("state disagreed with an accepted binding: %s", error)
            error = None
        return wire.binding_result(error or "")
