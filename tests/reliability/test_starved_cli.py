"""`placer solve` starved of CPU keeps its time limit: the whole command (start-up, reading,
solving, certifying, writing, exiting) within limit + 10 % + 0.5 s, with a verified plan.

The starvation is ``bench.starve``'s: the command's process group is stopped (SIGSTOP) and let go
on (SIGCONT) so that it runs a fixed share of the wall clock, whatever else the machine runs. The
load average does not count a stopped process, so reserves weighed by the load alone came out too
small (20 % of a core: the load said 2.7 where the pace was 11) and the interpreter's teardown
after the plan was written (1.2-2.1 s there) was outside the limit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.io import dump_problem
from engine.ir import Problem
from tests.timing import held

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 8.0  # the start-up and reading alone take 4-6 s at a quarter of a core under load 5-8
SHARE = 0.25  # of the wall clock the command runs
STARVED_WALL = re.compile(r"starved at \S+: exit -?\d+ after ([\d.]+) s wall")


def test_a_starved_solve_ends_within_its_limit_with_a_verified_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    solve = [sys.executable, "-m", "engine", "solve", str(ROOT / "instances/demo-cluster.yaml")]
    command = [sys.executable, "-m", "bench.starve", f"{SHARE:g}", "--", *solve]
    command += ["-t", f"{LIMIT:g}", "-o", str(plan), "-q"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    seen = STARVED_WALL.search(run.stderr)
    assert seen is not None, run.stderr
    wall = float(seen.group(1))  # the command's own, from its start to its exit
    doc = json.loads(plan.read_text())
    assert doc["verified"] and doc["status"] in ("optimal", "feasible"), doc["status"]
    # the starvation was seen (the wall clock over the CPU time; at a quarter of the wall
    # clock at least 4 once the watcher runs), and the plan says what its search had
    budget = doc["info"]["budget"]
    assert budget["pace"] >= 2.0, budget
    assert held(LIMIT, wall), (wall, budget)


def test_a_limit_spent_before_the_search_writes_the_running_plan_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a fifth of a core start-up and reading 3,000 nodes took the whole `-t 10`, and a
    backend given no time still ran its fixed work (imports, the lowering, a start plan: 4-8 s
    more there) for a plan that placed no pod: the plan that keeps the running pods where they
    are is certified and written at once, saying why."""
    from engine.cli import main
    from solvers import registry

    def no_backend(*_: Any, **__: Any) -> None:
        raise AssertionError("a backend ran with no time left")

    plan = tmp_path / "plan.json"
    demo = str(ROOT / "instances/demo-cluster.yaml")
    with monkeypatch.context() as patch:
        patch.setattr(registry, "get", no_backend)
        with pytest.raises(SystemExit) as done:
            main(["solve", demo, "-t", "0.001", "-o", str(plan), "-q"])
    assert done.value.code == 0
    doc = json.loads(plan.read_text())
    assert doc["verified"] and doc["status"] == "feasible"
    assert "spent before the search began" in doc["info"]["note"]
    assert sum(p["count"] for p in doc["placements"]) == 1  # the one running pod
    # where that plan breaks a rule (a required pod), the backend still answers
    required = tmp_path / "required.json"
    dump_problem(
        Problem.model_validate(
            {
                "name": "required",
                "bins": [{"name": "a", "capacity": {"cpu": "2"}}],
                "items": [{"name": "w", "demand": {"cpu": "1"}, "required": True}],
            }
        ),
        required,
    )
    with pytest.raises(SystemExit) as done:
        main(["solve", str(required), "-t", "0.001", "-o", str(plan), "-q"])
    assert done.value.code == 0
    doc = json.loads(plan.read_text())
    assert doc["verified"] and doc["placements"]
    assert "spent before the search began" not in doc["info"].get("note", "")
