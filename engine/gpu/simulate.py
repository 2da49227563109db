"""One online run: pods arrive one by one, each is placed once by the policy or stays pending.

The allocation-ratio curve is computed as the FGD paper's analysis does: after each arrival the
arrived GPU request and the allocated milli-GPU are recorded, both as a percentage of the cluster's
GPU capacity; the curve's value at x % is the mean allocation over the arrivals whose arrived
percentage rounds to x (or, if none does, to x − 1 … x + 1), rounded to 0.01.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .cluster import Cluster, ClusterState, Pod
from .policies import Policy
from .trace import PodTable
from .workload import pod_at


@dataclass
class RunResult:
    policy: str
    order: np.ndarray  # pod indices in arrival order
    node: np.ndarray  # node per arrival, -1 while pending
    gpus: list[tuple[int, ...]]  # GPU indices per arrival
    arrived_milli: np.ndarray  # cumulative GPU request after each arrival
    allocated_milli: np.ndarray  # allocated milli-GPU after each arrival
    capacity_milli: int
    seconds: float
    state: ClusterState

    @property
    def pending(self) -> int:
        return int((self.node < 0).sum())

    def curve(self, top: int = 130) -> np.ndarray:
        return allocation_curve(self.arrived_milli, self.allocated_milli, self.capacity_milli, top)


def allocation_curve(
    arrived_milli: np.ndarray, allocated_milli: np.ndarray, capacity_milli: int, top: int = 130
) -> np.ndarray:
    """Allocation % at arrived 0..top %, NaN where no arrival is near (see the module docstring)."""
    arrived = np.round(100.0 * arrived_milli / capacity_milli)  # half to even, as pandas rounds
    alloc = np.round(100.0 * allocated_milli / capacity_milli, 2)
    out = np.full(top + 1, np.nan)
    for x in range(top + 1):
        hit = arrived == x
        if not hit.any():
            hit = (arrived >= x - 1) & (arrived <= x + 1)
        if hit.any():
            out[x] = round(float(alloc[hit].mean()), 2)
    return out


def run_online(
    cluster: Cluster, pods: PodTable, order: np.ndarray, policy: Policy, *, seed: int = 0
) -> RunResult:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    policy.prepare(cluster, pods)
    state = ClusterState(cluster)
    state.tie_rank = rng.permutation(cluster.size)  # the reference names nodes in a random order
    n = order.size
    node = np.full(n, -1, dtype=np.int64)
    gpus: list[tuple[int, ...]] = [()] * n
    arrived = np.zeros(n, dtype=np.int64)
    allocated = np.zeros(n, dtype=np.int64)
    total = 0
    shapes: dict[int, Pod] = {}
    for k, i in enumerate(order.tolist()):
        pod = shapes.get(i)
        if pod is None:
            pod = shapes[i] = pod_at(pods, i)
        placement = policy.place(state, pod, rng)
        if placement is not None:
            state.place(pod, placement)
            node[k] = placement.node
            gpus[k] = placement.gpus
        total += pod.gpu_request
        arrived[k] = total
        allocated[k] = state.allocated_milli
    return RunResult(
        policy=policy.name,
        order=order,
        node=node,
        gpus=gpus,
        arrived_milli=arrived,
        allocated_milli=allocated,
        capacity_milli=cluster.capacity_milli,
        seconds=time.perf_counter() - started,
        state=state,
    )
