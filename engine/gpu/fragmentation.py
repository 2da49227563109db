"""FGD's fragmentation measure, vectorised over many node states at once.

Weng et al. (USENIX ATC 2023) measure a node's GPU fragmentation against the workload: for each
pod shape m of the workload (weight p_m), the node's free milli-GPU that a pod of shape m could
NOT use is fragment. If the node can host m (enough CPU, a GPU model m accepts, and at least
``num_gpu`` GPUs each with ``gpu_milli`` free) only the GPUs with less than ``gpu_milli`` free are
fragment; otherwise all its free GPU is. Shapes without GPUs count all free GPU as fragment (no
such pod can use it). So, with G the node's free milli-GPU,

    F(node) = Σ_m p_m · G  −  Σ_{m hosted} p_m · (free milli-GPU on GPUs with ≥ gpu_milli_m free)

which is what :meth:`FragmentationModel.measure` computes for a batch of node states with a few
array operations (no loop over nodes or shapes). Given the nodes' free memory as well, a shape is
hosted only if the node also has the shape's typical memory (FGD leaves memory out; placer's
policy asks for it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cluster import Cluster
from .workload import ShapeShare


class FragmentationModel:
    def __init__(self, cluster: Cluster, shapes: Sequence[ShapeShare]) -> None:
        gpu_shapes = [s for s in shapes if s.num_gpu > 0]
        self.total_weight = float(sum(s.weight for s in shapes))
        self.levels = np.unique(np.array([s.gpu_milli for s in gpu_shapes], dtype=np.int64))
        milli = np.array([s.gpu_milli for s in gpu_shapes], dtype=np.int64)
        self.level_of = np.searchsorted(self.levels, milli)
        self.need = np.array([s.num_gpu for s in gpu_shapes], dtype=np.int64)
        self.cpu = np.array([s.cpu for s in gpu_shapes], dtype=np.int64)
        self.memory = np.array([s.memory for s in gpu_shapes], dtype=np.int64)
        self.weight = np.array([s.weight for s in gpu_shapes], dtype=np.float64)
        width = len(cluster.nodes.models) + 1  # last row: a node without GPUs
        self.access = (
            np.stack([cluster.model_accepts(s.spec) for s in gpu_shapes], axis=1)
            if gpu_shapes
            else np.zeros((width, 0), dtype=bool)
        )

    def measure(
        self,
        cpu_free: np.ndarray,
        gpu_free: np.ndarray,
        model: np.ndarray,
        mem_free: np.ndarray | None = None,
    ) -> np.ndarray:
        """F for each row: ``cpu_free`` (R,), ``gpu_free`` (R, W), ``model`` (R,) (-1: no GPU);
        with ``mem_free`` (R,), a shape is hosted only where its memory fits too."""
        total = gpu_free.sum(axis=1).astype(np.float64)
        if not self.weight.size:
            return self.total_weight * total
        # R × D × W (GPUs last, so the sums run over contiguous memory)
        at_least = gpu_free[:, None, :] >= self.levels[None, :, None]
        count = at_least.sum(axis=2)  # R × D: GPUs with ≥ level free
        usable = np.einsum("rdw,rw->rd", at_least, gpu_free)  # R × D: their free milli
        hosted = (
            (count[:, self.level_of] >= self.need)
            & (cpu_free[:, None] >= self.cpu)
            & self.access[model]
        )  # R × T
        if mem_free is not None:
            hosted &= mem_free[:, None] >= self.memory
        return self.total_weight * total - (hosted * usable[:, self.level_of]) @ self.weight
