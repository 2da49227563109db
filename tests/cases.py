"""Tiny builders for hand-written test problems.

    p = problem(bins(3, cpu="2", zones=2), [group("web", 4, cpu="1", labels={"app": "web"})],
                constraints=[{"kind": "spread", "selector": {"app": "web"}, "topology": ZONE}])

``bins`` names nodes n0, n1, ... with hostname labels (and zones z0, z1, ... round-robin when
``zones`` is a count, or one zone name per bin when it is a list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.ir import Bin, ItemGroup, Problem

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def bins(
    n: int,
    cpu: str | int | None = "4",
    memory: str | int | None = "16Gi",
    *,
    zones: int | Sequence[str] | None = None,
    pods: int | None = None,
    cost: float = 1.0,
    prefix: str = "n",
    labels: Mapping[str, str] | None = None,
    **capacity: str | int,
) -> list[Bin]:
    """``n`` identical bins; extra keyword arguments are further capacity resources."""
    out = []
    for k in range(n):
        name = f"{prefix}{k}"
        cap: dict[str, str | int] = dict(capacity)
        if cpu is not None:
            cap["cpu"] = cpu
        if memory is not None:
            cap["memory"] = memory
        if pods is not None:
            cap["pods"] = pods
        bin_labels = {HOSTNAME: name, **(labels or {})}
        if isinstance(zones, int) and zones > 0:
            bin_labels[ZONE] = f"z{k % zones}"
        elif zones is not None and not isinstance(zones, int):
            bin_labels[ZONE] = zones[k]
        out.append(
            Bin.model_validate({"name": name, "capacity": cap, "labels": bin_labels, "cost": cost})
        )
    return out


def group(
    name: str,
    count: int = 1,
    cpu: str | int | None = "1",
    memory: str | int | None = "1Gi",
    *,
    labels: Mapping[str, str] | None = None,
    pods: int | None = None,
    **fields: Any,
) -> ItemGroup:
    """One item group; ``labels`` defaults to ``{"app": name}``; other IR fields pass through."""
    demand: dict[str, str | int] = {}
    if cpu is not None:
        demand["cpu"] = cpu
    if memory is not None:
        demand["memory"] = memory
    if pods is not None:
        demand["pods"] = pods
    return ItemGroup.model_validate(
        {
            "name": name,
            "count": count,
            "demand": demand,
            "labels": dict(labels) if labels is not None else {"app": name},
            **fields,
        }
    )


def problem(
    bins: Iterable[Bin | Mapping[str, Any]] = (),
    items: Iterable[ItemGroup | Mapping[str, Any]] = (),
    *,
    constraints: Iterable[Mapping[str, Any]] = (),
    objective: Sequence[str | Mapping[str, float]] = ("placed",),
    tenants: Iterable[Mapping[str, Any]] = (),
    name: str = "case",
    **fields: Any,
) -> Problem:
    """A validated Problem (cross-references checked as on load)."""
    return Problem.model_validate(
        {
            "name": name,
            "bins": list(bins),
            "items": list(items),
            "constraints": list(constraints),
            "objective": list(objective),
            "tenants": list(tenants),
            **fields,
        }
    )
