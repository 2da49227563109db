"""Small helpers around native solver libraries."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (native code such as HiGHS writes there, bypassing sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def run_highs(highs: Any) -> None:
    """``highs.run()``, once more on a fresh thread pool when HiGHS refused to start: it does so
    (status kNotset, no error) when another solve in this process set its global scheduler up
    with another thread count, which silently cost LP bounds in long-lived processes."""
    import highspy

    highs.run()
    if highs.getModelStatus() == highspy.HighsModelStatus.kNotset:
        highspy.Highs.resetGlobalScheduler(True)
        highs.run()


def solve_lp(lp: Any, time_limit: float, *, least: float = 0.05) -> Any | None:
    """HiGHS on a ``highspy.HighsLp``: quiet, one thread, within ``time_limit`` (at least
    ``least``), interrupted by a stop request (Ctrl-C). The Highs object after its run (read its
    model status), or None when a stop came before it began."""
    import highspy

    from engine import interrupt

    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(least, float(time_limit)))
    h.setOptionValue("threads", 1)
    h.passModel(lp)
    if interrupt.requested():
        return None

    def stop_when_asked(event: Any) -> None:
        if interrupt.requested():
            event.interrupt()

    for event in ("cbSimplexInterrupt", "cbIpmInterrupt"):
        getattr(h, event).subscribe(stop_when_asked)
    run_highs(h)
    return h
