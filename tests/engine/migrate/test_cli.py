"""`placer migrate` through the real entry point: exit codes, files, messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.io import dump_problem

from ..test_cli import run
from .scenarios import rotation, swap


def _files(tmp_path: Path, case: tuple) -> tuple[Path, Path]:
    p, t = case
    prob, plan = tmp_path / "problem.yaml", tmp_path / "target.json"
    dump_problem(p, prob)
    plan.write_text(t.to_json())
    return prob, plan


def test_migrate_writes_checked_steps_and_check_accepts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prob, plan = _files(tmp_path, swap())
    steps = tmp_path / "steps.yaml"
    code, out, err = run(["migrate", str(prob), str(plan), "-o", str(steps)], capsys)
    assert code == 0, err
    assert "swap: optimal, 1 step(s), 2 move(s)" in out and "checked step by step" in out
    data = yaml.safe_load(steps.read_text())
    assert data["kind"] == "MigrationPlan" and len(data["steps"]) == 1
    code, out, _ = run(["migrate", str(prob), str(plan), "--check", str(steps)], capsys)
    assert code == 0 and out.startswith("valid: 1 step(s), 2 eviction(s)")
    data["steps"][0]["evict"] = data["steps"][0]["evict"][:1]  # b never leaves n1
    steps.write_text(yaml.safe_dump(data))
    code, out, _ = run(["migrate", str(prob), str(plan), "--check", str(steps)], capsys)
    assert code == 1 and "invalid:" in out and "step 1: capacity: n1" in out


def test_migrate_without_a_sequence_exits_1_with_the_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prob, plan = _files(tmp_path, rotation(spare=True))
    steps = tmp_path / "steps.yaml"
    code, out, _ = run(["migrate", str(prob), str(plan), "-o", str(steps)], capsys)
    assert code == 1 and not steps.exists()
    assert "rotation: unknown" in out and "re-run with --park" in out
    code, out, _ = run(["migrate", str(prob), str(plan), "-o", str(steps), "--park"], capsys)
    assert code == 0 and "via intermediate nodes" in out and steps.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["placements"][0].update(bin="n0"), "capacity: n0"),
        (lambda d: d.update(problem="zzz"), "the target plan is not valid"),
    ],
)
def test_bad_targets_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate, message: str
) -> None:
    import json

    prob, plan = _files(tmp_path, swap())
    data = json.loads(plan.read_text())
    mutate(data)
    data["verified"] = False
    plan.write_text(json.dumps(data))
    code, _, err = run(["migrate", str(prob), str(plan)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_bad_steps_and_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prob, plan = _files(tmp_path, swap())
    steps = tmp_path / "steps.yaml"
    steps.write_text(
        "kind: MigrationPlan\nproblem: swap\nstatus: feasible\nsteps: [{bind: [{item: q, bin: n0}]}]\n"
    )
    code, _, err = run(["migrate", str(prob), str(plan), "--check", str(steps)], capsys)
    assert code == 2 and "steps[0].bind[0].item: unknown item 'q'" in err
    code, _, err = run(["migrate", str(prob), str(plan), "-t", "-1"], capsys)
    assert code == 2 and "--time-limit" in err
