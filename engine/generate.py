"""Seeded, pure instance generators: the same arguments always give the same ``Problem``.

- ``cluster``: a Kubernetes-like cluster — a few node pools of identical machines spread over
  zones (hostname / zone / instance-type / pool labels, cpu / memory / pods capacity) and pod
  groups with realistic request shapes whose replicas sum to about ``nodes * pods_per_node``
  and whose cpu requests fill ``utilisation`` of the cluster; a fraction of the groups gets
  hostname anti-affinity or zone spread.
- ``binpack``: Falkenauer-U-like bin packing — identical bins, item sizes uniform in
  [low, high] (per dimension), equal sizes grouped, every item required, objective
  ``[{bins_used: 1}]`` and as many bins as first-fit-decreasing needs (a safe upper bound).

``placer generate cluster|binpack ... -o FILE`` writes them (YAML, or JSON for ``.json``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .commands.grammar import Json, announce
from .errors import InputError
from .formats import bins_by_first_fit
from .ir import Bin, Problem

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
POOL = "placer.dev/node-pool"
GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class MachineType:
    name: str
    cpu: int  # cores
    memory_gib: int
    pods: int = 110
    cost: float = 1.0  # relative price of one node (bins_used weighs by it)


# A small catalogue in the spirit of cloud general-purpose / compute / memory families.
MACHINE_TYPES: dict[str, MachineType] = {
    m.name: m
    for m in (
        MachineType("standard-8", 8, 32, cost=1.0),
        MachineType("standard-16", 16, 64, cost=2.0),
        MachineType("highcpu-16", 16, 16, cost=1.5),
        MachineType("highmem-8", 8, 64, cost=1.3),
        MachineType("standard-32", 32, 128, cost=4.0),
    )
}
DEFAULT_POOLS = ("standard-8", "standard-16", "highmem-8")

# Pod request shapes: (cpu millicores, memory MiB per core) and how common each is.
CPU_SHAPES = np.array([100, 250, 500, 1000, 2000, 4000])
CPU_WEIGHTS = np.array([0.15, 0.25, 0.25, 0.2, 0.1, 0.05])
MEMORY_PER_CORE_GIB = np.array([0.5, 1.0, 2.0, 4.0])
MEMORY_WEIGHTS = np.array([0.15, 0.35, 0.35, 0.15])
PRIORITIES = np.array([0, 100, 1000])
PRIORITY_WEIGHTS = np.array([0.7, 0.2, 0.1])

DEFAULT_OBJECTIVE: tuple[Any, ...] = ("placed", {"bins_used": 1.0})


def _check(condition: bool, reason: str, path: str) -> None:
    if not condition:
        raise InputError(reason, path=path)


def _split(total: int, shares: np.ndarray) -> list[int]:
    """Integers proportional to ``shares`` summing to ``total`` (largest remainders)."""
    raw = shares / shares.sum() * total
    out = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - out), kind="stable")[: total - int(out.sum())]:
        out[k] += 1
    return [int(v) for v in out]


def _nodes(
    rng: np.random.Generator, nodes: int, zones: int, pools: Sequence[MachineType]
) -> list[Bin]:
    per_pool = _split(nodes, rng.dirichlet(np.full(len(pools), 4.0)))
    width = max(4, len(str(nodes)))
    bins: list[Bin] = []
    for k, (machine, n) in enumerate(zip(pools, per_pool, strict=True)):
        for j in range(n):
            name = f"node-{len(bins):0{width}d}"
            labels = {
                HOSTNAME: name,
                INSTANCE_TYPE: machine.name,
                POOL: f"pool-{k}",
            }
            if zones > 0:
                labels[ZONE] = (
                    f"zone-{chr(ord('a') + (j % zones))}" if zones <= 26 else f"zone-{j % zones}"
                )
            bins.append(
                Bin.model_validate(
                    dict(
                        name=name,
                        capacity={
                            "cpu": machine.cpu,  # cores (an int is read in plain units)
                            "memory": machine.memory_gib * GIB,
                            "pods": machine.pods,
                        },
                        labels=labels,
                        cost=machine.cost,
                    )
                )
            )
    return bins


def _replicas(rng: np.random.Generator, groups: int, total: int) -> list[int]:
    """Heavy-tailed replica counts (a few big deployments, many small ones), each >= 1."""
    if groups == 0:
        return []
    total = max(total, groups)
    shares = rng.lognormal(mean=0.0, sigma=1.0, size=groups)
    extra = _split(total - groups, shares)
    return [1 + e for e in extra]


def cluster(
    nodes: int,
    groups: int,
    pods_per_node: int = 10,
    utilisation: float = 0.9,
    zones: int = 3,
    node_pools: Sequence[str] | int = DEFAULT_POOLS,
    anti_affinity: float = 0.0,
    spread: float = 0.0,
    seed: int = 0,
    objective: Sequence[Any] = DEFAULT_OBJECTIVE,
    name: str | None = None,
) -> Problem:
    """A seeded Kubernetes-like cluster problem (see the module docstring)."""
    _check(nodes >= 0, "must be at least 0", "nodes")
    _check(groups >= 0, "must be at least 0", "groups")
    _check(pods_per_node >= 1, "must be at least 1", "pods_per_node")
    _check(0 < utilisation <= 2, "must be in (0, 2]", "utilisation")
    _check(zones >= 0, "must be at least 0", "zones")
    _check(0 <= anti_affinity <= 1, "must be a fraction in [0, 1]", "anti_affinity")
    _check(0 <= spread <= 1, "must be a fraction in [0, 1]", "spread")
    if isinstance(node_pools, int):
        _check(
            1 <= node_pools <= len(MACHINE_TYPES), f"must be 1..{len(MACHINE_TYPES)}", "node_pools"
        )
        pools = list(MACHINE_TYPES.values())[:node_pools]
    else:
        unknown = [p for p in node_pools if p not in MACHINE_TYPES]
        _check(
            not unknown and len(node_pools) > 0,
            f"unknown machine type(s) {unknown}; known: {', '.join(MACHINE_TYPES)}",
            "node_pools",
        )
        pools = [MACHINE_TYPES[p] for p in node_pools]
    rng = np.random.default_rng(seed)
    bins = _nodes(rng, nodes, zones, pools)
    counts = _replicas(rng, groups, nodes * pods_per_node)

    # Request shapes, then one factor so that cpu requests fill `utilisation` of the cluster
    # and memory a little less (real clusters are usually cpu-bound on requests).
    cpu = rng.choice(CPU_SHAPES, size=groups, p=CPU_WEIGHTS).astype(float)
    mem_per_core = rng.choice(MEMORY_PER_CORE_GIB, size=groups, p=MEMORY_WEIGHTS)
    memory = cpu / 1000 * mem_per_core * GIB
    total_cpu = sum(b.capacity["cpu"] for b in bins)
    total_mem = sum(b.capacity["memory"] for b in bins)
    weights = np.array(counts, dtype=float)
    if groups and total_cpu:
        cpu *= utilisation * total_cpu / float(weights @ cpu)
        memory *= 0.8 * utilisation * total_mem / float(weights @ memory)
    smallest_cpu = min((b.capacity["cpu"] for b in bins), default=1000)
    smallest_mem = min((b.capacity["memory"] for b in bins), default=GIB)
    cpu_m = np.clip(np.round(cpu / 10) * 10, 10, smallest_cpu // 2).astype(int)
    mem_b = (
        np.clip(np.round(memory / (16 * MIB)), 1, smallest_mem // 2 // (16 * MIB)) * 16 * MIB
    ).astype(int)
    priorities = rng.choice(PRIORITIES, size=groups, p=PRIORITY_WEIGHTS)

    width = max(3, len(str(groups)))
    items: list[dict[str, Any]] = []
    for g in range(groups):
        app = f"app-{g:0{width}d}"
        items.append(
            {
                "name": app,
                "count": counts[g],
                "demand": {"cpu": f"{int(cpu_m[g])}m", "memory": int(mem_b[g]), "pods": 1},
                "labels": {"app": app},
                "priority": int(priorities[g]),
            }
        )

    constraints: list[dict[str, Any]] = []
    order = rng.permutation(groups)
    n_anti = round(anti_affinity * groups)
    n_spread = round(spread * groups)
    for g in order[:n_anti]:  # one replica per node, at most as many as there are nodes
        per_node = max(1, -(-counts[g] // max(nodes, 1)))
        constraints.append(
            {
                "kind": "anti_affinity",
                "selector": {"app": items[g]["name"]},
                "topology": HOSTNAME,
                "max_per_domain": per_node,
            }
        )
    if zones > 0:
        for g in order[n_anti : n_anti + n_spread]:
            constraints.append(
                {
                    "kind": "spread",
                    "selector": {"app": items[g]["name"]},
                    "topology": ZONE,
                    "max_skew": 1,
                }
            )
    return Problem.model_validate(
        {
            "name": name or f"cluster-{nodes}x{groups}-s{seed}",
            "bins": bins,
            "items": items,
            "constraints": constraints,
            "objective": list(objective),
            "meta": {
                "generator": "cluster",
                "seed": seed,
                "utilisation": utilisation,
                "pods_per_node": pods_per_node,
            },
        }
    )


def binpack(
    items: int,
    capacity: int = 150,
    low: int = 20,
    high: int = 100,
    dims: int = 1,
    seed: int = 0,
    name: str | None = None,
) -> Problem:
    """Falkenauer-U-like bin packing (U120: capacity 150, sizes 20..100)."""
    _check(items >= 0, "must be at least 0", "items")
    _check(capacity >= 1, "must be at least 1", "capacity")
    _check(1 <= low <= high, "need 1 <= low <= high", "low")
    _check(high <= capacity, "items larger than a bin never fit", "high")
    _check(dims >= 1, "must be at least 1", "dims")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(low, high + 1, size=(items, dims), dtype=np.int64)
    resources = [f"r{k}" for k in range(dims)]
    cap = np.full(dims, capacity, dtype=np.int64)
    n_bins = max(1, bins_by_first_fit(sizes, cap)) if items else 0
    kinds = Counter(tuple(int(v) for v in row) for row in sizes)
    ordered = sorted(kinds, key=lambda s: (-max(s), s))
    width = max(3, len(str(max(n_bins - 1, 0))))
    item_width = max(3, len(str(max(len(ordered) - 1, 0))))
    lower_bound = max((-(-int(sizes[:, k].sum()) // capacity) for k in range(dims)), default=0)
    return Problem.model_validate(
        {
            "name": name or f"binpack-u{items}-d{dims}-s{seed}",
            "bins": [
                {"name": f"bin-{b:0{width}d}", "capacity": dict.fromkeys(resources, capacity)}
                for b in range(n_bins)
            ],
            "items": [
                {
                    "name": f"item-{k:0{item_width}d}",
                    "count": kinds[size],
                    "demand": dict(zip(resources, size, strict=True)),
                    "required": True,
                }
                for k, size in enumerate(ordered)
            ],
            "objective": [{"bins_used": 1.0}],
            "meta": {
                "generator": "binpack",
                "seed": seed,
                "ffd_bins": n_bins,
                "lower_bound": lower_bound,
            },
        }
    )


# ---------------------------------------------------------------- CLI: placer generate ...


Output = Annotated[
    Path,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="write the problem here (.yaml or .json; '-': stdout)",
    ),
]
Seed = Annotated[int, typer.Option(help="random seed (same seed, same instance)")]


def register_generate(group: typer.Typer) -> None:
    from .io import dump_problem

    @group.command("cluster")
    def generate_cluster(
        output: Output,
        nodes: Annotated[int, typer.Option(help="number of nodes")] = 100,
        groups: Annotated[int, typer.Option(help="number of pod groups (deployments)")] = 50,
        pods_per_node: Annotated[
            int, typer.Option("--pods-per-node", help="pods per node on average")
        ] = 10,
        utilisation: Annotated[float, typer.Option(help="cpu requests / cluster cpu")] = 0.9,
        zones: Annotated[int, typer.Option(help="number of zones (0: no zone labels)")] = 3,
        pools: Annotated[
            str, typer.Option("--node-pools", help="comma-separated machine types")
        ] = ",".join(DEFAULT_POOLS),
        anti_affinity: Annotated[
            float,
            typer.Option("--anti-affinity", help="fraction of groups with hostname anti-affinity"),
        ] = 0.0,
        spread: Annotated[float, typer.Option(help="fraction of groups spread over zones")] = 0.0,
        seed: Seed = 0,
        as_json: Json = False,
    ) -> None:
        """A Kubernetes-like cluster: node pools over zones and pod groups filling it."""
        problem = cluster(
            nodes,
            groups,
            pods_per_node=pods_per_node,
            utilisation=utilisation,
            zones=zones,
            node_pools=[p.strip() for p in pools.split(",") if p.strip()],
            anti_affinity=anti_affinity,
            spread=spread,
            seed=seed,
        )
        dump_problem(problem, output)
        pods = sum(i.count for i in problem.items)
        announce(
            output,
            f"wrote {output}: {len(problem.bins)} nodes, {len(problem.items)} groups, {pods} pods",
            {"nodes": len(problem.bins), "groups": len(problem.items), "pods": pods},
            as_json,
        )

    @group.command("binpack")
    def generate_binpack(
        output: Output,
        items: Annotated[int, typer.Option(help="number of items")] = 120,
        capacity: Annotated[int, typer.Option(help="bin capacity (every dimension)")] = 150,
        low: Annotated[int, typer.Option(help="smallest item size")] = 20,
        high: Annotated[int, typer.Option(help="largest item size")] = 100,
        dims: Annotated[int, typer.Option(help="dimensions (vector bin packing when > 1)")] = 1,
        seed: Seed = 0,
        as_json: Json = False,
    ) -> None:
        """Falkenauer-U-like bin packing: uniform item sizes, identical bins."""
        problem = binpack(items, capacity, low, high, dims=dims, seed=seed)
        dump_problem(problem, output)
        items_total = sum(i.count for i in problem.items)
        announce(
            output,
            f"wrote {output}: {items_total} items in {len(problem.items)} "
            f"sizes, {len(problem.bins)} bins (first-fit-decreasing), lower bound "
            f"{problem.meta['lower_bound']}",
            {
                "items": items_total,
                "sizes": len(problem.items),
                "bins": len(problem.bins),
                "lower_bound": problem.meta["lower_bound"],
            },
            as_json,
        )
