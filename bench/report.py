"""Reports from results.csv alone: per-suite tables (report.md) and PNG plots.

Plots: a Dolan–Moré performance profile across backends (time to reach the best known value),
and gap versus time (from each run's improvement trace) for every suite with traces.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

FAILURES = ("timeout", "crashed", "memory")
EPS = 1e-9
NO_PLAN_GAP = 100.0  # % gap charged to a run before its first plan (and the cap on any gap)

# One look per backend, fixed by name so a backend looks the same in every plot: colour, marker
# and line style all differ, so overlapping lines stay visible (an unknown backend gets the next).
STYLES = (
    {"color": "#1f77b4", "marker": "o", "linestyle": "-"},
    {"color": "#d62728", "marker": "s", "linestyle": "--"},
    {"color": "#2ca02c", "marker": "^", "linestyle": "-."},
    {"color": "#9467bd", "marker": "D", "linestyle": ":"},
    {"color": "#ff7f0e", "marker": "v", "linestyle": (0, (5, 1, 1, 1))},
    {"color": "#8c564b", "marker": "P", "linestyle": (0, (3, 1, 1, 1, 1, 1))},
)
KNOWN_STYLES = {"cpsat": 0, "milp": 1, "greedy": 2, "qubo": 3}


def backend_style(backend: str, others: list[str]) -> dict[str, Any]:
    """Colour, marker and line style of a backend: its own if known, else the next free one."""
    if backend in KNOWN_STYLES:
        return STYLES[KNOWN_STYLES[backend]]
    unknown = sorted(b for b in others if b not in KNOWN_STYLES)
    return STYLES[(len(KNOWN_STYLES) + unknown.index(backend)) % len(STYLES)]


def reference_kind(rows: list[dict[str, Any]]) -> str:
    """What the reference value of a suite's rows is: 'best known' (every instance has one),
    'best found' (none has: the best verified value of any backend), or 'best known or found'."""
    known = {r["instance"] for r in rows if r["best_known"] is not None}
    instances = {r["instance"] for r in rows}
    if instances and known == instances:
        return "best known"
    return "best found" if not known else "best known or found"


def read_rows(directory: Path) -> list[dict[str, Any]]:
    path = directory / "results.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for col in (
            "value",
            "bound_value",
            "best_known",
            "gap_best",
            "gap_bound",
            "seconds",
            "wall_seconds",
            "first_plan_s",
            "peak_mem_mb",
            "time_limit",
        ):
            row[col] = float(row[col]) if row.get(col) not in (None, "") else None
        row["verified"] = row.get("verified") == "True"
        row["optimal_known"] = row.get("optimal_known") == "True"
        trace = json.loads(row["trace"]) if row.get("trace") else []
        # (seconds, value) pairs only: a crashed run's row must not break the report
        row["trace"] = [p for p in trace if isinstance(p, list) and len(p) == 2]
    return rows


def _minimised(rows: list[dict[str, Any]]) -> bool:
    """Direction of the reported level (each row records it; all rows of a suite agree)."""
    return next((r.get("sense") != "max" for r in rows if r.get("sense")), True)


def reference_values(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Per (suite, instance): the best known value, else the best verified value of any backend."""
    by_instance: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_instance[(r["suite"], r["instance"])].append(r)
    out: dict[tuple[str, str], float] = {}
    for key, group in by_instance.items():
        known = [r["best_known"] for r in group if r["best_known"] is not None]
        if known:
            out[key] = known[0]
            continue
        values = [r["value"] for r in group if r["verified"] and r["value"] is not None]
        if values:
            out[key] = min(values) if _minimised(group) else max(values)
    return out


def _reached(value: float | None, ref: float | None, minimise: bool) -> bool:
    if value is None or ref is None:
        return False
    return value <= ref + EPS if minimise else value >= ref - EPS


def _time_to_reach(row: dict[str, Any], ref: float | None, minimise: bool) -> float:
    for t, v in row["trace"]:
        if _reached(v, ref, minimise):
            return max(float(t), 1e-3)
    if _reached(row["value"], ref, minimise):
        return max(row["wall_seconds"] or row["seconds"] or 1e-3, 1e-3)
    return math.inf


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (suite, backend)."""
    refs = reference_values(rows)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["suite"], r["backend"])].append(r)
    suite_dir = {
        s: _minimised([r for r in rows if r["suite"] == s]) for s in {r["suite"] for r in rows}
    }
    greedy_value = {
        (r["suite"], r["instance"]): r["value"]
        for r in rows
        if r["backend"] == "greedy" and r["verified"]
    }
    out = []
    for (suite, backend), group in sorted(groups.items()):
        minimise = suite_dir[suite]
        verified = [r for r in group if r["verified"]]
        gaps = [r["gap_best"] for r in verified if r["gap_best"] is not None]
        bound_gaps = [r["gap_bound"] for r in verified if r["gap_bound"] is not None]
        at_best = sum(
            _reached(r["value"], refs.get((suite, r["instance"])), minimise) for r in verified
        )
        with_known = sum(1 for r in group if r["best_known"] is not None)
        vs_greedy = [
            (greedy_value[(suite, r["instance"])] - r["value"]) * (1 if minimise else -1)
            for r in verified
            if greedy_value.get((suite, r["instance"])) is not None and r["value"] is not None
        ]
        out.append(
            {
                "suite": suite,
                "backend": backend,
                "runs": len(group),
                "verified": len(verified),
                "optimal": sum(r["status"] == "optimal" for r in group),
                "at_best": at_best,
                "with_known": with_known,
                "mean_gap": statistics.fmean(gaps) if gaps else None,
                "max_gap": max(gaps) if gaps else None,
                "mean_gap_bound": statistics.fmean(bound_gaps) if bound_gaps else None,
                "median_s": statistics.median(r["wall_seconds"] or 0 for r in group),
                "median_first_plan_s": statistics.median(
                    [r["first_plan_s"] for r in verified if r["first_plan_s"] is not None]
                    or [math.nan]
                ),
                "better_than_greedy": sum(v > EPS for v in vs_greedy),
                "mean_saved_vs_greedy": statistics.fmean(vs_greedy) if vs_greedy else None,
                "failures": sum(r["status"] in FAILURES for r in group),
            }
        )
    return out


def time_to_reference(rows: list[dict[str, Any]], suite: str) -> list[dict[str, Any]]:
    """Per backend of the suite: how many runs reached the reference value, and the
    distribution of the time they took to reach it (from each run's improvement trace)."""
    refs = reference_values(rows)
    chosen = [r for r in rows if r["suite"] == suite and r["verified"]]
    minimise = _minimised(chosen) if chosen else True
    out = []
    for backend in sorted({r["backend"] for r in chosen}):
        times = sorted(
            t
            for r in chosen
            if r["backend"] == backend
            and math.isfinite(t := _time_to_reach(r, refs.get((suite, r["instance"])), minimise))
        )

        def at(q: float, times: list[float] = times) -> float | None:
            return times[min(len(times) - 1, int(q * len(times)))] if times else None

        out.append(
            {
                "backend": backend,
                "reached": len(times),
                "runs": sum(r["backend"] == backend for r in chosen),
                "p10": at(0.1),
                "median": at(0.5),
                "p90": at(0.9),
                "max": times[-1] if times else None,
            }
        )
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def performance_profile(rows: list[dict[str, Any]], suite: str, path: Path) -> bool:
    """Dolan–Moré: fraction of instances each backend reaches the reference within τ × the best time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subset = [r for r in rows if r["suite"] == suite]
    refs = reference_values(subset)
    minimise = _minimised(subset)
    backends = sorted({r["backend"] for r in subset})
    instances = sorted({r["instance"] for r in subset})
    times: dict[str, dict[str, float]] = {b: {} for b in backends}
    for r in subset:
        t = _time_to_reach(r, refs.get((suite, r["instance"])), minimise)
        times[r["backend"]][r["instance"]] = min(
            t, times[r["backend"]].get(r["instance"], math.inf)
        )
    ratios: dict[str, list[float]] = {b: [] for b in backends}
    for inst in instances:
        best = min(times[b].get(inst, math.inf) for b in backends)
        for b in backends:
            t = times[b].get(inst, math.inf)
            ratios[b].append(t / best if math.isfinite(best) and math.isfinite(t) else math.inf)
    finite = [x for b in backends for x in ratios[b] if math.isfinite(x)]
    if not finite:
        return False
    tau_max = max(2.0, max(finite) * 1.5)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for b in backends:
        xs = sorted(x for x in ratios[b] if math.isfinite(x))
        n = len(ratios[b])
        steps_x = [1.0, *xs, tau_max]
        steps_y = [0.0, *[(i + 1) / n for i in range(len(xs))], len(xs) / n]
        style = backend_style(b, backends)
        ax.step(
            steps_x,
            steps_y,
            where="post",
            label=b,
            linewidth=1.8,
            alpha=0.85,
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markevery=list(range(1, len(xs) + 1)),  # where the profile steps up
            markersize=5,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlim(0.95, tau_max)  # markers at τ = 1 stay visible
    ax.set_ylim(0, 1.02)
    reference = reference_kind(subset)
    ax.set_xlabel(f"τ (time to reach the {reference} value / fastest backend's time)")
    ax.set_ylabel("fraction of instances")
    ax.set_title(f"Performance profile — {suite} ({len(instances)} instances)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _gap_at(run: dict[str, Any], ref: float | None, t: float, minimise: bool) -> float | None:
    """A run's gap (%) to the reference at time t: NO_PLAN_GAP before its first plan, capped
    there; None when the instance has no reference value."""
    if ref is None:
        return None
    seen = [v for (tt, v) in run["trace"] if tt <= t]
    if not seen:
        return NO_PLAN_GAP
    diff = (seen[-1] - ref) if minimise else (ref - seen[-1])
    gap = 100 * diff / abs(ref) if ref else abs(diff)
    return min(max(gap, 0.0), NO_PLAN_GAP)


def gap_curves(
    subset: list[dict[str, Any]],
) -> tuple[float, float, dict[str, tuple[list[float], list[float]]]]:
    """(time limit, end of the time axis, backend -> (times, mean gap %)) for one suite's rows;
    backends without a trace, or without a reference value on any instance, are left out."""
    refs = reference_values(subset)
    minimise = _minimised(subset)
    limit = max((r["time_limit"] or 0) for r in subset) or 10.0
    last = max((t for r in subset for (t, _) in r["trace"]), default=limit)
    end = max(limit, last) * 1.02
    grid = [end * (10 ** (k / 20)) / 1000 for k in range(0, 61)]  # 1/1000 of the end .. the end
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for backend in sorted({r["backend"] for r in subset}):
        runs = [r for r in subset if r["backend"] == backend]
        if not any(r["trace"] for r in runs):
            continue
        curve = []
        for t in grid:
            gaps = [_gap_at(r, refs.get((r["suite"], r["instance"])), t, minimise) for r in runs]
            known = [g for g in gaps if g is not None]
            curve.append(statistics.fmean(known) if known else math.nan)
        if not all(math.isnan(c) for c in curve):
            curves[backend] = (grid, curve)
    return limit, end, curves


def gap_vs_time(rows: list[dict[str, Any]], suite: str, path: Path) -> bool:
    """Mean gap to the reference value over time, per backend, from the improvement traces.

    A run counts NO_PLAN_GAP (100 %) until its first plan, so every backend is drawn from the
    start, and a backend whose first plan arrives after the time limit (a solver overrunning it)
    still appears: the time axis runs to the last trace point of any run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subset = [r for r in rows if r["suite"] == suite]
    limit, end, curves = gap_curves(subset)
    backends = sorted(curves)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    drawn = False
    for backend, (grid, curve) in sorted(curves.items()):
        style = backend_style(backend, backends)
        ax.plot(
            grid,
            curve,
            label=backend,
            linewidth=1.8,
            alpha=0.85,
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markevery=6,
            markersize=5,
        )
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    if limit < end:
        ax.axvline(limit, color="grey", linewidth=0.8, linestyle=":", label="time limit")
    ax.set_xscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"mean gap to the {reference_kind(subset)} value (%)")
    ax.set_title(f"Gap versus time — {suite} (100 % until a run's first plan)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


REFERENCE_NOTE = {
    "best known": "the best known value of each instance (its source's optimum or record).",
    "best found": "no best known values exist for these instances: the best verified value any "
    "backend found in this run (gaps to best known are '–').",
    "best known or found": "the best known value where the source has one, else the best "
    "verified value any backend found in this run.",
}


def write_report(directory: Path) -> Path:
    rows = read_rows(directory)
    meta_path = directory / "suite.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    lines = ["# placer benchmark report", ""]
    if meta.get("command"):
        lines += [f"Reproduce: `{meta['command']}`", ""]
    if rows:
        env = rows[0]
        lines += [
            f"placer {env.get('placer_commit', '')}, Python {env.get('python', '')}, ortools "
            f"{env.get('ortools', '')}, PuLP {env.get('pulp', '')}, highspy {env.get('highspy', '')}, "
            f"dimod {env.get('dimod', '')}; {env.get('cpu', '')}, {env.get('cores', '')} cores.",
            "",
        ]
    for note in meta.get("skipped", []):
        lines.append(f"> skipped: {note}")
    if not rows:
        lines.append("No runs recorded.")
    table = summarise(rows)
    for suite in sorted({r["suite"] for r in rows}):
        reference = reference_kind([r for r in rows if r["suite"] == suite])
        lines += [
            f"## {suite}",
            "",
            f"Reference value: {REFERENCE_NOTE[reference]}",
            "",
            f"| backend | runs | verified | proved optimal | at {reference} | mean gap to best known | max gap | "
            "mean gap to bound | median s | median s to first plan | better than greedy | "
            "mean saved vs greedy | failures |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in (x for x in table if x["suite"] == suite):
            lines.append(
                f"| {s['backend']} | {s['runs']} | {s['verified']} | {s['optimal']} | "
                f"{s['at_best']}/{s['runs']} | {_pct(s['mean_gap'])} | {_pct(s['max_gap'])} | "
                f"{_pct(s['mean_gap_bound'])} | {_num(s['median_s'])} | {_num(s['median_first_plan_s'])} | "
                f"{s['better_than_greedy']} | {_num(s['mean_saved_vs_greedy'])} | {s['failures']} |"
            )
        lines.append("")
        lines += [
            f"Time to reach the {reference} value (runs that reached it; seconds from the start "
            "of the run, from its improvement trace):",
            "",
            "| backend | reached | p10 | median | p90 | max |",
            "|---|---|---|---|---|---|",
        ]
        for t in time_to_reference(rows, suite):
            lines.append(
                f"| {t['backend']} | {t['reached']}/{t['runs']} | {_num(t['p10'])} | "
                f"{_num(t['median'])} | {_num(t['p90'])} | {_num(t['max'])} |"
            )
        lines.append("")
        profile = directory / f"{suite}-profile.png"
        if performance_profile(rows, suite, profile):
            lines += [f"![performance profile]({profile.name})", ""]
        gaps = directory / f"{suite}-gap-vs-time.png"
        if gap_vs_time(rows, suite, gaps):
            lines += [f"![gap versus time]({gaps.name})", ""]
        worst = sorted(
            (r for r in rows if r["suite"] == suite and r["status"] in FAILURES),
            key=lambda r: r["instance"],
        )[:10]
        if worst:
            lines += ["Failed runs:", ""]
            lines += [
                f"- {r['instance']} / {r['backend']}: {r['status']} — {r['error']}" for r in worst
            ]
            lines.append("")
    out = directory / "report.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
