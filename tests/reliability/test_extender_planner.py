"""The supervised planner: a dead planning process is noticed at once and replaced, the plan
follows, ``/readyz`` and the metrics tell, and SIGINT/SIGTERM always stop the service in 5 s."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from engine.extender.planner import Planner
from engine.extender.state import ClusterState
from tests.engine.extender.conftest import node, pod
from tests.timing import contention, held

from .extender_helpers import ServedProcess, metric, slow_cluster, slow_items

pytest.importorskip("ortools")

SHUTDOWN_GOAL_S = 5.0  # seconds from the signal to exit, benchmarked on a quiet machine
SHUTDOWN_SLACK_S = 10.0  # what a test allows on top, stretched by the machine's load


def wait(predicate, timeout: float = 120.0, step: float = 0.01) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``predicate`` holds; ``timeout`` only guards against a hang."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(step)
    return time.monotonic() - started


def test_idle_planning_process_killed_is_noticed_replaced_and_plans_again() -> None:
    state = ClusterState()
    state.replace([node("a"), node("b")], [pod("p1", owner="w1")])
    failures: list[tuple[str, str]] = []
    planner = Planner(
        state, time_limit=2.0, settle=0.05, isolate=True,
        on_failure=lambda reason, message: failures.append((reason, message)),
    )  # fmt: skip
    planner.start()
    try:
        wait(lambda: planner.current is not None)
        assert planner.process is not None
        first = planner.process.pid()
        assert first is not None
        os.kill(first, signal.SIGKILL)
        noticed = wait(lambda: bool(failures))
        # the sentinel wakes the supervisor at once: no polling interval (the bound grows with
        # the machine's load)
        assert held(0.1, noticed, slack=0.9), noticed
        assert failures[0][0] == "died" and "SIGKILL" in failures[0][1]
        assert planner.health()["planner"] == "down"
        assert any(p.startswith("planner down") for p in planner.health()["problems"])
        # A new pending pod after the death is planned by the new process.
        state.upsert_pod(pod("p2", owner="w2"))
        version = state.version
        wait(lambda: planner.current is not None and planner.current.version >= version)
        assert planner.process.pid() not in (None, first)
        assert planner.health()["problems"] == [] and planner.consecutive_failures == 0
        assert planner.process.restarts == 1
    finally:
        started = time.monotonic()
        planner.stop()
        assert held(1.0, time.monotonic() - started, slack=2.0)


def test_a_planning_process_that_keeps_dying_is_restarted_with_growing_delays() -> None:
    state = ClusterState()
    state.replace([node("a")], [pod("p1")])
    failures: list[str] = []
    planner = Planner(
        state, time_limit=1.0, settle=0.05, isolate=True,
        on_failure=lambda reason, _: failures.append(reason),
    )  # fmt: skip
    planner.start()
    process = planner.process
    assert process is not None
    process.backoff.initial = 0.05  # 0.05, 0.1, 0.2 s: the same doubling, 1.4 s less waiting
    try:
        delays = []
        for death in range(1, 4):
            wait(lambda: process.up, timeout=60)
            pid = process.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait(lambda: len(failures) >= death)  # noqa: B023
            delays.append(process.backoff.current)
            health = planner.health()
            assert health["planner"] == "down" and health["problems"]
        assert failures == ["died"] * 3
        assert delays == sorted(delays) and delays[0] < delays[-1]  # backing off
        wait(lambda: process.up, timeout=60)
        assert process.restarts == 3
    finally:
        planner.stop()
    assert process.pid() is None


@pytest.mark.slow
def test_killed_mid_solve_replans_within_two_time_limits() -> None:
    items = slow_items()
    state = ClusterState()
    state.replace(
        [d for d in items if d["kind"] == "Node"], [d for d in items if d["kind"] == "Pod"]
    )
    limit = 4.0
    planner = Planner(state, time_limit=limit, settle=0.05, isolate=True)
    planner.start()
    try:
        assert planner.process is not None
        wait(lambda: planner.solving and planner.process.up, timeout=60)  # type: ignore[union-attr]
        time.sleep(1.0)  # well inside the solve
        assert planner.current is None
        os.kill(planner.process.pid(), signal.SIGKILL)  # type: ignore[arg-type]
        # The goal (a re-plan within 2 x the limit) is measured by bench.extender_load
        # --reliability on a quiet machine; here only that it happens (nothing else changes the
        # cluster: a planner that waited for a change would never plan), the wait's bound
        # stretched by the load (11.5 s was seen at load 8 against the 8 s goal).
        replanned = wait(
            lambda: planner.current is not None, timeout=limit * (2 + 8 * contention()), step=0.05
        )
        assert held(2 * limit, replanned, slack=8 * limit), replanned
    finally:
        planner.stop()


@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "solving"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_the_process_group_stops_in_5s_with_nothing_left(
    tmp_path: Path, sig: int, when: str
) -> None:
    snapshot = slow_cluster(tmp_path / "cluster.json")
    served = ServedProcess(
        "--snapshot", str(snapshot), "--plan-time-limit", "30", "--log-level", "info"
    )
    try:
        served.wait_until(lambda: served.get("/healthz").status_code == 200)
        if when == "solving":
            served.wait_until(
                lambda: metric(served.get("/metrics").text, "placer_extender_planner_up") == 1.0
            )
            served.wait_until(
                lambda: metric(served.get("/metrics").text, "placer_extender_plan_solving") == 1.0
            )
            time.sleep(0.5)
        # "starting": the fork server may still be loading the solver (a Ctrl-C must not
        # interrupt it into a traceback, nor leave it behind).
        family = served.family()
        took = served.signal_group(sig)
        # Goal 5 s, measured by bench.extender_load --reliability; generous here for loaded CI
        # machines (the "starting" case waits for a fork server still importing the solver).
        assert held(SHUTDOWN_GOAL_S, took, slack=SHUTDOWN_SLACK_S), took
        # The planning process is killed; the fork server and the resource tracker see their
        # parent's pipe close and exit on their own.
        _, alive = psutil.wait_procs(family, timeout=3 * contention())
        assert not alive, [p.cmdline()[:3] for p in alive]
    finally:
        err = served.stop()
    assert "Traceback" not in err
    assert "leaked" not in err
    assert "Waiting for application shutdown" in err and "Application shutdown complete" in err
