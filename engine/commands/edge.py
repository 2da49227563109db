"""`placer edge compare FILE`: baselines and backends side by side on one edge problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .grammar import DEFAULT_THREADS, Json, Seed, Threads

if TYPE_CHECKING:
    from engine.ir import Problem

DEFAULT_METHODS = ("cloud-only", "edge-first", "greedy", "cpsat")


def _relaxed(file: Path) -> Problem:
    """The topology's problem with latency bounds not enforced (for simulator-style baselines)."""
    from engine.edge.topology import build_problem, parse_topology
    from engine.errors import InputError
    from engine.io import read_documents

    docs = read_documents(file)
    if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get("kind") != "EdgeTopology":
        raise InputError("--relaxed-baselines needs an EdgeTopology file", source=str(file))
    try:
        return build_problem(parse_topology(docs[0], str(file)), enforce_bounds=False)
    except InputError as exc:
        raise exc.with_source(str(file)) from None


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Edge–cloud task placement tools.")

    @group.command("compare")
    def compare_command(
        file: Annotated[
            Path, typer.Argument(help="EdgeTopology or IR file of the edge family", metavar="FILE")
        ],
        method: Annotated[
            list[str] | None,
            typer.Option(
                "--method",
                "-m",
                metavar="METHOD",
                help="cloud-only | edge-first | a backend (repeat; default: "
                + ", ".join(DEFAULT_METHODS)
                + ")",
            ),
        ] = None,
        time_limit: Annotated[
            float,
            typer.Option("--time-limit", "-t", metavar="SECONDS", help="seconds per backend"),
        ] = 10.0,
        threads: Threads = DEFAULT_THREADS,
        seed: Seed = 0,
        as_json: Json = False,
        relaxed: Annotated[
            bool,
            typer.Option(
                "--relaxed-baselines",
                help="run cloud-only/edge-first past latency bounds, counting late tasks "
                "(EdgeTopology files only)",
            ),
        ] = False,
    ) -> None:
        """Latency, bound violations and solve time of each method (all plans verified)."""
        from rich.console import Console
        from rich.table import Table

        from engine.edge.baselines import BASELINES, compare
        from engine.errors import InputError
        from engine.io import load
        from solvers import registry

        from . import check_solver_options

        methods = method or list(DEFAULT_METHODS)
        known = [*BASELINES, *registry.names()]
        if unknown := [m for m in methods if m not in known]:
            raise InputError(
                f"unknown method(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}",
                path="--method",
            )
        check_solver_options(time_limit, seed, threads)
        problem = load(file)
        if problem.meta.get("family") != "edge":
            raise InputError(
                "not an edge problem: compare needs an EdgeTopology (or its IR, family: edge); "
                "for other problems use placer solve -b NAME",
                source=str(file),
            )
        rows = compare(
            problem,
            methods,
            time_limit=time_limit,
            threads=threads,
            seed=seed,
            relaxed=_relaxed(file) if relaxed else None,
        )
        if as_json:
            out = []
            for r in rows:
                m = r.metrics
                out.append(
                    {
                        "method": r.method,
                        "status": r.status,
                        "seconds": r.seconds,
                        "objective": list(r.objective),
                        "bound": list(r.bound) if r.bound else None,
                        "traffic": r.traffic,
                        "placed": m.placed if m else None,
                        "tasks": m.tasks if m else None,
                        "total_latency_ms": m.total_latency if m else None,
                        "mean_latency_ms": m.mean_latency if m else None,
                        "p95_latency_ms": m.p95_latency if m else None,
                        "worst_latency_ms": m.worst_latency if m else None,
                        "late": m.late if m else None,
                        "unplaced": m.unplaced if m else None,
                        "error": r.error,
                    }
                )
            typer.echo(json.dumps(out, indent=1))
            return
        console = Console(highlight=False, width=max(Console().width, 150))
        table = Table(title=problem.name, show_edge=False)
        for col in ("method", "status", "placed", "total ms", "mean ms", "p95 ms", "worst ms"):
            table.add_column(col, justify="left" if col in ("method", "status") else "right")
        for col in ("late", "unplaced", "traffic", "objective", "seconds"):
            table.add_column(col, justify="right")
        for r in rows:
            m = r.metrics
            if m is None:
                table.add_row(r.method, r.status if r.error is None else f"error: {r.error}")
                continue

            def ms(v: float | None) -> str:
                return "-" if v is None else f"{v:.1f}"

            table.add_row(
                r.method,
                r.status,
                f"{m.placed}/{m.tasks}",
                f"{m.total_latency:.0f}",
                ms(m.mean_latency),
                ms(m.p95_latency),
                ms(m.worst_latency),
                str(m.late),
                str(m.unplaced),
                f"{r.traffic:.1f}",
                ", ".join(f"{v:.6g}" for v in r.objective),
                f"{r.seconds:.2f}",
            )
        console.print(table)

    app.add_typer(group, name="edge")
