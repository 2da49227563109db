"""InterPodAffinity: anti-affinity (per domain, or against target items) and affinity (with
kube's first-pod rule for self-targets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .rules import (
    EXISTING_ANTI,
    POD_AFFINITY,
    POD_ANTI,
    BoolArray,
    IntArray,
    Rule,
    SelectedPerDomain,
)


@dataclass
class AntiAffinityRule(SelectedPerDomain):
    """At most ``limit`` selected items per domain."""

    limit: int = 1
    per_bin: bool = False  # every domain is a single bin (hostname)

    def ok(self, g: int) -> BoolArray:
        if not self.sel[g]:
            return np.ones(len(self.dom), bool)
        fine = self.count + 1 <= self.limit
        fine[self.n_dom] = True
        return fine[self.dom]

    def reason(self, g: int) -> str:
        return POD_ANTI


@dataclass
class AntiAffinityTargetRule(Rule):
    """No domain holds a selected item together with a different target item."""

    s: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    t: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))
    u: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def ok(self, g: int) -> BoolArray:
        in_s, in_t = int(self.sel[g]), int(self.tgt[g])
        if not (in_s or in_t):
            return np.ones(len(self.dom), bool)
        bad = (self.s + in_s >= 1) & (self.t + in_t >= 1) & (self.u + 1 >= 2)
        bad[self.n_dom] = False
        return ~bad[self.dom]

    def reason(self, g: int) -> str:
        return POD_ANTI if self.sel[g] else EXISTING_ANTI

    def place(self, g: int, b: int, n: int) -> None:
        d = self.dom[b]
        self.s[d] += n * int(self.sel[g])
        self.t[d] += n * int(self.tgt[g])
        self.u[d] += n * int(self.sel[g] or self.tgt[g])

    def save(self) -> Any:
        return (self.s.copy(), self.t.copy(), self.u.copy())

    def load(self, state: Any) -> None:
        self.s, self.t, self.u = state


@dataclass
class AffinityRule(Rule):
    """Selected items go to domains holding a target (kube's first-pod rule for self-targets)."""

    t: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # slot n_dom: no domain
    total_t: int = 0
    both_total: int = 0

    def ok(self, g: int) -> BoolArray:
        in_s, in_t = bool(self.sel[g]), bool(self.tgt[g])
        fine = np.ones(len(self.dom), bool)
        if in_s and (not in_t or self.total_t >= 1):
            has_target = self.t >= 1
            has_target[self.n_dom] = False
            fine &= has_target[self.dom]
        if in_t and self.total_t == 1 and self.both_total == 1:
            # the only target so far is a self-target placed by the first-pod rule: a second
            # target anywhere else would leave it alone in its domain
            lone = int(np.argmax(self.t))
            fine &= self.dom == lone if lone != self.n_dom else False
        return fine

    def reason(self, g: int) -> str:
        return POD_AFFINITY

    def place(self, g: int, b: int, n: int) -> None:
        if self.tgt[g]:
            self.t[self.dom[b]] += n
            self.total_t += n
            if self.sel[g]:
                self.both_total += n

    def save(self) -> Any:
        return (self.t.copy(), self.total_t, self.both_total)

    def load(self, state: Any) -> None:
        self.t, self.total_t, self.both_total = state
