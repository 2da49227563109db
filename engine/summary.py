"""Readable plan summaries for the terminal (rich tables), in the words of the problem's family.

A Kubernetes problem speaks of pods, workloads and nodes; an edge problem of tasks and nodes; a
plain IR problem of items, groups and bins. Counts are exact integers (the priority-weighted
``placed`` value is shown as placed/total per priority tier, never as the weighted number), the
node table shows the resources pods request plus cpu, memory, GPUs and pods, and piped output is
never cut to the terminal's width.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table

from .ir import Problem, minimised_terms
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

MAX_ROWS = 15  # node / unplaced rows shown; the plan file holds them all
MAX_RESOURCES = 8  # resource columns in the node table
MAX_CAVEATS = 10  # unmodelled rules listed


@dataclass(frozen=True)
class Words:
    item: str
    items: str
    group: str
    groups: str
    bin: str
    bins: str
    present: str  # items placed before the solve


# Vocabulary per problem family; "cluster" is a plain IR file whose bins are Kubernetes nodes.
WORDS: dict[str, Words] = {
    "kubernetes": Words("pod", "pods", "workload", "workloads", "node", "nodes", "running"),
    "cluster": Words("pod", "pods", "workload", "workloads", "node", "nodes", "already placed"),
    "edge": Words("task", "tasks", "task group", "task groups", "node", "nodes", "already placed"),
    "ir": Words("item", "items", "group", "groups", "bin", "bins", "already placed"),
}
NODE_NAME_LABEL = "kubernetes.io/hostname"


def words_for(problem: Problem) -> Words:
    """The vocabulary of the problem's family (an unknown family is a bug: it fails loudly)."""
    family = problem.meta.get("family") if isinstance(problem.meta, dict) else None
    if family is not None:
        return WORDS[family]
    if problem.bins and all(NODE_NAME_LABEL in b.labels for b in problem.bins):
        return WORDS["cluster"]
    return WORDS["ir"]


# ---------------------------------------------------------------- resources and quantities

_BINARY_UNITS = (
    ("Ei", 2**60),
    ("Pi", 2**50),
    ("Ti", 2**40),
    ("Gi", 2**30),
    ("Mi", 2**20),
    ("Ki", 2**10),
)
_BYTE_RESOURCES = re.compile(r"^(memory|ephemeral-storage|storage|hugepages-.+)$")


def is_gpu(resource: str) -> bool:
    """nvidia.com/gpu, amd.com/gpu, alibaba.com/gpu-milli, ...: any resource naming a GPU."""
    return "gpu" in resource.lower()


def _resource_rank(resource: str) -> tuple[int, str]:
    fixed = {"cpu": 0, "memory": 1, "pods": 3}
    if resource in fixed:
        return (fixed[resource], resource)
    return (2 if is_gpu(resource) else 4, resource)


def display_resources(problem: Problem) -> tuple[list[str], int]:
    """The resources worth a column: every resource some item requests, plus cpu, memory, pods
    and GPUs where bins have them; cpu, memory, GPUs, pods first. Returns (shown, left out)."""
    requested = {r for i in problem.items for r, amount in i.demand.items() if amount > 0}
    present = {r for b in problem.bins for r in b.capacity}
    core = {r for r in present if r in ("cpu", "memory", "pods") or is_gpu(r)}
    chosen = sorted(requested | core, key=_resource_rank)
    return chosen[:MAX_RESOURCES], max(0, len(chosen) - MAX_RESOURCES)


def _trim(number: float, digits: int) -> str:
    text = f"{number:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def human_quantity(resource: str, amount: int) -> str:
    """An exact base-unit amount for people: cpu in cores, bytes in binary units, counts as is."""
    if resource == "cpu":
        return _trim(amount / 1000, 3)
    if _BYTE_RESOURCES.match(resource):
        for suffix, unit in _BINARY_UNITS:
            if abs(amount) >= unit:
                value = amount / unit
                return _trim(value, 2 if value < 10 else 1) + suffix
        return f"{amount:,}"
    return f"{amount:,}"


def exact_number(value: float) -> str:
    """Integral values in full (8,952,870,000, not 8.95287e+09); others to 6 significant digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return f"{int(value):,}"
    return f"{value:.6g}"


# ---------------------------------------------------------------- placed items by priority


@dataclass(frozen=True)
class Tier:
    priority: int
    placed: int
    total: int
    weight: int  # of one item in the ``placed`` term


def placed_by_item(solution: Solution) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for p in solution.placements:
        out[p.item] += p.count
    return out


def tiers(problem: Problem, placed_items: Mapping[str, int]) -> list[Tier]:
    """Placed and total items per priority, highest priority first."""
    weights = problem.priority_weights()
    placed: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    weight: dict[int, int] = {}
    for i in problem.items:
        placed[i.priority] += min(placed_items.get(i.name, 0), i.count)
        total[i.priority] += i.count
        weight[i.priority] = weights[i.name]
    return [Tier(p, placed[p], total[p], weight[p]) for p in sorted(total, reverse=True)]


def tier_bound(problem: Problem, value: float, scale: float) -> list[int] | None:
    """The most items per tier (highest first) a bound on the weighted ``placed`` value allows:
    each tier outweighs all lower tiers together, so the value decodes tier by tier."""
    if scale <= 0 or not math.isfinite(value):
        return None
    left = math.floor(value / scale + 1e-9)
    out = []
    for t in tiers(problem, {}):
        most = min(t.total, max(0, left // t.weight))
        out.append(most)
        left -= most * t.weight
    return out


# ---------------------------------------------------------------- objective levels


def _level_name(level: Mapping[Any, float]) -> str:
    return "+".join(level)


def _placed_only(level: Mapping[Any, float]) -> bool:
    return set(level) == {"placed"}


def _cost_weighted_bins(problem: Problem) -> bool:
    return any(b.cost != 1.0 for b in problem.bins)


def _objective_text(problem: Problem, ts: list[Tier], solution: Solution, words: Words) -> str:
    parts = []
    for level, value in zip(problem.objective, solution.objective, strict=False):
        if _placed_only(level):
            placed, total = sum(t.placed for t in ts), sum(t.total for t in ts)
            parts.append(f"placed {placed:,}/{total:,} {words.items}")
        else:
            parts.append(f"{_level_name(level)}={exact_number(value)}")
    return ", ".join(parts)


def _placed_bound(problem: Problem, bound: tuple[float | None, ...]) -> list[int] | None:
    """Per tier, the most items the proven bound allows (the first placed-only level's)."""
    for level, value in zip(problem.objective, bound, strict=False):
        if _placed_only(level):
            return None if value is None else tier_bound(problem, value, level["placed"])
    return None


def _bound_text(
    problem: Problem, ts: list[Tier], bound: tuple[float | None, ...], words: Words
) -> str:
    parts = []
    most = _placed_bound(problem, bound)
    for level, value in zip(problem.objective, bound, strict=False):
        name = _level_name(level)
        if value is None:
            parts.append(f"{name} -")
        elif _placed_only(level) and most is not None:
            total = sum(t.total for t in ts)
            parts.append(f"placed ≤ {sum(most):,}/{total:,} {words.items}")
        else:
            sign = "≥" if minimised_terms(level) else "≤"
            parts.append(f"{name} {sign} {exact_number(value)}")
    return ", ".join(parts)


# ---------------------------------------------------------------- printing


def _print_wide(console: Console, renderable: RenderableType) -> None:
    """Piped output is not cut to the 80 columns rich assumes off a terminal: the table gets the
    width it needs. On a terminal, rich fits it to the window (cells wrap, never truncate)."""
    if console.is_terminal:
        console.print(renderable)
        return
    unbounded = console.options.update(max_width=1_000_000)
    need = Measurement.get(console, unbounded, renderable).maximum
    width = console.width
    if need <= width:
        console.print(renderable)
        return
    console.width = need  # rich clamps print(width=...) to the console's width
    try:
        console.print(renderable)
    finally:
        console.width = width


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


def print_summary(console: Console, problem: Problem, solution: Solution) -> None:
    words = words_for(problem)
    ts = tiers(problem, placed_by_item(solution))
    head = (
        f"[bold]{problem.name}[/bold]: {solution.status} by {solution.backend} in "
        f"{solution.seconds:.2f}s, verified={'yes' if solution.verified else 'no'}"
    )
    console.print(head)
    if note := solution.info.get("note"):
        console.print(f"  note       {note}", markup=False)
    if not solution.status.has_plan:
        for label, text in _why_no_plan(solution):
            console.print(f"  {label:<10} {text}", markup=False)
    if solution.objective:
        console.print(f"  objective  {_objective_text(problem, ts, solution, words)}")
    if solution.bound:
        console.print(f"  bound      {_bound_text(problem, ts, solution.bound, words)}")
    _print_counts(console, problem, solution, ts, words)
    for v in solution.info.get("violations", [])[:10]:
        console.print(f"  [red]violation[/red] {v}")
    if solution.placements:
        _bin_table(console, problem, solution, words)
    if solution.unplaced:
        _unplaced_table(console, problem, solution, words)
    _print_caveats(console, problem, words)
    hook = _family_hook(FAMILY_SUMMARIES, problem)
    if hook is not None:
        hook(console, problem, solution)


def _why_no_plan(solution: Solution) -> list[tuple[str, str]]:
    """Why a solve ended without a plan, and what to try: never a bare 'unknown'."""
    info = solution.info
    if solution.status == "infeasible":
        return [
            ("why", "proved: no plan meets every hard rule"),
            ("try", "the reasons below name the rules; relax one, or drop `required`/gangs"),
        ]
    if info.get("violations"):
        return [
            ("why", f"the {solution.backend} plan broke hard rules (listed below)"),
            ("try", "-b cpsat or -b milp (exact backends cover every rule)"),
        ]
    reason = info.get("reason") or info.get("stopped") or "no plan within the time limit"
    tries = ["more time (-t SECONDS)"]
    if solution.backend == "qubo":
        tries.append("more reads (-p num_reads=N)")
    if solution.backend not in ("cpsat", "greedy"):
        tries.append("-b cpsat (starts from the greedy plan, so it always has one)")
    return [("why", str(reason)), ("try", ", or ".join(tries))]


def _print_counts(
    console: Console, problem: Problem, solution: Solution, ts: list[Tier], words: Words
) -> None:
    placed = sum(t.placed for t in ts)
    total = sum(t.total for t in ts)
    present = sum(sum(i.placed.values()) for i in problem.items)
    used = {p.bin for p in solution.placements}
    line = f"  placed     {placed:,}/{total:,} {words.items}"
    if present:
        line += f" ({present:,} {words.present})"
    line += (
        f" of {len(problem.items):,} {words.groups} on {len(used):,}/{len(problem.bins):,} "
        f"{words.bins}"
    )
    console.print(line)
    if len(ts) > 1:
        most = _placed_bound(problem, solution.bound) if solution.bound else None
        cells = []
        for n, t in enumerate(ts):
            cell = f"{t.priority}: {t.placed:,}/{t.total:,}"
            if most is not None and most[n] != t.placed:
                cell += f" (≤ {most[n]:,} possible)"
            cells.append(cell)
        console.print(f"  priority   {', '.join(cells)}")
    if (
        used
        and any("bins_used" in level for level in problem.objective)
        and _cost_weighted_bins(problem)
    ):
        cost = sum(b.cost for b in problem.bins if b.name in used)
        console.print(
            f"  bins_used  {exact_number(cost)} is the summed `cost` of the {len(used):,} "
            f"{words.bins} used ({words.bins} cost {_cost_range(problem)}), not their number"
        )


def _cost_range(problem: Problem) -> str:
    costs = sorted({b.cost for b in problem.bins})
    low, high = exact_number(costs[0]), exact_number(costs[-1])
    return f"{low}–{high} each" if low != high else f"{low} each"


def _bin_table(console: Console, problem: Problem, solution: Solution, words: Words) -> None:
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    count: dict[str, int] = defaultdict(int)
    new: dict[str, int] = defaultdict(int)
    for p in solution.placements:
        group = problem.item_by_name[p.item]
        count[p.bin] += p.count
        new[p.bin] += max(0, p.count - group.placed.get(p.bin, 0))
        for r, amount in group.demand.items():
            load[p.bin][r] += amount * p.count
    device_load = _device_load(problem, solution)
    resources, hidden = display_resources(problem)
    # a `pods` resource column already counts the pods on each node; "new" only when some
    # items were placed before the solve
    counted = "pods" not in resources
    fresh = any(i.placed for i in problem.items)
    rows = [b for b in problem.bins if b.name in count]
    title = f"{words.bins} ({len(rows):,} used"
    title += f"; first {MAX_ROWS} shown)" if len(rows) > MAX_ROWS else ")"
    table = Table(title=title, show_edge=False)
    table.add_column(words.bin, overflow="fold")
    if counted:
        table.add_column(words.items, justify="right")
    if fresh:
        table.add_column(f"new {words.items}", justify="right")
    for r in resources:
        table.add_column(r, justify="right", overflow="fold")
    with_devices = any(b.devices for b in problem.bins)
    if with_devices:
        table.add_column("devices", justify="right", overflow="fold")
    for b in rows[:MAX_ROWS]:
        cells = [f"{count[b.name]:,}"] if counted else []
        if fresh:
            cells.append(f"{new[b.name]:,}")
        for r in resources:
            cap = b.capacity.get(r, 0)
            used = load[b.name].get(r, 0)
            if not cap and not used:
                cells.append("-")
                continue
            pct = f" ({100 * used / cap:.0f}%)" if cap else ""
            cells.append(f"{human_quantity(r, used)}/{human_quantity(r, cap)}{pct}")
        if with_devices:
            cells.append(_device_cell(b, device_load.get(b.name, {})))
        table.add_row(b.name, *cells)
    if len(rows) > MAX_ROWS:
        table.add_row(f"… {len(rows) - MAX_ROWS:,} more")
    _print_wide(console, table)
    units = "cpu in cores; " if "cpu" in resources else ""
    before = f", {words.items} placed before included" if fresh else ""
    note = f"  ({units}used/allocatable per {words.bin}{before}"
    note += f"; {hidden} more resource(s) in the plan file)" if hidden else ")"
    console.print(note)


def _device_load(problem: Problem, solution: Solution) -> dict[str, dict[str, int]]:
    """Per bin, the per-device resources its items use (a whole device counts its capacity)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in solution.placements:
        request = problem.item_by_name[p.item].devices
        bin_ = problem.bin_by_name.get(p.bin)
        if request is None or p.devices is None or bin_ is None:
            continue
        for d in p.devices:
            group = bin_.device_group_of.get(d)
            if group is None:
                continue
            use = group.capacity if request.share is None else request.share
            for r, amount in use.items():
                out[p.bin][r] += amount * p.count
    return out


def _device_cell(bin_: Any, used: Mapping[str, int]) -> str:
    """e.g. ``5,460/8,000 gpu-milli (68%)`` for each per-device resource of the bin."""
    capacity: dict[str, int] = defaultdict(int)
    for group in bin_.devices:
        for r, amount in group.capacity.items():
            capacity[r] += amount * group.count
    if not capacity:
        return f"{sum(g.count for g in bin_.devices)} device(s)" if bin_.devices else "-"
    parts = []
    for r, cap in sorted(capacity.items()):
        pct = f" ({100 * used.get(r, 0) / cap:.0f}%)" if cap else ""
        parts.append(f"{human_quantity(r, used.get(r, 0))}/{human_quantity(r, cap)} {r}{pct}")
    return "; ".join(parts)


def _unplaced_table(console: Console, problem: Problem, solution: Solution, words: Words) -> None:
    table = Table(title=f"not placed ({words.groups})", show_edge=False)
    table.add_column(words.group, overflow="fold")
    table.add_column(words.items, justify="right")
    table.add_column("why", overflow="fold")
    rows = [u for u in solution.unplaced if u.count]
    for u in rows[:MAX_ROWS]:
        table.add_row(u.item, f"{u.count:,}", u.reasons or "")
    if len(rows) > MAX_ROWS:
        table.add_row(f"… {len(rows) - MAX_ROWS:,} more", "", "")
    if rows:
        _print_wide(console, table)


def _print_caveats(console: Console, problem: Problem, words: Words) -> None:
    """Rules placer could not state exactly, per pod: the user must check these by hand."""
    unsupported = [u for u in problem.meta.get("unsupported") or () if isinstance(u, dict)]
    if not unsupported:
        return
    console.print(
        f"  not modelled: {len(unsupported):,} rule(s) placer cannot state exactly; the plan "
        "ignores them (check before applying):"
    )
    for u in unsupported[:MAX_CAVEATS]:
        console.print(f"    {u.get('pod', '?')}: {u.get('reason', '')}", markup=False)
    if len(unsupported) > MAX_CAVEATS:
        console.print(
            f"    … {len(unsupported) - MAX_CAVEATS:,} more in the plan (info.kubernetes.unsupported)"
        )


def progress_text(
    problem: Problem,
    seconds: float,
    objective: tuple[float, ...] | None,
    bound: tuple[float | None, ...] | None,
) -> str:
    """The live line of a solve on a terminal: elapsed time, the best plan's levels and the bound
    in the summary's words ('12.3s  best placed 9,752/10,000 pods, bins_used=1,251.8  bound
    placed ≤ 10,000/10,000 pods, bins_used ≥ 1,240')."""
    words = words_for(problem)
    total = sum(i.count for i in problem.items)

    def levels(values: tuple[float | None, ...], *, as_bound: bool) -> str:
        parts = []
        for level, value in zip(problem.objective, values, strict=False):
            if value is None:
                continue
            name = _level_name(level)
            if _placed_only(level):
                most = tier_bound(problem, value, level["placed"])
                if most is not None:
                    sign = "≤ " if as_bound else ""
                    parts.append(f"placed {sign}{sum(most):,}/{total:,} {words.items}")
                    continue
            if as_bound:
                sign = "≥" if minimised_terms(level) else "≤"
                parts.append(f"{name} {sign} {exact_number(value)}")
            else:
                parts.append(f"{name}={exact_number(value)}")
        return ", ".join(parts)

    text = f"{seconds:6.1f}s"
    text += f"  best {levels(objective, as_bound=False)}" if objective else "  no plan yet"
    shown = levels(bound, as_bound=True) if bound else ""
    return text + (f"  bound {shown}" if shown else "")
