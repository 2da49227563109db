"""`placer fair`, `placer generate tenants`, and DRF on real nodes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.fair.generate import tenants_problem
from engine.fair.market import Market
from engine.io import load

runner = CliRunner()
HAVE = {b: importlib.util.find_spec(f"solvers.{b}") is not None for b in ("cpsat", "milp")}


def test_fair_json_shape(instances: Path) -> None:
    res = runner.invoke(
        app,
        ["fair", str(instances / "tenants-drf-paper.yaml"), "--json", "--check", "--random", "3"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["mechanism"] == "drf"
    assert [(t["name"], t["tasks"]) for t in doc["tenants"]] == [("A", 3), ("B", 2)]
    assert {"name", "tasks", "dominant_share", "utility"} <= set(doc["tenants"][0])
    assert doc["tenants"][0]["dominant_share"] == pytest.approx(2 / 3)
    assert doc["checks"]["strategy_proof"]["ok"] is True


def test_fair_table_with_equilibrium(instances: Path) -> None:
    res = runner.invoke(
        app,
        [
            "fair",
            str(instances / "tenants-drf-paper.yaml"),
            "-m",
            "proportional",
            "--equilibrium",
            "--check",
            "--random",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "price of anarchy" in res.output and "strategy_proof" in res.output


@pytest.mark.parametrize("mechanism", ["nash", "utilitarian", "kueue"])
def test_other_mechanisms(instances: Path, mechanism: str) -> None:
    res = runner.invoke(
        app, ["fair", str(instances / "tenants-nodes.yaml"), "-m", mechanism, "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["summary"]["tasks"] > 0


def test_bad_mechanism_and_no_tenants(tmp_path: Path, instances: Path) -> None:
    from engine.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fair", str(instances / "tenants-drf-paper.yaml"), "-m", "nope"])
    assert exc.value.code == 2
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "apiVersion: placer/v1\nkind: Problem\nbins: [{name: a, capacity: {cpu: 1}}]\nitems: [{name: x, demand: {cpu: 1}}]\n"
    )
    with pytest.raises(SystemExit) as exc:
        main(["fair", str(plain)])
    assert exc.value.code == 2


def test_generate_tenants(tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app,
        ["generate", "tenants", "--tenants", "4", "--nodes", "6", "--seed", "3", "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    problem = load(out)
    assert len(problem.tenants) == 4 and len(problem.bins) == 6
    assert (
        tenants_problem(4, 6, seed=3) == problem
        or problem.name == tenants_problem(4, 6, seed=3).name
    )
    assert Market.from_problem(problem).active_tenants


@pytest.mark.parametrize("backend", ["cpsat", "milp"])
def test_drf_nodes_fits_and_pool_overstates(instances: Path, backend: str) -> None:
    if not HAVE[backend]:
        pytest.skip(f"solvers/{backend}.py not there yet")
    from engine.fair.nodes import drf_nodes, overstatement

    problem = load(instances / "tenants-nodes.yaml")
    alloc, solution = drf_nodes(problem, backend, time_limit=20)
    assert solution.verified and alloc.feasible()
    over = overstatement(problem, alloc)
    assert over.pooled_fairness >= over.nodes_fairness
    assert over.fitting_tasks is not None and 0 <= over.fitting_tasks <= over.pooled_tasks
    assert (
        over.tasks is not None and over.tasks >= 1
    )  # a 6-CPU task cannot use 2 free CPUs on each of several nodes


SLIP_S = 0.05  # between reading the clock and the solve's call (a GC pause on a loaded machine)


@pytest.mark.parametrize("backend", ["cpsat", "milp"])
def test_drf_nodes_keeps_one_time_limit_for_both_solves(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`placer fair -m drf-nodes -t T`: DRF on the nodes and the overstatement's solve share T
    (each had the whole limit: -t 3 took 8.9-10 s, -t 10 took 22 s on 30 tenants / 300 nodes).
    Each solve is handed no more than what is left of T, and the whole report keeps T."""
    import time

    import engine.solve
    from engine.fair.report import fair_report
    from tests.timing import held

    ends: list[float] = []  # seconds from the start at which each solve's limit ends
    solve = engine.solve.solve

    def recorded(problem: Any, backend: str, **kwargs: Any) -> Any:
        ends.append(time.perf_counter() - began + kwargs["time_limit"])
        return solve(problem, backend, **kwargs)

    monkeypatch.setattr(engine.solve, "solve", recorded)
    problem = tenants_problem(30, 300, seed=0)
    began = time.perf_counter()
    doc = fair_report(problem, "drf-nodes", backend=backend, time_limit=4.0, threads=1)
    assert held(4.0, time.perf_counter() - began)
    assert 1 <= len(ends) <= 2 and max(ends) <= 4.0 + SLIP_S, ends
    assert doc["summary"]["tasks"] > 0  # an answer came within the limit
