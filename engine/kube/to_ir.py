"""Kubernetes objects -> the placer IR, rule by rule as kube-scheduler applies them.

Mapping (every scale below is in kube-scheduler "weight points", so preferences compare sensibly):

- Node -> Bin: ``status.allocatable`` as capacity (raised to the bound pods' use when a snapshot is
  over-committed, so existing pods stay valid), labels as labels.
- Pending pods (no ``nodeName``, our scheduler, not gated) -> one ItemGroup per owner and
  scheduling-relevant spec (``pod_group_key``); workloads whose replicas have no pods yet -> one
  ItemGroup of the missing replicas from the pod template. Bound, unfinished pods -> ItemGroups with
  ``placed`` (never moved): they use capacity and count for affinity, anti-affinity and spread.
- a bound pod that a NoExecute taint of its node evicts (not tolerated, or tolerationSeconds
  <= 0; ``filters.taint_eviction``) is not kept there: a controller's replacement becomes a
  pending replica of its workload, a bare pod or a DaemonSet's is dropped (with a note).
- nodeSelector, required node affinity, NoSchedule/NoExecute taints, unschedulable and not-Ready
  nodes -> ``allowed`` (the nodes excluded, with the scheduler's reason, are kept in the group's
  ``meta["filtered"]`` for explanations).
- preferred node affinity -> per-node ``cost`` = Σ weights of the preferred terms the node misses;
  each untolerated PreferNoSchedule taint adds ``PREFER_NO_SCHEDULE_COST``.
- pod (anti-)affinity terms and spread label selectors (with namespaces / namespaceSelector /
  matchLabelKeys) -> synthetic item labels ``placer.kube/sel-<n>: "1"`` on exactly the groups the
  selector picks, so an IR selector selects the same pods the scheduler would.
- required pod affinity -> ``affinity`` (hard); required anti-affinity, of the pending pod or of a
  pod already running -> ``anti_affinity`` with ``target`` (hard); preferred terms -> the same with
  ``weight`` (soft, weight per broken domain).
- topologySpreadConstraints -> ``spread``: DoNotSchedule hard (with ``min_domains``), ScheduleAnyway
  soft (``SPREAD_SOFT_WEIGHT`` per excess pod); ``bins`` holds the nodes that count as domains
  (nodeAffinityPolicy Honor by default, nodeTaintsPolicy Ignore by default).
- host ports (NodePorts) -> ``anti_affinity`` with ``max_per_domain: 1`` per (protocol, hostPort)
  over a per-node topology label ``placer.kube/node`` (hostIP is not told apart: stricter).
- priority: ``spec.priority``, else ``priorityClassName`` through PriorityClass, else the
  globalDefault class, else 0.
- objective: ``[placed, value, {cost: 1, soft: 1}]``: place as many pods as possible, higher
  priority first; then (only when a pending pod carries the ``placer.dev/value`` annotation, a
  number >= 0; pods without it count 0) the most value placed — ``placer import alibaba-gpu``
  writes each pod's GPUs there; then honour as many preferences as possible (only when there are
  preferences).
"""

from __future__ import annotations

import gc
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..ir import Affinity, AntiAffinity, Bin, ItemGroup, Problem, Spread
from ..quantity import MILLI_RESOURCES
from .disruption import disruption_budgets
from .dra import Catalog, Unmodelled, read_catalog
from .filters import (
    HARD_EFFECTS,
    SOFT_EFFECTS,
    static_reason,
    taint_eviction,
    topology_reason,
    untolerated,
)
from .objects import (
    Cluster,
    bad,
    load_cluster,
    mapping,
    meta_of,
    name_of,
    namespace_of,
    ref,
)
from .selectors import LabelSelector, Requirement, parse_label_selector
from .views import (
    NodeView,
    PodAffinityTerm,
    PodView,
    SpreadConstraint,
    group_key,
    node_view,
    pod_view,
)

PREFER_NO_SCHEDULE_COST = (
    100.0  # per untolerated PreferNoSchedule taint, like a weight-100 preference
)
SPREAD_SOFT_WEIGHT = 100.0  # per pod above maxSkew for a ScheduleAnyway constraint
GROUP_LABEL = "placer.kube/group"
NODE_LABEL = "placer.kube/node"  # on every bin when host ports are in use: one domain per node
PORT_LABEL = "placer.kube/port-{}-{}"
HOST_PORT_RULE = "NodePorts"
SELECTOR_LABEL = "placer.kube/sel-{}"
_LABEL_KEY = re.compile(
    r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def pod_group_key(pod: Mapping[str, Any]) -> str:
    """The IR item-group name of a pending pod: owner + hash of its scheduling-relevant spec."""
    return group_key(pod_view(pod))


@dataclass
class _Group:
    name: str
    view: PodView  # representative: every pod of the group schedules the same way
    pending: bool
    pods: list[PodView] = field(default_factory=list)
    placed: Counter[str] = field(default_factory=Counter)
    count: int = 0
    workload: str | None = None
    priority: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    placed_devices: dict[str, list[list[str]]] = field(default_factory=lambda: defaultdict(list))
    devices_unknown: list[str] = field(
        default_factory=list
    )  # running pods whose devices are not known
    devices: dict[str, Any] | None = None  # the IR device request (DRA claims)


class _Selectors:
    """Synthetic labels: one label key per distinct (selector, namespaces, scope)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Any, ...], str] = {}
        self.predicates: list[tuple[str, Callable[[_Group], bool], LabelSelector | None]] = []

    def label(
        self,
        identity: tuple[Any, ...],
        predicate: Callable[[_Group], bool],
        selector: LabelSelector | None = None,
    ) -> dict[str, str]:
        """The label for this identity; ``selector`` (if given) narrows the candidate groups."""
        key = self.keys.get(identity)
        if key is None:
            key = SELECTOR_LABEL.format(len(self.keys))
            self.keys[identity] = key
            self.predicates.append((key, predicate, selector))
        return {key: "1"}

    def apply(self, groups: list[_Group]) -> None:
        index: dict[tuple[str, str], list[_Group]] = defaultdict(list)
        for g in groups:
            for item in g.view.labels.items():
                index[item].append(g)
        for key, predicate, selector in self.predicates:
            candidates: list[_Group] = groups
            first_in = (
                next((r for r in selector.requirements if r.operator == "In"), None)
                if selector is not None
                else None
            )
            if first_in is not None:  # only groups carrying one of the values can match
                candidates = [g for v in first_in.values for g in index.get((first_in.key, v), [])]
            for g in candidates:
                if predicate(g):
                    g.labels[key] = "1"


class _Builder:
    def __init__(self, cluster: Cluster, source: str, scheduler_name: str) -> None:
        self.cluster = cluster
        self.source = source
        self.scheduler_name = scheduler_name
        self.notes: list[str] = list(cluster.notes)
        self.unsupported: list[dict[str, str]] = []
        self.approximations: list[str] = []
        self.nodes: list[NodeView] = []
        self.groups: dict[str, _Group] = {}
        self.selectors = _Selectors()
        self.constraints: dict[str, Any] = {}  # canonical json -> constraint (deduplicated)
        self.spread_owners: dict[str, set[str]] = defaultdict(set)
        self._filter_cache: dict[Any, tuple[tuple[str, ...] | None, dict[str, list[str]]]] = {}
        self._cost_cache: dict[Any, dict[str, float]] = {}
        self._spread_bins: dict[Any, tuple[str, ...] | None] = {}
        self._soft_tainted: list[NodeView] = []
        self._uses_ports = False
        self.dra = Catalog()

    # ------------------------------------------------------------ reading
    def read(self) -> None:
        for pc in self.cluster.priority_classes.values():
            _class_value(pc)  # every class, used or not: a bad one is an error, not ignored
        self.nodes = [node_view(n) for n in self.cluster.nodes]
        if not self.nodes:
            raise InputError("no Node objects: there is nowhere to place pods", source=self.source)
        by_name = {n.name: n for n in self.nodes}
        node_names = set(by_name)
        self.dra = read_catalog(self.cluster.dra, node_names)
        self.notes += self.dra.notes
        self._soft_tainted = [
            n for n in self.nodes if any(t.effect in SOFT_EFFECTS for t in n.taints)
        ]
        live: list[PodView] = []
        views = [pod_view(raw) for raw in self.cluster.pods]
        for view in views:
            if not view.finished:
                self.dra.count_users(view.namespace, view.claims)
        for view in views:
            if view.finished:
                continue
            live.append(view)
            if view.bound:
                if view.node_name not in node_names:
                    self.notes.append(
                        f"{view.ref}: bound to unknown node {view.node_name!r}; ignored"
                    )
                    continue
                if not self._evicted(view, by_name[view.node_name]):
                    self._add(view, pending=False)
            elif view.terminating:
                self.notes.append(f"{view.ref}: terminating; not planned")
            elif view.scheduler_name != self.scheduler_name:
                self.notes.append(
                    f"{view.ref}: schedulerName {view.scheduler_name!r} is not ours; not planned"
                )
            elif view.gated:
                self._unsupported(
                    view.ref, "", "spec.schedulingGates: the pod is gated; not planned"
                )
            else:
                self._add(view, pending=True)
        self._read_workloads(live)

    def _evicted(self, view: PodView, node: NodeView) -> bool:
        """Is this bound pod being evicted by a NoExecute taint of its node (``taint_eviction``)?
        Then it is not planned where it runs: its controller's replacement is planned as a
        pending replica (a DaemonSet's is not: it belongs on that node), a pod without one is gone.
        A pod that tolerates the taint for a while stays, with a note."""
        eviction = None if view.terminating else taint_eviction(view, node)
        if eviction is None:
            return False
        taint, seconds = eviction
        shown = f"{taint.key}={taint.value}:{taint.effect}" if taint.value else taint.key
        where = f"{view.ref}: node {node.name} has the taint {shown}"
        if seconds > 0:
            self.notes.append(
                f"{where}, tolerated for {seconds} s: evicted then unless the taint is removed; "
                "planned where it runs"
            )
            return False
        if view.owner is None or view.owner[0] == "DaemonSet":
            self.notes.append(f"{where}: evicted (taint eviction), nothing recreates it here")
            return True
        kind, name = view.owner
        workload = f"{kind}/{view.namespace}/{name}"
        self.notes.append(
            f"{where}: evicted (taint eviction); {workload} recreates it: planned as pending"
        )
        self._add(replace(view, node_name=""), pending=True, workload=workload)
        return True

    def _add(
        self, view: PodView, *, pending: bool, workload: str | None = None, count: int = 1
    ) -> None:
        state = "" if pending else ("@terminating" if view.terminating else "@bound")
        name = group_key(view) + state
        group = self.groups.get(name)
        if group is None:
            group = _Group(name=name, view=view, pending=pending, workload=workload)
            group.priority = self._priority(view, workload)
            self.groups[name] = group
        group.count += count
        if workload is None:
            group.pods.append(view)
        if not pending:
            group.placed[view.node_name] += 1
            if view.claims:
                names = self.dra.allocated(view.namespace, view.claims)
                if names is None:
                    group.devices_unknown.append(view.ref)
                else:
                    group.placed_devices[view.node_name].append(names)

    def _priority(self, view: PodView, workload: str | None) -> int:
        if view.priority is not None:
            return view.priority
        classes = self.cluster.priority_classes
        if view.priority_class:
            pc = classes.get(view.priority_class)
            if pc is None:
                who = workload or view.ref
                raise InputError(
                    f"unknown PriorityClass {view.priority_class!r}",
                    path=f"{who}: spec.priorityClassName",
                )
            return _class_value(pc)
        defaults = [pc for pc in classes.values() if pc.get("globalDefault")]
        return max((_class_value(pc) for pc in defaults), default=0)

    def _read_workloads(self, live: list[PodView]) -> None:
        present = {(w.get("kind"), namespace_of(w), name_of(w)) for w in self.cluster.workloads}
        for w in self.cluster.workloads:
            kind, ns, wname = str(w["kind"]), namespace_of(w), name_of(w)
            owners = meta_of(w).get("ownerReferences") or []
            if any(
                isinstance(o, dict) and (o.get("kind"), ns, o.get("name")) in present
                for o in owners
            ):
                continue  # e.g. a Deployment's ReplicaSet: the Deployment accounts for its replicas
            spec = mapping(w, w.get("spec"), "spec")
            replicas = _replicas(w, spec)
            template = mapping(w, spec.get("template"), "spec.template")
            tmeta = mapping(w, template.get("metadata"), "spec.template.metadata")
            selector = parse_label_selector(w, spec.get("selector"), "spec.selector")
            if selector is None:  # hand-written workloads: the template's labels select its pods
                selector = LabelSelector(
                    tuple(
                        Requirement(str(k), "In", (str(v),))
                        for k, v in (tmeta.get("labels") or {}).items()
                    )
                )
            existing = sum(1 for p in live if p.namespace == ns and selector.matches(p.labels))
            missing = replicas - existing
            if missing <= 0:
                continue
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{wname}-template",
                    "namespace": ns,
                    "labels": dict(tmeta.get("labels") or {}),
                    "ownerReferences": [{"kind": kind, "name": wname, "controller": True}],
                },
                "spec": dict(mapping(w, template.get("spec"), "spec.template.spec")),
            }
            try:
                view = pod_view(pod)
            except InputError as exc:
                field_path = exc.path.split(": ", 1)[-1]
                raise InputError(exc.reason, path=f"{ref(w)}: spec.template.{field_path}") from None
            if view.scheduler_name != self.scheduler_name:
                self.notes.append(
                    f"{ref(w)}: schedulerName {view.scheduler_name!r} is not ours; not planned"
                )
                continue
            self._add(view, pending=True, workload=ref(w), count=missing)

    def _unsupported(self, who: str, group: str, reason: str) -> None:
        self.unsupported.append({"pod": who, "group": group, "reason": reason})

    # ------------------------------------------------------------ rules
    def _term_predicate(
        self, term: PodAffinityTerm, pending_only: bool
    ) -> Callable[[_Group], bool]:
        selector = term.selector
        namespaces = term.namespaces
        ns_selector = term.namespace_selector
        cluster = self.cluster

        def matches(g: _Group) -> bool:
            if selector is None or (pending_only and not g.pending):
                return False
            ns = g.view.namespace
            in_ns = ns in namespaces or (
                ns_selector is not None and ns_selector.matches(cluster.namespace_labels(ns))
            )
            return in_ns and selector.matches(g.view.labels)

        return matches

    def _pod_affinity(self, index: int, g: _Group) -> None:
        own = {GROUP_LABEL: str(index)}
        for term in g.view.pod_terms:
            if not g.pending and not term.anti:
                continue  # kube-scheduler enforces only the anti-affinity of pods already running
            pending_only = not g.pending  # a running pod's rule judges newcomers, not its peers
            target = self.selectors.label(
                ("term", term.canonical(), pending_only),
                self._term_predicate(term, pending_only),
                term.selector,
            )
            weight = float(term.weight) if term.weight is not None else None
            rule = {
                "selector": own,
                "target": target,
                "topology": term.topology_key,
                "weight": weight,
            }
            if term.anti:
                self._constraint(AntiAffinity.model_validate({"kind": "anti_affinity", **rule}))
            else:
                self._constraint(Affinity.model_validate({"kind": "affinity", **rule}))

    def _spread(self, g: _Group, c: SpreadConstraint) -> None:
        if c.selector is None:
            return  # a null selector counts no pod: the constraint can only filter missing labels
        if not c.selector.matches(g.view.labels):
            self._unsupported(
                g.view.ref if g.workload is None else g.workload,
                g.name,
                "spec.topologySpreadConstraints: a labelSelector that does not select the pod itself "
                "is not expressible in the IR; constraint ignored",
            )
            return
        selector, ns = c.selector, g.view.namespace
        target = self.selectors.label(
            ("spread", selector.canonical(), ns),
            # terminating pods do not count for spread (kube-scheduler bypasses them)
            lambda h: (
                h.view.namespace == ns
                and not h.view.terminating
                and selector.matches(h.view.labels)
            ),
            selector,
        )
        spread = Spread(
            kind="spread",
            selector=target,
            topology=c.topology_key,
            max_skew=c.max_skew,
            min_domains=c.min_domains if c.hard else None,
            bins=self._domain_bins(g.view, c),
            weight=None if c.hard else SPREAD_SOFT_WEIGHT,
        )
        key = self._constraint(spread)
        self.spread_owners[key].add(g.name)

    def _domain_bins(self, view: PodView, c: SpreadConstraint) -> tuple[str, ...] | None:
        """The nodes whose domains count for a spread constraint (None: every node with the key).

        Like PodTopologySpread: nodes with all the topology keys of the pod's constraints of the
        same kind, matching its node affinity (nodeAffinityPolicy Honor) and tolerating its taints
        (nodeTaintsPolicy Honor).
        """
        keys = tuple(s.topology_key for s in view.spread if s.hard == c.hard)
        signature = (
            c.topology_key,
            keys,
            view.nodes if c.honor_affinity else None,
            view.tolerations if c.honor_taints else None,
        )
        if signature in self._spread_bins:
            return self._spread_bins[signature]
        bins = []
        with_key = []
        for n in self.nodes:
            if c.topology_key not in n.labels:
                continue
            with_key.append(n.name)
            if not all(k in n.labels for k in keys):
                continue
            if c.honor_affinity and not view.nodes.matches(n.labels, n.name):
                continue
            if c.honor_taints and untolerated(view, n, HARD_EFFECTS):
                continue
            bins.append(n.name)
        result = None if bins == with_key else tuple(bins)
        self._spread_bins[signature] = result
        return result

    def _constraint(self, c: Any) -> str:
        key = c.model_dump_json()
        self.constraints.setdefault(key, c)
        return key

    # ------------------------------------------------------------ nodes per group
    def _filter(self, view: PodView) -> tuple[tuple[str, ...] | None, dict[str, list[str]]]:
        signature = (
            view.nodes,
            view.tolerations,
            tuple(c.topology_key for c in view.spread if c.hard),
            tuple(t.topology_key for t in view.pod_terms if not t.anti and t.weight is None),
        )
        cached = self._filter_cache.get(signature)
        if cached is not None:
            return cached
        allowed: list[str] = []
        filtered: dict[str, list[str]] = defaultdict(list)
        for n in self.nodes:
            reason = static_reason(view, n) or topology_reason(view, n)
            if reason is None:
                allowed.append(n.name)
            else:
                filtered[reason].append(n.name)
        result = (None if not filtered else tuple(allowed), dict(filtered))
        self._filter_cache[signature] = result
        return result

    def _costs(self, view: PodView, allowed: tuple[str, ...] | None) -> dict[str, float]:
        soft_tainted = self._soft_tainted
        if not view.preferred and not soft_tainted:
            return {}
        signature = (view.preferred, view.tolerations, allowed)
        cached = self._cost_cache.get(signature)
        if cached is not None:
            return cached
        keep = set(allowed) if allowed is not None else None
        out: dict[str, float] = {}
        for n in soft_tainted if not view.preferred else self.nodes:
            if keep is not None and n.name not in keep:
                continue
            cost = float(
                sum(p.weight for p in view.preferred if not p.term.matches(n.labels, n.name))
            )
            cost += PREFER_NO_SCHEDULE_COST * len(untolerated(view, n, SOFT_EFFECTS))
            if cost:
                out[n.name] = float(cost)
        self._cost_cache[signature] = out
        return out

    # ------------------------------------------------------------ assembly
    def build(self, name: str) -> Problem:
        groups = list(self.groups.values())
        for index, g in enumerate(groups):
            g.labels = {k: v for k, v in g.view.labels.items() if _LABEL_KEY.match(k)}
            g.labels[GROUP_LABEL] = str(index)
            who = g.workload or g.view.ref
            for reason in g.view.unsupported:
                if g.pending:
                    self._unsupported(who, g.name, reason)
            self._devices(who, g)
            if (
                g.pending
                and len(g.view.pod_terms) > 1
                and sum(1 for t in g.view.pod_terms if not t.anti and t.weight is None) > 1
            ):
                self.approximations.append(
                    f"{g.name}: several required pod affinity terms; the first-pod exemption is applied per term"
                )
            self._pod_affinity(index, g)
            if g.pending:
                for c in g.view.spread:
                    self._spread(g, c)
        budgets = disruption_budgets(
            self.cluster.disruption_budgets, self.selectors.label, self.notes
        )
        self.selectors.apply(groups)
        self._host_ports(groups)
        self._check_spread_owners(groups)
        bins = self._bins(groups)
        valued = any(g.pending and g.view.value is not None for g in groups)
        items = [self._item(g, valued) for g in groups]
        constraints = tuple(self.constraints.values())
        has_prefs = any(i.cost for i in items) or any(c.weight is not None for c in constraints)
        objective: tuple[dict[str, float], ...] = ({"placed": 1.0},)
        if valued:  # placer.dev/value: among plans placing the most pods, the most value
            objective = (*objective, {"value": 1.0})
        if has_prefs:
            objective = (*objective, {"cost": 1.0, "soft": 1.0})
        meta = {
            "family": "kubernetes",
            "source": self.source,
            "scheduler_name": self.scheduler_name,
            "notes": self.notes,
            "unsupported": self.unsupported,
            "approximations": self.approximations,
            # node -> IR device name -> [driver, pool, device], for the claim allocations a
            # plan assumes (bindings.replica_plan)
            **({"dra_devices": self.dra.device_refs()} if self.dra.device_names else {}),
            "scale": {
                "cost": "kube weight points: Σ unmatched preferred node-affinity weights "
                f"+ {PREFER_NO_SCHEDULE_COST:g} per untolerated PreferNoSchedule taint, per pod",
                "soft": "preferred pod (anti-)affinity: term weight per broken domain; "
                f"ScheduleAnyway spread: {SPREAD_SOFT_WEIGHT:g} per pod above maxSkew",
            },
        }
        try:
            return Problem.model_validate(
                {
                    "name": name,
                    "bins": bins,
                    "items": items,
                    "constraints": constraints,
                    "objective": objective,
                    "disruption_budgets": budgets,
                    "meta": meta,
                }
            )
        except InputError as exc:
            raise exc.with_source(self.source) from None

    def _devices(self, who: str, g: _Group) -> None:
        """The group's DRA claim as an IR device request (what cannot be stated is reported)."""
        if not g.view.claims:
            return
        try:
            g.devices = self.dra.request(g.view.namespace, g.view.claims)
        except Unmodelled as exc:
            if g.pending:
                self._unsupported(who, g.name, str(exc))
            else:
                self.notes.append(f"{who}: {exc}; its devices are not counted")
            return
        if g.pending or g.devices is None:
            return
        need = g.devices["count"]
        lists = [names for per_node in g.placed_devices.values() for names in per_node]
        if g.devices_unknown or any(len(names) != need for names in lists):
            unknown = g.devices_unknown[:3] or [who]
            self.notes.append(
                f"{', '.join(unknown)}: running, but its claim's allocation is not in the input; "
                "its devices are not counted"
            )
            g.devices = None

    def _check_spread_owners(self, groups: list[_Group]) -> None:
        by_label: dict[str, list[str]] = defaultdict(list)
        for g in groups:
            if g.pending:
                for k in g.labels:
                    by_label[k].append(g.name)
        for key, c in self.constraints.items():
            if not isinstance(c, Spread):
                continue
            (label,) = c.selector
            others = [n for n in by_label.get(label, []) if n not in self.spread_owners[key]]
            if others:
                self.approximations.append(
                    f"spread on {c.topology} for {sorted(self.spread_owners[key])}: pending pods of "
                    f"{others[:5]} match its selector without declaring it and are held to it too"
                )

    def _host_ports(self, groups: list[_Group]) -> None:
        """NodePorts: pods asking for one (protocol, hostPort) never share a node."""
        wanted = {hp for g in groups if g.pending for hp in g.view.host_ports}
        for protocol, port in sorted(wanted):
            key = PORT_LABEL.format(protocol.lower(), port)
            for g in groups:
                if (protocol, port) in g.view.host_ports:
                    g.labels[key] = "1"
            self._constraint(
                AntiAffinity.model_validate(
                    {
                        "kind": "anti_affinity",
                        "name": f"{HOST_PORT_RULE} {protocol}/{port}",
                        "selector": {key: "1"},
                        "topology": NODE_LABEL,
                        "max_per_domain": 1,
                    }
                )
            )
        self._uses_ports = bool(wanted)

    def _bins(self, groups: list[_Group]) -> list[Bin]:
        used: dict[str, Counter[str]] = defaultdict(Counter)
        for g in groups:
            for node, k in g.placed.items():
                for r, amount in g.view.request.items():
                    used[node][r] += amount * k
        bins = []
        for n in self.nodes:
            capacity = dict(n.allocatable)
            for r, amount in used[n.name].items():
                if amount > capacity.get(r, 0):
                    self.notes.append(
                        f"Node/{n.name}: bound pods request {amount} {r} > allocatable {capacity.get(r, 0)}; "
                        "capacity raised to their use (no room for new pods)"
                    )
                    capacity[r] = amount
            labels = {k: v for k, v in n.labels.items() if _LABEL_KEY.match(k)}
            if self._uses_ports:
                labels[NODE_LABEL] = n.name
            fields: dict[str, Any] = {
                "name": n.name,
                "capacity": ir_resources(capacity),
                "labels": labels,
            }
            devices = self.dra.node_devices(n.name)
            if devices:
                fields["devices"] = devices
                bins.append(Bin.model_validate(fields))
            else:
                bins.append(_plain_bin(n.name, capacity, labels))
        return bins

    def _item(self, g: _Group, valued: bool = False) -> ItemGroup:
        meta: dict[str, Any] = {"namespace": g.view.namespace}
        if g.pods:
            meta["pods"] = [
                {"namespace": p.namespace, "name": p.name, "uid": p.uid}
                for p in sorted(g.pods, key=lambda p: p.name)
            ]
        if g.workload:
            meta["workload"] = g.workload
        if g.view.owner is not None:  # a controller recreates an evicted pod (placer migrate)
            meta["owner"] = "/".join(g.view.owner)
        fields: dict[str, Any] = {
            "name": g.name,
            "count": g.count,
            "demand": ir_resources(g.view.request),
            "labels": g.labels,
            "priority": g.priority,
            "meta": meta,
        }
        if valued:  # a pod without the annotation adds nothing to the value level
            fields["value"] = g.view.value or 0.0
        if g.devices is not None:
            fields["devices"] = g.devices
            if g.pending:
                claim = g.view.claims[0]
                meta["claim"] = {
                    "name": claim.name,
                    "template": claim.template,
                    "resourceClaim": claim.claim,
                    "request": self.dra.request_name(g.view.namespace, g.view.claims),
                }
        if not g.pending:
            meta["bound"] = True
            if g.devices is not None:
                fields["placed_devices"] = {b: lists for b, lists in g.placed_devices.items()}
            return ItemGroup.model_validate({**fields, "placed": dict(g.placed)})
        allowed, filtered = self._filter(g.view)
        if filtered:
            meta["filtered"] = filtered
        unsupported = [u["reason"] for u in self.unsupported if u["group"] == g.name]
        if unsupported:
            meta["unsupported"] = unsupported
        return ItemGroup.model_validate(
            {**fields, "allowed": allowed, "cost": self._costs(g.view, allowed)}
        )


# Bins (frozen) by name, capacity and labels: a long-lived process that builds the same
# cluster again and again (the extender's planner) validates each node once.
_BINS: dict[tuple[Any, ...], Bin] = {}
_BINS_LIMIT = 20_000


def _plain_bin(name: str, capacity: Mapping[str, int], labels: Mapping[str, str]) -> Bin:
    """The Bin of a node without devices (validated once per distinct node)."""
    key = (name, tuple(sorted(capacity.items())), tuple(sorted(labels.items())))
    found = _BINS.get(key)
    if found is None:
        found = Bin.model_validate(
            {"name": name, "capacity": ir_resources(capacity), "labels": dict(labels)}
        )
        if len(_BINS) >= _BINS_LIMIT:
            _BINS.clear()
        _BINS[key] = found
    return found


def ir_resources(amounts: Mapping[str, int]) -> dict[str, int | str]:
    """Base-unit amounts as IR quantities (the IR reads a bare cpu number as cores)."""
    return {r: f"{v}m" if r in MILLI_RESOURCES else v for r, v in amounts.items()}


# kube-apiserver's bounds (scheduling/v1 validation): user classes up to one billion, the
# system- classes up to two billion; values are int32.
HIGHEST_USER_PRIORITY = 1_000_000_000
HIGHEST_SYSTEM_PRIORITY = 2_000_000_000


def _class_value(pc: Mapping[str, Any]) -> int:
    """A PriorityClass's value, validated as the API server does (an integer, at most one billion
    for user classes, two billion for system- classes; ``globalDefault`` a boolean)."""
    value = pc.get("value", 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad(
            pc, "value", f"a PriorityClass value must be an integer, got {value!r}", "PriorityClass"
        )
    system = str(meta_of(pc).get("name", "")).startswith("system-")
    highest = HIGHEST_SYSTEM_PRIORITY if system else HIGHEST_USER_PRIORITY
    if not -(2**31) <= value <= highest:
        raise bad(
            pc,
            "value",
            f"must be at most {highest:,}{' for a system- class' if system else ''} and at least "
            f"-2^31, got {value}",
            "PriorityClass",
        )
    default = pc.get("globalDefault", False)
    if not isinstance(default, bool) and default is not None:
        raise bad(pc, "globalDefault", f"must be true or false, got {default!r}", "PriorityClass")
    return value


def _replicas(w: Mapping[str, Any], spec: Mapping[str, Any]) -> int:
    if w.get("kind") == "Job":
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        value = parallelism if completions is None else min(parallelism, completions)
        field_path = "spec.parallelism"
    else:
        value = spec.get("replicas", 1)
        field_path = "spec.replicas"
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad(w, field_path, f"expected a non-negative integer, got {value!r}")
    return value


def cluster_to_problem(
    cluster: Cluster,
    source: str = "<manifests>",
    *,
    scheduler_name: str = "default-scheduler",
    name: str | None = None,
) -> Problem:
    builder = _Builder(cluster, source, scheduler_name)
    try:
        builder.read()
    except InputError as exc:
        raise exc.with_source(source) from None
    return builder.build(name or _default_name(source))


def manifests_to_problem(
    docs: list[Any],
    source: str = "<manifests>",
    *,
    scheduler_name: str = "default-scheduler",
    name: str | None = None,
) -> Problem:
    """Kubernetes manifests (Lists, multi-document YAML, ``kubectl get -o json``) -> Problem."""
    # A dump holds millions of small objects that all outlive this call: pausing the cyclic
    # garbage collector avoids rescanning them over and over (it halves the load time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        cluster = load_cluster(docs, source)
        return cluster_to_problem(cluster, source, scheduler_name=scheduler_name, name=name)
    finally:
        if collecting:
            gc.enable()


def _default_name(source: str) -> str:
    stem = Path(source).stem if source and not source.startswith("<") else ""
    return stem or "cluster"
