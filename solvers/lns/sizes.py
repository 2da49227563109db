"""How big each group's items are against the whole cluster, devices included.

``shares(lowered)`` gives, per group and per resource (node resources, then device resources),
one item's share of the cluster's total; ``scarcity`` weighs each resource by how much of it
the items ask for (capped at 1), so that packing what is short counts most. Used to order items
smallest first (the most items in the least room) and to prefer, among plans placing as many,
the one that packs more of what is scarce (e.g. fewer GPUs left stranded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lowering import Lowered


@dataclass(frozen=True)
class Sizes:
    share: np.ndarray  # [groups, resources + device resources]: one item's share of the total
    scarcity: np.ndarray  # [resources + device resources]: asked / available, at most 1

    @property
    def dominant(self) -> np.ndarray:
        """Per group, its largest share (the DRF dominant share of one item)."""
        if not self.share.shape[1]:
            return np.zeros(self.share.shape[0])
        return np.asarray(self.share.max(axis=1))

    @property
    def volume(self) -> np.ndarray:
        """Per group, its shares weighted by scarcity."""
        return np.asarray(self.share @ self.scarcity)


def _device_demand(lowered: Lowered) -> tuple[np.ndarray, np.ndarray]:
    """Per group what one item takes from devices, and the cluster's device capacity, per
    device resource (a whole device counts as the largest device capacity there is)."""
    devices = lowered.devices
    groups = len(lowered.problem.items)
    if devices is None or not devices.bins:
        return np.zeros((groups, 0)), np.zeros(0)
    capacity = sum(info.capacity.sum(axis=0) for info in devices.bins.values())
    largest = np.max([info.capacity.max(axis=0) for info in devices.bins.values()], axis=0)
    demand = np.where(devices.whole[:, None], largest[None, :], devices.share)
    demand = demand * devices.need[:, None]
    return demand.astype(np.float64), np.asarray(capacity, np.float64)


def sizes(lowered: Lowered) -> Sizes:
    device_demand, device_capacity = _device_demand(lowered)
    demand = np.concatenate([lowered.demand.astype(np.float64), device_demand], axis=1)
    capacity = np.concatenate([lowered.capacity.sum(axis=0).astype(np.float64), device_capacity])
    safe = np.where(capacity > 0, capacity, 1.0)
    share = demand / safe
    counts = np.array([g.count for g in lowered.problem.items], np.float64)
    asked = counts @ demand
    scarcity = np.minimum(1.0, np.where(capacity > 0, asked / safe, 0.0))
    return Sizes(share, scarcity)
