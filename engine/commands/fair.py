"""``placer fair FILE``: allocate a shared cluster among tenants and judge the mechanism."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .. import interrupt
from . import command_elapsed
from .grammar import DEFAULT_THREADS, Json, Threads


def _ok(value: Any) -> str:
    return {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}.get(value, str(value))


def _print(console: Console, doc: dict[str, Any]) -> None:
    s = doc["summary"]
    util = ", ".join(f"{r} {100 * u:.0f}%" for r, u in s["utilisation"].items())
    console.print(
        f"[bold]{doc['mechanism']}[/bold]: {s['tasks']} tasks, min weighted share "
        f"{s['fairness']:.4g}, Jain {s['jain']:.3f}, utilisation {util} ({s['seconds']:.2f}s)"
    )
    table = Table(show_edge=False)
    for col, justify in (
        ("tenant", "left"),
        ("weight", "right"),
        ("demand", "right"),
        ("tasks", "right"),
        ("dominant share", "right"),
        ("utility", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for t in doc["tenants"]:
        table.add_row(
            t["name"],
            f"{t['weight']:g}",
            str(t["demand"]),
            str(t["tasks"]),
            f"{t['dominant_share']:.4f}",
            str(t["utility"]),
        )
    console.print(table)
    if "pooled_overstatement" in s:
        o = s["pooled_overstatement"]
        console.print(
            f"pooled DRF promises {o['pooled_tasks']} tasks (min share {o['pooled_fairness']:.4g}), "
            f"of which {o['pooled_tasks_that_fit']} fit on the nodes (overstated by "
            f"{o['overstated_tasks']}); DRF on the nodes runs {o['nodes_tasks']} "
            f"(min share {o['nodes_fairness']:.4g})"
        )
    if doc["checks"]:
        checks = Table(title="properties", show_edge=False)
        checks.add_column("property")
        checks.add_column("this instance")
        checks.add_column("random instances")
        checks.add_column("witness / counterexample")
        rand = doc["checks"].get("random", {})
        for name, c in doc["checks"].items():
            if name == "random":
                continue
            r = rand.get(name, {})
            notes = (c.get("witness"), r.get("witness"), c.get("skipped"), c.get("stopped"))
            witness = next((n for n in notes if n), "") or r.get("stopped", "")
            checks.add_row(name, _ok(c.get("ok")), _ok(r.get("ok")) if r else "-", witness)
        console.print(checks)
    if "equilibrium" in doc:
        e = doc["equilibrium"]
        if "skipped" in e:
            console.print(f"equilibrium: {e['skipped']}")
        else:
            state = (
                "equilibrium reached"
                if e["converged"]
                else "cycle"
                if e["cycle"]
                else f"stopped by {e.get('stopped_by', 'the time limit')} with "
                f"{e['best_responses']} best response(s) done "
                "(not shown to be an equilibrium)"
                if e["stopped"]
                else "no convergence"
            )
            poa = e["price_of_anarchy"]
            optimum = e["utilitarian_optimum"]
            against = (
                "the optimum not proved within the time limit"
                if optimum is None
                else f"optimum {optimum}; price of anarchy "
                + ("inf" if math.isinf(poa) else f"{poa:.3f}")
            )
            console.print(
                f"declaration game: {state} after {e['rounds']} round(s); misreporting: "
                f"{', '.join(e['liars']) or 'nobody'}; welfare {e['welfare']} vs {against}"
            )


class _GameProgress:
    """On a terminal only: which round and tenant the declaration game is at, and the time."""

    def __init__(self) -> None:
        self.status: Any = None
        if sys.stderr.isatty():
            self.status = Console(stderr=True).status("allocating")
            self.status.start()

    def __call__(self, round_: int, tenant: int, tenants: int) -> None:
        if self.status is not None:
            self.status.update(
                f"declaration game: round {round_}, best response of tenant {tenant + 1} of "
                f"{tenants} ({command_elapsed():.0f} s)"
            )

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


MAX_RANDOM_INSTANCES = 10_000  # --check --random N: each instance is solved several times


def register(app: typer.Typer) -> None:
    @app.command()
    def fair(
        file: Annotated[
            Path,
            typer.Argument(help="IR file with tenants: and items with tenant:", metavar="FILE"),
        ],
        mechanism: Annotated[
            str,
            typer.Option(
                "--method",
                "--mechanism",
                "-m",
                metavar="METHOD",
                help="the mechanism: "
                "drf | drf-nodes | nash | utilitarian | kueue | proportional | drf-wc",
            ),
        ] = "drf",
        equilibrium: Annotated[
            bool,
            typer.Option("--equilibrium", help="best-response dynamics of the declaration game"),
        ] = False,
        check: Annotated[
            bool,
            typer.Option(
                "--check", help="sharing incentive, envy-freeness, Pareto, strategy-proofness"
            ),
        ] = False,
        as_json: Json = False,
        backend: Annotated[
            str, typer.Option("--backend", "-b", metavar="NAME", help="drf-nodes: cpsat | milp")
        ] = "cpsat",
        time_limit: Annotated[
            float,
            typer.Option(
                "--time-limit",
                "-t",
                metavar="SECONDS",
                help="seconds for the command, counted from its start: drf-nodes' solves (DRF on "
                "the nodes, then how much of the pooled answer fits), --check (half of what is "
                "left when --equilibrium follows) and --equilibrium's game",
            ),
        ] = 10.0,
        threads: Threads = DEFAULT_THREADS,
        random_instances: Annotated[
            int, typer.Option("--random", metavar="N", help="--check: random instances too")
        ] = 20,
        seed: Annotated[int, typer.Option(metavar="N", help="seed of the random instances")] = 0,
    ) -> None:
        """Allocate among tenants with a mechanism; per tenant: tasks, dominant share, utility."""
        from ..errors import InputError
        from ..fair.report import fair_report
        from ..io import load
        from . import check_at_least, check_solver_options, remaining

        check_solver_options(time_limit, seed, threads)
        check_at_least(random_instances, 0, "--random")
        if random_instances > MAX_RANDOM_INSTANCES:
            raise InputError(
                f"must be at most {MAX_RANDOM_INSTANCES:,}, got {random_instances}", path="--random"
            )
        problem = load(file)
        progress = _GameProgress()
        try:
            with interrupt.stop_on_sigint():
                doc = fair_report(
                    problem,
                    mechanism,
                    equilibrium=equilibrium,
                    check=check,
                    backend=backend,
                    time_limit=remaining(time_limit),
                    random_instances=random_instances,
                    seed=seed,
                    threads=threads,
                    on_turn=progress,
                )
                stopped = interrupt.requested()
        except InputError as exc:
            if not exc.path:  # an option error, e.g. an unknown mechanism
                raise
            raise exc.with_source(str(file)) from None  # a field of the file, e.g. no tenants
        finally:
            progress.stop()
        if stopped and doc.get("equilibrium", {}).get("stopped"):
            doc["equilibrium"]["stopped_by"] = "Ctrl-C"  # not the time limit
        if as_json:
            typer.echo(json.dumps(doc, indent=2, default=str))
        else:
            _print(Console(highlight=False, soft_wrap=True), doc)
        if stopped:  # Ctrl-C: what was reached is printed; the exit code says it was cut short
            raise typer.Exit(130)
