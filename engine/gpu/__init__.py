"""GPU-sharing clusters at device level: the Alibaba openb trace, per-GPU cluster state, online policies.

- ``trace``: the openb node and pod CSVs as numpy arrays (clear errors on bad rows).
- ``cluster``: a cluster's static description and its live state — each node's free CPU and
  memory and each of its GPUs' free milli-GPU; a placement names the node and the GPU indices.
- ``workload``: pod shapes, the workload's distribution of shapes, and the arrival lists of the
  FGD experiment (Weng et al., USENIX ATC 2023).
- ``policies``: online scorers (random, dotprod, gpu-clustering, gpu-packing, bestfit, fgd and
  placer's own), vectorised over nodes.
- ``simulate``: one online run — pods arrive one by one, are placed once or stay pending — and
  its allocation-ratio curve.
"""
