"""Online runs of the openb suite, one process per run slot, rows appended as runs finish."""

from __future__ import annotations

import csv
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from bench.environment import ROOT, environment
from bench.openb.planned import PLANNED, is_planned, planned_columns, run_planned
from engine.errors import InputError
from engine.gpu.check import check_placements
from engine.gpu.cluster import Cluster
from engine.gpu.policies import POLICIES, make_policy
from engine.gpu.simulate import run_online
from engine.gpu.trace import NodeTable, PodTable, read_nodes, read_pods
from engine.gpu.workload import arrival_order

DATA = ROOT.parent / "shared" / "data" / "traces" / "alibaba_gpu_v2023"
# the 17 pod lists of the FGD paper's experiment (its run scripts), in its order
POD_LISTS = (
    "default",
    "cpu050",
    "cpu100",
    "cpu200",
    "cpu250",
    "gpushare40",
    "gpushare60",
    "gpushare80",
    "gpushare100",
    "gpuspec10",
    "gpuspec20",
    "gpuspec25",
    "gpuspec33",
    "multigpu20",
    "multigpu30",
    "multigpu40",
    "multigpu50",
)
SEEDS = tuple(range(42, 52))
CLUSTERS = {
    # the reference simulator's cluster: the 1,213 GPU nodes (6,212 GPUs)
    "gpu": "openb_node_list_gpu_node.csv",
    # the whole trace cluster: 1,523 nodes, the same GPUs plus 310 CPU-only nodes
    "all": "openb_node_list_all_node.csv",
}
CURVE_TOP = 130
RESULT_COLUMNS = (
    "pod_list",
    "seed",
    "policy",
    "cluster",
    "nodes",
    "gpus",
    "arrivals",
    "placed",
    "pending",
    "alloc_100",
    "alloc_130",
    "unallocated_gpus_130",
    "seconds",
    "verified",
    "lp_bound_130",
    "max_solve_seconds",
    "placer_commit",
    "cpu",
)


@dataclass(frozen=True)
class RunSpec:
    pod_list: str
    seed: int
    policy: str
    cluster: str
    data: str
    ratio: float = 1.3
    sample_nodes: int | None = None
    max_arrivals: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.pod_list, str(self.seed), self.policy, self.cluster)


def pod_list_path(data: Path, name: str) -> Path:
    stem = name if name.startswith("openb_pod_list_") else f"openb_pod_list_{name}"
    return data / f"{stem.removesuffix('.csv')}.csv"


def short_name(name: str) -> str:
    return name.removeprefix("openb_pod_list_").removesuffix(".csv")


@cache
def _nodes(path: str, sample: int | None) -> NodeTable:
    nodes = read_nodes(path)
    if sample is not None and sample < len(nodes):
        keep = np.zeros(len(nodes), dtype=bool)
        keep[np.random.default_rng(0).choice(len(nodes), size=sample, replace=False)] = True
        nodes = nodes.subset(keep)
    return nodes


@cache
def _pods(path: str) -> PodTable:
    return read_pods(path)


def run_one(spec: RunSpec) -> tuple[dict[str, object], list[float]]:
    """One online run; its results row and its curve."""
    data = Path(spec.data)
    nodes = _nodes(str(data / CLUSTERS[spec.cluster]), spec.sample_nodes)
    pods = _pods(str(pod_list_path(data, spec.pod_list)))
    cluster = Cluster(nodes)
    order = arrival_order(pods, cluster.capacity_milli, ratio=spec.ratio, seed=spec.seed)
    if spec.max_arrivals is not None:
        order = order[: spec.max_arrivals]
    extra: dict[str, object] = {"lp_bound_130": "", "max_solve_seconds": ""}
    if is_planned(spec.policy):  # offline, window-K: bench.openb.planned
        planned = run_planned(spec.policy, nodes, pods, order, top=CURVE_TOP)
        result, curve = planned.result, planned.curve
        extra = planned_columns(planned)
    else:
        result = run_online(cluster, pods, order, make_policy(spec.policy), seed=spec.seed)
        curve = result.curve(CURVE_TOP)
    problems = check_placements(nodes, pods, result.order, result.node, result.gpus)
    env = environment()
    alloc_130 = float(curve[CURVE_TOP])
    row: dict[str, object] = {
        "pod_list": spec.pod_list,
        "seed": spec.seed,
        "policy": spec.policy,
        "cluster": spec.cluster,
        "nodes": len(nodes),
        "gpus": cluster.gpu_count,
        "arrivals": int(order.size),
        "placed": int(order.size - result.pending),
        "pending": result.pending,
        "alloc_100": _fmt(curve[100]),
        "alloc_130": _fmt(alloc_130),
        "unallocated_gpus_130": ""
        if np.isnan(alloc_130)
        else f"{cluster.gpu_count * (100 - alloc_130) / 100:.1f}",
        "seconds": f"{result.seconds:.3f}",
        "verified": not problems,
        **extra,
        "placer_commit": env["placer_commit"],
        "cpu": env["cpu"],
    }
    if problems:
        print(f"bench openb: {spec.key}: {problems[0]}", file=sys.stderr)
    return row, [float(x) for x in curve]


def _fmt(x: float) -> str:
    return "" if np.isnan(x) else f"{x:.2f}"


def _job(spec: RunSpec) -> tuple[RunSpec, dict[str, object], list[float]]:
    row, curve = run_one(spec)
    return spec, row, curve


class ResultFiles:
    """results.csv and curves.csv, appended row by row so an interrupted suite can resume."""

    def __init__(self, directory: Path) -> None:
        self.results = directory / "results.csv"
        self.curves = directory / "curves.csv"

    def done(self) -> set[tuple[str, str, str, str]]:
        if not self.results.exists():
            return set()
        with self.results.open(newline="", encoding="utf-8") as fh:
            return {
                (r["pod_list"], r["seed"], r["policy"], r["cluster"]) for r in csv.DictReader(fh)
            }

    def append(self, row: dict[str, object], curve: Sequence[float]) -> None:
        self._append(self.results, RESULT_COLUMNS, row)
        curve_columns = ("pod_list", "seed", "policy", "cluster", *map(str, range(len(curve))))
        curve_row: dict[str, object] = {k: row[k] for k in curve_columns[:4]}
        curve_row.update({str(i): _fmt(v) for i, v in enumerate(curve)})
        self._append(self.curves, curve_columns, curve_row)

    @staticmethod
    def _append(path: Path, columns: Sequence[str], row: dict[str, object]) -> None:
        new = not path.exists()
        if not new:
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                header, rows = reader.fieldnames, list(reader)
            if header is not None and set(header) < set(columns):  # written before new columns
                with path.open("w", newline="", encoding="utf-8") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(columns), restval="")
                    writer.writeheader()
                    writer.writerows(rows)
        with path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns))
            if new:
                writer.writeheader()
            writer.writerow(row)


def plan_runs(
    *,
    data: Path,
    pod_lists: Iterable[str],
    seeds: Iterable[int],
    policies: Iterable[str],
    cluster: str,
    ratio: float,
    sample_nodes: int | None,
    max_arrivals: int | None,
) -> list[RunSpec]:
    """All runs, seed by seed (an interrupted suite still covers every pod list and policy);
    refuses unknown names up front."""
    if cluster not in CLUSTERS:
        raise InputError(
            f"unknown cluster {cluster!r}; known: {', '.join(CLUSTERS)}", path="--cluster"
        )
    if not (data / CLUSTERS[cluster]).exists():
        raise InputError(f"no {CLUSTERS[cluster]} in {data}", path="--data")
    lists = [short_name(p) for p in pod_lists]
    missing = [p for p in lists if not pod_list_path(data, p).exists()]
    if missing:
        raise InputError(f"no pod list {', '.join(missing)} in {data}", path="--pod-lists")
    chosen = list(policies)
    known = [*POLICIES, *PLANNED]
    if unknown := [p for p in chosen if p not in known]:
        raise InputError(
            f"unknown policy {', '.join(map(repr, unknown))}; known: {', '.join(known)}",
            path="--policies",
        )
    if not ratio > 0:
        raise InputError(f"must be positive, got {ratio}", path="--arrival-ratio")
    return [
        RunSpec(p, s, pol, cluster, str(data), ratio, sample_nodes, max_arrivals)
        for s in seeds
        for p in lists
        for pol in chosen
    ]


def run_all(
    runs: Sequence[RunSpec],
    files: ResultFiles,
    jobs: int,
    on_done: Callable[[RunSpec, dict[str, object]], None] | None = None,
) -> None:
    done = files.done()
    todo = [r for r in runs if r.key not in done]

    def record(spec: RunSpec, row: dict[str, object], curve: list[float]) -> None:
        files.append(row, curve)
        if on_done:
            on_done(spec, row)

    if jobs <= 1 or len(todo) <= 1:
        for spec in todo:
            record(*_job(spec))
        return
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for spec, row, curve in pool.imap_unordered(_job, todo):
            record(spec, row, curve)
