"""The gate's counters are written by several writer threads at once: none may be lost."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from engine.extender.gate import GateStats

THREADS, EACH = 8, 20_000


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Threads switch every microsecond, so an unguarded read-modify-write loses counts."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def hammer(work: object) -> None:
    threads = [threading.Thread(target=work) for _ in range(THREADS)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_releases_counted_from_many_threads_are_all_kept(eager_switching: None) -> None:
    stats = GateStats()

    def work() -> None:
        for n in range(EACH):
            stats.count_release("narrowed" if n % 2 else "released")

    hammer(work)
    assert stats.released == {"narrowed": THREADS * EACH // 2, "released": THREADS * EACH // 2}
