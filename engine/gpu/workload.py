"""Workloads: pod shapes, the workload's distribution of shapes, and FGD arrival lists.

Arrivals follow the reference simulator of the FGD paper (hkust-adsl/kubernetes-scheduler-simulator,
``tune 1.3``): the whole pod list in a seeded random order, then pods drawn with replacement from
the list and appended until the next draw would take the total GPU request past ``ratio`` × the
cluster's GPU capacity (a list already above the target loses random pods instead). CPU-only pods
request no GPU, so they never move the total.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .cluster import Pod
from .trace import PodTable


def pod_at(pods: PodTable, i: int) -> Pod:
    return Pod(
        cpu=int(pods.cpu[i]),
        memory=int(pods.memory[i]),
        num_gpu=int(pods.num_gpu[i]),
        gpu_milli=int(pods.gpu_milli[i]),
        spec=pods.specs[int(pods.spec[i])],
    )


@dataclass(frozen=True)
class ShapeShare:
    """A pod shape (CPU, GPU count, milli-GPU per GPU, allowed models) and its share of pods.

    ``memory`` is the median memory of the shape's pods (0 when not known); it is not part of the
    shape (FGD's shapes leave memory out), only what a pod of the shape typically asks for."""

    cpu: int
    num_gpu: int
    gpu_milli: int
    spec: tuple[str, ...]
    weight: float
    memory: int = 0


ShapeKey = tuple[int, int, int, tuple[str, ...]]  # (cpu, gpu_milli, num_gpu, allowed models)


def shape_key(pod: Pod) -> ShapeKey:
    """A pod's shape as FGD counts it: memory is left out (its fragmentation measure is CPU and
    GPU)."""
    return (pod.cpu, pod.gpu_milli, pod.num_gpu, pod.spec)


def shape_distribution(pods: PodTable) -> list[ShapeShare]:
    """Every shape of the list with its fraction of pods, most frequent first."""
    memory: defaultdict[ShapeKey, Counter[int]] = defaultdict(Counter)
    for i in range(len(pods)):
        pod = pod_at(pods, i)
        memory[shape_key(pod)][pod.memory] += 1
    counts = {k: m.total() for k, m in memory.items()}
    return distribution_of(counts, {k: median_of(m) for k, m in memory.items()})


def median_of(values: Mapping[int, int]) -> int:
    """The (lower) median of values given with their counts."""
    half = (sum(values.values()) + 1) // 2
    seen = 0
    for value in sorted(values):
        seen += values[value]
        if seen >= half:
            return value
    return 0


def distribution_of(
    counts: Mapping[ShapeKey, int], memory: Mapping[ShapeKey, int] | None = None
) -> list[ShapeShare]:
    """Shapes counted (from a pod list, or online from arriving pods) as fractions of all pods,
    most frequent first, each with its typical ``memory`` if given. Ties in frequency are
    ordered by the larger shape first (CPU, milli-GPU, GPU count, models), so the order, and so
    any cut of it, is deterministic."""
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    known = memory or {}
    return [
        ShapeShare(
            cpu=k[0],
            gpu_milli=k[1],
            num_gpu=k[2],
            spec=k[3],
            weight=c / total,
            memory=known.get(k, 0),
        )
        for k, c in ordered
        if c > 0
    ]


def typical_shapes(pods: PodTable, coverage: float = 0.95) -> list[ShapeShare]:
    """FGD's "typical pods" of a pod list (see :func:`typical_of`)."""
    return typical_of(shape_distribution(pods), coverage)


def typical_of(shares: Sequence[ShapeShare], coverage: float = 0.95) -> list[ShapeShare]:
    """The most frequent shapes until they cover ``coverage`` of the pods, re-weighted to sum
    to 1."""
    kept: list[ShapeShare] = []
    covered = 0.0
    for s in shares:
        if covered >= coverage - 1e-12:
            break
        kept.append(s)
        covered += s.weight
    return [replace(s, weight=s.weight / covered) for s in kept]


def arrival_order(
    pods: PodTable, capacity_milli: int, *, ratio: float = 1.3, seed: int = 42
) -> np.ndarray:
    """Indices into ``pods`` in arrival order (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = len(pods)
    request = pods.num_gpu * pods.gpu_milli
    target = ratio * capacity_milli
    order = list(rng.permutation(n))
    total = int(request.sum())
    if total > target:
        while total > target and order:
            total -= int(request[order.pop(int(rng.integers(len(order))))])
    elif request.any():
        while True:
            j = int(rng.integers(n))
            if total + int(request[j]) > target:
                break
            order.append(j)
            total += int(request[j])
    return np.array(order, dtype=np.int64)
