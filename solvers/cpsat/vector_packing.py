"""Plain vector bin packing for CP-SAT: the per-bin model, a lower bound and a strong start.

Used by ``ArcFlowModel`` (same interface) when the problem is plain packing — one class of
identical bins, every item required, nothing but ``placed`` / ``bins_used`` in the objective —
over several resources, where an arc-flow graph over residual vectors would be far too large.
The count model of ``per_bin`` stays exact; this adds the vector lower bound as a constraint
on the bins used and replaces a weaker start plan by the best bin-centric packing, so CP-SAT
proves the optimum at once when they meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.ir import Problem

from ..deadline import Deadline
from ..lowering import Key, Lowered, lower
from ..packing.vector import best_vector_packing, check_vector_packing, vector_lower_bound

HEURISTIC_SECONDS = 2.0  # at most, and at most a fifth of the time left
HEURISTIC_SHARE = 0.2


def plain_vector_packing(lowered: Lowered) -> bool:
    """Several resources, identical bins every item may use, all required, packing objective."""
    problem = lowered.problem
    terms = {t for level in problem.objective for t in level}
    if not terms <= {"placed", "bins_used"} or not problem.bins or not problem.items:
        return False
    first = problem.bins[0]
    if any(
        b.capacity != first.capacity or b.cost != first.cost or b.labels != first.labels
        for b in problem.bins
    ):
        return False
    every_pair = len(lowered.eligible) == len(problem.items) * len(problem.bins)
    return all(g.required for g in problem.items) and every_pair


class VectorPackingModel:
    """``PerBinModel`` plus the vector lower bound and the bin-centric start (same interface)."""

    def __init__(self, lowered: Lowered, deadline: Deadline | None = None) -> None:
        from .per_bin import PerBinModel

        self.problem = problem = lowered.problem
        resources = sorted(problem.bins[0].capacity)
        capacity = [problem.bins[0].capacity[r] for r in resources]
        sizes = [[g.demand.get(r, 0) for r in resources] for g in problem.items]
        counts = [g.count for g in problem.items]
        self.lower_bound = vector_lower_bound(sizes, counts, capacity)
        budget = (deadline or Deadline.never()).part(HEURISTIC_SHARE, at_most=HEURISTIC_SECONDS)
        packing = best_vector_packing(sizes, counts, capacity, self.lower_bound, budget)
        if not check_vector_packing(packing, sizes, counts, capacity):  # pragma: no cover
            raise AssertionError("vector heuristic produced an invalid packing")
        self.packing = packing
        self.packing_bound = self.lower_bound  # bins used, for the backend's reported bound
        # Bins are alike and an optimal plan never needs more of them than a known packing, so
        # the model only holds that many (the first ones): far smaller models on big instances.
        keep = min(len(problem.bins), max(len(packing), self.lower_bound, 1))
        self.kept = [b.name for b in problem.bins[:keep]]
        reduced = Problem.model_validate(
            {
                "name": problem.name,
                "bins": problem.bins[:keep],
                "items": problem.items,
                "objective": problem.objective,
                "meta": problem.meta,
            }
        )
        self.inner = PerBinModel(lower(reduced))
        self.model = self.inner.model
        used = list(self.inner.used.values())
        # Valid for every plan: all items are required and every bin is alike.
        self.model.add(sum(used) >= min(self.lower_bound, len(used)))

    def __getattr__(self, name: str) -> Any:  # term, tier, counts, canonical, soft, ...
        return getattr(self.inner, name)

    def _own_counts(self) -> dict[Key, int] | None:
        if len(self.packing) > len(self.problem.bins):
            return None
        out: dict[Key, int] = {}
        for b, content in zip(self.problem.bins, self.packing, strict=False):
            for t, j in content.items():
                out[(self.problem.items[t].name, b.name)] = j
        return out

    def _onto_kept(self, counts: Mapping[Key, int]) -> dict[Key, int] | None:
        """The same plan on the model's bins (fullest first), or None if it uses more bins."""
        content: dict[str, dict[str, int]] = {}
        for (g, b), n in counts.items():
            if n > 0:
                content.setdefault(b, {})[g] = n
        if len(content) > len(self.kept):
            return None
        order = sorted(content, key=lambda b: -sum(content[b].values()))
        return {(g, self.kept[i]): n for i, b in enumerate(order) for g, n in content[b].items()}

    def hint_values(self, counts: Mapping[Key, int]) -> list[tuple[Any, int]]:
        """The inner model's hint, from the bin-centric packing when it uses fewer bins."""
        own = self._own_counts()
        mapped = self._onto_kept(counts)
        if mapped is None or (own is not None and _rank(own) > _rank(mapped)):
            mapped = own
        if mapped is None:
            return []
        return list(self.inner.hint_values(self.inner.lowered.canonical(mapped)))


def _rank(counts: Mapping[Key, int]) -> tuple[int, int]:
    placed = sum(n for n in counts.values() if n > 0)
    used = len({b for (_, b), n in counts.items() if n > 0})
    return placed, -used
