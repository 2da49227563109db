"""Sized item groups: the count follows from the targets, solving places them by priority."""

from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.io import dump_problem, load, problem_from_dict
from engine.ir import Problem
from engine.sizing.erlang import Queue
from engine.solve import solve


def _problem(nodes: int, objective: list | None = None, spare: int = 0) -> Problem:
    bins = [{"name": f"n{k}", "capacity": {"cpu": "4"}} for k in range(nodes)]
    if spare:
        bins.append({"name": "spare", "capacity": {"cpu": str(spare)}})
    data = {
        "name": "sized",
        "bins": bins,
        "items": [
            # needs ⌈100 / (12·0.7)⌉ = 12 replicas
            {
                "name": "api",
                "demand": {"cpu": "1"},
                "priority": 10,
                "sizing": {"arrival": 100, "service": 12, "utilisation": 0.7},
            },
            # Erlang C: mean wait ≤ 50 ms at λ = 20, μ = 5 per replica
            {
                "name": "search",
                "demand": {"cpu": "1"},
                "sizing": {"arrival": 20, "service": 5, "mean_wait": 0.05},
            },
        ],
    }
    if objective is not None:
        data["objective"] = objective
    return problem_from_dict(data, "sized.yaml")


def test_the_count_follows_from_the_targets_and_targets_come_first() -> None:
    p = _problem(5, objective=[{"bins_used": 1.0}])
    api, search = p.items
    assert api.count == 12
    q = Queue(20, 5)
    assert search.count == q.replicas_for_mean_wait(0.05) == 6
    assert q.mean_wait(6) <= 0.05 < q.mean_wait(5)
    assert p.objective == ({"placed": 1.0}, {"bins_used": 1.0})  # meeting targets leads


@pytest.mark.parametrize("backend", ["cpsat", "milp", "greedy"])
def test_enough_capacity_meets_every_target(backend: str) -> None:
    plan = solve(_problem(5), backend, time_limit=10)
    assert plan.verified
    assert [r["met"] for r in plan.info["sizing"]] == [True, True]
    api = plan.info["sizing"][0]
    assert api["utilisation"] == pytest.approx(100 / (12 * 12)) and api["placed"] == 12


@pytest.mark.parametrize("backend", ["cpsat", "milp", "greedy"])
def test_short_capacity_lets_the_lower_priority_miss(backend: str) -> None:
    plan = solve(_problem(4, spare=1), backend, time_limit=10)  # 17 cpu for 12 + 6 replicas
    api, search = plan.info["sizing"]
    assert api["met"] and not search["met"] and search["placed"] == 5
    assert search["p_wait"] > Queue(20, 5).p_wait(6)  # five replicas wait more than six
    four = solve(_problem(4), backend, time_limit=10).info["sizing"][1]
    assert four["placed"] == 4 and four["unstable"]  # a = λ/μ = 4: four replicas never catch up
    shorter = solve(_problem(3), backend, time_limit=10)  # 12 cpu: api only
    assert shorter.info["sizing"][1] == {
        "group": "search",
        "needed": 6,
        "placed": 0,
        "met": False,
        "unstable": True,
    }


def test_sized_problems_round_trip_and_bad_sizings_are_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = _problem(2)
    path = tmp_path / "sized.yaml"
    dump_problem(p, path)
    again = load(path)
    assert [g.count for g in again.items] == [12, 6] and again.items[0].sizing == p.items[0].sizing
    bad = {"arrival": 10, "service": 1, "utilisation": 1.5}
    with pytest.raises(
        InputError, match=r"items\[0\]\.sizing\.utilisation: Input should be less than 1"
    ):
        problem_from_dict({"items": [{"name": "w", "sizing": bad}]}, "f.yaml")
    with pytest.raises(
        InputError, match=r"items\[0\]\.sizing\.service: Input should be greater than 0"
    ):
        problem_from_dict(
            {"items": [{"name": "w", "sizing": {"arrival": 1, "service": -2, "p99_wait": 1}}]},
            "f.yaml",
        )
    with pytest.raises(InputError, match="disagrees with the sizing, which needs 20"):
        problem_from_dict(
            {
                "items": [
                    {
                        "name": "w",
                        "count": 3,
                        "sizing": {"arrival": 10, "service": 1, "utilisation": 0.5},
                    }
                ]
            },
            "f.yaml",
        )
