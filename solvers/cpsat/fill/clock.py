"""The filling model's clock: a deadline on ``perf_counter`` that a stop request (Ctrl-C,
``engine.interrupt``) ends at once, so that every loop of the model returns its best filling."""

from __future__ import annotations

import time

from engine import interrupt


def seconds_left(deadline: float) -> float:
    """Seconds until ``deadline``; none once a stop was requested."""
    if interrupt.requested():
        return 0.0
    return deadline - time.perf_counter()


def past(deadline: float) -> bool:
    return seconds_left(deadline) <= 0.0
