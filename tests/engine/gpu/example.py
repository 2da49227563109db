"""A three-node cluster whose scores are worked out by hand in test_policies."""

from __future__ import annotations

import numpy as np

from engine.gpu.cluster import Cluster, ClusterState, Placement, Pod
from engine.gpu.trace import NodeTable, PodTable

# A: 16 CPUs, 2 T4 (one already holds a 500-milli share); B: 32 CPUs, 4 G2; C: 8 CPUs, 1 T4
NODES = NodeTable(
    names=("a", "b", "c"),
    cpu=np.array([16000, 32000, 8000]),
    memory=np.array([65536, 131072, 32768]),
    gpus=np.array([2, 4, 1]),
    model=np.array([1, 0, 1]),
    models=("G2", "T4"),
)
# the workload: two 300-milli shares, one whole GPU, one CPU-only pod
WORKLOAD = PodTable(
    names=("s1", "s2", "w", "c"),
    cpu=np.array([2000, 2000, 4000, 1000]),
    memory=np.array([1024, 1024, 2048, 512]),
    num_gpu=np.array([1, 1, 1, 0]),
    gpu_milli=np.array([300, 300, 1000, 0]),
    spec=np.array([0, 0, 0, 0]),
    specs=((),),
)
SHARE = Pod(cpu=2000, memory=1024, num_gpu=1, gpu_milli=300)


def example_state() -> ClusterState:
    state = ClusterState(Cluster(NODES))
    state.place(Pod(cpu=4000, memory=1024, num_gpu=1, gpu_milli=500), Placement(0, (0,)))
    return state
