"""Readable plan summaries for the terminal (rich tables)."""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from .ir import Problem
from .quantity import format_quantity
from .solution import Solution

# Problem families with a summary of their own, keyed by problem.meta["family"].
# Each entry is "module:function" taking (console, problem, solution).
FAMILY_SUMMARIES: dict[str, str] = {
    "edge": "engine.edge.topology:print_edge_summary",
}

# Problem families that explain unplaced items in their own terms (kube-scheduler style reasons).
# Each entry is "module:function" taking (problem, solution) and returning the solution with
# Unplaced.reasons filled in.
FAMILY_EXPLAINERS: dict[str, str] = {
    "kubernetes": "engine.kube:explain_unplaced",
}

MAX_ROWS = 15


def _family_hook(table: dict[str, str], problem: Problem) -> Callable[..., object] | None:
    family = problem.meta.get("family") if isinstance(problem.meta, dict) else None
    if family not in table:
        return None
    module, func = table[family].split(":")
    hook: Callable[..., object] = getattr(importlib.import_module(module), func)
    return hook


def explain(problem: Problem, solution: Solution) -> Solution:
    """Fill in family-specific reasons for unplaced items (no-op for plain IR problems)."""
    hook = _family_hook(FAMILY_EXPLAINERS, problem)
    if hook is None:
        return solution
    explained = hook(problem, solution)
    assert isinstance(explained, Solution)
    return explained


def _levels(problem: Problem, values: tuple[float | None, ...] | None) -> str:
    if not values:
        return "-"
    parts = []
    tiers = len({i.priority for i in problem.items}) > 1
    for level, v in zip(problem.objective, values, strict=False):
        name = "+".join(level)
        note = " (priority-weighted)" if tiers and "placed" in level else ""
        parts.append(f"{name}={'-' if v is None else format(v, '.6g')}{note}")
    return ", ".join(parts)


def print_summary(console: Console, problem: Problem, solution: Solution) -> None:
    total = sum(i.count for i in problem.items)
    placed = sum(p.count for p in solution.placements)
    head = (
        f"[bold]{problem.name}[/bold]: {solution.status} by {solution.backend} in "
        f"{solution.seconds:.2f}s, verified={'yes' if solution.verified else 'no'}"
    )
    console.print(head)
    console.print(f"  objective  {_levels(problem, solution.objective)}")
    if solution.bound:
        console.print(f"  bound      {_levels(problem, solution.bound)}")
    used = {p.bin for p in solution.placements}
    console.print(
        f"  placed {placed}/{total} items of {len(problem.items)} groups on "
        f"{len(used)}/{len(problem.bins)} bins"
    )
    for v in solution.info.get("violations", [])[:10]:
        console.print(f"  [red]violation[/red] {v}")
    if solution.placements:
        _bin_table(console, problem, solution)
    if solution.unplaced:
        table = Table(title="unplaced", show_edge=False)
        table.add_column("group")
        table.add_column("count", justify="right")
        table.add_column("why")
        for u in solution.unplaced[:MAX_ROWS]:
            table.add_row(u.item, str(u.count), u.reasons or "")
        if len(solution.unplaced) > MAX_ROWS:
            table.add_row(f"… {len(solution.unplaced) - MAX_ROWS} more", "", "")
        console.print(table)
    hook = _family_hook(FAMILY_SUMMARIES, problem)
    if hook is not None:
        hook(console, problem, solution)


def _bin_table(console: Console, problem: Problem, solution: Solution) -> None:
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    items: dict[str, int] = defaultdict(int)
    for p in solution.placements:
        group = problem.item_by_name[p.item]
        items[p.bin] += p.count
        for r, amount in group.demand.items():
            load[p.bin][r] += amount * p.count
    resources = [r for r in problem.resources if any(r in b.capacity for b in problem.bins)][:4]
    table = Table(title="bins", show_edge=False)
    table.add_column("bin")
    table.add_column("items", justify="right")
    for r in resources:
        table.add_column(r, justify="right")
    rows = [b for b in problem.bins if b.name in items]
    for b in rows[:MAX_ROWS]:
        cells = []
        for r in resources:
            cap = b.capacity.get(r, 0)
            used = load[b.name].get(r, 0)
            pct = f" ({100 * used / cap:.0f}%)" if cap else ""
            cells.append(f"{format_quantity(r, used)}/{format_quantity(r, cap)}{pct}")
        table.add_row(b.name, str(items[b.name]), *cells)
    if len(rows) > MAX_ROWS:
        table.add_row(f"… {len(rows) - MAX_ROWS} more", "", *[""] * len(resources))
    console.print(table)
