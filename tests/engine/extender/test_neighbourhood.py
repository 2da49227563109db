"""Incremental rounds over a neighbourhood: new pods that only take capacity are planned on a
few candidate nodes; the merged plan must be a plan of the whole cluster (checked by the
verifier over the problem the adapter builds from every document), its status honest, and
every pod with rules of its own or seen by another pod's rules goes the whole-cluster way."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import kube
from engine.extender import neighbourhood as hood_module
from engine.extender.incremental import hint_counts
from engine.extender.planner import Planner
from engine.extender.state import ClusterState
from engine.solution import Solution, Status
from engine.verify import verify
from tests.profiles import examples

from .conftest import node, pod

pytest.importorskip("ortools")


def whole_cluster_check(state: ClusterState, planner: Planner) -> None:
    """The current plan, as counts of the problem of every document, passes the verifier and
    places every pending pod it targets."""
    plan = planner.current
    assert plan is not None
    problem = kube.manifests_to_problem(
        state.documents(), "check", scheduler_name="default-scheduler"
    )
    counts = hint_counts(problem, plan.targets)
    solution = Solution.from_counts(problem, "merged", Status.FEASIBLE, counts)
    report = verify(problem, solution)
    assert report.ok, report
    targeted = sum(sum(n.values()) for n in plan.targets.values())
    placed_new = sum(counts.values()) - sum(sum(i.placed.values()) for i in problem.items)
    assert placed_new == targeted  # no target was dropped as not fitting


def cluster(nodes: int = 12) -> tuple[ClusterState, Planner]:
    """Nodes of 4 cpu with 1-3 cpu used, three pending 1-cpu pods planned."""
    state = ClusterState()
    rng = random.Random(3)
    state.replace(
        [node(f"n{i}", cpu="4", zone=f"z{i % 3}") for i in range(nodes)],
        [pod(f"run-{i}", cpu=str(rng.randint(1, 3)), node_name=f"n{i}") for i in range(nodes)]
        + [pod(f"web-{i}", cpu="1", owner="web") for i in range(3)],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    assert planner.current is not None and planner.current.kind == "full"
    return state, planner


def test_new_pods_are_planned_on_a_neighbourhood_and_the_merged_plan_verifies() -> None:
    state, planner = cluster()
    first = planner.current
    assert first is not None
    sent: list[bytes] = []
    solve = planner._solve
    planner._solve = lambda payload, *a: sent.append(payload) or solve(payload, *a)  # type: ignore[method-assign]
    for i in range(4):
        state.upsert_pod(pod(f"api-{i}", cpu="2", owner="api"))
    planner.plan_once()
    plan = planner.current
    assert plan is not None and plan.kind == "incremental"
    assert 0 < plan.neighbourhood <= hood_module.MIN_CANDIDATES
    (payload,) = sent
    assert b'"web-0"' not in payload and b'"run-0"' not in payload  # the rest is held, not sent
    api = plan.group_of_uid["uid-api-0"]
    assert sum(plan.targets[api].values()) == 4
    for group, nodes in first.targets.items():
        assert plan.targets[group] == nodes  # the last plan's places stand
    whole_cluster_check(state, planner)


def test_candidates_are_the_tightest_nodes_that_pass_the_pods_filters() -> None:
    """n0 (1 cpu free) is tightest for a 1-cpu pod, but tainted; n1 is next."""
    state = ClusterState()
    tainted = node("n0", cpu="4")
    tainted["spec"]["taints"] = [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]
    state.replace(
        [tainted, node("n1", cpu="4"), node("n2", cpu="4")],
        [
            pod("a", cpu="3", node_name="n0"),
            pod("b", cpu="2", node_name="n1"),
            pod("seed", cpu="1", owner="seed"),
        ],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    plan = planner.current
    assert plan is not None
    state.upsert_pod(pod("late", cpu="1", owner="late"))
    with state.lock:
        new = [state.pods["uid-late"]]
        hood = hood_module.neighbourhood(state, plan, new)
    assert hood is not None and hood.complete
    seed_node = next(iter(plan.targets[plan.group_of_uid["uid-seed"]]))
    free_after_seed = {"n0": 1, "n1": 2, "n2": 4}
    free_after_seed[seed_node] -= 1
    expected = sorted((n for n in ("n1", "n2") if free_after_seed[n] >= 1), key=free_after_seed.get)
    assert hood.groups[state.pods["uid-late"].group_key() or ""] == expected
    tolerant = pod(
        "tolerant",
        cpu="1",
        owner="tolerant",
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    record = state.upsert_pod(tolerant)
    assert record is not None
    with state.lock:
        hood = hood_module.neighbourhood(state, plan, [record])
    assert hood is not None
    assert ("n0" in hood.nodes) == (free_after_seed["n0"] >= 1)  # the tainted node is open to it


ANTI = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": "zone"}
        ]
    }
}
SPREAD = [
    {
        "maxSkew": 1,
        "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "api"}},
    }
]
PREFERRED = {
    "nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}}
        ]
    }
}  # fmt: skip


def ported(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    return p


def claimed(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["resourceClaims"] = [{"name": "gpu", "resourceClaimName": "x"}]
    return p


def volume(p: dict[str, Any]) -> dict[str, Any]:
    p["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "d"}}]
    return p


# (id, new pods, a bound pod added first): each needs the whole cluster.
WHOLE_CLUSTER = [
    ("own-anti-affinity", lambda: [pod("api-0", owner="api", affinity=ANTI)], None),
    ("own-spread", lambda: [pod("api-0", owner="api", topologySpreadConstraints=SPREAD)], None),
    ("own-preference", lambda: [pod("api-0", owner="api", affinity=PREFERRED)], None),
    ("host-port", lambda: [ported(pod("api-0", owner="api"))], None),
    ("dra-claim", lambda: [claimed(pod("api-0", owner="api"))], None),
    ("pvc-volume", lambda: [volume(pod("api-0", owner="api"))], None),
    (
        "seen-by-a-bound-pods-anti-affinity",
        lambda: [pod("api-0", owner="api")],
        lambda: pod("guard", node_name="n5", owner="guard", affinity=ANTI),
    ),
    (
        "one-of-two-seen",
        lambda: [pod("cpu-0", owner="cpu"), pod("api-0", owner="api")],
        lambda: pod("guard", node_name="n5", owner="guard", topologySpreadConstraints=SPREAD),
    ),
]


@pytest.mark.parametrize(("case", "new", "bound"), WHOLE_CLUSTER, ids=[c[0] for c in WHOLE_CLUSTER])
def test_pods_with_rules_or_seen_by_rules_take_the_whole_cluster_round(
    case: str, new: Any, bound: Any
) -> None:
    state, planner = cluster()
    if bound is not None:
        state.upsert_pod(bound())
        planner.plan_once()  # the full round that covers it (a bound pod is not new)
    plan = planner.current
    assert plan is not None
    records = [state.upsert_pod(p) for p in new()]
    with state.lock:
        assert hood_module.neighbourhood(state, plan, records) is None  # type: ignore[arg-type]
    planner.plan_once()
    assert planner.current is not None and planner.current.kind == "incremental"
    assert planner.current.neighbourhood == 0


def test_when_no_node_has_room_the_pods_are_known_and_nothing_is_solved() -> None:
    state, planner = cluster(nodes=3)
    planner._solve = None  # type: ignore[assignment,method-assign]  # must not be called
    state.upsert_pod(pod("huge", cpu="4", owner="huge"))
    planner.plan_once()
    plan = planner.current
    assert plan is not None and plan.kind == "incremental" and plan.status == "feasible"
    assert "uid-huge" in plan.group_of_uid and not plan.targets.get(plan.group_of_uid["uid-huge"])


def test_a_restricted_neighbourhood_never_claims_optimal(monkeypatch: pytest.MonkeyPatch) -> None:
    state, planner = cluster()
    monkeypatch.setattr(hood_module, "MIN_CANDIDATES", 1)
    monkeypatch.setattr(hood_module, "CANDIDATES_PER_POD", 1)
    state.upsert_pod(pod("one", cpu="1", owner="one"))
    planner.plan_once()
    plan = planner.current
    assert plan is not None and plan.neighbourhood == 1 and plan.status == "feasible"
    whole_cluster_check(state, planner)


def test_a_plan_that_no_longer_fits_goes_the_pinning_way() -> None:
    state, planner = cluster(nodes=3)
    plan = planner.current
    assert plan is not None
    web = plan.group_of_uid["uid-web-0"]
    target = next(iter(plan.targets[web]))
    free = state.nodes[target].free("cpu")
    state.upsert_pod(pod("intruder", cpu=f"{free}m", node_name=target, schedulerName="other"))
    records = [state.upsert_pod(pod("late", cpu="100m", owner="late"))]
    with state.lock:
        assert hood_module.neighbourhood(state, plan, records) is None  # type: ignore[arg-type]


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    nodes=st.integers(2, 14),
    arrivals=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["250m", "1", "2", "3500m"]), st.booleans()),
        min_size=1,
        max_size=6,
    ),
)
def test_merged_plans_verify_over_the_whole_cluster(
    seed: int, nodes: int, arrivals: list[tuple[int, str, bool]]
) -> None:
    """Random clusters (zones, a cordoned node, tainted nodes, bound pods), a full plan, then
    rounds of arrivals (some with a node selector or a toleration): after every round the
    plan passes the verifier over the problem of every document."""
    rng = random.Random(seed)
    docs = []
    for i in range(nodes):
        n = node(f"n{i}", cpu=str(rng.choice((2, 4, 8))), zone=f"z{i % 3}")
        if rng.random() < 0.2:
            n["spec"]["taints"] = [{"key": "gpu", "value": "y", "effect": "NoSchedule"}]
        if i == 0 and nodes > 2:
            n["spec"]["unschedulable"] = True
        docs.append(n)
    bound = [
        pod(f"run-{i}", cpu=f"{rng.randint(1, 6) * 250}m", node_name=f"n{rng.randrange(nodes)}")
        for i in range(nodes)
    ]
    state = ClusterState()
    state.replace(docs, [*bound, pod("seed-0", cpu="1", owner="seed")])
    planner = Planner(state, time_limit=2.0)
    planner.plan_once()
    for n, (group, cpu, restricted) in enumerate(arrivals):
        extra: dict[str, Any] = {}
        if restricted and group % 2:
            extra["nodeSelector"] = {"zone": f"z{group % 3}"}
        elif restricted:
            extra["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
        state.upsert_pod(pod(f"g{group}-{cpu}-{n}", cpu=cpu, owner=f"g{group}-{cpu}", **extra))
        planner.plan_once()
        plan = planner.current
        assert plan is not None
        whole_cluster_check(state, planner)
        if plan.neighbourhood and plan.status == "optimal":
            assert plan.kind == "incremental"


def test_pods_a_restricted_round_leaves_out_bring_the_full_round_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One candidate (the tightest: n0, 1 cpu free) for two 1-cpu pods: one is placed, the
    other left out although n1 has room, so the full round is due now, not after the quiet."""
    state = ClusterState()
    state.replace(
        [node("n0", cpu="4"), node("n1", cpu="4")],
        [
            pod("run", cpu="3", node_name="n0"),
            pod("seed", cpu="1", owner="seed", nodeSelector={"kubernetes.io/hostname": "n1"}),
        ],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    monkeypatch.setattr(hood_module, "MIN_CANDIDATES", 1)
    monkeypatch.setattr(hood_module, "CANDIDATES_PER_POD", 0)
    for i in range(2):
        state.upsert_pod(pod(f"two-{i}", cpu="1", owner="two"))
    planner.plan_once()
    plan = planner.current
    assert plan is not None and plan.neighbourhood == 1 and plan.left_out == 1
    assert plan.targets[plan.group_of_uid["uid-two-0"]] == {"n0": 1}
    assert plan.status == "feasible" and planner._due()
    planner.plan_once()
    full = planner.current
    assert full is not None and full.kind == "full"
    assert sum(full.targets[full.group_of_uid["uid-two-0"]].values()) == 2


def test_pods_arriving_during_a_full_round_are_planned_beside_it() -> None:
    """A full round held in the planning process until the test lets it go: a pod arriving
    meanwhile is covered by a neighbourhood plan from the lane while the round is still in
    flight, and again after it (the full plan was solved without it)."""
    import threading
    import time

    from engine.extender.coverage import Coverage

    state, _ = cluster(nodes=6)
    planner = Planner(state, time_limit=5.0, settle=0.02, full_quiet=0.2)
    solve = planner._solve
    full_started = threading.Event()
    release = threading.Event()
    release.set()

    def slow_full(payload: bytes, kind: str = "full", hint: Any = None) -> Any:
        if kind == "full":
            full_started.set()
            release.wait(60)
        return solve(payload, kind, hint)

    planner._solve = slow_full  # type: ignore[method-assign]
    coverage = Coverage(state, "default-scheduler")

    def covered(uid: str) -> bool:
        plan = planner.current
        record = state.pods.get(uid)
        return (
            plan is not None
            and record is not None
            and coverage.covers(plan, uid, record.group_key())
        )

    state.mark_synced()
    planner.start()
    try:
        deadline = time.monotonic() + 30
        while not (planner.current and not planner._due()) and time.monotonic() < deadline:
            time.sleep(0.02)
        full_started.clear()
        release.clear()
        state.upsert_pod(pod("late-0", cpu="1", owner="late-0"))  # incremental, then a full round
        assert full_started.wait(10)
        arrived = time.monotonic()
        state.upsert_pod(pod("late-1", cpu="1", owner="late-1"))
        while not covered("uid-late-1") and time.monotonic() - arrived < 60:
            time.sleep(0.01)
        assert covered("uid-late-1") and planner._full_running.is_set()  # still held
        plan = planner.current
        assert plan is not None and plan.neighbourhood > 0
        release.set()
        while planner._full_running.is_set() and time.monotonic() - arrived < 60:
            time.sleep(0.02)
        while (planner._due() or not covered("uid-late-1")) and time.monotonic() - arrived < 60:
            time.sleep(0.02)
        assert covered("uid-late-1") and covered("uid-late-0")
        whole_cluster_check(state, planner)
    finally:
        release.set()
        planner.stop()
