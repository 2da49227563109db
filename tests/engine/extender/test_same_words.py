"""`placer solve` (its summary) and `placer serve` (the extender's Filter answer) say the same
thing, in kube-scheduler's words, about the same node that can take no pod: cordoned, NotReady
(condition only, or with the lifecycle controller's taint), unreachable."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from engine.kube import manifests_to_problem
from engine.solve import solve
from engine.summary import explain

from .conftest import node, pod


def _cordoned() -> dict[str, Any]:
    n = node("bad")
    n["spec"]["unschedulable"] = True
    return n


def _not_ready(status: str, taint: str | None) -> dict[str, Any]:
    n = node("bad")
    n["status"]["conditions"] = [{"type": "Ready", "status": status}]
    if taint:
        n["spec"]["taints"] = [{"key": taint, "effect": "NoSchedule"}]
    return n


CASES = {
    "cordoned": _cordoned,
    "not-ready, condition only": lambda: _not_ready("False", None),
    "not-ready, tainted": lambda: _not_ready("False", "node.kubernetes.io/not-ready"),
    "unreachable": lambda: _not_ready("Unknown", "node.kubernetes.io/unreachable"),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_solve_and_serve_give_the_same_reason(serve, make) -> None:  # type: ignore[no-untyped-def]
    bad, small = make(), node("small", cpu="1")
    pending = pod("p", cpu="2")
    problem = manifests_to_problem([bad, small, pending], "same-words")
    solution = explain(problem, solve(problem, "cpsat", time_limit=10))
    (unplaced,) = solution.unplaced
    run = serve([bad, small])
    body = {"Pod": pending, "Nodes": None, "NodeNames": ["bad", "small"]}
    answer = httpx.post(
        f"{run.url}/scheduler/filter", content=orjson.dumps(body), timeout=10
    ).json()
    failed = {**answer["FailedNodes"], **answer["FailedAndUnresolvableNodes"]}
    assert failed["small"] == "Insufficient cpu"
    # kube-scheduler's FitError: "0/2 nodes are available: <count> <reason>, ...", sorted
    expected = sorted(f"1 {failed[n]}" for n in ("bad", "small"))
    assert unplaced.reasons == f"0/2 nodes are available: {', '.join(expected)}."


EVERYTHING = [{"operator": "Exists"}]  # a DaemonSet-style toleration
NOT_READY_ONLY = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]
CORDON_ONLY = [
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
]
# (node, the pod's tolerations, may the pod use the node)
TOLERATED = {
    "cordoned, tolerates everything": (_cordoned, EVERYTHING, True),
    "cordoned, tolerates the cordon": (_cordoned, CORDON_ONLY, True),
    "cordoned, tolerates not-ready only": (_cordoned, NOT_READY_ONLY, False),
    "not-ready tainted, tolerates everything": (
        lambda: _not_ready("False", "node.kubernetes.io/not-ready"),
        EVERYTHING,
        True,
    ),
    "not-ready tainted, tolerates not-ready": (
        lambda: _not_ready("False", "node.kubernetes.io/not-ready"),
        NOT_READY_ONLY,
        True,
    ),
    "unreachable, tolerates not-ready only": (
        lambda: _not_ready("Unknown", "node.kubernetes.io/unreachable"),
        NOT_READY_ONLY,
        False,
    ),
    "unreachable, tolerates everything": (
        lambda: _not_ready("Unknown", "node.kubernetes.io/unreachable"),
        EVERYTHING,
        True,
    ),
}


@pytest.mark.parametrize(
    ("make", "tolerations", "usable"), TOLERATED.values(), ids=TOLERATED.keys()
)
def test_a_pod_that_tolerates_the_node_may_use_it_in_solve_and_serve(  # type: ignore[no-untyped-def]
    serve, make, tolerations, usable
) -> None:
    bad, small = make(), node("small", cpu="1")
    pending = pod("p", cpu="2", tolerations=tolerations)
    problem = manifests_to_problem([bad, small, pending], "tolerated")
    plan = solve(problem, "cpsat", time_limit=10)
    placed_on_bad = any(p.bin == "bad" for p in plan.placements)
    run = serve([bad, small])
    body = {"Pod": pending, "Nodes": None, "NodeNames": ["bad", "small"]}
    answer = httpx.post(
        f"{run.url}/scheduler/filter", content=orjson.dumps(body), timeout=10
    ).json()
    assert placed_on_bad is usable
    assert (answer["NodeNames"] == ["bad"]) is usable
    if not usable:
        assert "bad" in answer["FailedAndUnresolvableNodes"]
