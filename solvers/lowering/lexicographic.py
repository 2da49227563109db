"""The lexicographic level driver every exact backend runs its stages through.

Stages (``levels.Stage``) are solved in order under one deadline. A stage the incumbent already
solves at its best possible value is not solved at all; a stage that is not the last may use
``LEVEL_SHARE`` of the time left. The backend's ``StageSolver`` keeps the incumbent (a tie keeps
it: its later levels are known, while a solver's tie may be far worse on them) and fixes each
stage at the value it keeps before the next one.

``level_bounds`` turns the stage results into one bound per level, honestly: a level's bound is
given only while every level before it was proved (a bound under an unproved earlier value would
not bound the lexicographic optimum); a tiered ``placed`` level combines its proved tiers, the
open tier's bound and the untouched tiers at their best. A solver's bound that passes the plan's
own value by its tolerances is the plan's value: no bound can be better than a plan.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from engine import interrupt

from .levels import Level, Stage

LEVEL_SHARE = 0.6  # a stage that is not the last may use this share of the time left
MIN_STAGE_SECONDS = 0.01  # below this the deadline counts as reached
BOUND_TOL = 1e-6  # relative: how far a solver's bound may pass the plan by its tolerances alone


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome, in its reporting form: the level's value (``engine.ir.level_value``)
    for a whole level, the tier's item count for a tier stage."""

    proven: bool
    value: float
    bound: float | None  # proven bound on the value (``value`` itself when proven)


@dataclass(frozen=True)
class Attempt:
    outcome: Literal["solved", "infeasible", "nothing"]  # nothing: no plan in time, none before
    result: StageResult | None = None


class StageSolver(Protocol):
    """What a backend gives the driver: its native model, with the incumbent plan inside."""

    def reached(self, stage: Stage) -> StageResult | None:
        """The incumbent's result, fixed, when no plan can beat it on this stage; else None."""
        ...

    def attempt(self, stage: Stage, seconds: float) -> Attempt:
        """Improve on the incumbent within ``seconds``, then fix the stage at the value kept."""
        ...


@dataclass
class Levels:
    results: list[StageResult] = field(default_factory=list)
    infeasible: bool = False  # proved: no plan meets the hard rules
    complete: bool = True  # every stage ran and was proved

    @property
    def proven(self) -> bool:
        return self.complete and all(r.proven for r in self.results)


def solve_levels(
    stages: Sequence[Stage],
    solver: StageSolver,
    deadline: float,
    *,
    has_incumbent: bool,
    share: float = LEVEL_SHARE,
) -> Levels:
    """Solve the stages in order; a stage that is not the last may use ``share`` of the time
    left (1.0: all of it, later stages get what it leaves)."""
    out = Levels()
    for k, stage in enumerate(stages):
        left = deadline - time.perf_counter()
        if left <= MIN_STAGE_SECONDS or interrupt.requested():  # out of time, or Ctrl-C
            out.complete = False
            break
        reached = solver.reached(stage)
        if reached is not None:
            out.results.append(reached)
            has_incumbent = True
            continue
        last = k == len(stages) - 1
        budget = left if last or not math.isfinite(left) else left * share
        attempt = solver.attempt(stage, budget)
        if attempt.outcome == "infeasible":
            out.infeasible = not has_incumbent and k == 0
            out.complete = False
            break
        if attempt.outcome == "nothing" or attempt.result is None:
            out.complete = False
            break
        has_incumbent = True
        out.results.append(attempt.result)
        if not attempt.result.proven:
            out.complete = False  # later stages still run; their bounds are conditional
    return out


def level_bounds(
    levels: Sequence[Level],
    results: Sequence[StageResult],
    values: Sequence[float],
    tier_counts: Sequence[Sequence[int]],
) -> tuple[float | None, ...]:
    """One bound per level from the stage results (see the module docstring). ``values`` are
    the plan's level values; ``tier_counts[n]`` its items placed per tier of a tiered level."""
    bounds: list[float | None] = []
    proven_so_far = True
    k = 0
    for n, level in enumerate(levels):
        stages = level.stages
        solved = list(results[k : k + len(stages)])
        k += len(stages)
        if not proven_so_far:
            bounds.append(None)
            continue
        if len(solved) == len(stages) and all(r.proven for r in solved):
            bounds.append(values[n])
            continue
        proven_so_far = False
        if stages[0].tier is None:
            bounds.append(solved[0].bound if solved else None)
            continue
        total = 0.0
        for t, stage in enumerate(stages):
            tier = stage.tier
            assert tier is not None
            result = solved[t] if t < len(solved) else None
            if result is not None and result.proven:
                items = float(tier_counts[n][t])
            elif result is not None and result.bound is not None:
                items = (
                    math.floor(result.bound + 1e-9)
                    if stage.maximise
                    else math.ceil(result.bound - 1e-9)
                )
            else:
                items = float(tier.count if stage.maximise else 0)
            total += tier.weight * items
        bounds.append(level.terms["placed"] * total)
    return tuple(
        _within_plan(b, values[n], levels[n].maximised) if n < len(values) else b
        for n, b in enumerate(bounds)
    )


def _within_plan(bound: float | None, value: float, maximised: bool) -> float | None:
    """The bound, snapped to the plan's value when it passes it by no more than a solver's
    tolerance (a bound further past is left for the property tests to catch: a real defect)."""
    if bound is None:
        return None
    past = value - bound if maximised else bound - value
    return value if 0 < past <= BOUND_TOL * max(1.0, abs(value)) else bound
