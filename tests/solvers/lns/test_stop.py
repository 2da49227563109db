"""The LNS stops when told (Ctrl-C, ``interrupt.request_stop``) in every phase — the starts, the
LP bound, the filling model, the neighbourhood loop — and answers with its incumbent: verified,
marked interrupted, never claimed optimal, never worse than its start. Without a stop it keeps
to its limit: a neighbourhood's repacking and sub-solve share the sub-solve's limit, and a
neighbourhood of a rule-heavy cluster is built in a fraction of a second.

The bounds on seconds are generous (the machine may be loaded); each is far below the time
limit the solve was given, which is what the search ran to before it listened."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import interrupt
from engine.generate import cluster
from engine.ir import Problem
from engine.solution import Progress, Solution, Status
from engine.solve import solve
from solvers.lns.subproblem import Selections, restrict
from solvers.lowering import lower
from tests.solvers.lns.test_driver import _gpu_trap

LIMIT_S = 120.0  # what every solve here is given; it must end long before
STOPPED_WITHIN_S = 15.0  # from the request to the answer, verification included


@pytest.fixture(autouse=True)
def _clean_stop() -> Iterator[None]:
    interrupt.reset()
    yield
    interrupt.reset()


def _rules_cluster() -> Problem:
    """300 nodes, 4,500 pods, anti-affinity and spread on a third of the groups each."""
    return cluster(300, 90, pods_per_node=15, anti_affinity=0.3, spread=0.3, seed=1)


def _assert_answered(problem: Problem, plan: Solution) -> None:
    greedy = solve(problem, "greedy")
    assert plan.info.get("interrupted") is True
    assert plan.status == Status.FEASIBLE  # stopped: never a claim of optimal
    assert plan.verified
    assert plan.objective[0] >= greedy.objective[0]


def test_a_stop_during_the_neighbourhood_loop_ends_it_with_the_incumbent() -> None:
    problem = _rules_cluster()
    asked: list[float] = []

    def on_progress(progress: Progress) -> None:
        if not asked:  # the search has its start and bound: stop it a second into the loop
            asked.append(0.0)

            def stop() -> None:
                asked[0] = time.perf_counter()
                interrupt.request_stop()

            threading.Timer(1.0, stop).start()

    plan = solve(problem, "cpsat", time_limit=LIMIT_S, threads=2, lns="on", on_progress=on_progress)
    answered = time.perf_counter()
    assert asked and asked[0] > 0
    assert answered - asked[0] < STOPPED_WITHIN_S
    assert plan.info["lns"]["used"]
    _assert_answered(problem, plan)


@pytest.mark.parametrize(
    "problem",
    [
        pytest.param(_rules_cluster(), id="rules"),
        pytest.param(_gpu_trap(300), id="gpus-filling-model"),
    ],
)
def test_a_stop_asked_for_before_the_search_skips_every_phase(problem: Problem) -> None:
    """Library use: the stop is pending when the solve starts. The start plan (greedy stops at
    once) answers; no LP, filling model or neighbourhood is begun."""
    interrupt.request_stop()
    began = time.perf_counter()
    plan = solve(problem, "cpsat", time_limit=LIMIT_S, threads=2, lns="on")
    assert time.perf_counter() - began < STOPPED_WITHIN_S
    assert plan.info.get("interrupted") is True
    assert plan.status != Status.OPTIMAL
    if plan.status.has_plan:
        assert plan.verified
    lns = plan.info.get("lns", {})
    assert lns.get("rounds", 0) == 0
    assert "fill" not in lns.get("start", {})


def _gpu_cluster(tmp_path: Path, nodes: int = 300) -> Problem:
    """Alibaba-style GPU nodes of three sizes and models, pods sharing or taking GPUs."""
    from bench.lns import alibaba_problem

    models = ("T4", "V100", "A10")
    (tmp_path / "nodes.csv").write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        + "".join(
            f"node-{k},{(32, 64, 96)[k % 3]}000,262144,{(2, 4, 8)[k % 3]},{models[k % 4 % 3]}\n"
            for k in range(nodes)
        )
    )
    (tmp_path / "pods.csv").write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n"
        + "".join(
            f"pod-{k},{2000 + 1000 * (k % 7)},8192,{(1, 1, 1, 2, 1)[k % 5]},"
            f"{(300, 600, 1000, 1000, 450)[k % 5]},{'T4' if k % 11 == 0 else ''},LS\n"
            for k in range(8 * nodes)
        )
    )
    return alibaba_problem(tmp_path / "nodes.csv", tmp_path / "pods.csv", 0, seed=1)


def test_a_stop_during_the_filling_model_start_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filling model gets most of the limit on GPU nodes; a stop half a second into it
    ends it (its LP rounds, layouts, dives and pricing solves) and the best start answers."""
    from solvers.cpsat.fill import FillModel

    problem = _gpu_cluster(tmp_path)
    asked: list[float] = []
    original = FillModel.solve

    def stopped_while_filling(self: FillModel, deadline: float) -> Any:
        def stop() -> None:
            asked.append(time.perf_counter())
            interrupt.request_stop()

        threading.Timer(0.5, stop).start()
        return original(self, deadline)

    monkeypatch.setattr(FillModel, "solve", stopped_while_filling)
    plan = solve(problem, "cpsat", time_limit=LIMIT_S, threads=2, lns="on")
    assert asked, "the filling model was not tried"
    assert time.perf_counter() - asked[0] < STOPPED_WITHIN_S
    assert plan.info["lns"]["start"]["fill"]["seconds"] < STOPPED_WITHIN_S
    _assert_answered(problem, plan)


def test_neighbourhoods_built_with_shared_selections_equal_those_built_alone() -> None:
    """180 rules on 1,000 nodes: each rule visits only the placements of the groups it selects
    (kept across neighbourhoods; 2.2 s a neighbourhood before, 0.2 s now, which held the
    search's deadline and Ctrl-C back). The sub-problems are exactly those built alone."""
    problem = cluster(1000, 300, pods_per_node=15, anti_affinity=0.3, spread=0.3, seed=1)
    counts = solve(problem, "greedy").counts()
    lowered = lower(problem)
    rng = np.random.default_rng(1)
    picks = [
        [lowered.bins[int(b)].name for b in rng.choice(len(lowered.bins), 24, replace=False)]
        for _ in range(4)
    ]
    selections = Selections(problem)
    shared = [
        restrict(lowered, counts, bins, f"n{k}", selections=selections)
        for k, bins in enumerate(picks)
    ]
    for k, bins in enumerate(picks):
        alone = restrict(lowered, counts, bins, f"n{k}")
        assert alone.problem == shared[k].problem
        assert alone.ghosts == shared[k].ghosts
