"""A GPU cluster at device level and its live state.

Each node has CPU (milli), memory (MiB) and up to ``width`` GPUs, each with 1000 milli-GPU. The
state holds every node's free CPU and memory and every GPU's free milli-GPU in one ``N × width``
array (GPUs a node does not have are held at 0 free and never fit a request, since every GPU
request is at least 1 milli). A :class:`Placement` names the node and the GPU indices a pod uses,
so it can be bound by a device plugin exactly as planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .trace import MILLI, NodeTable


class Pod(NamedTuple):
    """One pod's request: ``num_gpu`` GPUs with ``gpu_milli`` each (shares only when num_gpu is 1)."""

    cpu: int
    memory: int
    num_gpu: int
    gpu_milli: int
    spec: tuple[str, ...] = ()  # allowed GPU models; () = any

    @property
    def gpu_request(self) -> int:
        return self.num_gpu * self.gpu_milli

    @property
    def shares_gpu(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI


class Placement(NamedTuple):
    node: int
    gpus: tuple[int, ...]  # GPU indices on the node; () for a pod without GPUs


class OverAllocation(ValueError):
    """A placement that the node cannot honour (never raised for placements a policy chose)."""


class Cluster:
    """The static side: node capacities, GPU models, which nodes each model restriction allows."""

    def __init__(self, nodes: NodeTable) -> None:
        self.nodes = nodes
        self.size = len(nodes)
        self.width = max(1, int(nodes.gpus.max(initial=0)))
        self.gpu_exists = np.arange(self.width)[None, :] < nodes.gpus[:, None]
        self.capacity_milli = int(nodes.gpus.sum()) * MILLI
        self.gpu_count = int(nodes.gpus.sum())
        self._allowed: dict[tuple[str, ...], np.ndarray] = {}

    def allowed(self, pod: Pod) -> np.ndarray | None:
        """Nodes whose GPU model the pod accepts (None: no restriction applies)."""
        if pod.num_gpu == 0 or not pod.spec:
            return None
        mask = self._allowed.get(pod.spec)
        if mask is None:
            wanted = [k for k, m in enumerate(self.nodes.models) if m in pod.spec]
            mask = np.isin(self.nodes.model, wanted) & (self.nodes.gpus > 0)
            self._allowed[pod.spec] = mask
        return mask

    def model_accepts(self, spec: tuple[str, ...]) -> np.ndarray:
        """Per GPU model (plus a last entry for 'no GPU'): may a GPU pod with this spec use it."""
        accepts = np.array([not spec or m in spec for m in self.nodes.models] + [False])
        return accepts


@dataclass
class ClusterState:
    """Free resources of every node and GPU; ``version[n]`` changes whenever node n changes."""

    cluster: Cluster
    cpu_free: np.ndarray = field(init=False)
    mem_free: np.ndarray = field(init=False)
    gpu_free: np.ndarray = field(init=False)  # N × width milli-GPU; 0 where no GPU exists
    version: np.ndarray = field(init=False)
    gpu_pods: np.ndarray = field(
        init=False
    )  # N × (width+1): col 0 GPU-sharing pods, col n n-GPU pods
    tie_rank: np.ndarray = field(init=False)  # among equally scored nodes the lowest rank wins
    allocated_milli: int = 0
    placed: int = 0

    def __post_init__(self) -> None:
        nodes = self.cluster.nodes
        self.cpu_free = nodes.cpu.copy()
        self.mem_free = nodes.memory.copy()
        self.gpu_free = np.where(self.cluster.gpu_exists, MILLI, 0).astype(np.int64)
        self.version = np.zeros(self.cluster.size, dtype=np.int64)
        self.gpu_pods = np.zeros((self.cluster.size, self.cluster.width + 1), dtype=np.int64)
        self.tie_rank = np.arange(self.cluster.size)

    def fits(self, pod: Pod) -> np.ndarray:
        """Nodes that can take the pod now: CPU, memory, GPU model, and enough GPUs that fit."""
        ok = (self.cpu_free >= pod.cpu) & (self.mem_free >= pod.memory)
        if pod.num_gpu:
            ok &= (self.gpu_free >= pod.gpu_milli).sum(axis=1) >= pod.num_gpu
            allowed = self.cluster.allowed(pod)
            if allowed is not None:
                ok &= allowed
        return ok

    def free_gpus(self, node: int) -> int:
        return int((self.gpu_free[node] == MILLI).sum())

    def unallocated_milli(self) -> int:
        return self.cluster.capacity_milli - self.allocated_milli

    def place(self, pod: Pod, placement: Placement) -> None:
        """Commit a placement, refusing any that would over-allocate a node or a GPU."""
        node, gpus = placement
        if not 0 <= node < self.cluster.size:
            raise OverAllocation(f"node index {node} out of range")
        name = self.cluster.nodes.names[node]
        if self.cpu_free[node] < pod.cpu or self.mem_free[node] < pod.memory:
            raise OverAllocation(f"{name}: not enough CPU or memory for {pod}")
        if len(gpus) != pod.num_gpu or len(set(gpus)) != len(gpus):
            raise OverAllocation(f"{name}: {pod.num_gpu} distinct GPU(s) needed, got {gpus}")
        allowed = self.cluster.allowed(pod)
        if allowed is not None and not allowed[node]:
            raise OverAllocation(f"{name}: GPU model not in {pod.spec}")
        idx = np.array(gpus, dtype=np.int64)
        if idx.size:
            if idx.min() < 0 or idx.max() >= self.cluster.nodes.gpus[node]:
                raise OverAllocation(f"{name}: no GPU {gpus}")
            if (self.gpu_free[node, idx] < pod.gpu_milli).any():
                raise OverAllocation(f"{name}: GPU(s) {gpus} lack {pod.gpu_milli} milli-GPU")
            self.gpu_free[node, idx] -= pod.gpu_milli
            self.gpu_pods[node, 0 if pod.shares_gpu else pod.num_gpu] += 1
        self.cpu_free[node] -= pod.cpu
        self.mem_free[node] -= pod.memory
        self.version[node] += 1
        self.allocated_milli += pod.gpu_request
        self.placed += 1


def best_fit_gpus(state: ClusterState, pod: Pod, node: int) -> tuple[int, ...]:
    """The tightest GPU for a share (lowest index on ties); the lowest-index free GPUs otherwise."""
    if pod.num_gpu == 0:
        return ()
    free = state.gpu_free[node]
    if pod.shares_gpu:
        room = np.where(free >= pod.gpu_milli, free, np.iinfo(np.int64).max)
        return (int(np.argmin(room)),)
    return whole_gpus(free, pod.num_gpu)


def whole_gpus(free: np.ndarray, count: int) -> tuple[int, ...]:
    """The ``count`` lowest-index fully free GPUs of one node."""
    return tuple(int(i) for i in np.flatnonzero(free == MILLI)[:count])
