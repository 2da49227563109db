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
