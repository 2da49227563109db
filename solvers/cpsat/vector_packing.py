"""Plain vector bin packing for CP-SAT: the per-bin model, a lower bound and a strong start.

Used by ``ArcFlowModel`` (same interface) when the problem is plain packing — one class of
identical bins, every item required, nothing but ``placed`` / ``bins_used`` in the objective —
over several resources. ``solvers.packing.vector_solve`` does the work with all but a reserve
of the time limit (vector bound, bin-centric heuristics, column generation over vector
patterns, CP-SAT over the patterns, dives); its bound goes into the model as a constraint on
the bins used and its packing replaces a weaker start plan.

Under a time limit the model holds only that packing's bins with every item allowed just
where the packing put it (``restricted``: its optimum proves nothing, the backend reports
``packing_bound``); without one it is the exact per-bin count model over as many bins as the
packing uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.ir import Problem
from engine.solution import Progress

from ..deadline import Deadline
from ..lowering import Key, Lowered, lower
from ..lowering.terms import level_values
from ..packing.heuristics import Packing
from ..packing.search import Listener
from ..packing.vector import check_vector_packing
from ..packing.vector_solve import solve_vector

PACKING_SECONDS = 30.0  # the packing solver's budget when the caller gives no limit
# Kept back from the packing solver for CP-SAT to take its packing in, decoding and verifying:
# this, plus a share of the time left, plus a little per item (at most half the time left).
RESERVE_SECONDS = 0.4
RESERVE_SHARE = 0.05
RESERVE_PER_ITEM = 0.002


def packing_deadline(deadline: Deadline, items: int) -> Deadline:
    """The packing solver's deadline: all but the reserve of what is left."""
    return keep_back(deadline, RESERVE_SECONDS + RESERVE_PER_ITEM * items, RESERVE_SHARE)


def keep_back(deadline: Deadline, seconds: float, share: float) -> Deadline:
    """A packing solver's deadline: what is left less ``seconds`` and ``share`` of it (at most
    half of it) for CP-SAT to take the packing in; ``PACKING_SECONDS`` without a limit."""
    if not deadline.bounded:
        return Deadline.after(PACKING_SECONDS)
    left = deadline.left()
    return Deadline(deadline.at - min(0.5 * left, seconds + share * left))


def packing_reporter(
    lowered: Lowered,
    groups: Sequence[str],
    bins: Sequence[str],
    on_progress: Callable[[Progress], None] | None,
    started: float | None,
) -> Listener | None:
    """The packing solver's improvements as the backend's progress: the level values of each
    better packing (type t is group ``groups[t]``; the k-th bin is ``bins[k]``), and the bound
    on bins used where that level comes first."""
    if on_progress is None:
        return None
    began = time.perf_counter() if started is None else started
    problem = lowered.problem
    first = problem.objective[0] if problem.objective else {}
    cost = problem.bin_by_name[bins[0]].cost if bins else 0.0

    def report(packing: Packing, bound: int) -> None:
        if len(packing) > len(bins):
            return
        counts: dict[Key, int] = {}
        for b, content in zip(bins, packing, strict=False):
            for t, j in content.items():
                counts[(groups[t], b)] = j
        values = level_values(lowered, counts)
        bounds: tuple[float | None, ...] = (None,) * len(values)
        if set(first) == {"bins_used"}:
            bounds = (first["bins_used"] * cost * bound, *bounds[1:])
        on_progress(Progress(time.perf_counter() - began, values, bounds))

    return report


def plain_vector_packing(lowered: Lowered) -> bool:
    """Several demanded resources, identical bins every item may use, all required, packing
    objective."""
    problem = lowered.problem
    terms = {t for level in problem.objective for t in level}
    if not terms <= {"placed", "bins_used"} or not problem.bins or not problem.items:
        return False
    if len(lowered.demanded_resources) < 2:
        return False  # one resource is 1-D packing; none leaves nothing to pack
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

    def __init__(
        self,
        lowered: Lowered,
        deadline: Deadline | None = None,
        seed: int = 0,
        on_progress: Callable[[Progress], None] | None = None,
        started: float | None = None,
    ) -> None:
        from .per_bin import PerBinModel

        deadline = deadline or Deadline.never()
        self.problem = problem = lowered.problem
        # only what items demand: a capacity nobody asks for (even 0) constrains nothing
        resources = lowered.demanded_resources
        capacity = [problem.bins[0].capacity[r] for r in resources]
        sizes = [[g.demand.get(r, 0) for r in resources] for g in problem.items]
        counts = [g.count for g in problem.items]
        groups = [g.name for g in problem.items]
        bins = [b.name for b in problem.bins]
        report = packing_reporter(lowered, groups, bins, on_progress, started)
        solved = solve_vector(
            sizes,
            counts,
            capacity,
            packing_deadline(deadline, sum(counts)),
            seed=seed,
            on_found=report,
        )
        packing = solved.packing
        if not check_vector_packing(packing, sizes, counts, capacity):  # pragma: no cover
            raise AssertionError("the vector packing solver produced an invalid packing")
        self.packing, self.lower_bound = packing, solved.lower_bound
        self.packing_bound = self.lower_bound  # bins used, for the backend's reported bound
        self.notes = {"packing": {"bins": len(packing), **solved.info}}
        # Under a limit: just the packing's bins, each item only where the packing put it.
        self.restricted = deadline.bounded and not solved.proven
        # Bins are alike and an optimal plan never needs more of them than a known packing, so
        # the model only holds that many (the first ones): far smaller models on big instances.
        keep = min(len(problem.bins), max(len(packing), self.lower_bound, 1))
        self.kept = [b.name for b in problem.bins[:keep]]
        items = problem.items
        if deadline.bounded and len(packing) <= keep:
            items = tuple(
                g.model_copy(update={"allowed": allowed})
                for g, allowed in zip(items, _bins_of(packing, self.kept, len(items)), strict=True)
            )
        reduced = Problem.model_validate(
            {
                "name": problem.name,
                "bins": problem.bins[:keep],
                "items": items,
                "tenants": problem.tenants,  # items name them (no quotas: arcflow's rule)
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

    def better_plan(self, counts: Mapping[Key, int] | None) -> dict[Key, int] | None:
        """The packing solver's plan when it is better than ``counts`` (or there is none): what
        the backend answers with when CP-SAT found no plan in time."""
        return better_of(self._own_counts(), counts)

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
        if mapped is None or (own is not None and plan_rank(own) > plan_rank(mapped)):
            mapped = own
        if mapped is None:
            return []
        return list(self.inner.hint_values(self.inner.lowered.canonical(mapped)))


def _bins_of(packing: Packing, bins: list[str], types: int) -> list[tuple[str, ...]]:
    """Per item type, the bins the packing puts its copies in."""
    where: list[list[str]] = [[] for _ in range(types)]
    for b, content in zip(bins, packing, strict=False):
        for t in content:
            where[t].append(b)
    return [tuple(w) for w in where]


def better_of(
    own: dict[Key, int] | None, counts: Mapping[Key, int] | None
) -> dict[Key, int] | None:
    """``own`` when it is a better plain packing than ``counts`` (or there is none), else None."""
    if own is not None and (counts is None or plan_rank(own) > plan_rank(counts)):
        return own
    return None


def plan_rank(counts: Mapping[Key, int]) -> tuple[int, int]:
    """(items placed, −bins used): larger is the better plain packing."""
    placed = sum(n for n in counts.values() if n > 0)
    used = len({b for (_, b), n in counts.items() if n > 0})
    return placed, -used
