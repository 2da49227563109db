"""Selectors as the API machinery evaluates them: label selectors, node selector terms, taints.

Each parser validates once (operators, value counts) and returns a small immutable matcher, so
large clusters evaluate thousands of (pod, node) pairs without re-reading the manifests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .objects import bad, label_value, mapping, sequence, string_map

LABEL_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
NODE_OPERATORS = LABEL_OPERATORS | {"Gt", "Lt"}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.operator == "In":
            return has and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not has or labels[self.key] not in self.values
        if self.operator == "Exists":
            return has
        if self.operator == "DoesNotExist":
            return not has
        # Gt / Lt: both sides must parse as integers, else no match (as in the API machinery).
        if not has:
            return False
        try:
            value, bound = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return value > bound if self.operator == "Gt" else value < bound


def _requirement(
    obj: Mapping[str, Any], raw: Any, where: str, operators: frozenset[str]
) -> Requirement:
    expr = mapping(obj, raw, where)
    key, op = expr.get("key"), expr.get("operator")
    if not isinstance(key, str) or not key:
        raise bad(obj, f"{where}.key", "a requirement needs a key")
    if op not in operators:
        raise bad(
            obj,
            f"{where}.operator",
            f"invalid operator {op!r}; expected one of {', '.join(sorted(operators))}",
        )
    values = tuple(
        label_value(obj, v, f"{where}.values[{n}]")
        for n, v in enumerate(sequence(obj, expr.get("values"), f"{where}.values"))
    )
    if op in ("In", "NotIn") and not values:
        raise bad(obj, f"{where}.values", f"operator {op} needs at least one value")
    if op in ("Exists", "DoesNotExist") and values:
        raise bad(obj, f"{where}.values", f"operator {op} takes no values")
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            raise bad(obj, f"{where}.values", f"operator {op} needs exactly one value")
        try:
            int(values[0])
        except ValueError:
            raise bad(
                obj, f"{where}.values", f"operator {op} needs an integer, got {values[0]!r}"
            ) from None
    return Requirement(key, str(op), values)


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector: matchLabels and matchExpressions, all ANDed; ``{}`` matches all."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def canonical(self) -> str:
        return json.dumps(sorted((r.key, r.operator, sorted(r.values)) for r in self.requirements))

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requirements)


def parse_label_selector(obj: Mapping[str, Any], raw: Any, where: str) -> LabelSelector | None:
    """None for a null selector (which selects nothing); otherwise the parsed selector."""
    if raw is None:
        return None
    sel = mapping(obj, raw, where)
    reqs = [
        Requirement(k, "In", (v,))
        for k, v in string_map(obj, sel.get("matchLabels"), f"{where}.matchLabels").items()
    ]
    for n, expr in enumerate(
        sequence(obj, sel.get("matchExpressions"), f"{where}.matchExpressions")
    ):
        reqs.append(_requirement(obj, expr, f"{where}.matchExpressions[{n}]", LABEL_OPERATORS))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True)
class NodeSelectorTerm:
    expressions: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]  # only metadata.name exists

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if not self.expressions and not self.fields:
            return False  # an empty term selects no node
        return all(r.matches(labels) for r in self.expressions) and all(
            r.matches({"metadata.name": name}) for r in self.fields
        )


@dataclass(frozen=True)
class NodeMatcher:
    """nodeSelector AND (required node affinity terms ORed); each term's requirements ANDed."""

    node_selector: tuple[tuple[str, str], ...]
    terms: tuple[NodeSelectorTerm, ...] | None  # None: no required node affinity

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        if any(labels.get(k) != v for k, v in self.node_selector):
            return False
        return self.terms is None or any(t.matches(labels, name) for t in self.terms)


def parse_node_term(obj: Mapping[str, Any], raw: Any, where: str) -> NodeSelectorTerm:
    term = mapping(obj, raw, where)
    exprs = tuple(
        _requirement(obj, e, f"{where}.matchExpressions[{n}]", NODE_OPERATORS)
        for n, e in enumerate(
            sequence(obj, term.get("matchExpressions"), f"{where}.matchExpressions")
        )
    )
    fields = []
    for n, e in enumerate(sequence(obj, term.get("matchFields"), f"{where}.matchFields")):
        req = _requirement(obj, e, f"{where}.matchFields[{n}]", frozenset({"In", "NotIn"}))
        if req.key != "metadata.name":
            raise bad(
                obj,
                f"{where}.matchFields[{n}].key",
                f"only metadata.name is supported, got {req.key!r}",
            )
        if len(req.values) != 1:
            raise bad(
                obj, f"{where}.matchFields[{n}].values", "matchFields takes exactly one value"
            )
        fields.append(req)
    return NodeSelectorTerm(exprs, tuple(fields))


def node_matcher(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> NodeMatcher:
    selector = string_map(pod, spec.get("nodeSelector"), "spec.nodeSelector")
    affinity = mapping(
        pod,
        mapping(pod, spec.get("affinity"), "spec.affinity").get("nodeAffinity"),
        "spec.affinity.nodeAffinity",
    )
    where = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = None
    if required is not None:
        raw_terms = sequence(
            pod,
            mapping(pod, required, where).get("nodeSelectorTerms"),
            f"{where}.nodeSelectorTerms",
        )
        terms = tuple(
            parse_node_term(pod, t, f"{where}.nodeSelectorTerms[{n}]")
            for n, t in enumerate(raw_terms)
        )
    return NodeMatcher(tuple(sorted((str(k), str(v)) for k, v in selector.items())), terms)


@dataclass(frozen=True)
class PreferredTerm:
    weight: int
    term: NodeSelectorTerm


def preferred_node_terms(
    pod: Mapping[str, Any], spec: Mapping[str, Any]
) -> tuple[PreferredTerm, ...]:
    affinity = mapping(
        pod,
        mapping(pod, spec.get("affinity"), "spec.affinity").get("nodeAffinity"),
        "spec.affinity.nodeAffinity",
    )
    where = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    out = []
    for n, raw in enumerate(
        sequence(pod, affinity.get("preferredDuringSchedulingIgnoredDuringExecution"), where)
    ):
        entry = mapping(pod, raw, f"{where}[{n}]")
        weight = entry.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise bad(
                pod, f"{where}[{n}].weight", f"weight must be an integer in 1..100, got {weight!r}"
            )
        out.append(
            PreferredTerm(
                weight, parse_node_term(pod, entry.get("preference"), f"{where}[{n}].preference")
            )
        )
    return tuple(out)


# ---------------------------------------------------------------- taints and tolerations

TAINT_EFFECTS = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str
    seconds: int | None = None  # tolerationSeconds: how long a NoExecute taint is tolerated

    def tolerates(self, taint: Taint) -> bool:
        """v1 Toleration.ToleratesTaint: effect and key (empty matches all), then the operator."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value  # Equal (the default)


def parse_taints(node: Mapping[str, Any]) -> tuple[Taint, ...]:
    spec = mapping(node, node.get("spec"), "spec")
    out = []
    for n, raw in enumerate(sequence(node, spec.get("taints"), "spec.taints")):
        t = mapping(node, raw, f"spec.taints[{n}]")
        if not t.get("key"):
            raise bad(node, f"spec.taints[{n}].key", "a taint needs a key")
        if t.get("effect") not in TAINT_EFFECTS:
            raise bad(node, f"spec.taints[{n}].effect", f"invalid effect {t.get('effect')!r}")
        out.append(Taint(str(t["key"]), str(t.get("value") or ""), str(t["effect"])))
    return tuple(out)


def parse_tolerations(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[Toleration, ...]:
    out = []
    for n, raw in enumerate(sequence(pod, spec.get("tolerations"), "spec.tolerations")):
        t = mapping(pod, raw, f"spec.tolerations[{n}]")
        op = t.get("operator") or "Equal"
        if op not in ("Equal", "Exists"):
            raise bad(
                pod,
                f"spec.tolerations[{n}].operator",
                f"invalid operator {op!r}; expected Equal or Exists",
            )
        effect = t.get("effect") or ""
        if effect and effect not in TAINT_EFFECTS:
            raise bad(pod, f"spec.tolerations[{n}].effect", f"invalid effect {effect!r}")
        if not t.get("key") and op != "Exists":
            raise bad(pod, f"spec.tolerations[{n}].operator", "an empty key needs operator Exists")
        seconds = t.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            raise bad(
                pod, f"spec.tolerations[{n}].tolerationSeconds", f"not an integer: {seconds!r}"
            )
        key, value = str(t.get("key") or ""), str(t.get("value") or "")
        out.append(Toleration(key, op, value, effect, seconds))
    return tuple(out)
