"""Rules over topology domains, kube-scheduler style: each filters the bins one more item of a
group may go to (``ok``), explains a refusal with kube's FitError text, and counts what is placed.

One plugin per file: ``interpod`` (InterPodAffinity: anti-affinity, with a target, affinity),
``spread`` (PodTopologySpread); ``model.RULES`` maps each constraint kind to its rule builder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.ir import Problem

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

# kube-scheduler's FitError texts, one per filter
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
SPREAD_MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
SPREAD_SKEW = "node(s) didn't match pod topology spread constraints"
EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
POD_ANTI = "node(s) didn't match pod anti-affinity rules"
POD_AFFINITY = "node(s) didn't match pod affinity rules"
NO_DELAY = "node(s) had no known delay to the pods this pod exchanges traffic with"


@dataclass
class Rule:
    """One anti-affinity / affinity / spread constraint over domains.

    ``dom[b]`` is bin b's domain index; ``n_dom`` (one past the last) means "no domain".
    ``ok(g)`` is the per-bin filter for one more item of group g; ``place`` updates the counts.
    """

    weight: float | None
    dom: IntArray
    n_dom: int
    sel: BoolArray
    tgt: BoolArray

    def members(self) -> BoolArray:
        """Groups whose items change this rule's counts (and are filtered by it)."""
        return self.sel | self.tgt

    def ok(self, g: int) -> BoolArray:
        raise NotImplementedError

    def failures(self, g: int) -> list[tuple[BoolArray, str]]:
        return [(~self.ok(g), self.reason(g))]

    def reason(self, g: int) -> str:
        raise NotImplementedError

    def place(self, g: int, b: int, n: int) -> None:
        raise NotImplementedError

    def save(self) -> Any:
        raise NotImplementedError

    def load(self, state: Any) -> None:
        raise NotImplementedError


@dataclass
class SelectedPerDomain(Rule):
    """A rule that counts the selected items in each domain."""

    count: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def place(self, g: int, b: int, n: int) -> None:
        if self.sel[g]:
            self.count[self.dom[b]] += n

    def save(self) -> Any:
        return self.count.copy()

    def load(self, state: Any) -> None:
        self.count = state


def domain_index(
    problem: Problem, topology: str, keep: set[str] | None = None
) -> tuple[IntArray, int]:
    values: dict[str, int] = {}
    raw = []
    for b in problem.bins:
        v = b.labels.get(topology)
        if v is None or (keep is not None and b.name not in keep):
            raw.append(-1)
        else:
            raw.append(values.setdefault(v, len(values)))
    n = len(values)
    dom = np.array([n if d < 0 else d for d in raw], np.int64)
    return dom, n
