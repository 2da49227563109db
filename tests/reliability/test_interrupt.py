"""Ctrl-C during a solve, as a terminal sends it: a real ``placer solve`` process on a pseudo
terminal gets SIGINT once its progress line shows a plan; it must stop at once, write the best
plan so far (verified, marked interrupted, nothing else left in the directory) and exit 130.

The bound on the time from SIGINT to exit is generous (the machine may be loaded); the
benchmark ``python -m bench.deadlines`` measures it.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.generate import cluster
from engine.io import dump_problem, load_solution
from engine.verify import verify

EXIT_BOUND_S = 20.0  # from SIGINT to exit; measured well under 2 s (bench.deadlines)


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cluster none of the exact backends proves optimal within a minute."""
    path = tmp_path_factory.mktemp("interrupt") / "cluster.json"
    problem = cluster(100, 60, pods_per_node=15, anti_affinity=0.3, spread=0.3, seed=1)
    dump_problem(problem, path)
    return path


def interrupted_run(problem: Path, out: Path, *args: str) -> tuple[int, float, str]:
    """Run placer solve on a pseudo terminal (so that its progress line shows), SIGINT it once
    a plan is shown, and return (exit code, seconds from SIGINT to exit, terminal output)."""
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "engine", "solve", str(problem), "-t", "120", "-o", str(out)]
    process = subprocess.Popen(
        [*command, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave
    )
    os.close(slave)
    seen = bytearray()
    shown = threading.Event()

    def drain() -> None:  # keep reading: a full terminal buffer would block the spinner
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            seen.extend(data)
            if b"best [" in seen:
                shown.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert shown.wait(90), f"no progress line within 90 s: {bytes(seen)[-500:]!r}"
        time.sleep(0.5)  # into the search, past the first plan
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        os.close(master)
    return code, elapsed, bytes(seen).decode(errors="replace")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("-b", "cpsat", "-p", "lns=off"), id="cpsat"),
        pytest.param(("-b", "cpsat"), id="cpsat-lns", marks=pytest.mark.slow),
        pytest.param(("-b", "milp", "-p", "lns=off"), id="milp-highs", marks=pytest.mark.slow),
        pytest.param(
            ("-b", "milp", "-p", "lns=off", "-p", "solver=cbc"),
            id="milp-cbc",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_ctrl_c_writes_the_best_plan_so_far_and_exits_130(
    hard: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    out = tmp_path / "plan.json"
    code, elapsed, terminal = interrupted_run(hard, out, *args)
    assert code == 130, terminal[-500:]
    assert elapsed < EXIT_BOUND_S
    assert "interrupted: best plan so far written" in terminal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no temp file left
    plan = load_solution(out)
    assert plan.info.get("interrupted") is True
    assert plan.status.value == "feasible"  # stopped early: never a claim of optimal
    from engine.io import load

    assert verify(load(hard), plan).ok
    assert json.loads(out.read_text())["backend"] == args[1]
