"""Generators for harness tests: a tiny problem, one that hangs, one that crashes its process."""

from __future__ import annotations

import os
import time

from engine.ir import Problem


def tiny(seed: int = 0, items: int = 4) -> Problem:
    return Problem.model_validate(
        {
            "name": f"tiny-{seed}",
            "bins": [{"name": f"b{i}", "capacity": {"cpu": 4}} for i in range(3)],
            "items": [
                {"name": "x", "count": items, "demand": {"cpu": 1 + seed % 2}, "required": True}
            ],
            "objective": [{"bins_used": 1}],
        }
    )


def hang(seed: int = 0) -> Problem:
    time.sleep(3600)
    raise AssertionError("unreachable")


def crash(seed: int = 0) -> Problem:
    os._exit(3)
