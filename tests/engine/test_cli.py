"""The ``placer`` CLI through its real entry point: exit codes 0 / 1 / 2, files written, text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.io import dump_problem, load, load_solution
from engine.solution import Placement, Solution, Status

from ..cases import bins, group, problem
from ..cli import run_placer as run


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    dump_problem(
        problem(
            bins(2, cpu="2", zones=2),
            [group("web", 3, cpu="1"), group("db", 1, cpu="1", priority=5)],
            objective=["placed", {"bins_used": 1.0}],
            name="small",
        ),
        path,
    )
    return path


def test_solve_writes_a_verified_plan(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    code, out, err = run(["solve", str(small), "-b", "greedy", "-o", str(plan)], capsys)
    assert code == 0, err
    assert "small: feasible by greedy" in out and "verified=yes" in out
    assert f"plan written to {plan}" in out
    data = json.loads(plan.read_text())
    assert data["kind"] == "Solution" and data["verified"] is True
    assert data["backend"] == "greedy" and data["status"] == "feasible"
    assert sum(p["count"] for p in data["placements"]) == 4
    assert data["objective"] == [3 * 1 + 1 * 4, 2.0]  # db's tier weighs 3 + 1 = 4


def test_solve_quiet_prints_nothing(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["solve", str(small), "-b", "greedy", "-q"], capsys)
    assert code == 0 and out == ""


def test_solve_without_a_valid_plan_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tight.yaml"
    dump_problem(problem(bins(1, cpu="1"), [group("web", 2, required=True)], name="tight"), path)
    plan = tmp_path / "plan.json"
    code, out, _ = run(["solve", str(path), "-b", "greedy", "-o", str(plan)], capsys)
    assert code == 1
    assert "unknown" in out and "Insufficient cpu" in out
    assert not plan.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-b", "nosuch"], "unknown backend 'nosuch'"),
        (["-b", "greedy", "--format", "xml"], "--format must be json or bindings"),
        (["-b", "greedy", "--format", "bindings"], "--format bindings needs -o FILE"),
        (["-b", "greedy", "--format", "bindings", "-o", "b.yaml"], "needs Kubernetes manifests"),
        (["-b", "greedy", "-p", "nosuch=1"], "does not take parameter(s) nosuch"),
        (["-b", "greedy", "-p", "novalue"], "--param expects KEY=VALUE"),
        (["-b", "greedy", "-p", "scoring=Fastest"], "scoring must be auto"),
    ],
)
def test_solve_bad_options_exit_2(
    small: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(["solve", str(small), *argv], capsys)
    assert code == 2 and message in err


def test_solve_takes_backend_parameters(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["solve", str(small), "-b", "greedy", "-p", "scoring=LeastAllocated"], capsys
    )
    assert code == 0, err


def test_solve_demo_instance(
    instances: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    code, out, _ = run(
        ["solve", str(instances / "demo-cluster.yaml"), "-b", "greedy", "-o", str(plan)], capsys
    )
    assert code == 0
    assert "demo-cluster" in out and "placed 20/20" in out
    assert load_solution(plan).verified


def test_verify_valid_plan(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    assert run(["solve", str(small), "-b", "greedy", "-o", str(plan), "-q"], capsys)[0] == 0
    code, out, _ = run(["verify", str(small), str(plan)], capsys)
    assert code == 0 and out.startswith("valid:")


def test_verify_invalid_plan_lists_violations(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = Solution(
        problem="small",
        backend="hand",
        status=Status.FEASIBLE,
        placements=(Placement(item="web", bin="n0", count=3),),
    )
    plan = tmp_path / "bad.json"
    plan.write_text(bad.to_json())
    code, out, _ = run(["verify", str(small), str(plan)], capsys)
    assert code == 1
    assert "invalid: 1 violation(s)" in out and "capacity: n0: cpu 3 > 2" in out


def test_verify_bad_plan_file_exits_2(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"problem": "small", "backend": "x", "status": "great"}))
    code, _, err = run(["verify", str(small), str(plan)], capsys)
    assert code == 2 and str(plan) in err and "status" in err


def test_schema_prints_the_ir_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0
    schema = json.loads(out)
    assert "bins" in schema["properties"] and "apiVersion" in schema["properties"]


def test_generate_cluster_and_solve_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "cluster.yaml"
    argv = ["generate", "cluster", "--nodes", "12", "--groups", "5", "--seed", "3"]
    argv += ["--anti-affinity", "0.4", "--spread", "0.4", "-o", str(out_file)]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "12 nodes, 5 groups" in out
    p = load(out_file)
    assert len(p.bins) == 12 and len(p.items) == 5
    assert {c.kind for c in p.constraints} == {"anti_affinity", "spread"}
    # the same seed gives the same file
    again = tmp_path / "again.yaml"
    run([*argv[:-1], str(again)], capsys)
    assert again.read_text() == out_file.read_text()
    code, _, _ = run(["solve", str(out_file), "-b", "greedy", "-q"], capsys)
    assert code == 0


def test_generate_binpack_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "bp.json"
    code, out, _ = run(
        ["generate", "binpack", "--items", "40", "--seed", "1", "-o", str(out_file)], capsys
    )
    assert code == 0 and "40 items" in out
    p = load(out_file)
    assert sum(i.count for i in p.items) == 40 and all(i.required for i in p.items)


def test_generate_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["generate", "cluster", "--utilisation", "-1", "-o", str(tmp_path / "x.yaml")], capsys
    )
    assert code == 2 and "utilisation" in err
    code, _, err = run(
        ["generate", "binpack", "--low", "200", "-o", str(tmp_path / "x.yaml")], capsys
    )
    assert code == 2 and "low" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["solve"], capsys)
    assert code == 2
    code, _, _ = run(["no-such-command"], capsys)
    assert code == 2
