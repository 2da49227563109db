"""Every generated bad input (tests/reliability/bad_inputs.py) ends with one line, exit 2, no
traceback and no output file; a previous output is removed and the removal said."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..cli import run_placer
from .bad_inputs import Case, all_cases, base_problem, dump_json, judge

CASES = all_cases()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, _, err = run_placer(argv, capsys)
    return code, err


def test_the_generator_covers_several_hundred_inputs_in_every_class() -> None:
    by_class: dict[str, int] = {}
    for case in CASES:
        by_class[case.cls] = by_class.get(case.cls, 0) + 1
    assert len(CASES) >= 500
    assert min(by_class.values()) >= 3, by_class


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[f"{c.cls}:{c.name}" for c in CASES])
def test_bad_input_is_one_line_exit_2_and_no_file(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = case.materialise(tmp_path)
    code, err = run(argv, capsys)
    assert judge(code, err, tmp_path, case) is None, err


@pytest.mark.parametrize(
    ("case_text", "reason"),
    [
        (dump_json({**base_problem(), "objective": []}), "objective"),
        ("apiVersion: placer/v1\nkind: Problem\nmeta: &a [*a]\n", "recursive"),
    ],
)
def test_a_failed_run_removes_the_previous_plan_and_says_so(
    case_text: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = tmp_path / "p.yaml"
    problem.write_text(case_text, encoding="utf-8")
    plan = tmp_path / "plan.json"
    plan.write_text('{"old": true}', encoding="utf-8")
    code, err = run(["solve", str(problem), "-o", str(plan)], capsys)
    assert code == 2
    assert reason in err
    assert f"removed the previous {plan}" in err
    assert len(err.strip().splitlines()) == 1
    assert not plan.exists()
