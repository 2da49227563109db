"""The audit: random and planted packings, every claim judged alone and against the others."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.audit import SIZE_MODES, audit_suite, judge, random_packing, random_problems
from bench.runner import COLUMNS
from bench.suites import load_suite

from ..cli import run_bench


def _row(**fields: Any) -> dict[str, str]:
    """A results.csv row as the runner writes it (strings; empty for None)."""
    row: dict[str, Any] = {
        "instance": "i",
        "backend": "cpsat",
        "options": "",
        "status": "optimal",
        "verified": True,
        "sense": "min",
        "value": 10.0,
        "bound_value": 10.0,
        "best_known": 10.0,
        "optimal_known": True,
        "time_limit": 5.0,
        "wall_seconds": 1.0,
    }
    row.update(fields)
    # the whole objective and bound (one level unless given), as the runner writes them
    row.setdefault("objective", json.dumps([row["value"]] if row["value"] is not None else []))
    row.setdefault(
        "bound", json.dumps([row["bound_value"]] if row["bound_value"] is not None else None)
    )
    return {c: "" if row.get(c) is None else str(row.get(c)) for c in COLUMNS}


def _whats(rows: list[dict[str, str]]) -> list[str]:
    return [f"{f.backend}: {f.what}" for f in judge(rows)]


# one run alone: (fields changed from an honest optimal run, the finding expected or None)
ALONE = [
    ({}, None),
    ({"status": "feasible", "value": 11.0, "bound_value": 9.0}, None),
    ({"status": "unknown", "value": None, "bound_value": 9.0, "verified": False}, None),
    ({"wall_seconds": 6.0}, None),  # 5 s + 10 % + 0.5 s
    ({"wall_seconds": 6.01}, "over the limit"),
    ({"verified": False, "value": None}, "optimal plan not verified"),
    ({"status": "feasible", "verified": False, "value": None}, "feasible plan not verified"),
    ({"status": "feasible", "value": 9.0, "bound_value": None}, "better than the proven optimum"),
    ({"status": "feasible", "value": 11.0, "bound_value": 10.5}, "bound 10.5 past"),
    ({"value": 11.0, "bound_value": 9.0}, "claims optimal at 11"),
    ({"status": "infeasible", "value": None, "bound_value": None}, "claims infeasible"),
    ({"status": "timeout", "value": None}, "run failed: timeout"),
    ({"status": "crashed", "error": "boom"}, "run failed: crashed boom"),
    # a float bound a hair above the integer optimum (HiGHS' 20.000000000000018) is not a finding
    ({"status": "feasible", "value": 11.0, "bound_value": 10.000000000000018}, None),
    # maximising: a bound below the optimum is the wrong side
    ({"sense": "max", "status": "feasible", "value": 9.0, "bound_value": 9.5}, "bound 9.5 past"),
    ({"sense": "max", "status": "feasible", "value": 9.0, "bound_value": 12.0}, None),
    # a lexicographic objective: the recorded level alone says nothing about optimality
    ({"objective": "[3.0, 11.0]", "value": 11.0, "bound_value": 11.0}, None),
    # no known optimum: only status, plan and time are judged
    ({"best_known": None, "optimal_known": False, "value": 12.0, "bound_value": 12.0}, None),
]


@pytest.mark.parametrize(("fields", "expected"), ALONE)
def test_one_run_is_judged_against_the_known_optimum(
    fields: dict[str, Any], expected: str | None
) -> None:
    found = _whats([_row(**fields)])
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


# two backends on one instance with no known optimum: (cpsat's fields, milp's, expected)
UNKNOWN = {"best_known": None, "optimal_known": False}
TOGETHER = [
    ({}, {"status": "feasible", "value": 12.0, "bound_value": 9.0}, []),
    ({}, {"status": "feasible", "value": 12.0, "bound_value": 10.5}, ["milp: bound 10.5 past"]),
    (
        {},
        {"value": 9.0, "bound_value": 9.0},
        ["cpsat: bound 10 past milp's plan 9", "cpsat: claims optimal at 10, milp's plan 9"],
    ),
    (
        {},
        {"status": "infeasible", "value": None, "bound_value": None},
        ["milp: claims infeasible, cpsat's plan 10"],
    ),
    # an unverified plan is a finding of its own, and no witness against the others
    (
        {},
        {"status": "feasible", "verified": False, "value": None, "bound_value": 9.0},
        ["milp: feasible plan not verified"],
    ),
]


@pytest.mark.parametrize(("mine", "theirs", "expected"), TOGETHER)
def test_runs_of_one_instance_are_judged_against_each_other(
    mine: dict[str, Any], theirs: dict[str, Any], expected: list[str]
) -> None:
    rows = [
        _row(**UNKNOWN, **mine),
        _row(**UNKNOWN, backend="milp", options='{"solver": "highs"}', **theirs),
    ]
    found = [w.replace(' {"solver": "highs"}', "") for w in _whats(rows)]
    assert len(found) == len(expected) and all(
        e in f for e, f in zip(expected, found, strict=True)
    ), found


# a lexicographic objective [placed, bins_used]: (cpsat's fields, milp's, expected)
LEXICOGRAPHIC = [
    ({}, {"status": "feasible", "objective": "[3.0, 12.0]", "bound": "[3.0, 9.0]"}, []),
    # fewer placed is worse whatever the second level says
    ({}, {"status": "feasible", "objective": "[2.0, 5.0]", "bound": "[3.0, null]"}, []),
    (
        {},
        {"status": "feasible", "objective": "[3.0, 10.0]", "bound": "[3.0, null]"},
        ["cpsat: bound [3.0, 11.0] past milp", "cpsat: claims optimal at [3.0, 11.0], milp"],
    ),
    # a bound after an unproved level is null: it says nothing about the second level
    ({"status": "feasible", "bound": "[4.0, null]"}, {"objective": "[3.0, 10.0]"}, []),
    (
        {"status": "feasible", "bound": "[2.0, null]"},
        {"objective": "[3.0, 11.0]", "bound": "[3.0, 11.0]"},
        ["cpsat: bound [2.0, null] past cpsat's plan [3.0, 11.0]"],  # its own plan, even
    ),
]


@pytest.mark.parametrize(("mine", "theirs", "expected"), LEXICOGRAPHIC)
def test_lexicographic_objectives_are_compared_level_by_level(
    mine: dict[str, Any], theirs: dict[str, Any], expected: list[str]
) -> None:
    levels = {"senses": '["max", "min"]', **UNKNOWN, "value": 11.0, "bound_value": 11.0}
    cpsat = {"objective": "[3.0, 11.0]", "bound": "[3.0, 11.0]", **mine}
    rows = [_row(**levels, **cpsat), _row(**levels, backend="milp", **theirs)]
    found = _whats(rows)
    assert len(found) == len(expected) and all(
        e in f for e, f in zip(expected, found, strict=True)
    ), found


def test_random_packings_are_seeded_and_cover_every_size_mode() -> None:
    a, b = random_packing(7, d=2, items=30), random_packing(7, d=2, items=30)
    assert a == b and a.name.endswith("-s7")
    assert sum(g.count for g in a.items) == 30
    assert {len(g.demand) for g in a.items} <= {1, 2}  # zero demands are dropped
    modes = Counter(random_packing(seed, items=20).name.split("-")[1] for seed in range(10))
    assert set(modes) == set(SIZE_MODES)
    whole = random_packing(SIZE_MODES.index("whole") + 5 * 3, items=150)
    capacity = whole.bins[0].capacity["r0"]
    assert any(g.demand.get("r0") == capacity for g in whole.items)  # items as large as a bin


def test_the_suite_loads_with_every_planted_kind(tmp_path: Path) -> None:
    spec = audit_suite(4, 8, 2.0, seed=3)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    suite = load_suite(str(path))
    kinds = Counter(c.kind for c in suite.cases)
    assert kinds == {"generate": 4, "planted": 8}
    assert {c.source for c in suite.cases if c.kind == "planted"} == {
        "perfect",
        "triplets",
        "vectors",
        "vector_triplets",
    }
    assert all(c.optimal_known for c in suite.cases if c.kind == "planted")
    assert audit_suite(4, 8, 2.0, seed=4) != spec  # a new seed, a new sample


def test_audit_check_writes_the_findings_and_fails(tmp_path: Path) -> None:
    rows = [_row(), _row(instance="j", bound_value=10.5, status="feasible", value=11.0)]
    with (tmp_path / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    assert run_bench(["audit-check", str(tmp_path)]) == 1
    text = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert "1 findings" in text and "| j | cpsat | bound 10.5 past" in text
    (tmp_path / "results.csv").write_text(
        (tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\n"
        + ",".join(_row()[c] for c in COLUMNS)
        + "\n",
        encoding="utf-8",
    )
    assert run_bench(["audit-check", str(tmp_path)]) == 0
    assert run_bench(["audit-check", str(tmp_path / "absent")]) == 2


def test_an_audit_runs_end_to_end(tmp_path: Path) -> None:
    sample = ["--random", "2", "--planted", "2", "--problems", "2", "-t", "20"]
    code = run_bench(["audit", "-o", str(tmp_path), *sample, "--backends", "cpsat,greedy"])
    text = (tmp_path / "audit.md").read_text(encoding="utf-8")
    assert code == 0, text
    assert "12 runs on 6 instances" in text and "No findings" in text
    assert len(list((tmp_path / "problems").glob("*.yaml"))) == 2


def test_random_problems_are_reproducible_and_of_many_kinds() -> None:
    first, again = random_problems(12, seed=5), random_problems(12, seed=5)
    assert len(random_problems(60, seed=13)) == 60  # as many as asked (55 before: repeats)
    assert [p.model_dump_json() for p in first] == [p.model_dump_json() for p in again]
    assert len(first) == 12 and len({p.name for p in first}) == 12
    kinds = {c.kind for p in first for c in p.constraints}
    assert len(kinds) >= 3, kinds
    assert random_problems(12, seed=6) != first
