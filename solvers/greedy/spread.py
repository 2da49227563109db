"""PodTopologySpread: a domain may receive a selected item while it stays within min + max_skew."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rules import SPREAD_MISSING, SPREAD_SKEW, BoolArray, SelectedPerDomain


@dataclass
class SpreadRule(SelectedPerDomain):
    """A domain may receive a selected item while it stays within min + max_skew."""

    max_skew: int = 1
    min_domains: int | None = None

    def members(self) -> BoolArray:
        return self.sel

    def _skew_ok(self) -> BoolArray:
        real = self.count[: self.n_dom]
        low = int(real.min()) if self.n_dom else 0
        if self.min_domains is not None and self.n_dom < self.min_domains:
            low = 0
        fine = self.count + 1 - low <= self.max_skew
        fine[self.n_dom] = False
        return fine

    def ok(self, g: int) -> BoolArray:
        if not self.sel[g]:
            return np.ones(len(self.dom), bool)
        return self._skew_ok()[self.dom]

    def failures(self, g: int) -> list[tuple[BoolArray, str]]:
        if not self.sel[g]:
            return []
        missing = self.dom == self.n_dom
        return [(missing, SPREAD_MISSING), (~self._skew_ok()[self.dom], SPREAD_SKEW)]

    def reason(self, g: int) -> str:
        return SPREAD_SKEW
