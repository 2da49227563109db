"""Backend names as test parameters: a simulator's runs are marked slow (``make test-fast``
leaves them out; ``make test`` and CI run them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

# qaoa simulates a 2^n state vector for every circuit it samples: seconds per tiny model
SIMULATED = frozenset({"qaoa"})


def backend_params(names: Iterable[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SIMULATED else n for n in names]
