"""Deadline checks that hold on a loaded machine: the promise is measured by bench.deadlines on a
quiet one; a unit test only asks that a time limit is held, not how tightly."""

from __future__ import annotations

import os


def contention() -> float:
    """How many runnable processes share each core now (at least 1): a process gets about
    1/contention of a core, so a step that overruns a deadline by x seconds alone overruns it
    by about x·contention here. The suite's own xdist workers count from the start (the load
    average shows them only after a minute)."""
    cores = os.cpu_count() or 1
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        load = os.getloadavg()[0]
    except OSError:  # not every platform reports a load
        load = 0.0
    return max(1.0, load / cores, workers / cores)


def allowed(limit: float, slack: float | None = None) -> float:
    """``limit`` and its slack (by default the promise's: 10 % + 0.5 s), the slack stretched by
    the machine's contention: how long a test lets a promise of ``limit`` seconds take."""
    if slack is None:
        slack = 0.1 * limit + 0.5
    return limit + slack * contention()


def held(limit: float, seconds: float, slack: float | None = None) -> bool:
    """``seconds`` is within ``allowed(limit, slack)``."""
    return seconds <= allowed(limit, slack)
