"""The ``placer`` command line: thin commands over the library (parse → call engine → print)."""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .errors import InputError, PlacerError
from .solution import Progress

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="placer: optimal placement of pods on nodes, tasks on edge/cloud, tenants on clusters.",
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Modules that add commands: each defines register(app: typer.Typer) -> None.
COMMAND_MODULES: tuple[str, ...] = (
    "engine.commands.generate",
    "engine.commands.imports",
    "engine.commands.edge",
    "engine.commands.export",
    "engine.commands.serve",
    "engine.commands.fair",
    "engine.commands.decode",
    "engine.commands.migrate",
    "engine.commands.size",
)


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a finite number")


def _parse_params(values: list[str] | None) -> dict[str, Any]:
    """-p KEY=VALUE: values are JSON when they parse as JSON (NaN and Infinity refused), else
    strings; each value passes the input limits (depth, integer size)."""
    from .limits import check_document

    params: dict[str, Any] = {}
    for entry in values or []:
        if "=" not in entry:
            raise InputError(f"--param expects KEY=VALUE, got {entry!r}")
        key, raw = entry.split("=", 1)
        if not key:
            raise InputError(f"--param expects KEY=VALUE, got {entry!r}")
        try:
            params[key] = json.loads(raw, parse_constant=_no_constant)
        except InputError as exc:
            raise InputError(exc.reason, path=f"--param {key}") from None
        except json.JSONDecodeError:
            params[key] = raw
        except (RecursionError, ValueError) as exc:
            raise InputError(f"not a usable value: {exc}", path=f"--param {key}") from None
        check_document(params[key], f"--param {key}")
    return params


class _ProgressPrinter:
    """Best objective and bound as they improve, on a terminal only."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.status: Any = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        bound = "" if p.bound is None else f"  bound {_fmt_levels(p.bound)}"
        text = f"[{p.seconds:6.1f}s] best {_fmt_levels(p.objective)}{bound}"
        if self.status is None:
            self.status = err.status(text)
            self.status.start()
        else:
            self.status.update(text)

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


def _fmt_levels(values: Any) -> str:
    return "[" + ", ".join("-" if v is None else f"{v:.6g}" for v in values) + "]"


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="IR file, edge topology, or Kubernetes manifests")],
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="cpsat | milp | qubo | greedy")
    ] = "cpsat",
    time_limit: Annotated[float | None, typer.Option("--time-limit", "-t", help="seconds")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[int | None, typer.Option(help="worker threads")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the plan here")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | bindings")] = "json",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="backend option KEY=VALUE")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary")] = False,
) -> None:
    """Solve a problem and write a verified plan (exit 0), or report none found (exit 1).

    The time limit counts from the start of the command, loading included. Ctrl-C stops the
    solve: the best plan found so far is written and placer exits 130.
    """
    from . import interrupt
    from .commands import check_solver_options, drop_stale_output, remaining
    from .commands import stale_output_dropped_on_error as guarded
    from .io import check_writable, load, write_text_atomic
    from .solve import solve as run_solve
    from .summary import explain, print_summary

    with guarded(output):
        if fmt not in ("json", "bindings"):
            raise InputError(f"--format must be json or bindings, got {fmt!r}")
        if fmt == "bindings" and output is None:
            raise InputError("--format bindings needs -o FILE")
        check_solver_options(time_limit, seed, threads)
        params = _parse_params(param)
        if output is not None:
            check_writable(output)  # before a long solve, not after it
        problem = load(file)
        if fmt == "bindings" and problem.meta.get("family") != "kubernetes":
            raise InputError(
                "--format bindings needs Kubernetes manifests (Nodes and Pods), not a placer IR file",
                source=str(file),
            )
        progress = _ProgressPrinter()
        try:
            with interrupt.stop_on_sigint():
                solution = run_solve(
                    problem,
                    backend,
                    time_limit=remaining(time_limit),
                    seed=seed,
                    threads=threads,
                    on_progress=progress,
                    **params,
                )
                stopped = interrupt.requested()
        finally:
            progress.stop()
        solution = explain(problem, solution)
        wrote = output is not None and solution.status.has_plan and solution.verified
        if output is not None and wrote:
            if fmt == "bindings":
                from .kube import binding_files

                for path, text in binding_files(problem, solution, output).items():
                    write_text_atomic(path, text)
            else:
                write_text_atomic(output, solution.to_json() + "\n")
    if not quiet:
        print_summary(out, problem, solution)
        if wrote:
            out.print(f"plan written to {output}")
    if not wrote and (note := drop_stale_output(output)):
        err.print(f"placer: {note}", markup=False)
    if stopped:
        err.print("placer: interrupted: " + ("best plan so far written" if wrote else "no plan"))
        raise typer.Exit(130)
    if not (solution.status.has_plan and solution.verified):
        raise typer.Exit(1)


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="the problem")],
    plan: Annotated[Path, typer.Argument(help="a plan (Solution JSON)")],
    prove: Annotated[
        bool, typer.Option("--prove", help="confirm or refute its optimal/infeasible claim (z3)")
    ] = False,
    time_limit: Annotated[
        float, typer.Option("--time-limit", "-t", help="seconds for --prove")
    ] = 60.0,
    counterexample: Annotated[
        Path | None, typer.Option("--counterexample", help="with --prove: write a refuting plan")
    ] = None,
) -> None:
    """Check a plan independently: exit 0 valid, 1 violations (listed), 2 bad input. With
    --prove: exit 0 claim confirmed, 1 refuted, 3 undecided (too large or out of time)."""
    from .io import load, load_solution
    from .verify import verify as run_verify

    problem = load(file)
    solution = load_solution(plan)
    if prove:
        from .commands.prove import prove_claim

        prove_claim(problem, solution, time_limit, counterexample)
        return
    report = run_verify(problem, solution)
    if report.ok:
        levels = ", ".join(f"{v:.6g}" for v in report.objective)
        out.print(f"valid: {len(solution.placements)} placement rows, objective [{levels}]")
        return
    out.print(f"invalid: {len(report.violations)} violation(s)")
    for v in report.violations:
        out.print(f"  {v}")
    raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the IR (kind: Problem)."""
    from .ir import Problem

    out.print_json(json.dumps(Problem.model_json_schema(by_alias=True)))


def _register_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: placer errors become one clear line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)
    except PlacerError as exc:
        notes = "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
        err.print(f"placer: error: {exc}{notes}", markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("placer: interrupted")
        sys.exit(130)
    except RecursionError:  # a last guard: inputs are depth-checked, but never a traceback
        err.print("placer: error: input nested too deeply")
        sys.exit(2)
    except MemoryError:
        err.print("placer: error: out of memory (the input is too large for this machine)")
        sys.exit(2)
    except Exception as exc:  # click usage errors
        import click

        usage_errors: tuple[type[Exception], ...] = (click.ClickException,)
        with contextlib.suppress(ImportError):  # typer >= 0.2x raises its vendored click's
            from typer._click.exceptions import ClickException as VendoredClickException

            usage_errors += (VendoredClickException,)
        if isinstance(exc, usage_errors):
            # One line, like every other input error; the command's --help has the rest.
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "placer"
            message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
            err.print(f"placer: error: {message} (see {command} --help)", markup=False)
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)
