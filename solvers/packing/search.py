"""What every packing search keeps: the best packing and the lower bound so far, the deadline,
and who to tell when either improves. The one-dimensional and the vector solvers build on it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..deadline import Deadline
from .heuristics import Packing
from .repack import eliminate_bins

Listener = Callable[[Packing, int], None]  # (best packing, bound) after each improvement


@dataclass
class Packed:
    lower_bound: int
    packing: Packing  # bins as type -> copies
    method: str  # what found the packing
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return len(self.packing) <= self.lower_bound


class Incumbent:
    """The bound and best packing so far, improved by each step until they meet or time is up."""

    def __init__(
        self,
        bound: int,
        best: Packing,
        method: str,
        deadline: Deadline,
        on_found: Listener | None = None,
    ) -> None:
        self.bound, self.best, self.method = bound, best, method
        self.deadline, self.on_found = deadline, on_found
        self.began = time.perf_counter()
        self.info: dict[str, Any] = {"first": method, method: len(best), "first_bound": bound}
        self._tell()

    def done(self) -> bool:
        return len(self.best) <= self.bound or self.deadline.expired()

    def offer(self, packing: Packing | None, method: str) -> None:
        if packing is not None and len(packing) < len(self.best):
            self.best, self.method = packing, method
            self.info.setdefault("found", []).append(
                (method, len(packing), round(time.perf_counter() - self.began, 3))
            )
            self._tell()

    def eliminate(
        self,
        sizes: np.ndarray,
        capacity: Sequence[int],
        deadline: Deadline,
        rng: random.Random,
        emptied: int = 1,
    ) -> None:
        """Bin elimination (``repack``) from the best packing, until ``deadline``."""
        if not self.done():
            found = eliminate_bins(sizes, capacity, self.best, self.bound, deadline, rng, emptied)
            self.offer(found, "bin elimination")

    def raise_bound(self, bound: int, how: str) -> None:
        if bound > self.bound:
            self.bound = bound
            self.info["bound_from"] = how
            self._tell()

    def _tell(self) -> None:
        if self.on_found is not None:
            self.on_found(self.best, self.bound)

    def result(self) -> Packed:
        seconds = round(time.perf_counter() - self.began, 4)
        return Packed(self.bound, self.best, self.method, seconds, self.info)
