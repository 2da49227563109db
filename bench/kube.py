"""Benchmarks of the Kubernetes adapter (run by hand, with ``nice``; never asserted in tests).

``python -m bench.kube load [--nodes 1000 --pods 10000]``: time to read a generated
``kubectl get -o json`` dump into the IR (file read + JSON parse + adapter), best of ``--repeat``.

``python -m bench.kube alibaba NODES.csv PODS.csv [--sample-nodes 500 --demand-ratio 1.05]
[--backends greedy cpsat --time-limit 60]``: plan the imported Alibaba GPU trace and report pods
placed, GPUs allocated, and GPUs left idle on nodes where no pending GPU pod fits (fragmented).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from engine.ir import Problem
from engine.kube.alibaba import GPU, GPU_MILLI, import_alibaba
from engine.solution import Solution


def bench_load(
    nodes: int = 1000, pods: int = 10000, *, seed: int = 0, repeat: int = 3
) -> dict[str, Any]:
    from engine.io import load
    from engine.kube.synthetic import cluster_dump

    dump = cluster_dump(nodes, pods, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.json"
        path.write_text(json.dumps(dump), encoding="utf-8")
        size = path.stat().st_size
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            problem = load(path)
            times.append(time.perf_counter() - start)
    return {
        "nodes": nodes,
        "pods": pods,
        "dump_mb": round(size / 1e6, 1),
        "groups": len(problem.items),
        "pending_pods": sum(i.count for i in problem.items if not i.meta.get("bound")),
        "constraints": len(problem.constraints),
        "load_seconds_best": round(min(times), 2),
        "load_seconds_all": [round(t, 2) for t in times],
    }


def _typical_one_gpu_pod(problem: Problem) -> dict[str, int]:
    """The median cpu/memory of the workload's one-GPU pods (FGD's "target workload" stand-in)."""
    shapes = sorted(
        (g.demand.get("cpu", 0), g.demand.get("memory", 0))
        for g in problem.items
        for _ in range(g.count)
        if g.demand.get(GPU) == 1
    )
    if not shapes:
        return {"pods": 1}
    cpu, memory = shapes[len(shapes) // 2]
    return {"cpu": cpu, "memory": memory, "pods": 1}


def gpu_metrics(problem: Problem, solution: Solution) -> dict[str, Any]:
    """Pods and GPUs placed, GPUs idle, and GPUs fragmented.

    A node's idle GPU capacity is fragmented when a typical one-GPU pod (median cpu and memory
    of the workload's one-GPU pods) cannot use it: all of it when the node has no cpu, memory or
    pod slot left for that pod, otherwise the part that does not form whole GPUs.
    """
    counts = solution.counts()
    used: dict[str, Counter[str]] = defaultdict(Counter)
    placed_by_gpus: Counter[int] = Counter()
    for (item, bin_name), n in counts.items():
        group = problem.item_by_name[item]
        for r, amount in group.demand.items():
            used[bin_name][r] += amount * n
        placed_by_gpus[group.demand.get(GPU, 0)] += n
    typical = _typical_one_gpu_pod(problem)
    capacity = sum(b.capacity.get(GPU_MILLI, 0) for b in problem.bins)
    allocated = sum(used[b.name][GPU_MILLI] for b in problem.bins)
    fragmented = 0
    for b in problem.bins:
        idle = b.capacity.get(GPU_MILLI, 0) - used[b.name][GPU_MILLI]
        if idle <= 0:
            continue
        room = all(used[b.name][r] + a <= b.capacity.get(r, 0) for r, a in typical.items())
        whole = min(idle // 1000, b.capacity.get(GPU, 0) - used[b.name][GPU])
        fragmented += idle - 1000 * whole if room else idle
    return {
        "status": str(solution.status),
        "verified": solution.verified,
        "seconds": round(solution.seconds, 2),
        "pods_placed": sum(counts.values()),
        "pods_total": sum(i.count for i in problem.items),
        "gpu_pods_placed_by_size": {k: placed_by_gpus[k] for k in sorted(placed_by_gpus) if k},
        "gpus_allocated": round(allocated / 1000, 2),
        "gpus_total": capacity // 1000,
        "gpus_idle": round((capacity - allocated) / 1000, 2),
        "gpus_fragmented": round(fragmented / 1000, 2),
    }


def bench_alibaba(
    nodes_csv: Path,
    pods_csv: Path,
    *,
    sample_nodes: int | None = 500,
    demand_ratio: float | None = 1.05,
    seed: int = 0,
    backends: tuple[str, ...] = ("greedy", "cpsat"),
    time_limit: float = 60.0,
    threads: int = 1,
    warm_start: bool = True,
) -> list[dict[str, Any]]:
    from engine.kube.to_ir import manifests_to_problem
    from engine.solve import solve

    doc = import_alibaba(  # GPU metrics below read the aggregate relaxation's resources
        nodes_csv,
        pods_csv,
        sample_nodes=sample_nodes,
        demand_ratio=demand_ratio,
        seed=seed,
        aggregate_gpus=True,
    )
    start = time.perf_counter()
    problem = manifests_to_problem([doc], str(pods_csv), name="alibaba")
    load_seconds = time.perf_counter() - start
    rows = []
    for backend in backends:
        solution = solve(problem, backend, time_limit=time_limit, threads=threads, seed=seed)
        rows.append(
            {
                "backend": backend,
                "load_seconds": round(load_seconds, 2),
                **gpu_metrics(problem, solution),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kube", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="what", required=True)
    load_p = sub.add_parser("load", help="load time of a generated kubectl dump")
    load_p.add_argument("--nodes", type=int, default=1000)
    load_p.add_argument("--pods", type=int, default=10000)
    load_p.add_argument("--repeat", type=int, default=3)
    ali = sub.add_parser("alibaba", help="plan the Alibaba GPU trace")
    ali.add_argument("nodes_csv", type=Path)
    ali.add_argument("pods_csv", type=Path)
    ali.add_argument("--sample-nodes", type=int, default=500)
    ali.add_argument("--demand-ratio", type=float, default=1.05)
    ali.add_argument("--seed", type=int, default=0)
    ali.add_argument("--backends", nargs="+", default=["greedy", "cpsat"])
    ali.add_argument("--time-limit", type=float, default=60.0)
    ali.add_argument("--threads", type=int, default=1)
    ali.add_argument("--cold", action="store_true", help="do not warm-start from the greedy plan")
    args = parser.parse_args(argv)
    if args.what == "load":
        print(json.dumps(bench_load(args.nodes, args.pods, repeat=args.repeat), indent=1))
        return
    rows = bench_alibaba(
        args.nodes_csv,
        args.pods_csv,
        sample_nodes=args.sample_nodes or None,
        demand_ratio=args.demand_ratio or None,
        seed=args.seed,
        backends=tuple(args.backends),
        time_limit=args.time_limit,
        threads=args.threads,
        warm_start=not args.cold,
    )
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
