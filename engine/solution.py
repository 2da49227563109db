"""Plans: the one result type every backend returns (``kind: Solution``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from .ir import Problem

# Per (group, bin): (device names each item uses, how many items use exactly those), in order.
DeviceRows = Mapping[tuple[str, str], Sequence[tuple[tuple[str, ...], int]]]


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
    """``count`` items of a group on a bin; ``devices``: the devices EACH of them uses there
    (for groups that request devices; several rows of one (item, bin) when they use different
    devices)."""

    item: str
    bin: str
    count: PositiveInt
    devices: tuple[str, ...] | None = None

    @model_serializer(mode="wrap")
    def _omit_no_devices(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict) and out.get("devices", 0) is None:
            del out["devices"]
        return out


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
        devices: DeviceRows | None = None,
        **fields: Any,
    ) -> Solution:
        """Build a plan from {(item, bin): count}, in the problem's item and bin order, with
        the devices of each (item, bin) when given (their rows must add up to the count)."""
        item_order = {item.name: n for n, item in enumerate(problem.items)}
        bin_order = {b.name: n for n, b in enumerate(problem.bins)}
        # only the pairs the plan uses, in problem order (never every item x bin pair)
        keys = sorted(
            (k for k, n in counts.items() if n > 0 and k[0] in item_order and k[1] in bin_order),
            key=lambda k: (item_order[k[0]], bin_order[k[1]]),
        )
        placements = []
        placed_per_item: dict[str, int] = {}
        for key in keys:
            item, b = key
            n = int(counts[key])
            if n <= 0:
                continue
            rows = devices.get(key) if devices is not None else None
            if rows:
                placements += [
                    Placement(item=item, bin=b, count=k, devices=names)
                    for names, k in rows
                    if k > 0
                ]
            else:
                placements.append(Placement(item=item, bin=b, count=n))
            placed_per_item[item] = placed_per_item.get(item, 0) + n
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

    def device_rows(self) -> dict[tuple[str, str], list[tuple[tuple[str, ...], int]]]:
        """Per (item, bin), the devices its items use: (device names, items) rows."""
        out: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
        for p in self.placements:
            if p.devices is not None:
                out.setdefault((p.item, p.bin), []).append((p.devices, p.count))
        return out

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


class Progress(NamedTuple):
    """An improvement reported while a backend runs (for progress bars and benchmarks)."""

    seconds: float
    objective: tuple[float, ...]
    bound: tuple[float | None, ...] | None
