"""The plan summary: Kubernetes words, exact counts per priority tier, the resources that matter,
no truncation when piped, unmodelled rules listed. Snapshots live in tests/engine/snapshots/;
PLACER_UPDATE_SNAPSHOTS=1 rewrites them (then read the diff before committing)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from engine.io import load
from engine.ir import Problem
from engine.solution import Solution, Status
from engine.solve import solve
from engine.summary import (
    WORDS,
    display_resources,
    exact_number,
    explain,
    human_quantity,
    print_summary,
    tier_bound,
    words_for,
)

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).parent / "snapshots"


def render(problem: Problem, solution: Solution, *, terminal: bool = False) -> str:
    """The summary as the CLI prints it, piped (not a terminal) unless told otherwise."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=80,
        force_terminal=terminal,
        color_system=None,
        highlight=False,
        soft_wrap=True,
    )
    print_summary(console, problem, solution)
    return buffer.getvalue()


def snapshot(name: str, text: str) -> None:
    text = re.sub(r" in \d+\.\d+s,", " in <t>s,", text)
    path = SNAPSHOTS / name
    if os.environ.get("PLACER_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with PLACER_UPDATE_SNAPSHOTS=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"summary differs from {path}"


@pytest.fixture(scope="module")
def gpu_cluster() -> tuple[Problem, Solution]:
    problem = load(ROOT / "instances/manifests/gpu-cluster.json")
    return problem, explain(problem, solve(problem, "greedy", seed=0))


def test_real_node_list_snapshot(gpu_cluster: tuple[Problem, Solution]) -> None:
    problem, solution = gpu_cluster
    snapshot("gpu-cluster-greedy.txt", render(problem, solution))


def test_real_node_list_speaks_kubernetes(gpu_cluster: tuple[Problem, Solution]) -> None:
    problem, solution = gpu_cluster
    text = render(problem, solution)
    assert "27/32 pods (16 running) of 8 workloads on 7/7 nodes" in text
    assert "items" not in text and "bins" not in text and "groups" not in text
    # exact counts per priority tier, highest first
    assert "priority   2000001000: 14/14, 1000: 8/12, 0: 5/6" in text
    header = next(line for line in text.splitlines() if line.lstrip().startswith("node "))
    columns = [c.strip() for c in header.split("┃")]
    # what pods request plus cpu/memory/GPUs/pods, in that order; unrequested empty kinds left out
    expected = ["cpu", "memory", "nvidia.com/gpu", "pods", "ephemeral-storage", "hugepages-2Mi"]
    assert columns[2:] == expected
    assert "hugepages-1Gi" not in text and "attachable-volumes" not in text
    # kube-scheduler's v1.34 FitError text, in full
    assert (
        "0/7 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were "
        "unschedulable, 3 Insufficient ephemeral-storage, 5 Insufficient cpu, 5 Insufficient "
        "memory, 5 Insufficient nvidia.com/gpu." in text
    )
    # the rules placer could not model, per pod
    assert "Pod/ml/notebook-gated: spec.schedulingGates" in text
    assert "Pod/shop/reports-0: spec.volumes" in text


def test_piped_output_is_never_cut(gpu_cluster: tuple[Problem, Solution]) -> None:
    problem, solution = gpu_cluster
    text = render(problem, solution)
    assert "…" not in text
    assert "ip-10-20-1-31.eu-west-1.compute.internal" in text  # long node names whole
    assert max(len(line) for line in text.splitlines()) > 80
    # each node is one row: nothing wrapped onto a second line
    rows = [line for line in text.splitlines() if ".compute.internal" in line]
    assert len(rows) == 7


def test_terminal_output_wraps_instead_of_cutting(gpu_cluster: tuple[Problem, Solution]) -> None:
    problem, solution = gpu_cluster
    text = render(problem, solution, terminal=True)
    assert all(len(line) <= 80 for line in text.splitlines() if "┃" in line or "│" in line)
    joined = re.sub(r"[\s│┃]+", " ", text)
    assert "5 Insufficient nvidia.com/gpu." in joined


def test_plain_ir_uses_ir_words_and_explains_cost_weighted_bins() -> None:
    problem = load(ROOT / "instances/demo-cluster.yaml")
    assert words_for(problem) is WORDS["cluster"]
    solution = solve(problem, "cpsat", time_limit=10, seed=1, threads=1)
    text = render(problem, solution)
    assert "placed     20/20 pods (1 already placed) of 4 workloads on 4/6 nodes" in text
    assert "bins_used  6 is the summed `cost` of the 4 nodes used (nodes cost 1–2 each)" in text
    binpack = load(ROOT / "instances/binpack-small.yaml")
    assert words_for(binpack) is WORDS["ir"]


def test_unknown_family_fails_loudly() -> None:
    problem = Problem.model_validate({"name": "x", "meta": {"family": "martian"}})
    with pytest.raises(KeyError):
        words_for(problem)


def _tiered(counts: list[int]) -> Problem:
    return Problem.model_validate(
        {
            "name": "tiers",
            "bins": [{"name": "b", "capacity": {"cpu": "1000"}}],
            "items": [
                {"name": f"g{p}", "count": n, "demand": {"cpu": "1m"}, "priority": p}
                for p, n in enumerate(counts)
            ],
        }
    )


def test_huge_priority_weights_print_exact_counts() -> None:
    problem = _tiered([4000, 3000, 3000])
    counts = {("g0", "b"): 3752, ("g1", "b"): 3000, ("g2", "b"): 3000}
    weights = problem.priority_weights()
    value = float(sum(weights[i] * n for (i, _), n in counts.items()))
    assert value > 1e9  # the weighted value the old summary printed as 8.95287e+09
    solution = Solution.from_counts(
        problem, "test", Status.FEASIBLE, counts, objective=(value,), bound=(value + 248,)
    )
    text = render(problem, solution)
    assert "e+" not in text
    assert "objective  placed 9,752/10,000 items" in text
    assert "bound      placed ≤ 10,000/10,000 items" in text
    assert "priority   2: 3,000/3,000, 1: 3,000/3,000, 0: 3,752/4,000 (≤ 4,000 possible)" in text


@given(st.lists(st.integers(1, 50), min_size=1, max_size=5), st.data())
def test_tier_bound_decodes_the_weighted_value(totals: list[int], data: st.DataObject) -> None:
    problem = _tiered(totals)
    weights = problem.priority_weights()
    placed = [data.draw(st.integers(0, n)) for n in totals]
    value = sum(weights[f"g{p}"] * k for p, k in enumerate(placed))
    assert tier_bound(problem, float(value), 1.0) == placed[::-1]  # highest tier first
    # a bound between two achievable values decodes to the lower one (what it allows)
    assert tier_bound(problem, value + 0.5, 1.0) == placed[::-1]


def test_resource_columns_and_quantities() -> None:
    problem = Problem.model_validate(
        {
            "name": "r",
            "bins": [
                {
                    "name": "n",
                    "capacity": {
                        "cpu": "8",
                        "memory": "32Gi",
                        "pods": 110,
                        "amd.com/gpu": 2,
                        "example.com/fpga": 1,
                        "hugepages-1Gi": "0",
                        "a-first-alphabetically": 5,
                    },
                }
            ],
            "items": [{"name": "i", "count": 1, "demand": {"cpu": "1", "example.com/fpga": 1}}],
        }
    )
    shown, hidden = display_resources(problem)
    assert shown == ["cpu", "memory", "amd.com/gpu", "pods", "example.com/fpga"]
    assert hidden == 0
    assert human_quantity("cpu", 15810) == "15.81"
    assert human_quantity("memory", 45568 * 2**20) == "44.5Gi"
    assert human_quantity("hugepages-2Mi", 2 * 2**30) == "2Gi"
    assert human_quantity("ephemeral-storage", 512) == "512"
    assert human_quantity("pods", 12000) == "12,000"
    assert exact_number(8952870000.0) == "8,952,870,000"
    assert exact_number(1251.8) == "1251.8"


def test_no_plan_says_why_and_what_to_try() -> None:
    problem = load(ROOT / "instances/binpack-small.yaml")
    none = Solution(
        problem=problem.name,
        backend="qubo",
        status=Status.UNKNOWN,
        info={"reason": "no read could be repaired into a valid plan"},
    )
    text = render(problem, none)
    assert "why        no read could be repaired into a valid plan" in text
    assert "try        more time (-t SECONDS), or more reads (-p num_reads=N), or -b cpsat" in text
    assert "bins_used" not in text  # nothing placed: no cost line
    infeasible = Solution(problem=problem.name, backend="cpsat", status=Status.INFEASIBLE)
    assert "proved: no plan meets every hard rule" in render(problem, infeasible)
    timed_out = Solution(problem=problem.name, backend="milp", status=Status.UNKNOWN)
    assert "why        no plan within the time limit" in render(problem, timed_out)


def test_a_returned_start_plan_is_said_to_be_one() -> None:
    problem = load(ROOT / "instances/cluster-100.yaml")
    plan = solve(problem, "milp", time_limit=0.001, solver="cbc", threads=1)
    text = render(problem, plan)
    assert "note       milp found no plan of its own" in text
    assert "greedy start plan, unimproved" in text


def test_progress_line_shows_elapsed_time_and_a_readable_bound() -> None:
    from engine.summary import progress_text

    problem = _tiered([4000, 3000, 3000])
    weights = problem.priority_weights()
    full = float(sum(weights[i.name] * i.count for i in problem.items))
    line = progress_text(problem, 12.34, (full - 248,), (full,))
    assert line.startswith("  12.3s  best placed 9,752/10,000 items")
    assert line.endswith("bound placed ≤ 10,000/10,000 items")
    assert "[-" not in line and "e+" not in line
    assert progress_text(problem, 0.5, None, None) == "   0.5s  no plan yet"
    assert (
        progress_text(problem, 1.0, (full,), (None,)) == "   1.0s  best placed 10,000/10,000 items"
    )
