"""Plans: the one result type every backend returns (``kind: Solution``)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from .ir import Problem


class Status(StrEnum):
    OPTIMAL = "optimal"  # proved optimal on every objective level
    FEASIBLE = "feasible"  # a valid plan, not proved optimal
    INFEASIBLE = "infeasible"  # proved: no plan meets the hard constraints
    UNKNOWN = "unknown"  # no valid plan found in the time given

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Placement(_Model):
    item: str
    bin: str
    count: PositiveInt


class Unplaced(_Model):
    item: str
    count: NonNegativeInt
    reasons: str | None = None  # kube-scheduler style summary, when the backend knows


class Solution(_Model):
    api_version: Literal["placer/v1"] = Field("placer/v1", alias="apiVersion")
    kind: Literal["Solution"] = "Solution"
    problem: str
    backend: str
    status: Status
    objective: tuple[float, ...] = ()
    bound: tuple[float | None, ...] | None = None
    seconds: float = 0.0
    placements: tuple[Placement, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    verified: bool = False
    info: dict[str, Any] = {}

    @classmethod
    def from_counts(
        cls,
        problem: Problem,
        backend: str,
        status: Status,
        counts: Mapping[tuple[str, str], int],
        **fields: Any,
    ) -> Solution:
        """Build a plan from {(item, bin): count}, in the problem's item and bin order."""
        placements = []
        placed_per_item: dict[str, int] = {}
        for item in problem.items:
            for b in problem.bins:
                n = int(counts.get((item.name, b.name), 0))
                if n > 0:
                    placements.append(Placement(item=item.name, bin=b.name, count=n))
                    placed_per_item[item.name] = placed_per_item.get(item.name, 0) + n
        unplaced = [
            Unplaced(item=i.name, count=i.count - placed_per_item.get(i.name, 0))
            for i in problem.items
            if i.count > placed_per_item.get(i.name, 0)
        ]
        return cls(
            problem=problem.name,
            backend=backend,
            status=status,
            placements=tuple(placements),
            unplaced=tuple(unplaced),
            **fields,
        )

    @classmethod
    def failure(
        cls, problem: Problem, backend: str, status: Status, seconds: float = 0.0, **info: Any
    ) -> Solution:
        return cls(problem=problem.name, backend=backend, status=status, seconds=seconds, info=info)

    def counts(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for p in self.placements:
            out[(p.item, p.bin)] = out.get((p.item, p.bin), 0) + p.count
        return out

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


class Progress(NamedTuple):
    """An improvement reported while a backend runs (for progress bars and benchmarks)."""

    seconds: float
    objective: tuple[float, ...]
    bound: tuple[float | None, ...] | None
