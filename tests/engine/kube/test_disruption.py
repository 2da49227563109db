"""PodDisruptionBudgets read from manifests: selectors, percentages, errors, and a migration that
honours them end to end."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InputError
from engine.migrate.model import SequenceStatus
from engine.migrate.run import evictable, migrate
from engine.solution import Solution, Status

from .builders import node, pod, problem_of


def pdb(name: str, selector: Any, ns: str = "default", **spec: Any) -> dict[str, Any]:
    body = dict(spec)
    if selector is not None:
        body["selector"] = selector
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def _cluster(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    pods = [
        pod(f"web-{k}", labels={"app": "web"}, cpu="1", on="a", owner="web-rs") for k in range(3)
    ]
    pods.append(pod("other", ns="prod", labels={"app": "web"}, cpu="1", on="a", owner="o-rs"))
    pods.append(pod("bare", labels={"app": "web"}, cpu="1", on="a"))
    return [node("a", cpu="8"), node("b", cpu="8"), *pods, *extra]


def test_budgets_select_the_pods_of_their_namespace() -> None:
    p = problem_of(*_cluster(pdb("web", {"matchLabels": {"app": "web"}}, maxUnavailable="34%")))
    (budget,) = p.disruption_budgets
    assert budget.name == "PodDisruptionBudget/default/web"
    assert budget.max_unavailable == "34%" and budget.min_available is None
    chosen = {
        g.name for g in p.items if all(g.labels.get(k) == v for k, v in budget.selector.items())
    }
    assert len(chosen) == 2  # web-rs pods and the bare pod; not the prod namespace's
    assert not any(n.startswith("prod/") for n in chosen)


def test_empty_and_missing_selectors_and_no_limit() -> None:
    p = problem_of(
        *_cluster(
            pdb("all", {}, minAvailable=1),
            pdb("none", None, minAvailable=1),
            pdb("free", {"matchLabels": {"app": "web"}}),
        )
    )
    (budget,) = p.disruption_budgets  # {} selects every pod of the namespace; the others do nothing
    assert budget.min_available == 1
    assert sum(1 for note in p.meta["notes"] if "ignored" in note) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"minAvailable": 1, "maxUnavailable": 1}, "mutually exclusive"),
        ({"maxUnavailable": -1}, "spec.maxUnavailable: expected a non-negative integer"),
        ({"minAvailable": "150%"}, "spec.minAvailable"),
        ({"minAvailable": "half"}, "spec.minAvailable"),
    ],
)
def test_bad_budgets_are_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        problem_of(*_cluster(pdb("bad", {"matchLabels": {"app": "web"}}, **spec)))
    assert "PodDisruptionBudget/default/bad" in str(info.value)


def test_a_migration_of_running_pods_honours_the_budget() -> None:
    p = evictable(
        problem_of(*_cluster(pdb("web", {"matchLabels": {"app": "web"}}, maxUnavailable=1)))
    )
    web = next(g for g in p.items if g.meta.get("owner") == "ReplicaSet/web-rs")
    bare = next(g for g in p.items if g.name.endswith("default/bare@bound"))
    assert web.movable and not bare.movable  # nothing would recreate an evicted bare pod
    counts = {(g.name, b): n for g in p.items for b, n in g.placed.items()}
    counts.pop((web.name, "a"))
    counts[(web.name, "b")] = 3
    plan = migrate(p, Solution.from_counts(p, "hand", Status.FEASIBLE, counts))
    assert plan.status == SequenceStatus.OPTIMAL and len(plan.steps) == 3
    # 4 selected pods (3 web + bare), maxUnavailable 1 -> one eviction per step
    assert all(sum(r.count for r in s.evict) == 1 for s in plan.steps)
