"""Exact-value tests: the DRF paper example and every Kueue DRS case."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from engine.fair.drf import drf
from engine.fair.kueue import CohortTree, Node, Quota, evaluate_case, kueue
from engine.fair.market import Market
from engine.io import load


def _paper(shared: Path) -> tuple[dict, Market]:
    data = json.loads((shared / "fairness" / "drf_paper_example.json").read_text())
    users = data["users"]
    # the paper schedules B first on the opening tie: list B first (ties go to the first listed)
    jobs = [(u, u, users[u]["task_demand"], 1000) for u in ("B", "A")]
    return data, Market.build(data["capacity"], jobs)


def test_drf_paper_final_allocation(shared_data: Path) -> None:
    data, market = _paper(shared_data)
    alloc = drf(market)
    for user, want in data["expected_final"].items():
        if user == "total_used":
            continue
        assert alloc.tenant_tasks(user) == want["tasks"]
        assert alloc.dominant_share(user) == Fraction(want["dominant_share"])
        got = dict(zip(market.resources, alloc.usage(user), strict=True))
        assert got == want["alloc"]
    assert (
        dict(zip(market.resources, alloc.used(), strict=True))
        == data["expected_final"]["total_used"]
    )


def test_drf_paper_trace(shared_data: Path) -> None:
    data, market = _paper(shared_data)
    steps = drf(market, trace=True).info["steps"]
    want = data["progressive_filling_steps"]
    assert len(steps) == len(want)
    for step, w in zip(steps, want, strict=True):
        assert step.tenant == w["schedule"]
        assert step.share_after == Fraction(w[f"{w['schedule']}_dom_share"])
        assert list(step.used) == w["used"]


def test_drf_paper_from_ir_file(instances: Path) -> None:
    alloc = drf(Market.from_problem(load(instances / "tenants-drf-paper.yaml")))
    assert (alloc.tenant_tasks("A"), alloc.tenant_tasks("B")) == (3, 2)
    assert alloc.fairness() == Fraction(2, 3)


def test_weighted_drf_doubles_share() -> None:
    market = Market.build(
        {"cpu": 30}, [("a", "A", {"cpu": 1}, 100), ("b", "B", {"cpu": 1}, 100)], {"A": 2, "B": 1}
    )
    alloc = drf(market)
    assert (alloc.tenant_tasks("A"), alloc.tenant_tasks("B")) == (20, 10)


def test_work_conserving_fills_past_a_blocked_tenant() -> None:
    market = Market.build(
        {"cpu": 10}, [("big", "A", {"cpu": 4}, 10), ("small", "C", {"cpu": 1}, 10)]
    )
    paper, wc = drf(market), drf(market, work_conserving=True)
    assert paper.info["blocked"] == "A"
    assert (paper.tenant_tasks("A"), paper.tenant_tasks("C")) == (1, 4)
    assert (wc.tenant_tasks("A"), wc.tenant_tasks("C")) == (1, 6)


def _cases(shared: Path) -> list[dict]:
    return json.loads((shared / "fairness" / "kueue_drs_cases.json").read_text())["cases"]


@pytest.mark.parametrize("index", range(16))
def test_kueue_drs_case(shared_data: Path, index: int) -> None:
    cases = _cases(shared_data)
    assert len(cases) == 16
    case = cases[index]
    want = [{**w, "dr_value": int(w["dr_value"])} for w in case["want"]]
    assert evaluate_case(case) == want, case["name"]


def test_kueue_flat_admission_matches_the_tree() -> None:
    """The admission mechanism's share equals CohortTree's precise DRS in a flat cohort."""
    market = Market.build(
        {"cpu": 10, "gpu": 4}, [("a", "A", {"cpu": 1, "gpu": 1}, 10), ("b", "B", {"cpu": 2}, 10)]
    )
    alloc = kueue(market, nominal={"A": (5, 2), "B": (5, 2)})
    nodes = {
        "cohort": Node("cohort", "Cohort"),
        **{
            t: Node(
                t,
                "ClusterQueue",
                "cohort",
                quotas={("default", "cpu"): Quota(5), ("default", "gpu"): Quota(2)},
            )
            for t in ("A", "B")
        },
    }
    for t in ("A", "B"):
        nodes[t].usage.update(
            {("default", r): u for r, u in zip(market.resources, alloc.usage(t), strict=True)}
        )
    tree = CohortTree(nodes)
    for t in ("A", "B"):
        assert tree.drs(t).value == alloc.info["drs"][t]
    assert alloc.feasible()
