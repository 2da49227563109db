"""The fragmentation scenario (the kind of kubernetes/kubernetes#68036): one pod at a time strands
a large pod; steering by the background plan places every pod.

The test replays what kube-scheduler does per pending pod, over real HTTP: filter, prioritize the
nodes that passed, take the top score (first on ties), bind.
"""

from __future__ import annotations

import re

import httpx
import orjson
import pytest

from .conftest import Running, node, pod, wait_for

pytest.importorskip("ortools")

NODES = [node("node-a", cpu="4"), node("node-b", cpu="4"), node("node-c", cpu="4")]
# Least-allocated scoring spreads the four 2-cpu replicas over all three nodes (a, b, c, then a
# again), so no node keeps the 4 free cpus the trainer needs. The plan packs them onto two nodes.
PENDING = [
    *(pod(f"web-{i}", cpu="2", memory="1Gi", owner="web") for i in range(4)),
    pod("trainer", cpu="4", memory="1Gi", owner="trainer"),
]


def replay(run: Running) -> dict[str, str | None]:
    """kube-scheduler's cycle for each pending pod in queue order; pod -> node (None: stranded)."""
    placed: dict[str, str | None] = {}
    names = [n["metadata"]["name"] for n in NODES]
    with httpx.Client(base_url=f"{run.url}/scheduler", timeout=10) as client:
        for p in PENDING:
            args = {"Pod": p, "Nodes": None, "NodeNames": names}
            feasible = client.post("/filter", content=orjson.dumps(args)).json()["NodeNames"]
            if not feasible:
                placed[p["metadata"]["name"]] = None
                continue
            args["NodeNames"] = feasible
            scores = client.post("/prioritize", content=orjson.dumps(args)).json()
            best = max(scores, key=lambda s: s["Score"])["Host"]  # max() keeps the first on ties
            meta = p["metadata"]
            bind = {"PodName": meta["name"], "PodNamespace": meta["namespace"],
                    "PodUID": meta["uid"], "Node": best}  # fmt: skip
            assert client.post("/bind", content=orjson.dumps(bind)).json() == {"Error": ""}
            placed[meta["name"]] = best
    return placed


def test_greedy_scoring_alone_strands_the_large_pod(serve) -> None:
    run = serve(NODES, PENDING, planner=False, bind=True)
    placed = replay(run)
    assert placed["trainer"] is None
    assert all(placed[f"web-{i}"] for i in range(4))


def test_planner_places_every_pod(serve) -> None:
    # The service's own setup: the plan is solved in a separate process.
    run = serve(NODES, PENDING, planner=True, plan_time_limit=5.0, plan_process=True, bind=True)
    planner = run.service.planner
    assert planner is not None
    wait_for(lambda: planner.current is not None or planner.last_error is not None, 60)
    assert planner.last_error is None
    placed = replay(run)
    assert None not in placed.values(), placed
    assert run.state.check_usage() == []
    metrics = httpx.get(f"{run.url}/metrics").text
    assert 'placer_extender_planned_requests_total{verb="prioritize"} 5.0' in metrics
    assert "placer_extender_plan_solve_seconds_count" in metrics
    assert re.search(r'^placer_extender_plans_total\{kind="full"\} [1-9]', metrics, re.M)
