"""Narrowing a gated pod: every patch placer builds is an update the API server allows, pins
the pod to its node, and keeps every rule the pod had."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.extender.narrow import (
    apply_merge_patch,
    gated_update_errors,
    narrowed_terms,
    release_patch,
)
from engine.kube.selectors import node_matcher

GATE = "placer.dev/plan"
keys = st.sampled_from(["zone", "disk", "kubernetes.io/hostname"])
values = st.lists(st.sampled_from(["a", "b", "n1", "n2"]), min_size=1, max_size=2, unique=True)
requirement = st.builds(
    lambda k, op, v: {"key": k, "operator": op, "values": v},
    keys,
    st.sampled_from(["In", "NotIn"]),
    values,
)
field = st.builds(
    lambda op, v: {"key": "metadata.name", "operator": op, "values": [v]},
    st.sampled_from(["In", "NotIn"]),
    st.sampled_from(["n1", "n2", "n3"]),
)
term = st.builds(
    lambda e, f: {k: v for k, v in (("matchExpressions", e), ("matchFields", f)) if v},
    st.lists(requirement, max_size=2),
    st.lists(field, max_size=1),
)
gates = st.lists(st.sampled_from(["example.com/a", "example.com/b"]), max_size=2, unique=True)


@st.composite
def gated_specs(draw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulingGates": [{"name": g} for g in [*draw(gates), GATE]],
        "containers": [{"name": "c", "image": "x"}],
    }
    if draw(st.booleans()):
        spec["nodeSelector"] = {"disk": "ssd"}
    terms = draw(st.one_of(st.none(), st.lists(term, min_size=1, max_size=3)))  # the API needs one
    if terms is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            },
            **({"podAntiAffinity": {}} if draw(st.booleans()) else {}),
        }
    return spec


@given(gated_specs(), st.sampled_from(["n1", "n2", None]))
def test_release_patches_are_allowed_updates_of_a_gated_pod(
    spec: dict[str, Any], node: str | None
) -> None:
    pod = {"metadata": {"name": "p", "resourceVersion": "7"}, "spec": spec}
    patch = release_patch(pod, GATE, node, "7")
    assert patch["metadata"] == {"resourceVersion": "7"}
    after = apply_merge_patch(pod, patch)
    assert gated_update_errors(spec, after["spec"]) == []
    assert GATE not in [g["name"] for g in after["spec"].get("schedulingGates") or []]
    others = [g for g in spec["schedulingGates"] if g["name"] != GATE]
    assert (after["spec"].get("schedulingGates") or []) == others
    assert after["spec"].get("nodeSelector") == spec.get("nodeSelector")
    if node is None:
        assert after["spec"].get("affinity") == spec.get("affinity")
        return
    # After: the pod fits a node exactly when it did before and the node is the planned one
    # (unless no term could be narrowed: every term empty, so it fits no node either way).
    before, pinned = node_matcher(pod, spec), node_matcher(after, after["spec"])
    for name in ("n1", "n2", "n3"):
        for labels in (
            {},
            {"zone": "a", "disk": "ssd"},
            {"kubernetes.io/hostname": "n1", "disk": "ssd"},
        ):
            expected = before.matches(labels, name) and (
                name == node or narrowed_terms(spec, node) is None
            )
            assert pinned.matches(labels, name) == expected


def test_a_pod_without_node_affinity_gets_one_term_pinning_it() -> None:
    assert narrowed_terms({}, "n1") == [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    ]


def test_every_term_is_narrowed_and_empty_terms_stay_empty() -> None:
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                        {},
                    ]
                }
            }
        }
    }
    terms = narrowed_terms(spec, "n2")
    assert terms is not None
    assert terms[0]["matchExpressions"] == [{"key": "zone", "operator": "In", "values": ["a"]}]
    assert terms[0]["matchFields"] == [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]
    assert terms[1] == {}
    only_empty = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}
            }
        }
    }
    assert narrowed_terms(only_empty, "n1") is None


def test_the_rules_refuse_what_the_api_server_refuses() -> None:
    old = {"schedulingGates": [{"name": GATE}], "nodeSelector": {"a": "b"}}
    assert gated_update_errors(
        old, {"schedulingGates": [{"name": GATE}, {"name": "x"}], "nodeSelector": {"a": "b"}}
    )
    assert gated_update_errors(old, {"nodeSelector": {"a": "c"}})
    req = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "z", "operator": "Exists"}]}]
        }
    }
    with_terms = {**old, "affinity": {"nodeAffinity": req}}
    two = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}
            ]
            * 2
        }
    }
    assert gated_update_errors(with_terms, {**old, "affinity": {"nodeAffinity": two}})
    assert gated_update_errors({"nodeSelector": {}}, {"nodeSelector": {"a": "b"}})
