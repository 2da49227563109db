"""A solver run in a fresh interpreter whose first CP-SAT import is slow (as a cold import of
CP-SAT and pandas is on a starved CPU): whether the solver loads it before its phases share out
the time, not first inside a late phase given a fraction of a second."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Defines ``slow`` (``slow.at``: when the import began, None if it never did) before ``body``
# runs; ``sys.argv[1]`` is the import's delay and ``sys.argv[2]`` the body's time limit.
SLOW_CP_SAT = """
import importlib.abc, sys, time

class SlowImport(importlib.abc.MetaPathFinder):
    at = None

    def find_spec(self, name, path, target=None):
        if name == "ortools.sat.python.cp_model":
            self.at = time.perf_counter()
            time.sleep(float(sys.argv[1]))
        return None

slow = SlowImport()
sys.meta_path.insert(0, slow)
"""


def run_with_slow_cp_sat(body: str, delay: float, limit: float) -> list[str]:
    """What ``body`` prints (split on whitespace), run after ``SLOW_CP_SAT`` from the repo."""
    run = subprocess.run(
        [sys.executable, "-c", SLOW_CP_SAT + body, str(delay), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return run.stdout.split()
