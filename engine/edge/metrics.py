"""What an edge plan means to people: per-tier load, task latency and latency-bound violations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from ..ir import Problem
from ..solution import Solution
from ..summary import display_resources, human_quantity

TIER_LABEL = "placer.edge/tier"
TIER_ORDER = ("device", "edge", "cloud")
MAX_LISTED = 10


@dataclass(frozen=True)
class TierLoad:
    nodes: int = 0
    used: int = 0
    tasks: int = 0
    demand: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)

    def utilisation(self, resource: str) -> float | None:
        cap = self.capacity.get(resource, 0)
        return self.demand.get(resource, 0) / cap if cap else None


@dataclass(frozen=True)
class EdgeMetrics:
    tasks: int  # replicas in the problem
    placed: int
    total_latency: float  # ms, summed over placed replicas
    mean_latency: float | None
    p95_latency: float | None
    worst_latency: float | None
    late: int  # placed replicas whose latency exceeds their bound
    unplaced: int
    unplaceable: int  # replicas no node can serve within their bound
    tiers: dict[str, TierLoad]

    @property
    def violations(self) -> int:
        """Tasks that miss their bound: placed too far, or not served at all."""
        return self.late + self.unplaced


def edge_metrics(problem: Problem, counts: Mapping[tuple[str, str], int]) -> EdgeMetrics:
    """Latency and load figures of a plan, from the item costs the builder wrote (ms)."""
    latencies: list[float] = []
    weights: list[int] = []
    late = 0
    placed_per_item: dict[str, int] = defaultdict(int)
    tier_tasks: dict[str, int] = defaultdict(int)
    tier_demand: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    used_bins: dict[str, set[str]] = defaultdict(set)
    for (item, bin_name), n in counts.items():
        group = problem.item_by_name.get(item)
        bin_ = problem.bin_by_name.get(bin_name)
        if group is None or bin_ is None or n <= 0:
            continue
        placed_per_item[item] += n
        tier = bin_.labels.get(TIER_LABEL, "other")
        tier_tasks[tier] += n
        used_bins[tier].add(bin_name)
        for r, amount in group.demand.items():
            tier_demand[tier][r] += amount * n
        latency = group.cost.get(bin_name)
        if latency is None:
            continue
        latencies.append(latency)
        weights.append(n)
        bound = group.meta.get("max_latency")
        if bound is not None and latency > bound + 1e-9:
            late += n
    tiers: dict[str, TierLoad] = {}
    node_count: dict[str, int] = defaultdict(int)
    capacity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in problem.bins:
        tier = b.labels.get(TIER_LABEL, "other")
        node_count[tier] += 1
        for r, cap in b.capacity.items():
            capacity[tier][r] += cap
    for tier in sorted(node_count, key=lambda t: (*TIER_ORDER, t).index(t)):
        tiers[tier] = TierLoad(
            nodes=node_count[tier],
            used=len(used_bins[tier]),
            tasks=tier_tasks[tier],
            demand=dict(tier_demand[tier]),
            capacity=dict(capacity[tier]),
        )
    total = sum(i.count for i in problem.items)
    placed = sum(placed_per_item.values())
    unplaceable_names = set(problem.meta.get("unplaceable", {}))
    unplaceable = sum(i.count for i in problem.items if i.name in unplaceable_names)
    if latencies:
        values = np.repeat(np.asarray(latencies), np.asarray(weights))
        mean: float | None
        p95: float | None
        worst: float | None
        mean, p95, worst = (
            float(values.mean()),
            float(np.percentile(values, 95)),
            float(values.max()),
        )
        total_latency = float(values.sum())
    else:
        mean = p95 = worst = None
        total_latency = 0.0
    return EdgeMetrics(
        tasks=total,
        placed=placed,
        total_latency=total_latency,
        mean_latency=mean,
        p95_latency=p95,
        worst_latency=worst,
        late=late,
        unplaced=total - placed,
        unplaceable=unplaceable,
        tiers=tiers,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g} ms"


def print_edge_summary(console: Console, problem: Problem, solution: Solution) -> None:
    m = edge_metrics(problem, solution.counts())
    resources, _ = display_resources(problem)
    table = Table(title="tiers", show_edge=False)
    table.add_column("tier")
    table.add_column("nodes used", justify="right")
    table.add_column("tasks", justify="right")
    for r in resources:
        table.add_column(r, justify="right")
    for tier, load in m.tiers.items():
        cells = []
        for r in resources:
            util = load.utilisation(r)
            used = human_quantity(r, load.demand.get(r, 0))
            cells.append(used if util is None else f"{used} ({100 * util:.0f}%)")
        table.add_row(tier, f"{load.used}/{load.nodes}", str(load.tasks), *cells)
    console.print(table)
    console.print(
        f"  task latency: mean {_ms(m.mean_latency)}, p95 {_ms(m.p95_latency)}, "
        f"worst {_ms(m.worst_latency)}, total {m.total_latency:.6g} ms"
    )
    console.print(
        f"  latency-bound violations: {m.late} placed over their bound, "
        f"{m.unplaced} unplaced ({m.unplaceable} unplaceable)"
    )
    reasons: dict[str, Any] = problem.meta.get("unplaceable", {})
    for name, why in list(reasons.items())[:MAX_LISTED]:
        console.print(f"  [yellow]unplaceable[/yellow] {name}: {why}")
    if len(reasons) > MAX_LISTED:
        console.print(f"  … {len(reasons) - MAX_LISTED} more unplaceable tasks")
