"""Priority tiers and objective levels, and the stages the exact backends solve them in.

A level is solved as one stage, except ``placed`` alone over several priorities: one stage per
priority tier, highest first, each maximising (or, for a negative weight, minimising) the tier's
count. That is exactly the order the tier weights of ``Problem.priority_weights()`` impose (each
weight exceeds everything below it), without their large coefficients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.ir import MAXIMISED_TERMS, Problem, minimised_terms


@dataclass(frozen=True)
class Tier:
    priority: int
    groups: tuple[str, ...]
    weight: int  # each item's weight in the ``placed`` term
    count: int  # items in the tier


@dataclass(frozen=True)
class Stage:
    """One solve: a whole level (``tier`` None) or one tier of a ``placed`` level."""

    level: int
    tier: Tier | None = None
    maximise: bool = False  # for a tier stage: maximise the tier's count (else minimise it)


@dataclass(frozen=True)
class Level:
    index: int
    terms: Mapping[str, float]
    stages: tuple[Stage, ...]

    @property
    def maximised(self) -> bool:
        """Every term maximised: the level's value is Σ w·v, to be maximised."""
        return not minimised_terms(self.terms)

    @property
    def sign(self) -> int:
        """+1 when the level is minimised, -1 when maximised (its negation is minimised)."""
        return -1 if self.maximised else 1

    def factor(self, term: str) -> float:
        """The term's coefficient in the level's reported value (``engine.ir.level_value``)."""
        weight = self.terms[term]
        if self.maximised:
            return weight
        return -weight if term in MAXIMISED_TERMS else weight


def priority_tiers(problem: Problem) -> tuple[Tier, ...]:
    """Groups by priority, highest first, with their ``placed`` weight."""
    weights = problem.priority_weights()
    out = []
    for p in sorted({g.priority for g in problem.items}, reverse=True):
        groups = tuple(g.name for g in problem.items if g.priority == p)
        count = sum(problem.item_by_name[g].count for g in groups)
        out.append(Tier(p, groups, weights[groups[0]], count))
    return tuple(out)


def objective_levels(problem: Problem, tiers: tuple[Tier, ...]) -> tuple[Level, ...]:
    out = []
    for n, native in enumerate(problem.objective):
        terms = {str(t): w for t, w in native.items()}
        if set(terms) == {"placed"} and terms["placed"] != 0 and len(tiers) > 1:
            up = terms["placed"] > 0
            stages = tuple(Stage(n, tier, maximise=up) for tier in tiers)
        else:
            stages = (Stage(n),)
        out.append(Level(n, terms, stages))
    return tuple(out)
