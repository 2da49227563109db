"""An independent check of an online run's placements (shares no code with the cluster state).

From the pod requests and the (node, GPU indices) of each placed arrival it adds up what every
node and every GPU gives out and reports each place where that exceeds the node's CPU or memory,
a GPU's 1000 milli, or where a placement breaks the pod's request (wrong GPU count, a GPU used
twice by one pod, a GPU the node does not have, a GPU model the pod does not accept).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .trace import MILLI, NodeTable, PodTable


def check_placements(
    nodes: NodeTable,
    pods: PodTable,
    order: np.ndarray,
    node: np.ndarray,
    gpus: Sequence[tuple[int, ...]],
) -> list[str]:
    problems: list[str] = []
    placed = np.flatnonzero(node >= 0)
    cpu = np.zeros(len(nodes), dtype=np.int64)
    mem = np.zeros(len(nodes), dtype=np.int64)
    width = int(nodes.gpus.max(initial=0))
    used = np.zeros((len(nodes), max(width, 1)), dtype=np.int64)
    np.add.at(cpu, node[placed], pods.cpu[order[placed]])
    np.add.at(mem, node[placed], pods.memory[order[placed]])
    for k in placed.tolist():
        p, n, g = int(order[k]), int(node[k]), gpus[k]
        want = int(pods.num_gpu[p])
        if len(g) != want or len(set(g)) != len(g):
            problems.append(
                f"arrival {k}: pod {pods.names[p]} needs {want} distinct GPU(s), got {g}"
            )
            continue
        if any(not 0 <= i < nodes.gpus[n] for i in g):
            problems.append(f"arrival {k}: node {nodes.names[n]} has no GPU among {g}")
            continue
        spec = pods.specs[int(pods.spec[p])]
        if want and spec and nodes.models[nodes.model[n]] not in spec:
            problems.append(
                f"arrival {k}: pod {pods.names[p]} does not accept model of {nodes.names[n]}"
            )
        for i in g:
            used[n, i] += int(pods.gpu_milli[p])
    for n in np.flatnonzero(cpu > nodes.cpu).tolist():
        problems.append(f"node {nodes.names[n]}: CPU {cpu[n]} > {nodes.cpu[n]}")
    for n in np.flatnonzero(mem > nodes.memory).tolist():
        problems.append(f"node {nodes.names[n]}: memory {mem[n]} > {nodes.memory[n]}")
    for n, i in zip(*np.nonzero(used > MILLI), strict=True):
        problems.append(f"node {nodes.names[n]} GPU {i}: {used[n, i]} milli-GPU > {MILLI}")
    return problems
