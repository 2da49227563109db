"""Shared fixtures: paths to bundled instances and to ../shared/data (skipped when absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from . import profiles

profiles.register()

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ROOT / "instances"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip the test cleanly when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def instances() -> Path:
    return INSTANCES


@pytest.fixture(autouse=True)
def _no_stop_request_left() -> Iterator[None]:
    """A stop request (engine.interrupt) is process-wide, like a signal handler: one test's must
    not stop the solves of the next."""
    from engine import interrupt

    yield
    interrupt.reset()
