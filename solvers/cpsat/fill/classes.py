"""Node classes for filling: bins whose room is the same, devices included.

Two bins are interchangeable for the items still to place when the problem has no rule between
bins (``fill_applies``) and what is left of them is the same: the node's room (capacity minus
the items that stay), the room of each device (its attributes, what is left of its capacity,
whether nothing runs on it, so it can still be taken whole) as a multiset, and which groups may
go there. A class lists its devices as SLOTS in one canonical order, and per bin which of the
bin's devices each slot is, so a column's device assignment can be laid onto any of its bins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...lowering import Lowered

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True)
class Slot:
    """One device of a class's bins: its device group's attributes, room and capacity."""

    attributes: tuple[tuple[str, str], ...]
    room: tuple[int, ...]  # per device resource
    capacity: tuple[int, ...]
    untouched: bool  # nothing runs on it: it can be taken whole


@dataclass
class NodeClass:
    bins: list[int]  # bin indices, problem order
    room: IntArray  # node room per resource (raw units)
    slots: tuple[Slot, ...]
    slot_devices: list[IntArray] = field(default_factory=list)  # per bin: device index per slot
    groups: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # may go there

    @property
    def size(self) -> int:
        return len(self.bins)


def node_classes(lowered: Lowered) -> list[NodeClass]:
    """The classes of the bins some new item may use, in problem order of their first bin."""
    problem = lowered.problem
    devices = lowered.devices
    staying = lowered.low.T @ lowered.demand  # [bins, resources] used by items that stay
    room = lowered.capacity - staying
    free_groups = np.array(
        [g.count - int(lowered.low[n].sum()) for n, g in enumerate(problem.items)]
    )
    may = lowered.open & (free_groups[:, None] > 0)
    classes: dict[Any, NodeClass] = {}
    for b, bin_ in enumerate(problem.bins):
        column = may[:, b]
        if not column.any():
            continue
        slots: list[tuple[Slot, int]] = []
        if devices is not None and b in devices.bins:
            info = devices.bins[b]
            for d in range(len(info.names)):
                group = bin_.devices[info.kind[d]]
                taken = bool(info.taken[d])
                reserved = info.reserved[d]
                left = np.zeros_like(reserved) if taken else info.capacity[d] - reserved
                slot = Slot(
                    tuple(sorted(group.attributes.items())),
                    tuple(int(v) for v in left),
                    tuple(int(v) for v in info.capacity[d]),
                    not taken and not reserved.any(),
                )
                slots.append((slot, d))
        slots.sort(
            key=lambda sd: (
                sd[0].attributes,
                sd[0].capacity,
                [-v for v in sd[0].room],
                not sd[0].untouched,
                sd[1],
            )
        )
        key = (room[b].tobytes(), tuple(s for s, _ in slots), column.tobytes())
        cls = classes.get(key)
        if cls is None:
            cls = classes[key] = NodeClass([], room[b].copy(), tuple(s for s, _ in slots))
            cls.groups = np.flatnonzero(column)
        cls.bins.append(b)
        cls.slot_devices.append(np.array([d for _, d in slots], np.int64))
    return list(classes.values())


def residual(
    cls: NodeClass, usage: IntArray, slot_use: list[IntArray], untouched: list[bool]
) -> NodeClass:
    """The class of ``cls``'s nodes once a filling is laid on them: node room less ``usage``,
    each slot's room less ``slot_use`` (and no longer untouched where something went)."""
    slots = tuple(
        Slot(s.attributes, tuple(int(v) for v in np.array(s.room) - used), s.capacity, still)
        for s, used, still in zip(cls.slots, slot_use, untouched, strict=True)
    )
    return NodeClass([], cls.room - usage, slots, [], cls.groups)
