"""Scores and reasons of the fast request path (the arithmetic itself is in ``table.py``).

A planned node scores ``MaxExtenderPriority`` (10); every other node gets the default scheduler's
``LeastAllocated`` score over cpu and memory scaled to 0..9, so a planned node always ranks first.
"""

from __future__ import annotations

PLANNED_SCORE = 10  # MaxExtenderPriority
MAX_GREEDY_SCORE = 9


def insufficient_reason(resources: list[str]) -> str:
    """kube-scheduler's NodeResourcesFit wording: "Insufficient cpu, Insufficient memory"."""
    return ", ".join(f"Insufficient {r}" for r in resources)
