"""report.md and one allocation-curve plot per pod list, from results.csv and curves.csv alone.

Each table puts the suite's means over seeds beside the published means of the FGD paper's
simulator (``fgd_reference/analysis_allo_discrete.csv``), where that file is at hand.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from .runner import DATA, POD_LISTS, short_name

REFERENCE = DATA / "fgd_reference" / "analysis_allo_discrete.csv"
REFERENCE_POLICY = {
    "01-Random": "random",
    "02-DotProd": "dotprod",
    "03-GpuClustering": "gpu-clustering",
    "04-GpuPacking": "gpu-packing",
    "05-BestFit": "bestfit",
    "06-FGD": "fgd",
}
POLICY_ORDER = (
    "random",
    "dotprod",
    "gpu-clustering",
    "gpu-packing",
    "bestfit",
    "fgd",
    "placer",
    "window-50",
    "window-500",
    "offline",
)
CHALLENGERS = ("placer", "window-50", "window-500")  # each compared with fgd seed by seed
OFFLINE_GOAL = 99.5  # % allocated at 130 %, or within OFFLINE_GAP of the plan's own LP bound
OFFLINE_GAP = 0.001  # relative
FAITHFUL = ("default", "gpushare40", "multigpu50")
TOLERANCE = 0.5


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _float(x: str | None) -> float:
    return float(x) if x not in (None, "") else math.nan


def published(path: Path = REFERENCE) -> dict[tuple[str, str], dict[str, Any]]:
    """(pod list, policy) → mean curve over seeds and the per-seed values at 130 %."""
    groups: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for row in _read(path):
        policy = REFERENCE_POLICY.get(row.get("sc_policy", ""))
        if policy is None:
            continue
        curve = [_float(row.get(str(x))) for x in range(131)]
        groups[(short_name(row["workload"]), policy)].append(curve)
    return {key: {"curve": _mean_curve(curves)} for key, curves in groups.items()}


def _mean_curve(curves: list[list[float]]) -> list[float]:
    out = []
    for values in zip(*curves, strict=True):
        finite = [v for v in values if not math.isnan(v)]
        out.append(statistics.fmean(finite) if finite else math.nan)
    return out


def _mean(xs: list[float]) -> float:
    finite = [x for x in xs if not math.isnan(x)]
    return statistics.fmean(finite) if finite else math.nan


def _f(x: float, digits: int = 2) -> str:
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _ordered(names: set[str], order: tuple[str, ...]) -> list[str]:
    return [n for n in order if n in names] + sorted(names - set(order))


def plot_curves(
    pod_list: str,
    curves: dict[str, list[float]],
    reference: dict[str, list[float]],
    path: Path,
    cluster: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (full, zoom) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    xs = list(range(131))
    for policy in _ordered(set(curves), POLICY_ORDER):
        style = {"linewidth": 2.4} if policy in ("placer", "fgd") else {"linewidth": 1.3}
        for ax in (full, zoom):
            (line,) = ax.plot(xs, curves[policy], label=policy, **style)
            ref = reference.get(policy)
            if ref is not None:
                ax.plot(xs, ref, linestyle=":", color=line.get_color(), linewidth=1.0)
    full.plot(xs, xs, color="grey", linewidth=0.6, linestyle="--")
    full.set_xlim(0, 130)
    full.set_ylim(0, 100)
    zoom.set_xlim(85, 130)
    lows = [c[85] for c in curves.values() if not math.isnan(c[85])]
    zoom.set_ylim(max(0.0, min(lows, default=80.0) - 1), 100)
    for ax in (full, zoom):
        ax.set_xlabel("arrived GPU request (% of capacity)")
        ax.set_ylabel("GPU allocation (% of capacity)")
        ax.grid(True, alpha=0.3)
    full.set_title(f"openb {pod_list} ({cluster} cluster): mean over seeds")
    zoom.set_title("85–130 % (dotted: published means)")
    zoom.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(directory: Path, reference_path: Path = REFERENCE) -> Path:
    rows = _read(directory / "results.csv")
    curve_rows = _read(directory / "curves.csv")
    meta_path = directory / "suite.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    ref = published(reference_path)
    lines = ["# openb: the FGD experiment on the Alibaba GPU trace", ""]
    if meta.get("command"):
        lines += [f"Reproduce: `{meta['command']}`", ""]
    if rows:
        commits = sorted({r.get("placer_commit", "") for r in rows})
        lines += [
            f"placer {', '.join(commits)}; {rows[0].get('cpu', '')}"
            + (f"; {meta['load']}" if meta.get("load") else "")
            + ".",
            "",
        ]
    if not rows:
        (directory / "report.md").write_text("\n".join([*lines, "No runs recorded.", ""]))
        return directory / "report.md"
    lines += [
        "Each run: the pod list in a seeded order, then pods drawn with replacement until the",
        "arrived GPU request reaches the arrival ratio × capacity; each pod is placed once on",
        "arrival or stays pending. Allocation = allocated milli-GPU / capacity, at 100 % and",
        "130 % arrived, mean over seeds (published: the FGD paper's simulator, same seeds 42–51,",
        "its own random streams). Every run's placements are checked device by device",
        "(`engine.gpu.check`).",
        "",
    ]
    clusters = sorted({r["cluster"] for r in rows})
    for cluster in clusters:
        lines += _cluster_section(directory, cluster, rows, curve_rows, ref)
    out = directory / "report.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _cluster_section(
    directory: Path,
    cluster: str,
    all_rows: list[dict[str, str]],
    curve_rows: list[dict[str, str]],
    ref: dict[tuple[str, str], dict[str, Any]],
) -> list[str]:
    rows = [r for r in all_rows if r["cluster"] == cluster]
    lists = _ordered({r["pod_list"] for r in rows}, POD_LISTS)
    policies = _ordered({r["policy"] for r in rows}, POLICY_ORDER)
    by: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by[(r["pod_list"], r["policy"])].append(r)

    def mean_of(pod_list: str, policy: str, column: str) -> float:
        return _mean([_float(r[column]) for r in by.get((pod_list, policy), [])])

    def ref_at(pod_list: str, policy: str, x: int) -> float:
        entry = ref.get((pod_list, policy))
        return entry["curve"][x] if entry else math.nan

    nodes = rows[0]["nodes"]
    gpus = rows[0]["gpus"]
    seeds = sorted({int(r["seed"]) for r in rows})
    verified = sum(r["verified"] == "True" for r in rows)
    lines = [
        f"## Cluster `{cluster}`: {nodes} nodes, {gpus} GPUs",
        "",
        f"{len(rows)} runs ({len(lists)} pod lists × seeds {seeds[0]}–{seeds[-1]} × "
        f"{len(policies)} policies); {verified} verified device by device.",
        "",
    ]
    if cluster != "gpu":
        lines += [
            "The published means were measured on the 1,213 GPU nodes only (cluster `gpu`); "
            "they are shown here for orientation, not as a like-for-like comparison.",
            "",
        ]
    faithful = [p for p in FAITHFUL if p in lists and (p, "fgd") in ref]
    if "fgd" in policies and faithful:
        lines += [
            "### Faithfulness: fgd against the published FGD means (130 % arrived)",
            "",
            "| pod list | fgd here | published | difference | within ±0.5 |",
            "|---|---|---|---|---|",
        ]
        for p in faithful:
            here, pub = mean_of(p, "fgd", "alloc_130"), ref_at(p, "fgd", 130)
            ok = abs(here - pub) <= TOLERANCE
            lines.append(
                f"| {p} | {_f(here)} | {_f(pub)} | {here - pub:+.2f} | {'yes' if ok else 'NO'} |"
            )
        lines.append("")
    for x in (130, 100):
        lines += [
            f"### Allocation at {x} % arrived (%): here (published)",
            "",
            "| pod list | " + " | ".join(policies) + " |",
            "|---|" + "---|" * len(policies),
        ]
        for p in lists:
            cells = []
            for pol in policies:
                here, pub = mean_of(p, pol, f"alloc_{x}"), ref_at(p, pol, x)
                cells.append(_f(here) + ("" if math.isnan(pub) else f" ({_f(pub)})"))
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "### GPUs left unallocated at 130 % arrived (mean)",
        "",
        "| pod list | " + " | ".join(policies) + " |",
        "|---|" + "---|" * len(policies),
    ]
    for p in lists:
        lines.append(
            f"| {p} | "
            + " | ".join(_f(mean_of(p, pol, "unallocated_gpus_130"), 1) for pol in policies)
            + " |"
        )
    lines.append("")
    for challenger in (c for c in CHALLENGERS if c in policies and "fgd" in policies):
        lines += [
            f"### {challenger} against fgd at 130 % arrived",
            "",
            "Means over the seeds both ran.",
            "",
            f"| pod list | {challenger} | fgd | difference (points) | GPUs unallocated: "
            f"{challenger} / fgd | seeds where {challenger} ≥ fgd |",
            "|---|---|---|---|---|---|",
        ]
        for p in lists:
            if not by.get((p, challenger)):
                continue
            # seed by seed: only the seeds both ran
            fgd_by_seed = {r["seed"]: r for r in by.get((p, "fgd"), [])}
            pairs = [(r, fgd_by_seed.get(r["seed"])) for r in by.get((p, challenger), [])]
            pairs = [(x, y) for x, y in pairs if y is not None]
            if not pairs:
                continue

            def paired(column: str, side: int, pairs: list[Any] = pairs) -> float:
                return _mean([_float(pair[side][column]) for pair in pairs])

            a, b = paired("alloc_130", 0), paired("alloc_130", 1)
            wins = sum(_float(x["alloc_130"]) >= _float(y["alloc_130"]) for x, y in pairs)
            lines.append(
                f"| {p} | {_f(a)} | {_f(b)} | {a - b:+.2f} | "
                f"{_f(paired('unallocated_gpus_130', 0), 1)} / "
                f"{_f(paired('unallocated_gpus_130', 1), 1)} | {wins}/{len(pairs)} |"
            )
        lines.append("")
    if "offline" in policies:
        lines += _offline_table(lists, by)
    lines += [
        "### Seconds per run",
        "",
        "| policy | mean | max | arrivals per run (mean) |",
        "|---|---|---|---|",
    ]
    for pol in policies:
        secs = [_float(r["seconds"]) for r in rows if r["policy"] == pol]
        arrivals = [_float(r["arrivals"]) for r in rows if r["policy"] == pol]
        lines.append(f"| {pol} | {_f(_mean(secs))} | {_f(max(secs))} | {_f(_mean(arrivals), 0)} |")
    lines.append("")
    lines += ["### Allocation curves", ""]
    curves_by: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for r in curve_rows:
        if r["cluster"] == cluster:
            curves_by[(r["pod_list"], r["policy"])].append(
                [_float(r.get(str(x))) for x in range(131)]
            )
    for p in lists:
        curves = {
            pol: _mean_curve(curves_by[(p, pol)]) for pol in policies if curves_by.get((p, pol))
        }
        if not curves:
            continue
        reference = {pol: ref[(p, pol)]["curve"] for pol in policies if (p, pol) in ref}
        name = f"curve-{cluster}-{p}.png"
        plot_curves(p, curves, reference, directory / name, cluster)
        lines += [f"![{p}]({name})", ""]
    return lines


def offline_goal_met(alloc: float, bound: float) -> bool:
    """The issue's offline goal for one plan: ≥ 99.5 % allocated, or within 0.1 % of its bound."""
    return alloc >= OFFLINE_GOAL or alloc >= (1 - OFFLINE_GAP) * bound


def _offline_table(lists: list[str], by: dict[tuple[str, str], list[dict[str, str]]]) -> list[str]:
    lines = [
        "### Offline plans against their own LP bounds (130 % arrived)",
        "",
        f"Goal per plan: ≥ {OFFLINE_GOAL} % allocated, or within {100 * OFFLINE_GAP:.1f} % of "
        "the plan's LP bound (the device-pattern LP of `solvers/cpsat/fill`, an upper bound on "
        "any plan's allocation).",
        "",
        "| pod list | offline | LP bound | gap (points) | seeds meeting the goal | "
        "longest solve (s) |",
        "|---|---|---|---|---|---|",
    ]
    for p in lists:
        runs = by.get((p, "offline"), [])
        if not runs:
            continue
        allocs = [_float(r["alloc_130"]) for r in runs]
        bounds = [_float(r.get("lp_bound_130")) for r in runs]
        met = sum(offline_goal_met(a, b) for a, b in zip(allocs, bounds, strict=True))
        longest = max(_float(r.get("max_solve_seconds")) for r in runs)
        a, b = _mean(allocs), _mean(bounds)
        lines.append(
            f"| {p} | {_f(a)} | {_f(b)} | {b - a:.2f} | {met}/{len(runs)} | {_f(longest, 1)} |"
        )
    lines.append("")
    return lines
