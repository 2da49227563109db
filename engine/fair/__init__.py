"""The multi-tenant allocation game: fair-sharing mechanisms, their properties, the tenants'
declaration game, Kueue's dominant resource share, and fair preemption.

Pooled mechanisms take a :class:`Market` (tenants, jobs, capacity summed over bins) and return an
:class:`Allocation` of tasks per job; ``drf-nodes`` solves the IR's ``fairness`` objective on the
real nodes with a backend.
"""

from __future__ import annotations

from collections.abc import Callable

from .drf import drf, drf_work_conserving
from .kueue import kueue
from .market import Allocation, Job, Market
from .welfare import nash, proportional, utilitarian

POOLED_MECHANISMS: dict[str, Callable[[Market], Allocation]] = {
    "drf": drf,
    "drf-wc": drf_work_conserving,
    "nash": nash,
    "utilitarian": utilitarian,
    "kueue": kueue,
    "proportional": proportional,
}
MECHANISMS = ("drf", "drf-nodes", "nash", "utilitarian", "kueue", "proportional", "drf-wc")

__all__ = [
    "MECHANISMS",
    "POOLED_MECHANISMS",
    "Allocation",
    "Job",
    "Market",
    "drf",
    "kueue",
    "nash",
    "proportional",
    "utilitarian",
]
