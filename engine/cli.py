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

from .commands.grammar import (
    DEFAULT_THREADS,
    DEFAULT_TIME_LIMIT,
    Json,
    Quiet,
    Seed,
    Threads,
    TimeLimit,
    emit_json,
    is_stdout,
    missing_extra_line,
    plain_help,
    run_app,
    usage_error_line,
)
from .errors import InputError, PlacerError
from .solution import Progress

plain_help()

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
    """On a terminal only: a live line with the time elapsed since the command started (it ticks
    while the solver searches), the best plan's levels and the bound, in the summary's words."""

    def __init__(self, problem: Any) -> None:
        from .commands import command_elapsed

        self.enabled = sys.stderr.isatty()
        self.problem = problem
        self.elapsed = command_elapsed  # the clock the time limit counts on
        self.latest: Progress | None = None
        self.status: Any = None
        if self.enabled:
            self.status = err.status(self)
            self.status.start()

    def __rich__(self) -> str:
        from .summary import progress_text

        p = self.latest
        return progress_text(
            self.problem, self.elapsed(), p.objective if p else None, p.bound if p else None
        )

    def __call__(self, p: Progress) -> None:
        self.latest = p

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"placer {version('placer')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print placer's version and exit"
        ),
    ] = False,
) -> None:
    """placer: optimal placement of pods on nodes, tasks on edge/cloud, tenants on clusters."""
    global _clock_started_by_main
    from .commands import end_command, start_command

    if not _clock_started_by_main:  # typer's CliRunner, or app() called directly
        start_command(whole_process=False)
    _clock_started_by_main = False
    ctx.call_on_close(end_command)


# main() starts the command's clock itself (it knows whether the process is the command)
_clock_started_by_main = False


@app.command()
def solve(
    file: Annotated[
        Path, typer.Argument(help="IR file, edge topology, or Kubernetes manifests", metavar="FILE")
    ],
    backend: Annotated[
        str, typer.Option("--backend", "-b", metavar="NAME", help="cpsat | milp | qubo | greedy")
    ] = "cpsat",
    time_limit: TimeLimit = DEFAULT_TIME_LIMIT,
    seed: Seed = 0,
    threads: Threads = DEFAULT_THREADS,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="write the plan here ('-': stdout)"),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="json | bindings")
    ] = "json",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="backend parameter (repeatable)"),
    ] = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Solve a problem and write a verified plan (exit 0), or report none found (exit 1).

    The time limit counts from the start of the command, loading included. Ctrl-C stops the
    solve: the best plan found so far is written and placer exits 130. --json prints the plan
    (kind: Solution) on stdout instead of the summary. With -o -, the plan (or the Bindings
    stream) goes to stdout and the summary to stderr.
    """
    from . import interrupt
    from .commands import (
        MIN_BUDGET,
        check_solver_options,
        command_elapsed,
        drop_stale_output,
        remaining,
    )
    from .commands import stale_output_dropped_on_error as guarded
    from .io import check_writable, load, write_text_atomic
    from .solve import solve as run_solve
    from .solve import unsearched
    from .summary import explain, print_summary

    # -o - is stdout: never a file to check, write atomically or remove as stale
    target = None if is_stdout(output) else output
    stale = [] if target is None else [target]
    if target is not None and fmt == "bindings":
        from .kube.bindings import replica_plan_path

        stale.append(replica_plan_path(target))
    with contextlib.ExitStack() as guards:
        for path in stale:
            guards.enter_context(guarded(path))
        if fmt not in ("json", "bindings"):
            raise InputError(f"--format must be json or bindings, got {fmt!r}")
        if fmt == "bindings" and output is None:
            raise InputError("--format bindings needs -o FILE (or -o - for stdout)")
        if as_json and is_stdout(output):
            raise InputError("--json and -o - both write to stdout: choose one")
        check_solver_options(time_limit, seed, threads)
        params = _parse_params(param)
        if target is not None:
            check_writable(target)  # before a long solve, not after it
        problem = load(file)
        if fmt == "bindings" and problem.meta.get("family") != "kubernetes":
            raise InputError(
                "--format bindings needs Kubernetes manifests (Nodes and Pods), not a placer IR file",
                source=str(file),
            )
        budget = remaining(time_limit)
        solution = None
        if budget is not None and budget <= MIN_BUDGET:  # start-up and reading took the limit
            spent = f"start-up and reading took {command_elapsed():.1f} s"
            why = f"the time limit ({time_limit:g} s) was spent before the search began ({spent})"
            solution = unsearched(problem, backend, why + ": nothing placed")
        stopped = False
        if solution is None:
            progress = _ProgressPrinter(problem)
            try:
                with interrupt.stop_on_sigint():
                    solution = run_solve(
                        problem,
                        backend,
                        time_limit=budget,
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
        written: list[str] = []
        if output is not None and wrote:
            if fmt == "bindings":
                from .kube import binding_files

                files = binding_files(problem, solution, output)
                for n, (path, text) in enumerate(files.items()):
                    if n and target is None:
                        err.print("placer: the ReplicaPlan is written only with -o FILE")
                        continue
                    write_text_atomic(path, text)
                    written.append(str(path))
            else:
                write_text_atomic(output, solution.to_json() + "\n")
                written.append(str(output))
    if as_json:
        emit_json(solution.model_dump(by_alias=True, mode="json"))
    elif not quiet:
        console = err if target is None and output is not None else out
        print_summary(console, problem, solution)
        if written and target is not None:
            what = "bindings" if fmt == "bindings" else "plan"
            extra = f" (the ReplicaPlan to {written[1]})" if len(written) > 1 else ""
            console.print(f"{what} written to {written[0]}{extra}")
    if not wrote:
        for path in stale:
            if note := drop_stale_output(path):
                err.print(f"placer: {note}", markup=False)
    if stopped:
        err.print("placer: interrupted: " + ("best plan so far written" if wrote else "no plan"))
        raise typer.Exit(130)
    if not (solution.status.has_plan and solution.verified):
        raise typer.Exit(1)


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="the problem", metavar="FILE")],
    plan: Annotated[Path, typer.Argument(help="a plan (Solution JSON)", metavar="PLAN")],
    prove: Annotated[
        bool, typer.Option("--prove", help="confirm or refute its optimal/infeasible claim (z3)")
    ] = False,
    time_limit: Annotated[
        float,
        typer.Option("--time-limit", "-t", metavar="SECONDS", help="seconds for --prove"),
    ] = DEFAULT_TIME_LIMIT,
    counterexample: Annotated[
        Path | None,
        typer.Option(
            "--counterexample", metavar="FILE", help="with --prove: write a refuting plan here"
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check a plan independently: exit 0 valid, 1 violations (listed), 2 bad input. With
    --prove: exit 0 claim confirmed, 1 refuted, 3 undecided (too large or out of time)."""
    from .io import load, load_solution
    from .verify import verify as run_verify

    problem = load(file)
    solution = load_solution(plan)
    if prove:
        from .commands.prove import prove_claim

        prove_claim(problem, solution, time_limit, counterexample, as_json)
        return
    report = run_verify(problem, solution)
    if as_json:
        emit_json(
            {
                "valid": report.ok,
                "objective": list(report.objective) if report.ok else None,
                "violations": [str(v) for v in report.violations],
            }
        )
    elif report.ok:
        levels = ", ".join(f"{v:.6g}" for v in report.objective)
        out.print(f"valid: {len(solution.placements)} placement rows, objective [{levels}]")
    else:
        out.print(f"invalid: {len(report.violations)} violation(s)")
        for v in report.violations:
            out.print(f"  {v}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def schema(as_json: Json = False) -> None:
    """Print the JSON Schema of the IR (kind: Problem); always JSON (--json: compact, uncoloured)."""
    from .ir import Problem

    document = Problem.model_json_schema(by_alias=True)
    if as_json or not sys.stdout.isatty():
        emit_json(document)
    else:
        out.print_json(json.dumps(document))


def _register_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)


_register_commands()


def _command_name(argv: list[str] | None) -> str:
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), "")


def main(argv: list[str] | None = None) -> None:
    """Entry point: placer errors become one clear line on stderr and exit code 2."""
    global _clock_started_by_main
    from . import interrupt
    from .commands import end_command, start_command

    start_command(whole_process=argv is None)
    _clock_started_by_main = True
    try:
        _main(argv)
    except SystemExit as exc:  # a native solve left running (Ctrl-C) must not outlive us
        interrupt.exit_now_if_left_running(exc.code)
        if argv is None:  # the process is the command: its exit is within the time limit
            _exit_without_teardown(exc.code)
        raise
    finally:  # a command that ended before the root callback ran (a usage error, --version)
        # must not leave its clock to the next one run in this process
        _clock_started_by_main = False
        end_command()


def _exit_without_teardown(code: object) -> None:
    """Exit at once once the exit handlers ran and the output is flushed: the interpreter's
    teardown of every module and object (ortools, numpy, the problem) took 1.2-2.1 s at 20 % of
    a core after the plan was written. Not while another thread that is no daemon runs (it
    would not be waited for)."""
    import atexit
    import threading

    from . import interrupt

    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    interrupt.exit_now(code)


def _main(argv: list[str] | None) -> None:
    try:
        code = run_app(app, argv)
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
    except Exception as exc:  # usage errors, a missing extra: one line, never a traceback
        line = usage_error_line(exc) or missing_extra_line(exc, f"placer {_command_name(argv)}")
        if line is None:
            raise
        err.print(f"placer: error: {line}", markup=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
