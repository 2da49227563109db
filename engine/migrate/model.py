"""The migration plan file (``kind: MigrationPlan``): ordered steps of evictions and binds."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from ..errors import InputError


class SequenceStatus(StrEnum):
    OPTIMAL = "optimal"  # the number of steps equals a proved lower bound
    FEASIBLE = "feasible"  # a safe sequence, not proved to have the fewest steps
    INFEASIBLE = "infeasible"  # proved: no safe sequence of direct moves exists
    UNKNOWN = "unknown"  # none found (not proved impossible)

    @property
    def has_sequence(self) -> bool:
        return self in (SequenceStatus.OPTIMAL, SequenceStatus.FEASIBLE)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Transfer(_Model):
    """``count`` items of group ``item`` leave (evict) or arrive on (bind) ``bin``."""

    item: str = Field(min_length=1)
    bin: str = Field(min_length=1)
    count: PositiveInt = 1


class Step(_Model):
    """Evict every row of ``evict`` first, then bind every row of ``bind``."""

    evict: tuple[Transfer, ...] = ()
    bind: tuple[Transfer, ...] = ()


class LowerBound(_Model):
    steps: int = Field(ge=0)
    proof: str


class MigrationPlan(_Model):
    api_version: Literal["placer/v1"] = Field("placer/v1", alias="apiVersion")
    kind: Literal["MigrationPlan"] = "MigrationPlan"
    problem: str
    status: SequenceStatus
    lower_bound: LowerBound | None = None
    moves: int = Field(0, ge=0)
    seconds: float = 0.0
    steps: tuple[Step, ...] = ()
    info: dict[str, Any] = {}

    def to_yaml(self) -> str:
        data = self.model_dump(by_alias=True, mode="json", exclude_defaults=False)
        # libyaml's emitter where present: 23 steps of 10,000 moves took 3.4 s in PyYAML's
        # (after a -t limit: the steps are written once the search and its check are done)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        return yaml.dump(
            data,
            Dumper=dumper,
            sort_keys=False,
            default_flow_style=None,
            width=120,
            allow_unicode=True,
        )


def step_deltas(step: Step) -> dict[tuple[str, str], int]:
    """The step's net change of counts per (item, bin)."""
    out: dict[tuple[str, str], int] = {}
    for t in step.evict:
        out[(t.item, t.bin)] = out.get((t.item, t.bin), 0) - t.count
    for t in step.bind:
        out[(t.item, t.bin)] = out.get((t.item, t.bin), 0) + t.count
    return out


def plan_from_dict(data: Any, source: str) -> MigrationPlan:
    from ..io import validation_to_input_error

    if not isinstance(data, Mapping):
        raise InputError("expected a mapping with kind: MigrationPlan", source=source)
    kind = data.get("kind")
    if kind != "MigrationPlan":
        raise InputError(
            f"expected a migration plan (kind: MigrationPlan), got kind {kind!r}",
            path="kind",
            source=source,
        )
    try:
        return MigrationPlan.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, source) from None


def load_plan(path: str) -> MigrationPlan:
    from ..io import read_documents

    docs = read_documents(path)
    if len(docs) != 1:
        raise InputError("expected one MigrationPlan document", source=path)
    return plan_from_dict(docs[0], path)
