"""Large-neighbourhood search at scale: greedy against cpsat's LNS, with the LP bounds.

    python -m bench.lns alibaba NODES.csv PODS.csv --nodes 500 --seeds 1 2 3 -t 60 --threads 2
    python -m bench.lns alibaba NODES.csv PODS.csv --nodes 0 -t 60      # the whole cluster
    python -m bench.lns file PROBLEM.yaml -t 60                         # any IR file

Each line is JSON: pods and GPUs placed by greedy and by the LNS, the LP bounds on both (the
relaxation of the whole problem), the gaps, the time the LNS first came within 1 % of the pods
bound, and the improvement trace (seconds, objective).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.ir import Problem
from engine.solution import Solution

GPU_MILLI = "alibaba.com/gpu-milli"  # the aggregate import's GPU resource (1000 per GPU)


def _gpu_weights(problem: Problem) -> np.ndarray:
    """GPUs per pod: whole devices count one each, a share its fraction of one GPU's milli
    (exact-device import), or the aggregate resource over 1000 (``--aggregate-gpus``)."""
    out = []
    for g in problem.items:
        request = g.devices
        if request is None:
            out.append(g.demand.get(GPU_MILLI, 0) / 1000)
        elif request.share is None:
            out.append(float(request.count))
        else:
            out.append(request.count * max(request.share.values()) / 1000)
    return np.array(out)


def lp_bounds(problem: Problem) -> dict[str, float | None]:
    from solvers.lns.bound import bin_classes, lp_optimum
    from solvers.lowering import lower

    lowered = lower(problem)
    classes = bin_classes(lowered)
    ones = np.ones(len(problem.items))
    pods = lp_optimum(lowered, classes, {"placed": 1.0}, maximise=True, weights=ones)
    gpus = lp_optimum(
        lowered, classes, {"placed": 1.0}, maximise=True, weights=_gpu_weights(problem)
    )
    return {"pods": pods.value, "gpus": gpus.value}


def _placed(problem: Problem, solution: Solution) -> tuple[int, float]:
    weights = dict(zip((g.name for g in problem.items), _gpu_weights(problem), strict=True))
    counts = solution.counts()
    return sum(counts.values()), float(sum(n * weights[g] for (g, _), n in counts.items()))


def _within(trace: list[list[Any]], target: float) -> float | None:
    for seconds, objective in trace:
        if objective[0] >= target:
            return float(seconds)
    return None


def run(problem: Problem, time_limit: float, threads: int, seed: int) -> dict[str, Any]:
    from engine.solve import solve

    bounds = lp_bounds(problem)
    greedy = solve(problem, "greedy", seed=seed)
    began = time.perf_counter()
    lns = solve(problem, "cpsat", time_limit=time_limit, threads=threads, seed=seed)
    wall = time.perf_counter() - began
    g_pods, g_gpus = _placed(problem, greedy)
    pods, gpus = _placed(problem, lns)
    info = lns.info.get("lns", {})
    pods_bound, gpus_bound = bounds["pods"], bounds["gpus"]
    row: dict[str, Any] = {
        "nodes": len(problem.bins),
        "pods": sum(g.count for g in problem.items),
        "greedy_pods": g_pods,
        "greedy_gpus": round(g_gpus, 2),
        "lns_pods": pods,
        "lns_gpus": round(gpus, 2),
        "lp_pods": pods_bound,
        "lp_gpus": None if gpus_bound is None else round(gpus_bound, 2),
        "status": str(lns.status),
        "verified": lns.verified,
        "bound": lns.bound,
        "seconds": round(wall, 1),
        "rounds": info.get("rounds"),
        "accepted": info.get("accepted"),
    }
    if pods_bound:
        row["gap_pods_pct"] = round(100 * (pods_bound - pods) / pods_bound, 2)
        row["greedy_gap_pods_pct"] = round(100 * (pods_bound - g_pods) / pods_bound, 2)
        row["to_1pct_s"] = _within(info.get("trace", []), 0.99 * pods_bound)
    if gpus_bound:
        row["gap_gpus_pct"] = round(100 * (gpus_bound - gpus) / gpus_bound, 2)
        row["greedy_gap_gpus_pct"] = round(100 * (gpus_bound - g_gpus) / gpus_bound, 2)
    row["trace"] = info.get("trace", [])[-30:]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lns", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="what", required=True)
    ali = sub.add_parser("alibaba", help="samples of the Alibaba GPU trace")
    ali.add_argument("nodes_csv", type=Path)
    ali.add_argument("pods_csv", type=Path)
    ali.add_argument("--nodes", type=int, default=500, help="0: the whole cluster")
    ali.add_argument("--demand-ratio", type=float, default=1.05)
    ali.add_argument("--seeds", type=int, nargs="+", default=[1])
    ali.add_argument(
        "--aggregate-gpus",
        action="store_true",
        help="GPUs as one summed resource per node (a relaxation; default: exact per-GPU devices)",
    )
    one = sub.add_parser("file", help="an IR file")
    one.add_argument("path", type=Path)
    one.add_argument("--seeds", type=int, nargs="+", default=[0])
    for p in (ali, one):
        p.add_argument("-t", "--time-limit", type=float, default=60.0)
        p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    for seed in args.seeds:
        if args.what == "alibaba":
            from engine.kube.alibaba import import_alibaba
            from engine.kube.to_ir import manifests_to_problem

            doc = import_alibaba(
                args.nodes_csv,
                args.pods_csv,
                sample_nodes=args.nodes or None,
                demand_ratio=args.demand_ratio,
                seed=seed,
                aggregate_gpus=args.aggregate_gpus,
            )
            problem = manifests_to_problem([doc], str(args.pods_csv), name="alibaba")
        else:
            from engine.io import load

            problem = load(args.path)
        row = run(problem, args.time_limit, args.threads, seed)
        print(json.dumps({"seed": seed, **row}), flush=True)


if __name__ == "__main__":
    main()
