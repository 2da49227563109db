"""``placer.dev/value``: a pod's worth in the objective's second level (placed, then value)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InputError
from engine.kube.views import VALUE_ANNOTATION
from engine.solve import solve
from tests.engine.kube.builders import node, pod, problem_of


def _valued(name: str, value: Any, **kwargs: Any) -> dict[str, Any]:
    manifest = pod(name, owner="rs", **kwargs)
    manifest["metadata"]["annotations"] = {VALUE_ANNOTATION: value}
    return manifest


def test_annotated_pods_add_a_value_level_after_placed() -> None:
    """Two pods of one ReplicaSet worth 1 and 4, one pod without the annotation: three groups
    (replicas of different worth are not interchangeable), worth 1, 4 and 0."""
    problem = problem_of(
        node("n1"), _valued("a", "1"), _valued("b", "4"), pod("c", owner="rs", cpu="200m")
    )
    assert [dict(level) for level in problem.objective] == [{"placed": 1.0}, {"value": 1.0}]
    assert sorted(g.value for g in problem.items) == [0.0, 1.0, 4.0]


def test_a_node_with_room_for_one_pod_takes_the_most_valuable() -> None:
    """Room for one of two same-sized pods: placed ties, the value level picks the pod worth
    more, and the bound on that level (with placed held) proves it."""
    problem = problem_of(
        node("n1", cpu="1"), _valued("a", "0.5", cpu="1"), _valued("b", "2", cpu="1")
    )
    for backend in ("cpsat", "milp"):
        plan = solve(problem, backend, time_limit=10)
        assert plan.verified and plan.objective == (1.0, 2.0), backend


def test_without_the_annotation_the_objective_is_unchanged() -> None:
    problem = problem_of(node("n1"), pod("a", owner="rs"))
    assert [dict(level) for level in problem.objective] == [{"placed": 1.0}]
    assert problem.items[0].value == 1.0  # the IR's default: no level reads it


def test_preferences_come_after_the_value_level() -> None:
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]
                    },
                }
            ]
        }
    }
    problem = problem_of(node("n1"), _valued("a", "2", affinity=preferred))
    assert [dict(level) for level in problem.objective] == [
        {"placed": 1.0},
        {"value": 1.0},
        {"cost": 1.0, "soft": 1.0},
    ]


@pytest.mark.parametrize("raw", ["-1", "lots", "nan", "inf", 3])
def test_a_bad_value_names_the_pod_and_the_annotation(raw: Any) -> None:
    with pytest.raises(InputError) as err:
        problem_of(node("n1"), _valued("a", raw))
    message = str(err.value)
    assert "Pod/default/a" in message and VALUE_ANNOTATION in message
