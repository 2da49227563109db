"""`placer export --format bqm` and `placer decode` end to end, through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import dimod
import pytest
import yaml

from engine.cli import main
from engine.io import load, load_solution
from engine.verify import verify

PROBLEM = {
    "apiVersion": "placer/v1",
    "kind": "Problem",
    "name": "cli-demo",
    "bins": [
        {"name": f"n{k}", "capacity": {"cpu": "2"}, "labels": {"kubernetes.io/hostname": f"n{k}"}}
        for k in range(2)
    ],
    "items": [
        {"name": "web", "count": 2, "demand": {"cpu": "1"}, "labels": {"app": "web"}},
        {"name": "db", "count": 1, "demand": {"cpu": "1500m"}, "priority": 1},
    ],
    "constraints": [
        {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": "kubernetes.io/hostname"}
    ],
    "objective": ["placed", {"bins_used": 1.0}],
}


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    code = exc.value.code
    return int(code) if code is not None else 0


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    problem = tmp_path / "p.yaml"
    problem.write_text(yaml.safe_dump(PROBLEM))
    model = tmp_path / "p.bqm.json"
    assert run(["export", str(problem), "--format", "bqm", "-o", str(model)]) == 0
    return problem, model


def test_export_then_decode_a_sampleset(files: tuple[Path, Path], tmp_path: Path) -> None:
    problem_file, model_file = files
    doc = json.loads(model_file.read_text())
    bqm = dimod.BinaryQuadraticModel.from_serializable(doc["bqm"])
    sampleset = dimod.ExactSolver().sample(bqm).truncate(5)
    sample_file = tmp_path / "sampleset.json"
    sample_file.write_text(json.dumps(sampleset.to_serializable()))
    plan = tmp_path / "plan.json"
    code = run(
        [
            "decode",
            str(problem_file),
            str(sample_file),
            "--model",
            str(model_file),
            "-o",
            str(plan),
            "-q",
        ]
    )
    assert code == 0
    problem = load(problem_file)
    solution = load_solution(plan)
    assert solution.verified and verify(problem, solution).ok
    # db (priority 1, weight 3) fills a node alone; one web on the other
    assert solution.objective == (4.0, 2.0)


def test_decode_a_plain_mapping_without_the_model_repairs_it(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    problem_file, model_file = files
    labels = json.loads(model_file.read_text())["bqm"]["variable_labels"]
    sample_file = tmp_path / "ones.json"
    sample_file.write_text(json.dumps(dict.fromkeys(labels, 1)))  # breaks everything
    plan = tmp_path / "plan.json"
    assert run(["decode", str(problem_file), str(sample_file), "-o", str(plan), "-q"]) == 0
    solution = load_solution(plan)
    assert solution.verified
    assert (
        solution.info["raw_feasible_reads"] == 0 and solution.info["repaired_feasible_reads"] == 1
    )


def test_decode_bad_inputs_exit_2(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem_file, model_file = files
    bad = tmp_path / "bad.json"
    bad.write_text('{"x.0.0.0": 2}')
    plan = tmp_path / "plan.json"
    assert (
        run(["decode", str(problem_file), str(bad), "--model", str(model_file), "-o", str(plan)])
        == 2
    )
    assert "must be 0 or 1" in capsys.readouterr().err
    bad.write_text("not json")
    assert run(["decode", str(problem_file), str(bad), "-o", str(plan)]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**PROBLEM, "name": "other"}))
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(dict.fromkeys(json.loads(model_file.read_text())["bqm"]["variable_labels"], 0))
    )
    assert run(["decode", str(other), str(good), "--model", str(model_file), "-o", str(plan)]) == 2
    assert "different problem" in capsys.readouterr().err
    assert not plan.exists()


def test_decode_needs_only_the_placement_variables(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem_file, model_file = files
    doc = json.loads(model_file.read_text())
    only_x = dict.fromkeys(doc["variables"], 0)  # y.* and slack bits left out
    sample = tmp_path / "x.json"
    sample.write_text(json.dumps(only_x))
    plan = tmp_path / "plan.json"
    assert (
        run(
            [
                "decode",
                str(problem_file),
                str(sample),
                "--model",
                str(model_file),
                "-o",
                str(plan),
                "-q",
            ]
        )
        == 0
    )
    assert load_solution(plan).verified
    sample.write_text(json.dumps({**only_x, "zzz": 1}))
    assert run(["decode", str(problem_file), str(sample), "-o", str(plan), "-q"]) == 2
    assert "does not have" in capsys.readouterr().err
