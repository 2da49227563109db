"""Bound pods that no rule can see, folded into their node's allocatable before planning.

A planning round keeps every bound pod where it is: most of them (45,000 of 50,000 in a large
cluster) take capacity and nothing else. Handing each to the Kubernetes adapter costs time and
memory in every part after it (views, groups, the model's fixed counts, the verifier), so such a
pod is taken out of the documents and its effective request is subtracted from its node's
``status.allocatable`` instead. The problem that is left has the same plans with the same
objective values for the pending pods.

A bound pod is folded only when nothing but capacity can involve it:

- it has no inter-pod rule of its own (pod (anti-)affinity, topology spread), no DRA claim, and
  is not terminating (the adapter treats those apart);
- its labels match no label selector of any pod's inter-pod rules, of any workload (whose missing
  replicas the adapter counts from the pods it matches) or of any PodDisruptionBudget — in any
  namespace (namespaces are not told apart: stricter than needed, never looser);
- its node is known, has no NoExecute taint (the adapter decides whether the taint eviction
  controller removes the pod) and keeps a non-negative allocatable in every resource.

When a selector cannot be read, nothing is folded: the adapter then reports the bad field itself.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.errors import InputError
from engine.kube.objects import WORKLOAD_KINDS
from engine.kube.selectors import LabelSelector, Requirement, parse_label_selector
from engine.quantity import MILLI_RESOURCES

from .state import INTER_POD_KEYS, has_inter_pod_rules

Request = Mapping[str, int]


@dataclass
class Folded:
    """The documents to plan from, and what was folded away."""

    docs: list[dict[str, Any]]
    pods_folded: int = 0
    pods_kept: int = 0
    nodes_reduced: int = 0
    reason: str | None = None  # why nothing was folded (None: folding ran)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pods_folded": self.pods_folded,
            "pods_kept": self.pods_kept,
            "nodes_reduced": self.nodes_reduced,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def _selectors_in(value: Any) -> Iterator[Any]:
    """Every ``labelSelector`` value inside a rule's JSON (terms, weighted terms, spread)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if key == "labelSelector":
                    yield sub
                else:
                    stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)


def _rules(spec: Mapping[str, Any]) -> list[Any]:
    """The pod's inter-pod rule objects (empty: it has none)."""
    rules: list[Any] = []
    affinity = spec.get("affinity")
    if isinstance(affinity, dict):
        rules.extend(affinity[k] for k in INTER_POD_KEYS if affinity.get(k))
    if spec.get("topologySpreadConstraints"):
        rules.append(spec["topologySpreadConstraints"])
    return rules


class Selectors:
    """Distinct label selectors that may see a pod; ``sees`` is cached per label set."""

    def __init__(self) -> None:
        self.selectors: dict[str, LabelSelector] = {}
        self.everything = False
        self._seen: dict[tuple[tuple[str, str], ...], bool] = {}

    def add(self, obj: Mapping[str, Any], raw: Any, where: str) -> None:
        selector = parse_label_selector(obj, raw, where)
        if selector is None:
            return  # a null selector selects nothing
        if not selector.requirements:
            self.everything = True
        self.selectors.setdefault(selector.canonical(), selector)

    def add_labels(self, labels: Mapping[str, Any]) -> None:
        """A workload without a selector: its template's labels select its pods."""
        selector = LabelSelector(
            tuple(Requirement(str(k), "In", (str(v),)) for k, v in labels.items())
        )
        if not selector.requirements:
            self.everything = True
        self.selectors.setdefault(selector.canonical(), selector)

    def sees(self, labels: Mapping[str, str]) -> bool:
        if self.everything:
            return True
        key = tuple(labels.items())  # (insertion order: alike pods share it; a miss only costs)
        hit = self._seen.get(key)
        if hit is None:
            hit = any(s.matches(labels) for s in self.selectors.values())
            self._seen[key] = hit
        return hit


def _collect(others: Iterable[Mapping[str, Any]]) -> Selectors:
    """The selectors of workloads and PodDisruptionBudgets."""
    found = Selectors()
    for doc in others:
        kind = doc.get("kind")
        spec = doc.get("spec") or {}
        if not isinstance(spec, dict):
            continue
        if kind in WORKLOAD_KINDS:
            if spec.get("selector") is not None:
                found.add(doc, spec["selector"], "spec.selector")
            else:
                template = (spec.get("template") or {}).get("metadata") or {}
                found.add_labels(template.get("labels") or {})
        elif kind == "PodDisruptionBudget":
            found.add(doc, spec.get("selector"), "spec.selector")
    return found


def rule_selectors(
    others: Iterable[Mapping[str, Any]], ruled: Iterable[Mapping[str, Any]]
) -> Selectors:
    """Every selector that may see a pod: those of workloads and PodDisruptionBudgets in
    ``others`` and of the inter-pod rules of the pods ``ruled`` (InputError: one is unreadable)."""
    found = _collect(others)
    for doc in ruled:
        for rule in _rules(doc.get("spec") or {}):
            for raw in _selectors_in(rule):
                found.add(doc, raw, "spec.affinity")
    return found


def _has_no_execute(node: Mapping[str, Any]) -> bool:
    taints = (node.get("spec") or {}).get("taints")
    return isinstance(taints, list) and any(
        isinstance(t, dict) and t.get("effect") == "NoExecute" for t in taints
    )


def allocatable_quantities(resources: Mapping[str, int]) -> dict[str, str]:
    """An allocatable map the adapter reads back to exactly these integers."""
    return {r: f"{v}m" if r in MILLI_RESOURCES else str(v) for r, v in sorted(resources.items())}


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a while: making tens of thousands of small tuples
    would have it scan every pod's objects again and again (2-3x the time of the work)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold(
    others: list[dict[str, Any]],
    nodes: Mapping[str, tuple[dict[str, Any], Request]],
    pods: Sequence[tuple[dict[str, Any], Request]],
) -> Folded:
    """The documents with every bound pod that only takes capacity folded into its node.

    ``others``: documents passed through (priority classes, workloads, DRA objects, ...);
    ``nodes``: node name -> (Node document, allocatable as the adapter reads it);
    ``pods``: (Pod document, effective request), bound ones with ``spec.nodeName`` set.
    """
    kept: list[dict[str, Any]] = []
    evicting = {name for name, (doc, _) in nodes.items() if _has_no_execute(doc)}
    candidates: list[tuple[int, str, Mapping[str, str]]] = []  # (pod, node, labels)
    try:
        ruled = [has_inter_pod_rules(doc.get("spec") or {}) for doc, _ in pods]
        selectors = rule_selectors(
            others, (doc for (doc, _), r in zip(pods, ruled, strict=True) if r)
        )
        for n, (doc, _) in enumerate(pods):
            spec = doc.get("spec") or {}
            node = spec.get("nodeName")
            meta = doc.get("metadata") or {}
            labels = meta.get("labels") or {}
            if (
                ruled[n]
                or not node
                or node not in nodes
                or node in evicting
                or spec.get("resourceClaims")
                or meta.get("deletionTimestamp") is not None
                or not isinstance(labels, dict)
            ):
                kept.append(doc)
            else:
                candidates.append((n, node, labels))
    except InputError as exc:
        docs = [*others, *(doc for doc, _ in nodes.values()), *(doc for doc, _ in pods)]
        return Folded(docs, pods_kept=len(pods), reason=f"a selector could not be read: {exc}")
    used: dict[str, dict[str, int]] = {}
    on_node: dict[str, list[int]] = {}
    sees = selectors.sees if selectors.selectors or selectors.everything else None
    for n, node, labels in candidates:
        if sees is not None and sees(labels):
            kept.append(pods[n][0])
            continue
        into = used.get(node)
        if into is None:
            into = used[node] = {}
            on_node[node] = []
        for r, amount in pods[n][1].items():
            into[r] = into.get(r, 0) + amount
        on_node[node].append(n)
    out = Folded([*others])
    for name, (doc, allocatable) in nodes.items():
        taken = used.get(name)
        if not taken:
            out.docs.append(doc)
            continue
        left = dict(allocatable)
        for r, amount in taken.items():
            left[r] = left.get(r, 0) - amount
        if any(v < 0 for v in left.values()):  # overcommitted: the adapter sees it whole
            out.docs.append(doc)
            kept.extend(pods[n][0] for n in on_node[name])
            continue
        status = {**(doc.get("status") or {}), "allocatable": allocatable_quantities(left)}
        out.docs.append({**doc, "status": status})
        out.nodes_reduced += 1
        out.pods_folded += len(on_node[name])
    out.docs.extend(kept)
    out.pods_kept = len(kept)
    return out
