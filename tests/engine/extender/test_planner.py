"""The plan: targets from a real cpsat solve, consumption by bindings, reservations, staleness."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from engine.extender.handlers import RESERVED_REASON, Extender
from engine.extender.planner import Planner
from engine.extender.state import ClusterState

from .conftest import node, pod

pytest.importorskip("ortools")


def planned_state() -> tuple[ClusterState, Planner, Extender]:
    state = ClusterState()
    state.replace(
        [node("a", cpu="4"), node("b", cpu="4")],
        [
            pod("web-0", cpu="2", owner="web"),
            pod("web-1", cpu="2", owner="web"),
            pod("trainer", cpu="4", owner="trainer"),
        ],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    return state, planner, Extender(state, planner)


def args(p: dict, names: list[str]) -> bytes:
    return orjson.dumps({"Pod": p, "Nodes": None, "NodeNames": names})


def test_plan_targets_keep_the_large_pod_placeable() -> None:
    state, planner, _ = planned_state()
    plan = planner.current
    assert plan is not None and plan.version == state.version
    web = plan.group_of_uid["uid-web-0"]
    trainer = plan.group_of_uid["uid-trainer"]
    assert plan.group_of_uid["uid-web-1"] == web != trainer
    assert sum(plan.targets[web].values()) == 2 and len(plan.targets[web]) == 1
    (trainer_node,) = plan.targets[trainer]
    assert trainer_node not in plan.targets[web]
    assert plan.reserved[trainer_node]["cpu"] == 4000


def test_prioritize_and_filter_follow_the_plan() -> None:
    _state, planner, ext = planned_state()
    plan = planner.current
    assert plan is not None
    web_node = next(iter(plan.targets[plan.group_of_uid["uid-web-0"]]))
    other = "b" if web_node == "a" else "a"
    scores = dict(
        (h["Host"], h["Score"]) for h in orjson.loads(ext.prioritize(args(pod("web-0", cpu="2", owner="web"), ["a", "b"])))
    )  # fmt: skip
    assert scores[web_node] == 10 and scores[other] < 10
    result = orjson.loads(ext.filter(args(pod("web-0", cpu="2", owner="web"), ["a", "b"])))
    # The trainer's node is held for it: the web pod may not take half of it.
    assert result["NodeNames"] == [web_node]
    assert result["FailedNodes"] == {other: RESERVED_REASON}
    # A pod the plan does not cover is never held back by reservations.
    free = orjson.loads(ext.filter(args(pod("stray", cpu="1"), ["a", "b"])))
    assert free["NodeNames"] == ["a", "b"]


def test_bindings_consume_the_plan() -> None:
    state, planner, _ = planned_state()
    plan = planner.current
    assert plan is not None
    web = plan.group_of_uid["uid-web-0"]
    web_node = next(iter(plan.targets[web]))
    assert state.bind("default", "web-0", "uid-web-0", web_node) is None
    assert plan.targets[web] == {web_node: 1}
    assert plan.reserved[web_node]["cpu"] == 2000
    assert state.bind("default", "web-1", "uid-web-1", web_node) is None
    assert not plan.targets[web]


def test_plan_published_after_bindings_accounts_for_them() -> None:
    state, planner, _ = planned_state()
    first = planner.current
    assert first is not None
    web = first.group_of_uid["uid-web-0"]
    web_node = next(iter(first.targets[web]))
    version = state.version
    state.bind("default", "web-0", "uid-web-0", web_node)
    # A solve that started before that binding must not send a second pod there for it.
    for logged_version, uid, node_name in state.bind_log:
        assert logged_version > version and uid == "uid-web-0" and node_name == web_node
    planner.plan_once()
    second = planner.current
    assert second is not None and second is not first
    assert sum(second.targets.get(second.group_of_uid.get("uid-web-1", web), {}).values()) == 1


def test_stale_plan_falls_back() -> None:
    state, planner, _ = planned_state()
    plan = planner.current
    assert plan is not None
    assert planner.usable() == (plan, "")
    plan.created -= planner.max_age + 1
    assert planner.usable() == (plan, "")  # old, but nothing changed since: still right
    state.upsert_pod(pod("late", cpu="1"))
    assert planner.usable() == (None, "stale_plan")


def test_background_thread_replans_on_change() -> None:
    state, planner, _ = planned_state()
    planner.settle = 0.05
    first = planner.current
    planner.start()
    try:
        state.upsert_node(node("c", cpu="8"))
        import time

        deadline = time.monotonic() + 20
        while planner.current is first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert planner.current is not first
        assert planner.current is not None and planner.current.version >= state.version - 1
    finally:
        planner.stop()


class Counted:
    def __init__(self) -> None:
        self.fallbacks: list[tuple[str, str]] = []
        self.steered: list[str] = []

    def fallback(self, verb: str, reason: str) -> None:
        self.fallbacks.append((verb, reason))

    def planned(self, verb: str) -> None:
        self.steered.append(verb)

    def device_scored(self, outcome: str) -> None:
        pass


def scores(ext: Extender, p: dict) -> dict[str, int]:
    return {h["Host"]: h["Score"] for h in orjson.loads(ext.prioritize(args(p, ["a", "b"])))}


def test_a_pod_that_arrived_after_the_plan_is_not_steered_by_its_groups_targets() -> None:
    """web-2 has web-0's spec, but the plan was made without it: the places it holds are
    web-0's and web-1's. web-2 is scored by the online policy, counted as uncovered, and the
    covered pods are still steered — counted as steered by a plan ignoring a pending pod."""
    state, planner, _ = planned_state()
    counted = Counted()
    ext = Extender(state, planner, counters=counted)
    state.upsert_pod(pod("web-2", cpu="2", owner="web"))
    late = scores(ext, pod("web-2", cpu="2", owner="web"))
    assert 10 not in late.values()
    assert counted.fallbacks == [("prioritize", "uncovered_pod")]
    covered = scores(ext, pod("web-0", cpu="2", owner="web"))
    assert 10 in covered.values()
    assert counted.fallbacks[-1] == ("prioritize", "plan_ignores_pending")
    assert counted.steered == ["prioritize"]
    planner.plan_once()  # a plan that knows web-2: nothing ignored any more
    counted.fallbacks.clear()
    scores(ext, pod("web-0", cpu="2", owner="web"))
    assert counted.fallbacks == []


def test_gated_pods_and_other_schedulers_pods_are_not_counted_as_ignored() -> None:
    state, planner, _ = planned_state()
    counted = Counted()
    ext = Extender(state, planner, counters=counted)
    state.upsert_pod(pod("held", cpu="1", schedulingGates=[{"name": "placer.dev/plan"}]))
    state.upsert_pod(pod("theirs", cpu="1", schedulerName="other"))
    scores(ext, pod("web-0", cpu="2", owner="web"))
    assert counted.fallbacks == []


def three_node_plan() -> tuple[ClusterState, Planner]:
    """Two 3-cpu pods and a 4-cpu one planned on three 4-cpu nodes: one each (no other way)."""
    state = ClusterState()
    state.replace(
        [node("a", cpu="4"), node("b", cpu="4"), node("c", cpu="4")],
        [
            pod("big-0", cpu="3", owner="big"),
            pod("big-1", cpu="3", owner="big"),
            pod("trainer", cpu="4", owner="trainer"),
        ],
    )
    planner = Planner(state, time_limit=5.0)
    planner.plan_once()
    return state, planner


@pytest.mark.parametrize("neighbourhoods", [False, True], ids=["pinning", "neighbourhood"])
def test_pods_that_arrive_are_planned_around_the_last_plan(neighbourhoods: bool) -> None:
    """A 1-cpu pod arriving after the plan: an incremental round keeps every earlier target
    (its pods count as bound there, or their places are held on a neighbourhood of the nodes
    with room), so its place is beside a 3-cpu pod, never on the trainer's node; the handlers
    steer it there at once. The next round re-solves everything, starting from that plan."""
    state, planner = three_node_plan()
    planner.neighbourhoods = neighbourhoods
    first = planner.current
    assert first is not None and first.kind == "full" and not first.hinted
    big = first.targets[first.group_of_uid["uid-big-0"]]
    assert len(big) == 2
    counted = Counted()
    ext = Extender(state, planner, counters=counted)
    late = pod("late", cpu="1", owner="late")
    state.upsert_pod(late)
    solved: list[bytes] = []
    solve = planner._solve
    planner._solve = lambda payload, *a: solved.append(payload) or solve(payload, *a)  # type: ignore[method-assign]
    planner.plan_once()
    second = planner.current
    assert second is not None and second.kind == "incremental"
    (payload,) = solved  # the earlier pods went in bound to their targets: only "late" is new
    docs = [d for d in orjson.loads(payload) if d["kind"] == "Pod"]
    assert [d["metadata"]["name"] for d in docs if not d["spec"].get("nodeName")] == ["late"]
    for d in docs:
        uid = d["metadata"]["uid"]
        if uid != "uid-late":
            assert d["spec"]["nodeName"] in first.targets[first.group_of_uid[uid]]
    nodes = sorted(d["metadata"]["name"] for d in orjson.loads(payload) if d["kind"] == "Node")
    if neighbourhoods:  # the two nodes with room, nothing else
        assert nodes == sorted(big) and second.neighbourhood == 2
    else:  # every node (the pinned pods folded into theirs)
        assert nodes == ["a", "b", "c"] and second.neighbourhood == 0
    assert second.targets == {
        **first.targets,
        second.group_of_uid["uid-late"]: second.targets[second.group_of_uid["uid-late"]],
    }
    (target,) = second.targets[second.group_of_uid["uid-late"]]
    assert target in big
    request = orjson.dumps({"Pod": late, "Nodes": None, "NodeNames": ["a", "b", "c"]})
    assert {h["Host"]: h["Score"] for h in orjson.loads(ext.prioritize(request))}[target] == 10
    assert counted.fallbacks == [] and counted.steered == ["prioritize"]
    # a full round follows once arrivals have paused for ``full_quiet`` seconds (not at once:
    # it would hold back the next arrivals' incremental round)
    assert not planner._due() and planner._idle_wait() <= planner.full_quiet
    planner._full_due_at = time.monotonic()
    assert planner._due()
    planner.plan_once()
    third = planner.current
    assert third is not None and third.kind == "full" and third.hinted
    assert sum(sum(n.values()) for n in third.targets.values()) == 4
    assert not planner._due()


def test_an_incremental_round_replans_pods_whose_place_is_gone() -> None:
    """Another scheduler's pod took the trainer's node: the trainer cannot keep its target and
    no other node has room for it, so the incremental round leaves it out (its lost place is
    dropped, not kept); the new pod still gets a place beside a 3-cpu pod."""
    state, planner = three_node_plan()
    first = planner.current
    assert first is not None
    trainer = first.group_of_uid["uid-trainer"]
    (trainer_node,) = first.targets[trainer]
    state.upsert_pod(pod("intruder", cpu="4", node_name=trainer_node, schedulerName="other"))
    state.upsert_pod(pod("late", cpu="1", owner="late"))
    planner.plan_once()
    second = planner.current
    assert second is not None and second.kind == "incremental"
    assert not second.targets.get(trainer)
    assert second.group_of_uid["uid-trainer"] == trainer  # known, planned: left out
    big = first.targets[first.group_of_uid["uid-big-0"]]
    assert second.targets[first.group_of_uid["uid-big-0"]] == big
    (target,) = second.targets[second.group_of_uid["uid-late"]]
    assert target in big


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.upsert_node(node("d", cpu="8")),
        lambda s: s.delete_node("c"),
        lambda s: s.upsert_object({"kind": "DeviceClass", "metadata": {"name": "gpu"}, "spec": {}}),
    ],
    ids=["node-added", "node-deleted", "dra-object"],
)
def test_a_node_change_makes_the_next_round_a_full_one(change: Any) -> None:
    state, planner = three_node_plan()
    state.upsert_pod(pod("late", cpu="1", owner="late"))
    change(state)
    planner.plan_once()
    assert planner.current is not None and planner.current.kind == "full"


def test_incremental_rounds_can_be_turned_off() -> None:
    state, planner = three_node_plan()
    planner.incremental = False
    state.upsert_pod(pod("late", cpu="1", owner="late"))
    planner.plan_once()
    assert planner.current is not None and planner.current.kind == "full"
    assert not planner.current.hinted  # the last plan does not cover the new pod
