"""One scenario per kube-scheduler rule: the feasible nodes the Kubernetes docs prescribe.

Each test builds a few nodes and pods, turns them into the IR, and asks the independent verifier
on which nodes one more pod of the pending group is valid.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InputError
from engine.ir import Affinity, AntiAffinity, Spread
from engine.kube import node_unusable_reason, static_filter

from .builders import feasible, node, pending, pod, problem_of, zones


def _affinity_pod(name: str = "p", **affinity: Any) -> dict[str, Any]:
    return pod(name, affinity=affinity)


def _node_affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}


def _expr(key: str, op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


LABELLED = [
    node("a", labels={"disk": "ssd", "gen": "3"}),
    node("b", labels={"disk": "hdd", "gen": "5"}),
    node("c", labels={"gen": "x"}),
    node("d"),
]


# ---------------------------------------------------------------- node selection


def test_node_selector_needs_every_label() -> None:
    p = problem_of(*LABELLED, pod("p", nodeSelector={"disk": "ssd", "gen": "3"}))
    assert feasible(p) == {"a"}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (_expr("disk", "In", "ssd", "nvme"), {"a"}),
        (_expr("disk", "NotIn", "ssd"), {"b", "c", "d"}),  # a missing label satisfies NotIn
        (_expr("disk", "Exists"), {"a", "b"}),
        (_expr("disk", "DoesNotExist"), {"c", "d"}),
        (_expr("gen", "Gt", "4"), {"b"}),  # "x" is not an integer: no match
        (_expr("gen", "Lt", "4"), {"a"}),
    ],
)
def test_node_affinity_operators(expr: dict[str, Any], expected: set[str]) -> None:
    p = problem_of(
        *LABELLED, _affinity_pod(nodeAffinity=_node_affinity({"matchExpressions": [expr]}))
    )
    assert feasible(p) == expected


def test_node_affinity_terms_are_ored_and_expressions_anded() -> None:
    terms = (
        {"matchExpressions": [_expr("disk", "Exists"), _expr("gen", "Gt", "4")]},  # b
        {"matchExpressions": [_expr("gen", "In", "x")]},  # c
    )
    p = problem_of(*LABELLED, _affinity_pod(nodeAffinity=_node_affinity(*terms)))
    assert feasible(p) == {"b", "c"}


def test_match_fields_on_node_name_and_with_node_selector() -> None:
    term = {"matchFields": [_expr("metadata.name", "In", "b")]}
    p = problem_of(*LABELLED, _affinity_pod(nodeAffinity=_node_affinity(term)))
    assert feasible(p) == {"b"}
    both = pod("p", nodeSelector={"disk": "ssd"}, affinity={"nodeAffinity": _node_affinity(term)})
    assert feasible(problem_of(*LABELLED, both)) == set()


def test_empty_term_selects_no_node() -> None:
    p = problem_of(*LABELLED, _affinity_pod(nodeAffinity=_node_affinity({})))
    assert feasible(p) == set()


def test_preferred_node_affinity_is_a_cost_of_missed_weights() -> None:
    prefs = [
        {"weight": 80, "preference": {"matchExpressions": [_expr("disk", "In", "ssd")]}},
        {"weight": 20, "preference": {"matchExpressions": [_expr("gen", "Exists")]}},
    ]
    p = problem_of(
        *LABELLED,
        _affinity_pod(nodeAffinity={"preferredDuringSchedulingIgnoredDuringExecution": prefs}),
    )
    (group,) = p.items
    assert group.cost == {"b": 80.0, "c": 80.0, "d": 100.0}
    assert feasible(p) == {"a", "b", "c", "d"}
    assert any("cost" in level for level in p.objective)


def test_invalid_operator_names_pod_and_field() -> None:
    bad = _affinity_pod(
        nodeAffinity=_node_affinity({"matchExpressions": [_expr("disk", "Near", "ssd")]})
    )
    with pytest.raises(InputError) as err:
        problem_of(*LABELLED, bad)
    text = str(err.value)
    assert "Pod/default/p" in text and "nodeSelectorTerms[0].matchExpressions[0].operator" in text


# ---------------------------------------------------------------- taints and tolerations

TAINTED = [
    node("plain"),
    node("gpu", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}]),
    node("evict", taints=[{"key": "maint", "value": "", "effect": "NoExecute"}]),
    node("soft", taints=[{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]),
]


@pytest.mark.parametrize(
    ("tolerations", "expected"),
    [
        ([], {"plain", "soft"}),
        (
            [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            {"plain", "gpu", "soft"},
        ),
        (
            [{"key": "gpu", "value": "false", "effect": "NoSchedule"}],
            {"plain", "soft"},
        ),  # value differs
        (
            [{"key": "gpu", "operator": "Exists"}],
            {"plain", "gpu", "soft"},
        ),  # no effect: every effect
        (
            [{"key": "maint", "operator": "Exists", "effect": "NoExecute"}],
            {"plain", "evict", "soft"},
        ),
        (
            [{"operator": "Exists"}],
            {"plain", "gpu", "evict", "soft"},
        ),  # empty key + Exists: all taints
        (
            [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}],
            {"plain", "soft"},
        ),  # effect differs
    ],
)
def test_taints_and_tolerations(tolerations: list[dict[str, str]], expected: set[str]) -> None:
    assert feasible(problem_of(*TAINTED, pod("p", tolerations=tolerations))) == expected


_MAINT = {"key": "maint", "operator": "Exists", "effect": "NoExecute"}


def _on_evict(tolerations: list[dict[str, Any]], owner: str | None = "web") -> dict[str, Any]:
    running = pod("r", on="evict", owner=owner, tolerations=tolerations)
    if owner == "ds":
        running["metadata"]["ownerReferences"][0]["kind"] = "DaemonSet"
    return running


# (case, the running pod on node "evict" (taint maint:NoExecute), what the IR makes of it:
#  "bound" (kept there), "pending" (its controller's replacement planned), "gone"; note words)
EVICTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("not tolerated, a ReplicaSet's: replaced", _on_evict([]), "pending", "ReplicaSet/default/web"),
    ("not tolerated, a bare pod: gone", _on_evict([], owner=None), "gone", "nothing recreates"),
    ("not tolerated, a DaemonSet's: gone", _on_evict([], owner="ds"), "gone", "nothing recreates"),
    ("tolerated for ever: stays", _on_evict([_MAINT]), "bound", ""),
    (
        "tolerated for 300 s: stays",
        _on_evict([{**_MAINT, "tolerationSeconds": 300}]),
        "bound",
        "300 s",
    ),
    (
        "tolerationSeconds 0: now",
        _on_evict([{**_MAINT, "tolerationSeconds": 0}]),
        "pending",
        "evicted",
    ),
    (
        "tolerationSeconds < 0: now",
        _on_evict([{**_MAINT, "tolerationSeconds": -5}]),
        "pending",
        "evicted",
    ),
    (
        "a NoSchedule toleration does not tolerate NoExecute",
        _on_evict([{**_MAINT, "effect": "NoSchedule"}]),
        "pending",
        "maint",
    ),
    (
        "tolerated, with another pod's node affinity: stays",
        _on_evict([{"operator": "Exists"}]),
        "bound",
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "running", "outcome", "note"), EVICTIONS, ids=[c for c, *_ in EVICTIONS]
)
def test_no_execute_taints_evict_running_pods_that_do_not_tolerate_them(
    case: str, running: dict[str, Any], outcome: str, note: str
) -> None:
    p = problem_of(*TAINTED, running)
    bound = [g for g in p.items if g.meta.get("bound")]
    waiting = [g for g in p.items if not g.meta.get("bound")]
    if outcome == "bound":
        assert [g.placed for g in bound] == [{"evict": 1}] and not waiting
    elif outcome == "pending":
        (replacement,) = waiting
        assert not bound and replacement.count == 1 and not replacement.placed
        assert replacement.meta["workload"] == "ReplicaSet/default/web"
        assert "pods" not in replacement.meta  # the evicted pod itself is not bound again
        assert feasible(p) == {"plain", "soft"}  # nor planned back onto the tainted node
    else:
        assert not p.items
    notes = [n for n in p.meta.get("notes", []) if "Pod/default/r" in n]
    assert bool(notes) == bool(note) and all(note in n for n in notes)


def test_the_soonest_of_several_no_execute_taints_counts() -> None:
    two = node(
        "evict",
        taints=[
            {"key": "maint", "value": "", "effect": "NoExecute"},
            {"key": "drain", "value": "soon", "effect": "NoExecute"},
        ],
    )
    drain = {"key": "drain", "operator": "Exists", "effect": "NoExecute"}
    forever_and_not = problem_of(two, _on_evict([_MAINT]))
    assert [g.meta.get("bound") for g in forever_and_not.items] == [None]  # drain: untolerated
    soonest = problem_of(
        two,
        _on_evict([{**_MAINT, "tolerationSeconds": 600}, {**drain, "tolerationSeconds": 60}]),
    )
    (kept,) = soonest.items
    assert kept.placed == {"evict": 1}
    assert any("drain=soon:NoExecute, tolerated for 60 s" in n for n in soonest.meta["notes"])


def test_a_no_schedule_taint_leaves_running_pods_alone() -> None:
    (kept,) = problem_of(*TAINTED, pod("r", on="gpu", owner="web")).items
    assert kept.placed == {"gpu": 1}


def test_toleration_seconds_must_be_an_integer() -> None:
    with pytest.raises(InputError, match=r"tolerations\[0\]\.tolerationSeconds"):
        problem_of(*TAINTED, _on_evict([{**_MAINT, "tolerationSeconds": "60"}]))


def test_prefer_no_schedule_is_a_cost_unless_tolerated() -> None:
    (group,) = problem_of(*TAINTED, pod("p")).items
    assert group.cost == {"soft": 100.0}
    (group,) = problem_of(
        *TAINTED, pod("p", tolerations=[{"key": "spot", "operator": "Exists"}])
    ).items
    assert group.cost == {}


def test_unschedulable_and_not_ready_nodes_take_no_new_pods() -> None:
    nodes = [
        node("ok", ready="True"),
        node("cordoned", unschedulable=True),
        node("down", ready="False"),
        node("lost", ready="Unknown"),
    ]
    assert feasible(problem_of(*nodes, pod("p"))) == {"ok"}
    tolerant = pod(
        "p",
        tolerations=[
            {
                "key": "node.kubernetes.io/unschedulable",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        ],
    )
    assert feasible(problem_of(*nodes, tolerant)) == {"ok", "cordoned"}


def test_static_filter_reasons_are_kube_schedulers() -> None:
    p = pod("p", nodeSelector={"disk": "ssd"})
    assert static_filter(p, LABELLED[0]) is None
    assert static_filter(p, LABELLED[1]) == "node(s) didn't match Pod's node affinity/selector"
    # kube-scheduler v1.34's TaintToleration text names no taint (checked on the real scheduler)
    assert static_filter(p, TAINTED[1]) == "node(s) had untolerated taint(s)"
    assert static_filter(p, node("x", unschedulable=True)) == "node(s) were unschedulable"
    # not Ready / unknown: the lifecycle controller's not-ready / unreachable taint refuses the pod
    assert static_filter(p, node("y", ready="False")) == "node(s) had untolerated taint(s)"
    assert static_filter(p, node("z", ready="Unknown")) == "node(s) had untolerated taint(s)"


def test_node_unusable_reason_agrees_with_the_static_filter() -> None:
    """The pod-independent verdict (serve's node table) and the per-pod one (solve's
    explanations) say the same thing for a pod without tolerations."""
    plain = pod("p")
    cases = {
        "ready": (node("a"), None),
        "cordoned": (node("b", unschedulable=True), "node(s) were unschedulable"),
        "not ready": (node("c", ready="False"), "node(s) had untolerated taint(s)"),
        "unknown": (node("d", ready="Unknown"), "node(s) had untolerated taint(s)"),
    }
    for name, (n, expected) in cases.items():
        assert node_unusable_reason(n) == expected, name
        assert static_filter(plain, n) == expected, name
    # an ordinary taint is per pod (a toleration lifts it), never a node-wide verdict
    assert node_unusable_reason(TAINTED[1]) is None
    tolerant = pod("t", tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    assert static_filter(tolerant, node("c", ready="False")) is None


# ---------------------------------------------------------------- inter-pod affinity

ZONED = [*zones(a1="z1", a2="z1", b1="z2", b2="z2"), node("nozone")]


def _term(
    selector: dict[str, Any], key: str = "topology.kubernetes.io/zone", **extra: Any
) -> dict[str, Any]:
    return {"labelSelector": selector, "topologyKey": key, **extra}


def _required(kind: str, *terms: dict[str, Any]) -> dict[str, Any]:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def test_required_pod_affinity_follows_running_targets_domain() -> None:
    db = pod("db", labels={"app": "db"}, on="b1")
    web = pod(
        "web",
        labels={"app": "web"},
        affinity=_required("podAffinity", _term({"matchLabels": {"app": "db"}})),
    )
    p = problem_of(*ZONED, db, web)
    assert feasible(p) == {"b1", "b2"}
    assert any(isinstance(c, Affinity) and not c.soft for c in p.constraints)


def test_pod_affinity_namespaces_default_to_the_pods_own() -> None:
    db = pod("db", ns="data", labels={"app": "db"}, on="b1")
    term = _term({"matchLabels": {"app": "db"}})
    web = pod("web", labels={"app": "web"}, affinity=_required("podAffinity", term))
    assert feasible(problem_of(*ZONED, db, web)) == set()  # db lives in another namespace
    listed = pod("web", affinity=_required("podAffinity", {**term, "namespaces": ["data"]}))
    assert feasible(problem_of(*ZONED, db, listed)) == {"b1", "b2"}


def test_namespace_selector_reads_namespace_labels() -> None:
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "data", "labels": {"tier": "storage"}},
    }
    db = pod("db", ns="data", labels={"app": "db"}, on="a2")
    term = _term(
        {"matchLabels": {"app": "db"}}, namespaceSelector={"matchLabels": {"tier": "storage"}}
    )
    web = pod("web", affinity=_required("podAffinity", term))
    assert feasible(problem_of(*ZONED, ns, db, web)) == {"a1", "a2"}
    every = _term({"matchLabels": {"app": "db"}}, namespaceSelector={})  # {} selects all namespaces
    assert feasible(
        problem_of(*ZONED, db, pod("web", affinity=_required("podAffinity", every)))
    ) == {"a1", "a2"}


def test_first_pod_of_a_self_affine_group_may_go_to_any_node_with_the_key() -> None:
    term = _term({"matchLabels": {"app": "web"}})
    web = pod("web", labels={"app": "web"}, affinity=_required("podAffinity", term))
    p = problem_of(*ZONED, web)
    assert feasible(p) == {"a1", "a2", "b1", "b2"}  # not "nozone": the node needs the topology key
    stranger = pod("web", labels={"app": "other"}, affinity=_required("podAffinity", term))
    assert feasible(problem_of(*ZONED, stranger)) == set()  # not its own target: no exemption


def test_self_affine_replicas_join_the_first_ones_domain() -> None:
    term = _term({"matchLabels": {"app": "web"}})
    pods = [
        pod(
            f"web-{i}",
            labels={"app": "web"},
            owner="web-rs",
            affinity=_required("podAffinity", term),
        )
        for i in range(2)
    ]
    p = problem_of(*ZONED, *pods)
    (group,) = pending(p)
    assert feasible(p, group, extra={(group, "b1"): 1}) == {"b1", "b2"}


def test_required_anti_affinity_avoids_matching_pods_domain() -> None:
    db = pod("db", labels={"app": "db"}, on="a1")
    anti = _required(
        "podAntiAffinity",
        _term({"matchExpressions": [_expr("app", "In", "db", "cache")]}, "kubernetes.io/hostname"),
    )
    p = problem_of(*ZONED, db, pod("web", labels={"app": "web"}, affinity=anti))
    assert feasible(p) == {"a2", "b1", "b2", "nozone"}


def test_anti_affinity_declared_by_running_pods_is_honoured() -> None:
    anti = _required("podAntiAffinity", _term({"matchLabels": {"app": "web"}}))
    db = pod("db", labels={"app": "db"}, on="a1", affinity=anti)
    p = problem_of(*ZONED, db, pod("web", labels={"app": "web"}))
    assert feasible(p) == {"b1", "b2", "nozone"}
    assert feasible(problem_of(*ZONED, db, pod("api", labels={"app": "api"}))) == {
        "a1",
        "a2",
        "b1",
        "b2",
        "nozone",
    }


def test_self_anti_affinity_keeps_replicas_apart() -> None:
    anti = _required(
        "podAntiAffinity", _term({"matchLabels": {"app": "web"}}, "kubernetes.io/hostname")
    )
    pods = [pod(f"web-{i}", labels={"app": "web"}, owner="rs", affinity=anti) for i in range(3)]
    p = problem_of(*ZONED, *pods)
    (group,) = pending(p)
    assert feasible(p, group) == {"a1", "a2", "b1", "b2", "nozone"}
    assert feasible(p, group, extra={(group, "a1"): 1}) == {"a2", "b1", "b2", "nozone"}


def test_preferred_pod_affinity_terms_are_soft_with_their_weight() -> None:
    pref = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 30,
                    "podAffinityTerm": _term(
                        {"matchLabels": {"app": "web"}}, "kubernetes.io/hostname"
                    ),
                }
            ]
        }
    }
    p = problem_of(*ZONED, pod("web", labels={"app": "web"}, affinity=pref))
    (c,) = p.constraints
    assert isinstance(c, AntiAffinity) and c.weight == 30.0
    assert feasible(p) == {"a1", "a2", "b1", "b2", "nozone"}


# ---------------------------------------------------------------- topology spread


def _spread(**fields: Any) -> dict[str, Any]:
    base = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
    }
    return {**base, "labelSelector": {"matchLabels": {"app": "web"}}, **fields}


def _web(name: str, on: str | None = None, **spec: Any) -> dict[str, Any]:
    return pod(name, labels={"app": "web"}, on=on, **spec)


def test_spread_docs_example_two_two_one() -> None:
    # docs: pods spread 2/2/1 over three zones with maxSkew 1: the next pod may only go to zone3
    nodes = zones(n1="zone1", n2="zone2", n3="zone3")
    running = [
        _web("r1", "n1"),
        _web("r2", "n1"),
        _web("r3", "n2"),
        _web("r4", "n2"),
        _web("r5", "n3"),
    ]
    p = problem_of(*nodes, *running, _web("new", topologySpreadConstraints=[_spread()]))
    assert feasible(p) == {"n3"}
    p2 = problem_of(*nodes, *running, _web("new", topologySpreadConstraints=[_spread(maxSkew=2)]))
    assert feasible(p2) == {"n1", "n2", "n3"}


def test_spread_hard_constraint_filters_nodes_without_the_key() -> None:
    nodes = [*zones(n1="z1"), node("bare")]
    p = problem_of(*nodes, _web("new", topologySpreadConstraints=[_spread()]))
    assert feasible(p) == {"n1"}
    assert p.items[0].meta["filtered"] == {
        "node(s) didn't match pod topology spread constraints (missing required label)": ["bare"]
    }


def test_spread_schedule_anyway_is_soft() -> None:
    nodes = zones(n1="z1", n2="z2")
    running = [_web("r1", "n1"), _web("r2", "n1")]
    p = problem_of(
        *nodes,
        *running,
        _web("new", topologySpreadConstraints=[_spread(whenUnsatisfiable="ScheduleAnyway")]),
    )
    assert feasible(p) == {"n1", "n2"}
    (c,) = p.constraints
    assert isinstance(c, Spread) and c.soft


def test_min_domains_makes_the_global_minimum_zero() -> None:
    # two zones but minDomains 3: the global minimum is 0, so with maxSkew 1 no zone may exceed 1
    nodes = zones(n1="z1", n2="z2")
    running = [_web("r1", "n1")]
    plain = problem_of(*nodes, *running, _web("new", topologySpreadConstraints=[_spread()]))
    assert feasible(plain) == {"n2"}
    with_min = problem_of(
        *nodes, *running, _web("new", topologySpreadConstraints=[_spread(minDomains=3)])
    )
    assert feasible(with_min) == {"n2"}
    running.append(_web("r2", "n2"))
    p = problem_of(*nodes, *running, _web("new", topologySpreadConstraints=[_spread(minDomains=3)]))
    assert feasible(p) == set()
    assert feasible(
        problem_of(*nodes, *running, _web("new", topologySpreadConstraints=[_spread()]))
    ) == {"n1", "n2"}


def test_node_affinity_policy_honor_is_the_default() -> None:
    # zone z3's node does not match the pod's nodeSelector: with Honor it is no domain, so the
    # empty zone does not pin the global minimum at 0
    nodes = [
        node("n1", "z1", labels={"pool": "a"}),
        node("n2", "z2", labels={"pool": "a"}),
        node("n3", "z3"),
    ]
    running = [_web("r1", "n1")]
    honor = _web("new", nodeSelector={"pool": "a"}, topologySpreadConstraints=[_spread()])
    assert feasible(problem_of(*nodes, *running, honor)) == {"n2"}
    running.append(_web("r2", "n2"))
    assert feasible(problem_of(*nodes, *running, honor)) == {"n1", "n2"}
    ignore = _web(
        "new",
        nodeSelector={"pool": "a"},
        topologySpreadConstraints=[_spread(nodeAffinityPolicy="Ignore")],
    )
    assert feasible(problem_of(*nodes, *running, ignore)) == set()  # z3 counts with 0 pods


def test_node_taints_policy_ignore_is_the_default() -> None:
    tainted = node("n3", "z3", taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    nodes = [*zones(n1="z1", n2="z2"), tainted]
    running = [_web("r1", "n1"), _web("r2", "n2")]
    default = _web("new", topologySpreadConstraints=[_spread()])
    assert (
        feasible(problem_of(*nodes, *running, default)) == set()
    )  # tainted z3 pins the minimum at 0
    honor = _web("new", topologySpreadConstraints=[_spread(nodeTaintsPolicy="Honor")])
    assert feasible(problem_of(*nodes, *running, honor)) == {"n1", "n2"}


def test_spread_counts_only_pods_of_the_same_namespace() -> None:
    nodes = zones(n1="z1", n2="z2")
    others = [
        pod("o1", ns="other", labels={"app": "web"}, on="n1"),
        pod("o2", ns="other", labels={"app": "web"}, on="n1"),
    ]
    p = problem_of(*nodes, *others, _web("new", topologySpreadConstraints=[_spread()]))
    assert feasible(p) == {"n1", "n2"}


def test_spread_selector_not_matching_the_pod_is_reported() -> None:
    nodes = zones(n1="z1", n2="z2")
    p = problem_of(*nodes, pod("new", labels={"app": "api"}, topologySpreadConstraints=[_spread()]))
    assert p.meta["unsupported"] and "labelSelector" in p.meta["unsupported"][0]["reason"]


# ---------------------------------------------------------------- priority, grouping, workloads


def _pc(name: str, value: int, default: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        "globalDefault": default,
    }


def test_priority_from_class_default_and_spec() -> None:
    docs = [node("n"), _pc("high", 1000), _pc("normal", 10, default=True)]
    p = problem_of(*docs, pod("a", priorityClassName="high"), pod("b"), pod("c", priority=7))
    assert {i.name.split("/")[-1]: i.priority for i in p.items} == {"a": 1000, "b": 10, "c": 7}
    with pytest.raises(InputError, match="unknown PriorityClass 'gold'"):
        problem_of(node("n"), pod("x", priorityClassName="gold"))


def test_pending_pods_of_one_owner_and_spec_form_one_group() -> None:
    pods = [pod(f"w-{i}", labels={"app": "w"}, owner="w-rs") for i in range(3)]
    pods.append(pod("w-big", labels={"app": "w"}, owner="w-rs", cpu="2"))
    p = problem_of(node("n"), *pods, pod("w-run", labels={"app": "w"}, owner="w-rs", on="n"))
    counts = sorted((i.count, bool(i.meta.get("bound"))) for i in p.items)
    assert counts == [(1, False), (1, True), (3, False)]
    from engine.kube import pod_group_key

    assert pod_group_key(pods[0]) == pod_group_key(pods[1]) != pod_group_key(pods[3])
    assert pod_group_key(pods[0]) in p.item_by_name


def test_workloads_contribute_missing_replicas_from_the_template() -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    existing = [_web("web-1", on="n"), _web("web-2")]
    p = problem_of(node("n"), deploy, *existing)
    template = [i for i in p.items if i.meta.get("workload") == "Deployment/default/web"]
    assert [i.count for i in template] == [3]


def test_finished_and_foreign_pods_are_not_planned() -> None:
    docs = [
        node("n"),
        pod("done", on="n", phase="Succeeded"),
        pod("other", schedulerName="other-scheduler"),
        pod("mine", schedulerName="my-scheduler"),
    ]
    p = problem_of(*docs, scheduler_name="my-scheduler")
    assert [i.name for i in p.items] == ["default/mine"]
    assert not problem_of(*docs).items  # default scheduler: none of these are its pods


def test_unknown_kinds_are_skipped_with_a_note_and_bad_input_names_the_object() -> None:
    weird = {
        "apiVersion": "x/v1",
        "kind": "Gizmo",
        "metadata": {"name": "g", "namespace": "default"},
    }
    p = problem_of(node("n"), weird, pod("p"))
    assert any("Gizmo/default/g" in n for n in p.meta["notes"])
    with pytest.raises(InputError) as err:
        problem_of(node("n", cpu="four"))
    assert "Node/n" in str(err.value) and "status.allocatable.cpu" in str(err.value)


def test_terminating_pods_do_not_count_for_spread() -> None:
    nodes = zones(n1="z1", n2="z2")
    leaving = _web("old", "n2")
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    p = problem_of(
        *nodes, _web("r1", "n1"), leaving, _web("new", topologySpreadConstraints=[_spread()])
    )
    assert feasible(p) == {"n2"}  # z1 holds 1, z2 holds 0 (the leaving pod is bypassed)
    assert any(i.name.endswith("@terminating") and i.placed == {"n2": 1} for i in p.items)


def test_rules_placer_cannot_honour_are_reported_per_pod() -> None:
    from engine.kube import explain_unplaced
    from engine.solution import Solution, Status

    claim = pod("web", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])
    p = problem_of(node("n1"), claim)
    (entry,) = p.meta["unsupported"]
    assert entry["pod"] == "Pod/default/web" and "VolumeBinding" in entry["reason"]
    plan = explain_unplaced(
        p, Solution.from_counts(p, "t", Status.FEASIBLE, {("default/web", "n1"): 1})
    )
    assert plan.info["kubernetes"]["unsupported"] == [entry]


def test_kubectl_lists_are_flattened_and_typed_lists_name_their_items() -> None:
    from engine.kube import load_cluster

    nodes = {
        "apiVersion": "v1",
        "kind": "NodeList",
        "items": [{k: v for k, v in node("n1").items() if k != "kind"}],
    }
    pods = {"apiVersion": "v1", "kind": "List", "items": [pod("p1"), _pc("high", 5)]}
    cluster = load_cluster([nodes, pods])
    assert [n["metadata"]["name"] for n in cluster.nodes] == ["n1"]
    assert [p["metadata"]["name"] for p in cluster.pods] == ["p1"]
    assert set(cluster.priority_classes) == {"high"}
    assert cluster.namespace_labels("default") == {"kubernetes.io/metadata.name": "default"}
    with pytest.raises(InputError, match="duplicate object"):
        load_cluster([nodes, nodes])


def _ported(name: str, port: int, protocol: str = "TCP", on: str | None = None) -> dict[str, Any]:
    ports = [{"containerPort": 8080, "hostPort": port, "protocol": protocol}]
    return pod(name, on=on, containers=[{"name": "c", "image": "x", "ports": ports}])


def test_host_ports_keep_pods_apart_per_protocol() -> None:
    from engine.kube import explain_unplaced
    from engine.solution import Solution, Status

    nodes = [node("n1"), node("n2")]
    p = problem_of(*nodes, _ported("old", 80, on="n1"), _ported("new", 80))
    assert feasible(p, "default/new") == {"n2"}
    assert feasible(problem_of(*nodes, _ported("old", 80, on="n1"), _ported("new", 80, "UDP"))) == {
        "n1",
        "n2",
    }
    assert feasible(problem_of(*nodes, _ported("old", 80, on="n1"), _ported("new", 81))) == {
        "n1",
        "n2",
    }
    crowded = problem_of(node("n1"), _ported("old", 80, on="n1"), _ported("new", 80))
    base = {("default/old@bound", "n1"): 1}
    (u,) = explain_unplaced(
        crowded, Solution.from_counts(crowded, "t", Status.FEASIBLE, base)
    ).unplaced
    assert (
        u.reasons
        == "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    )
