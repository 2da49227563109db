"""Multi-tenant fair sharing (see :mod:`engine.fair`); this module is the stable entry point."""

from __future__ import annotations

from .fair import (
    MECHANISMS,
    POOLED_MECHANISMS,
    Allocation,
    Job,
    Market,
    drf,
    kueue,
    nash,
    proportional,
    utilitarian,
)
from .fair.report import fair_report

__all__ = [
    "MECHANISMS",
    "POOLED_MECHANISMS",
    "Allocation",
    "Job",
    "Market",
    "drf",
    "fair_report",
    "kueue",
    "nash",
    "proportional",
    "utilitarian",
]
