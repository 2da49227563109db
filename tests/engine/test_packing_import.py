"""``placer import bpplib`` / ``placer import vbp``: public packing files to IR files that solve to
the instance's optimum; a bad file is one line naming it (and the line), exit 2, no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.io import load
from engine.solve import solve
from tests.cli import run_placer

# (format, file text, items, bins offered, optimum in bins)
GOOD = {
    # 1-D: 4 + 6 and 5 + 5 fill two bins of 10 exactly; first-fit decreasing needs 3
    "bpplib-perfect": ("bpplib", "4\n10\n6\n5\n5\n4\n", 4, 2, 2),
    "bpplib-ffd-worse": ("bpplib", "6\n10\n4\n4\n3\n3\n3\n3\n", 6, 3, 2),
    # 2-D, two types: (6,3) x2 and (3,6) x2 pair up into two full-enough bins
    "vbp-pairs": ("vbp", "2\n10 10\n2\n6 3 2\n3 6 2\n", 4, 2, 2),
    "vbp-multiplicity-0": ("vbp", "2\n10 10\n2\n6 3 3\n3 6 0\n", 3, 3, 3),
}
BAD = {
    "bpplib-over-capacity": ("bpplib", "2\n10\n4\n12\n", "line 4: item 2 weight 12 exceeds"),
    "bpplib-short": ("bpplib", "3\n10\n4\n5\n", "weight of item 3 of 3"),
    "bpplib-not-a-number": ("bpplib", "2\nten\n4\n5\n", "line 2"),
    "vbp-over-capacity": ("vbp", "2\n10 10\n1\n11 1 1\n", "exceeds capacity 10 in dimension 1"),
    "vbp-no-items": ("vbp", "1\n10\n1\n5 0\n", "no items"),
    "vbp-trailing": ("vbp", "1\n10\n1\n5 1\n7\n", "line 5"),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_import_writes_an_ir_file_that_solves_to_the_optimum(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kind, text, items, offered, optimum = GOOD[case]
    source, target = tmp_path / f"{case}.txt", tmp_path / f"{case}.yaml"
    source.write_text(text)
    code, out, err = run_placer(["import", kind, str(source), "-o", str(target), "--json"], capsys)
    assert code == 0, err
    said = json.loads(out)
    assert (said["items"], said["bins"]) == (items, offered)
    problem = load(target)
    plan = solve(problem, "cpsat", time_limit=10, threads=1)
    assert str(plan.status) == "optimal" and plan.verified
    assert plan.objective == (float(optimum),)


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_file_is_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kind, text, reason = BAD[case]
    source, target = tmp_path / f"{case}.txt", tmp_path / "out.yaml"
    source.write_text(text)
    code, _out, err = run_placer(["import", kind, str(source), "-o", str(target)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(source) in err and reason in err
    assert not target.exists()
