"""``python -m bench openb -o DIR``: the FGD experiment on the openb trace."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from engine.errors import InputError


def _ints(text: str, option: str) -> list[int]:
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InputError(f"{part!r} is not a seed or a range like 42-51", path=option) from None
    if not out:
        raise InputError("no seeds given", path=option)
    return out


def _names(text: str | None, default: tuple[str, ...]) -> list[str]:
    if text is None:
        return list(default)
    return [p.strip() for p in text.split(",") if p.strip()]


def openb(
    output: Annotated[Path, typer.Option("--output", "-o", help="results directory")] = Path(
        "bench-results/openb"
    ),
    pod_lists: Annotated[
        str | None,
        typer.Option("--pod-lists", help="comma list (default: the 17 lists of the FGD paper)"),
    ] = None,
    seeds: Annotated[str, typer.Option(help="comma list or ranges, e.g. 42-51")] = "42-51",
    policies: Annotated[
        str | None,
        typer.Option(
            help="comma list (default: every online policy); the planned ones, "
            "offline,window-50,window-500, solve placer Problems and take minutes per run"
        ),
    ] = None,
    cluster: Annotated[
        str,
        typer.Option(help="gpu: the reference's 1,213 GPU nodes; all: the whole 1,523-node trace"),
    ] = "gpu",
    arrival_ratio: Annotated[
        float, typer.Option("--arrival-ratio", help="arrived GPU request cap, × capacity")
    ] = 1.3,
    data: Annotated[Path | None, typer.Option(help="folder of the openb CSV files")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="runs at once")] = 1,
    sample_nodes: Annotated[
        int | None, typer.Option(help="a seeded sample of this many nodes (for quick looks)")
    ] = None,
    max_arrivals: Annotated[
        int | None, typer.Option(help="stop each run after this many arrivals")
    ] = None,
) -> None:
    """Online policies on the openb trace: results.csv, curves.csv, report.md and plots."""
    from engine.commands import check_at_least
    from engine.extras import require

    require("bench", "python -m bench openb (its plots)")  # before the runs, not after them

    from .report import write_report
    from .runner import DATA, POD_LISTS, ResultFiles, plan_runs, run_all

    check_at_least(jobs, 1, "--jobs")
    check_at_least(sample_nodes, 1, "--sample-nodes")
    check_at_least(max_arrivals, 1, "--max-arrivals")
    from engine.gpu.policies import POLICIES

    runs = plan_runs(
        data=data or DATA,
        pod_lists=_names(pod_lists, POD_LISTS),
        seeds=_ints(seeds, "--seeds"),
        policies=_names(policies, tuple(POLICIES)),
        cluster=cluster,
        ratio=arrival_ratio,
        sample_nodes=sample_nodes,
        max_arrivals=max_arrivals,
    )
    output.mkdir(parents=True, exist_ok=True)
    files = ResultFiles(output)
    todo = len([r for r in runs if r.key not in files.done()])
    print(f"bench openb: {len(runs)} runs, {len(runs) - todo} already done", file=sys.stderr)
    meta_path = output / "suite.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta["command"] = "python -m bench " + " ".join(map(shlex.quote, sys.argv[1:]))
    load = _load()
    if load:
        meta["load"] = load
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    started = time.monotonic()
    count = 0

    def on_done(spec: object, row: dict[str, object]) -> None:
        nonlocal count
        count += 1
        print(
            f"[{count}/{todo}] {row['pod_list']} seed {row['seed']} {row['policy']}: "
            f"{row['alloc_130']} % at 130 %, {row['seconds']} s "
            f"({time.monotonic() - started:.0f} s elapsed)",
            file=sys.stderr,
        )

    run_all(runs, files, jobs, on_done)
    print(f"bench openb: wrote {write_report(output)}", file=sys.stderr)


def _load() -> str:
    try:
        import os

        one, five, _ = os.getloadavg()
        return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) when the suite started"
    except OSError:
        return ""
