"""Large-neighbourhood search at scale: greedy against cpsat's LNS, with the LP bounds.

    python -m bench.lns alibaba NODES.csv PODS.csv --nodes 500 --seeds 1 2 3 -t 60 --threads 2
    python -m bench.lns alibaba NODES.csv PODS.csv --nodes 0 -t 60      # the whole cluster
    python -m bench.lns file PROBLEM.yaml -t 60                         # any IR file
    python -m bench.lns scale NODES.csv PODS.csv --sizes 500 1000 1523 5000 -t 60 \
        --out bench/reports/lns                                         # time to 1 % by size
    python -m bench.lns plot bench/reports/lns                          # the plot again
    python -m bench.lns alibaba NODES.csv PODS.csv --seeds 3 -p lns_fill=all   # a cpsat parameter
    python -m bench.lns alibaba NODES.csv PODS.csv --seeds 1 2 3 -p lns_price=0.5  # pods for GPUs
    python -m bench.lns frontier NODES.csv PODS.csv --nodes 500 --seeds 1 --prices 0.1 0.25
                                        # the filling model's plans with a price per pod

The objective is the import's: ``[placed, value]`` with each pod's value its GPUs (the most
pods, then the most GPUs among those plans); ``--objective pods`` keeps the first level alone,
as imported until session 5. Each line is JSON: pods and GPUs placed by greedy and by the LNS,
the LP bounds on both (class LP relaxations of the whole problem, each level alone), the
device-pattern LP's bound on GPUs (column generation over single GPUs' fillings: tighter), the
solver's own bounds per level (its second level holds the pods at the plan's), the gaps, the
LP bound on GPUs among plans placing at least the LNS's pods, the time the LNS first came
within 1 % of the pods bound, and the improvement trace (seconds, objective). Sizes beyond the trace's nodes replicate
the trace (nodes and pods alike, renamed) before sampling. ``scale`` also writes
``results.jsonl`` and ``lns-time-to-1pct.png`` (gap to the LP bound against time for each size,
and the time to within 1 % of the bound against nodes).
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


PRICE_STEPS = 8  # golden-section steps over a pod's price σ in [0, 1] GPUs (below)


def pattern_gpu_bound(
    problem: Problem, pods_at_least: int | None = None, seconds: float = 60.0
) -> float | None:
    """A bound on GPUs placed from the device-pattern LP (cpsat's filling model: column
    generation over single GPUs' fillings, node resources pooled per class of alike nodes),
    honest for any duals, so also when generation stops early; None when it does not apply.
    With ``pods_at_least`` P, among plans placing at least P pods (the objective's second
    level at the plan's pods): for every σ >= 0, GPUs <= max(GPUs + σ·pods) - σ·P over the
    relaxation (Lagrange); the least found by a golden-section search over σ (the function
    is convex in σ; any σ tried gives a valid bound)."""
    from solvers.cpsat.fill import fill_applies
    from solvers.cpsat.fill.driver import FillModel
    from solvers.cpsat.fill.master import PatternMaster
    from solvers.deadline import Deadline
    from solvers.lowering import lower

    weights = _gpu_weights(problem)
    share = seconds / (1 if pods_at_least is None else PRICE_STEPS + 2)
    tried: dict[float, float] = {}

    def bound(price: float) -> float:
        if price in tried:
            return tried[price]
        items = tuple(
            g.model_copy(update={"value": float(w) + price})
            for g, w in zip(problem.items, weights, strict=True)
        )
        priced = problem.model_copy(update={"items": items, "objective": ({"value": 1.0},)})
        lowered = lower(priced)
        model = FillModel(lowered)
        master = PatternMaster(model.pricer, model.classes, model.first, model.left.copy())
        relaxed = master.generate(Deadline.after(share))
        value = float(relaxed.bound + model.first @ lowered.low.sum(axis=1))
        tried[price] = value - price * (pods_at_least or 0)
        return tried[price]

    lowered = lower(problem)
    if fill_applies(lowered) is not None or lowered.devices is None:
        return None
    if pods_at_least is not None:
        ratio = (5**0.5 - 1) / 2
        lo, hi = 0.0, 1.0
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        for _ in range(PRICE_STEPS):
            if bound(a) <= bound(b):
                hi, b = b, a
                a = hi - ratio * (hi - lo)
            else:
                lo, a = a, b
                b = lo + ratio * (hi - lo)
    best = min([bound(0.0), *tried.values()])
    return best if np.isfinite(best) else None


def lp_bounds(problem: Problem, pods_placed: int | None = None) -> dict[str, float | None]:
    """LP bounds (relaxations of the whole problem) on pods and on GPUs placed; with
    ``pods_placed``, also on GPUs among plans placing at least that many pods (the objective is
    pods first: a plan placing more pods may place fewer GPUs, and the GPU bound alone ignores
    that)."""
    from solvers.lns.bound import bin_classes, lp_optimum
    from solvers.lowering import lower

    lowered = lower(problem)
    classes = bin_classes(lowered)
    ones = np.ones(len(problem.items))
    pods = lp_optimum(lowered, classes, {"placed": 1.0}, maximise=True, weights=ones)
    gpu_weights = _gpu_weights(problem)
    gpus = lp_optimum(lowered, classes, {"placed": 1.0}, maximise=True, weights=gpu_weights)
    out = {"pods": pods.value, "gpus": gpus.value}
    if pods_placed is not None:
        held = (({"placed": 1.0}, True, float(pods_placed)),)
        given = lp_optimum(
            lowered, classes, {"placed": 1.0}, maximise=True, weights=gpu_weights, fixed=held
        )
        out["gpus_given_pods"] = given.value
    return out


def _placed(problem: Problem, solution: Solution) -> tuple[int, float]:
    weights = dict(zip((g.name for g in problem.items), _gpu_weights(problem), strict=True))
    counts = solution.counts()
    return sum(counts.values()), float(sum(n * weights[g] for (g, _), n in counts.items()))


def _within(trace: list[list[Any]], target: float) -> float | None:
    for seconds, objective in trace:
        if objective[0] >= target:
            return float(seconds)
    return None


def run(
    problem: Problem,
    time_limit: float,
    threads: int,
    seed: int,
    params: dict[str, str] | None = None,
    starve: float | None = None,
) -> dict[str, Any]:
    """One LNS run against greedy and the bounds; ``params`` go to cpsat (``lns_fill=all``);
    ``starve``: the LNS solve runs only this share of the wall clock (``bench.starve``)."""
    from engine.solve import solve

    from .starve import starved

    greedy = solve(problem, "greedy", seed=seed)
    began = time.perf_counter()
    with starved(starve):
        lns = solve(
            problem, "cpsat", time_limit=time_limit, threads=threads, seed=seed, **(params or {})
        )
    wall = time.perf_counter() - began
    g_pods, g_gpus = _placed(problem, greedy)
    pods, gpus = _placed(problem, lns)
    bounds = lp_bounds(problem, pods_placed=pods)
    info = lns.info.get("lns", {})
    pods_bound, gpus_bound = bounds["pods"], bounds["gpus"]
    pattern = pattern_gpu_bound(problem)
    row: dict[str, Any] = {
        "objective": [sorted(level) for level in problem.objective],
        "params": params or {},
        "nodes": len(problem.bins),
        "pods": sum(g.count for g in problem.items),
        "greedy_pods": g_pods,
        "greedy_gpus": round(g_gpus, 2),
        "lns_pods": pods,
        "lns_gpus": round(gpus, 2),
        "lp_pods": pods_bound,
        "lp_gpus": None if gpus_bound is None else round(gpus_bound, 2),
        "pattern_gpus": None if pattern is None else round(pattern, 2),
        "status": str(lns.status),
        "verified": lns.verified,
        "bound": lns.bound,
        "seconds": round(wall, 1),
        "starved": starve,
        "rounds": info.get("rounds"),
        "accepted": info.get("accepted"),
        "start": info.get("start"),
        "strategy_rounds": info.get("strategy_rounds"),  # [rounds, improved] per strategy
        "chains": info.get("chains"),  # the chains of moves: moves by kind, seconds
        "phases": info.get("phases"),  # when each phase ended (seconds)
    }
    if pods_bound:
        row["gap_pods_pct"] = round(100 * (pods_bound - pods) / pods_bound, 2)
        row["greedy_gap_pods_pct"] = round(100 * (pods_bound - g_pods) / pods_bound, 2)
        row["to_1pct_s"] = _within(info.get("trace", []), 0.99 * pods_bound)
    if gpus_bound:
        row["gap_gpus_pct"] = round(100 * (gpus_bound - gpus) / gpus_bound, 2)
        row["greedy_gap_gpus_pct"] = round(100 * (gpus_bound - g_gpus) / gpus_bound, 2)
    if pattern:
        row["gap_gpus_pattern_pct"] = round(100 * (pattern - gpus) / pattern, 2)
    if lns.bound and lns.bound[0]:  # the solver's own bound on pods (LP, or the filling's)
        row["gap_pods_solver_pct"] = round(100 * (lns.bound[0] - pods) / lns.bound[0], 2)
    given = bounds.get("gpus_given_pods")
    if given:  # the most GPUs of any plan placing at least as many pods as the LNS's
        row["lp_gpus_given_pods"] = round(given, 2)
        row["gap_gpus_given_pods_pct"] = round(100 * (given - gpus) / given, 2)
    held = pattern_gpu_bound(problem, pods_at_least=pods)
    if held:  # the same from the device-pattern LP (Lagrange over a pod's price)
        row["pattern_gpus_given_pods"] = round(held, 2)
        row["gap_gpus_pattern_given_pods_pct"] = round(100 * (held - gpus) / held, 2)
    row["trace"] = info.get("trace", [])
    return row


def frontier(
    problem: Problem, prices: list[float], seconds: float, seed: int, threads: int = 2
) -> list[dict[str, Any]]:
    """Plans between pods and GPUs: cpsat's filling model on one level, each pod worth its GPUs
    plus ``price`` (the Lagrangian objective whose maximum bounds GPUs among plans placing at
    least P pods: GPUs <= bound - price * P). Per price: the plan's pods and GPUs, the filling
    model's bound on GPUs + price * pods, and the GPUs it allows at the plan's pods — how far
    the model's own plans stay under its own relaxation where pods are forced in (a yardstick
    for the gap of a pods-first plan to the pattern LP at its pods)."""
    from engine.solve import solve

    weights = _gpu_weights(problem)
    rows = []
    for price in prices:
        items = tuple(
            g.model_copy(update={"value": float(w) + price})
            for g, w in zip(problem.items, weights, strict=True)
        )
        priced = problem.model_copy(update={"items": items, "objective": ({"value": 1.0},)})
        began = time.perf_counter()
        plan = solve(
            priced, "cpsat", time_limit=seconds, threads=threads, seed=seed, formulation="fill"
        )
        pods, gpus = _placed(problem, plan)
        bound = plan.bound[0] if plan.bound else None
        row: dict[str, Any] = {"price": price, "pods": pods, "gpus": round(gpus, 2)}
        row["bound"] = None if bound is None else round(bound, 2)
        # None: the filling model did not run (e.g. starved under load; the bound is then trivial)
        relaxation = plan.info.get("fill", {}).get("relaxation")
        row["relaxation_converged"] = None if relaxation is None else relaxation.get("converged")
        if bound is not None:
            at_pods = bound - price * pods
            row["gpus_bound_at_pods"] = round(at_pods, 2)
            row["gap_pct"] = round(100 * (at_pods - gpus) / at_pods, 2)
        row["seconds"] = round(time.perf_counter() - began, 1)
        rows.append(row)
    return rows


OBJECTIVES = ("pods-gpus", "pods")  # the import's [placed, value]; pods alone (until session 5)


def alibaba_problem(
    nodes_csv: Path,
    pods_csv: Path,
    nodes: int,
    *,
    demand_ratio: float = 1.05,
    seed: int = 1,
    aggregate_gpus: bool = False,
    objective: str = "pods-gpus",
) -> Problem:
    """A seeded sample of ``nodes`` nodes (0: all) with pods up to ``demand_ratio`` times its
    GPUs; the trace is replicated first when it has fewer nodes than asked. ``objective``
    ``pods`` drops the import's second level (GPUs placed), as it was imported before."""
    import dataclasses
    import math

    from engine.kube.alibaba import read_nodes, read_pods, sample, trace_to_manifests
    from engine.kube.to_ir import manifests_to_problem

    all_nodes, all_pods = read_nodes(nodes_csv), read_pods(pods_csv)
    copies = max(1, math.ceil(nodes / len(all_nodes))) if nodes else 1
    if copies > 1:
        all_nodes = [
            dataclasses.replace(n, name=f"{n.name}-r{k}") for k in range(copies) for n in all_nodes
        ]
        all_pods = [
            dataclasses.replace(p, name=f"{p.name}-r{k}") for k in range(copies) for p in all_pods
        ]
    chosen_nodes, chosen_pods = sample(
        all_nodes, all_pods, sample_nodes=nodes or None, demand_ratio=demand_ratio, seed=seed
    )
    doc = trace_to_manifests(chosen_nodes, chosen_pods, aggregate_gpus=aggregate_gpus)
    problem = manifests_to_problem([doc], str(pods_csv), name=f"alibaba-{len(chosen_nodes)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    if objective == "pods":
        return problem.model_copy(update={"objective": problem.objective[:1]})
    return problem


def plot(out: Path) -> Path:
    """Gap to the LP bound (pods) against time per size, and time to 1 % against nodes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    rows.sort(key=lambda r: r["nodes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for row in rows:
        bound = row["lp_pods"]
        if not bound or not row["trace"]:
            continue
        times = [t for t, _ in row["trace"]] + [row["seconds"]]
        gaps = [100 * (bound - v[0]) / bound for _, v in row["trace"]]
        gaps.append(gaps[-1])
        left.step(times, gaps, where="post", label=f"{row['nodes']:,} nodes", marker=".")
        left.scatter([0], [row["greedy_gap_pods_pct"]], marker="x", color="grey")
    left.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    left.set_xlabel("seconds")
    left.set_ylabel("pods: gap to the LP bound (%)")
    left.set_title("LNS (cpsat) on Alibaba gpuspec33, 1.05x (x: greedy)")
    if any(not line.get_label().startswith("_") for line in left.get_lines()):
        left.legend()
    nodes = [r["nodes"] for r in rows]
    reached = [(r["nodes"], r["to_1pct_s"]) for r in rows if r.get("to_1pct_s") is not None]
    missed = [(r["nodes"], r["seconds"], r.get("gap_pods_pct")) for r in rows]
    missed = [m for m in missed if m[0] not in {n for n, _ in reached}]
    if reached:
        right.plot(*zip(*reached, strict=True), marker="o", label="within 1 % of the bound")
    for n, seconds, gap in missed:
        right.scatter([n], [seconds], marker="^", facecolors="none", edgecolors="red")
        right.annotate(
            f"not reached\n({gap} % left)",
            (n, seconds),
            fontsize=7,
            ha="center",
            xytext=(0, 8),
            textcoords="offset points",
        )
    right.set_xscale("log")
    right.set_xticks(nodes, [f"{n:,}" for n in nodes])
    right.minorticks_off()
    right.set_xlabel("nodes")
    right.set_ylabel("seconds to within 1 % (pods)")
    # At least a second high: a run within 1 % at once (0 s) gave matplotlib an empty range.
    right.set_ylim(0, max([r["seconds"] for r in rows] + [1.0]) * 1.3)
    right.set_title("time to 1 % of the LP bound (triangle: time limit hit)")
    fig.tight_layout()
    path = out / "lns-time-to-1pct.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _param(text: str) -> Any:
    """A ``-p KEY=VALUE``'s value: a number where it reads as one (``lns_price=0.5``,
    ``lns_bins=24``), else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


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
    scale = sub.add_parser("scale", help="time to 1 %% of the bound by cluster size, and a plot")
    scale.add_argument("nodes_csv", type=Path)
    scale.add_argument("pods_csv", type=Path)
    scale.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 1523, 5000])
    scale.add_argument("--seed", type=int, default=1)
    scale.add_argument("--out", type=Path, default=Path("bench/reports/lns"))
    front = sub.add_parser(
        "frontier", help="the filling model's plans with a price per pod (pods against GPUs)"
    )
    front.add_argument("nodes_csv", type=Path)
    front.add_argument("pods_csv", type=Path)
    front.add_argument("--nodes", type=int, default=500, help="0: the whole cluster")
    front.add_argument("--seeds", type=int, nargs="+", default=[1])
    front.add_argument("--prices", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.5])
    front.add_argument("-t", "--time-limit", type=float, default=30.0, help="per price")
    front.add_argument("--threads", type=int, default=2)
    again = sub.add_parser("plot", help="redraw the scale plot from results.jsonl")
    again.add_argument("out", type=Path)
    for p in (ali, one, scale):
        p.add_argument("-t", "--time-limit", type=float, default=60.0)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument(
            "-p",
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a cpsat parameter for the LNS run (e.g. lns_fill=all); repeatable",
        )
        p.add_argument(
            "--starve",
            type=float,
            default=None,
            metavar="SHARE",
            help="the LNS solve runs this share of the wall clock (SIGSTOP/SIGCONT; bench.starve)",
        )
    for p in (ali, scale):
        p.add_argument(
            "--objective",
            choices=OBJECTIVES,
            default=OBJECTIVES[0],
            help="the import's [pods, GPUs] (default), or pods alone (as imported until session 5)",
        )
    args = parser.parse_args(argv)
    if any("=" not in kv for kv in getattr(args, "param", [])):
        parser.error("a --param is KEY=VALUE")
    params = {k: _param(v) for k, v in (kv.split("=", 1) for kv in getattr(args, "param", []))}
    if args.what == "plot":
        print(plot(args.out))
        return
    if args.what == "frontier":
        for seed in args.seeds:
            problem = alibaba_problem(args.nodes_csv, args.pods_csv, args.nodes, seed=seed)
            for row in frontier(problem, args.prices, args.time_limit, seed, args.threads):
                print(json.dumps({"seed": seed, **row}), flush=True)
        return
    if args.what == "scale":
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "results.jsonl").open("w") as sink:
            for nodes in args.sizes:
                problem = alibaba_problem(
                    args.nodes_csv, args.pods_csv, nodes, seed=args.seed, objective=args.objective
                )
                row = {
                    "seed": args.seed,
                    **run(problem, args.time_limit, args.threads, args.seed, params, args.starve),
                }
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(json.dumps({k: v for k, v in row.items() if k != "trace"}), flush=True)
        print(plot(args.out))
        return
    for seed in args.seeds:
        if args.what == "alibaba":
            problem = alibaba_problem(
                args.nodes_csv,
                args.pods_csv,
                args.nodes,
                demand_ratio=args.demand_ratio,
                seed=seed,
                aggregate_gpus=args.aggregate_gpus,
                objective=args.objective,
            )
        else:
            from engine.io import load

            problem = load(args.path)
        row = run(problem, args.time_limit, args.threads, seed, params, args.starve)
        print(json.dumps({"seed": seed, **row}), flush=True)


if __name__ == "__main__":
    main()
