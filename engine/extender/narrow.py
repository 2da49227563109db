"""Writes to gated pods, within what the API server allows (KEP-3521 gates, KEP-3838 narrowing).

While a pod has scheduling gates, kube-apiserver (v1.30+) lets an update

- remove gates (never add one),
- add entries to ``spec.nodeSelector`` (never change or delete one),
- set ``spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`` when the pod
  has none; when it has terms, keep their number and only append requirements to each term's
  ``matchExpressions`` / ``matchFields`` (existing ones unchanged, in place, in order).

placer pins a planned pod to its node with ``matchFields: metadata.name In [node]`` (the API
allows one value for a field requirement, and a node's name, unlike its hostname label, is
unique): a new single term when the pod has no required node affinity, else appended to every
term that can match at all (an empty term matches no node: it stays as it is). The terms are
ORed, so the pod then fits the planned node only, which the plan checked against its terms.

``release_patch`` builds the JSON merge patch that narrows (or not) and removes placer's gate in
one write, guarded by the pod's resourceVersion (a newer pod is a 409, re-read and retried).
``gated_update_errors`` restates the API server's rules independently, for tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

NODE_NAME_FIELD = "metadata.name"


def gate_names(spec: Mapping[str, Any]) -> list[str]:
    out = []
    for gate in spec.get("schedulingGates") or ():
        if isinstance(gate, Mapping) and isinstance(gate.get("name"), str):
            out.append(gate["name"])
    return out


def _required(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    affinity = spec.get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
    if not isinstance(node_affinity, Mapping):
        return None
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return required if isinstance(required, Mapping) else None


def pin_requirement(node: str) -> dict[str, Any]:
    return {"key": NODE_NAME_FIELD, "operator": "In", "values": [node]}


def narrowed_terms(spec: Mapping[str, Any], node: str) -> list[dict[str, Any]] | None:
    """The pod's required node-selector terms pinned to ``node``, or None when no term can be
    narrowed (every existing term is empty and matches no node anyway)."""
    required = _required(spec)
    terms = required.get("nodeSelectorTerms") if required is not None else None
    if not terms:
        return [{"matchFields": [pin_requirement(node)]}]
    out = []
    narrowed = False
    for term in terms:
        term = copy.deepcopy(dict(term)) if isinstance(term, Mapping) else {}
        if term.get("matchExpressions") or term.get("matchFields"):
            term["matchFields"] = [*(term.get("matchFields") or []), pin_requirement(node)]
            narrowed = True
        out.append(term)
    return out if narrowed else None


def release_patch(
    pod: Mapping[str, Any], gate: str, node: str | None, resource_version: str | None
) -> dict[str, Any]:
    """A JSON merge patch removing ``gate`` (other gates stay) and, with ``node``, pinning the
    pod there. Lists are replaced whole by a merge patch, so both are written in full."""
    spec = pod.get("spec") or {}
    remaining = [g for g in (spec.get("schedulingGates") or ()) if g.get("name") != gate]
    patch_spec: dict[str, Any] = {"schedulingGates": remaining or None}
    if node is not None:
        terms = narrowed_terms(spec, node)
        if terms is not None:
            patch_spec["affinity"] = {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
                }
            }
    patch: dict[str, Any] = {"spec": patch_spec}
    if resource_version is not None:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 (what the API server applies for ``application/merge-patch+json``)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def gated_update_errors(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What the API server would refuse in an update of a gated pod's scheduling fields
    (gates, nodeSelector, required node affinity); empty when allowed. Independent of the
    builders above: tests hold them to it, and the real control plane holds both."""
    errors = []
    old_gates, new_gates = gate_names(old), gate_names(new)
    if not old_gates:
        return ["the pod is not gated: its node affinity and nodeSelector are immutable"]
    if any(g not in old_gates for g in new_gates):
        errors.append("spec.schedulingGates: only deletion is allowed")
    old_sel = old.get("nodeSelector") or {}
    new_sel = new.get("nodeSelector") or {}
    if any(new_sel.get(k) != v for k, v in old_sel.items()):
        errors.append("spec.nodeSelector: only additions are allowed")
    old_req = _required(old)
    old_terms = (old_req or {}).get("nodeSelectorTerms") or []
    if old_terms:
        new_terms = (_required(new) or {}).get("nodeSelectorTerms") or []
        if len(new_terms) != len(old_terms):
            errors.append("nodeSelectorTerms: no additions or deletions of terms")
        else:
            for n, (was, now) in enumerate(zip(old_terms, new_terms, strict=True)):
                for key in ("matchExpressions", "matchFields"):
                    before = was.get(key) or []
                    after = now.get(key) or []
                    if not before and not was.get(
                        "matchFields" if key == "matchExpressions" else "matchExpressions"
                    ):
                        if after:
                            errors.append(f"nodeSelectorTerms[{n}]: an empty term stays empty")
                    elif after[: len(before)] != before:
                        errors.append(f"nodeSelectorTerms[{n}].{key}: only additions")
    for term in (_required(new) or {}).get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or ():
            if field.get("operator") in ("In", "NotIn") and len(field.get("values") or ()) != 1:
                errors.append("matchFields: In/NotIn on a field take exactly one value")
    return errors
