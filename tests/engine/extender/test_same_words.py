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
