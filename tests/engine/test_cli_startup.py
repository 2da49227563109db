"""The CLI starts without the solver libraries: `-t` counts from the process start, so whatever
every command imports is paid out of every time limit (scipy alone took 0.5-1.7 s at load 8)."""

from __future__ import annotations

import subprocess
import sys

# imported when a command needs them, never by `import engine.cli`
HEAVY = ("scipy", "ortools", "pulp", "dimod", "neal", "highspy", "matplotlib", "pandas", "z3")


def test_starting_the_cli_imports_no_solver_library() -> None:
    probe = f"import sys, engine.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == []
