"""python -m bench SUITE [--backends ...] [--time-limit S] [--jobs N] [--executor local|ray] -o DIR

python -m bench smoke -o bench-results/smoke      run a suite, write results.csv, report.md, plots
python -m bench report bench-results/smoke        rebuild the report from results.csv alone
python -m bench list                              the suites and what they hold
python -m bench openb -o bench-results/openb      the FGD experiment on the Alibaba openb trace
python -m bench audit -o bench-results/audit      random and planted packings, every claim checked
python -m bench audit-check DIR                   judge DIR/results.csv's claims again
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from engine.commands.grammar import run_app
from engine.errors import PlacerError

from .openb.cli import openb

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
app.command("openb")(openb)


@app.command("run")
def run_suite(
    suite: Annotated[str, typer.Argument(help="suite name (bench/suites/NAME.yaml) or a path")],
    output: Annotated[Path, typer.Option("--output", "-o", help="results directory")] = Path(
        "bench-results"
    ),
    backends: Annotated[
        str | None, typer.Option(help="comma-separated backends (default: the suite's)")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="seconds per run")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="runs at once (local executor)")] = 1,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one)")
    ] = None,
    memory_mb: Annotated[int, typer.Option(help="memory cap per run, MB")] = 6144,
    grace: Annotated[
        float, typer.Option(help="seconds allowed beyond 1.5 x the time limit before a kill")
    ] = 30.0,
    seed: Annotated[int, typer.Option(help="base seed")] = 0,
    limit: Annotated[
        int | None, typer.Option(help="only the first N runs (for a quick look)")
    ] = None,
) -> None:
    """Run a suite; rows are appended as runs finish and completed runs are skipped on rerun."""
    from engine.commands import check_at_least, check_time_limit
    from engine.errors import InputError
    from engine.extras import require
    from solvers import registry

    from .report import write_report
    from .runner import ResultsFile, progress_printer, run_local, run_ray
    from .suites import load_suite

    require("bench", "python -m bench (its plots)")
    if executor == "ray":
        require("ray", "--executor ray")
    check_time_limit(time_limit)
    check_at_least(jobs, 1, "--jobs")
    check_at_least(limit, 1, "--limit")
    spec = load_suite(suite)
    chosen = [b.strip() for b in backends.split(",")] if backends else None
    if unknown := [b for b in chosen or [] if b not in registry.names()]:
        raise InputError(
            f"unknown backend(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(registry.names())}",
            path="--backends",
        )
    runs = spec.runs(chosen, time_limit, seed)
    output.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(output / "results.csv")
    done = results.done_keys()
    todo = [r for r in runs if r.key not in done]
    already = len(runs) - len(todo)
    capped = (
        f" (--limit {limit} of {len(todo)} left)" if limit is not None and limit < len(todo) else ""
    )
    if limit is not None:
        todo = todo[:limit]
    for note in spec.skipped:
        print(f"bench: {note}", file=sys.stderr)
    print(
        f"bench: suite {spec.name}: {len(runs)} runs, {already} already done, "
        f"{len(todo)} to run{capped}",
        file=sys.stderr,
    )
    meta = {
        "suite": spec.name,
        "command": "python -m bench " + " ".join(map(shlex.quote, sys.argv[1:])),
        "skipped": spec.skipped,
    }
    (output / "suite.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    advance, stop = progress_printer(len(todo))

    def on_row(row: dict[str, object]) -> None:
        results.append(row)
        advance(row)

    try:
        if executor == "ray":
            run_ray(todo, on_row, address=address, memory_mb=memory_mb, grace_s=grace)
        elif executor == "local":
            run_local(todo, jobs, on_row, memory_mb=memory_mb, grace_s=grace)
        else:
            raise PlacerError(f"--executor must be local or ray, got {executor!r}")
    finally:
        stop()
    report = write_report(output)
    print(f"bench: wrote {output / 'results.csv'} and {report}", file=sys.stderr)


@app.command("report")
def report(directory: Annotated[Path, typer.Argument(help="a results directory")]) -> None:
    """Rebuild report.md and the plots from results.csv alone."""
    from engine.extras import require

    from .report import write_report

    require("bench", "python -m bench report")
    if not (directory / "results.csv").exists():
        raise PlacerError(f"{directory}: no results.csv")
    print(write_report(directory))


@app.command("audit")
def audit(
    output: Annotated[Path, typer.Option("--output", "-o", help="results directory")],
    random_count: Annotated[
        int, typer.Option("--random", help="random packings (1-D and vector)")
    ] = 30,
    planted: Annotated[int, typer.Option(help="generated packings with a known optimum")] = 40,
    problems: Annotated[
        int, typer.Option(help="small random problems of every constraint kind")
    ] = 60,
    time_limit: Annotated[float, typer.Option("--time-limit", "-t", help="seconds per run")] = 5.0,
    seed: Annotated[int, typer.Option(help="which sample (a new seed, new instances)")] = 1,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="runs at once")] = 1,
    backends: Annotated[
        str | None,
        typer.Option(help="comma-separated backends (default: cpsat, cpsat lns=on, milp HiGHS)"),
    ] = None,
) -> int:
    """Run random and planted packings and check every claim (exit code 1 on any finding)."""
    import yaml

    from engine.commands import check_at_least, check_time_limit

    from .audit import DEFAULT_BACKENDS, audit_suite

    check_time_limit(time_limit)
    check_at_least(random_count, 0, "--random")
    check_at_least(planted, 0, "--planted")
    check_at_least(problems, 0, "--problems")
    chosen = [b.strip() for b in backends.split(",")] if backends else DEFAULT_BACKENDS
    output.mkdir(parents=True, exist_ok=True)
    files = None
    if problems:
        from engine.io import dump_problem

        from .audit import random_problems

        folder = output / "problems"
        folder.mkdir(exist_ok=True)
        for problem in random_problems(problems, seed):
            dump_problem(problem, folder / f"{problem.name}.yaml")
        files = str(folder.resolve() / "*.yaml")
    spec = audit_suite(random_count, planted, time_limit, seed, chosen, files)
    suite = output / "suite.yaml"
    suite.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    load_before = os.getloadavg()[0]
    run_suite(str(suite), output=output, jobs=jobs)
    return _judge_results(output, f"Load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}.")


@app.command("audit-check")
def audit_check(
    directory: Annotated[Path, typer.Argument(help="a results directory")],
) -> int:
    """Judge the claims of DIR/results.csv; write DIR/audit.md (exit code 1 on any finding)."""
    return _judge_results(directory)


def _judge_results(directory: Path, load: str = "") -> int:
    from .audit import judge, read_rows, summary

    if not (directory / "results.csv").exists():
        raise PlacerError(f"{directory}: no results.csv")
    rows = read_rows(directory / "results.csv")
    found = judge(rows)
    text = summary(rows, found, load)
    (directory / "audit.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if found else 0


@app.command("list")
def list_suites() -> None:
    """The suites and how many instances each holds here."""
    from .suites import load_suite, suite_names

    for name in suite_names():
        s = load_suite(name)
        skipped = f" ({len(s.skipped)} source(s) absent)" if s.skipped else ""
        print(
            f"{name:10} {len(s.cases):5} instances × {len(s.backends)} backends, "
            f"{s.time_limit:g}s per run{skipped}"
        )


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in (
        "run",
        "report",
        "list",
        "openb",
        "audit",
        "audit-check",
        "--help",
        "-h",
    ):
        args.insert(0, "run")  # `python -m bench SUITE ...` is short for `run SUITE ...`
    try:
        code = run_app(app, args)
    except PlacerError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:  # usage errors, a missing extra: one line, never a traceback
        from engine.commands.grammar import missing_extra_line, usage_error_line

        feature = f"python -m bench {args[0] if args else ''}".strip()
        line = usage_error_line(exc) or missing_extra_line(exc, feature)
        if line is None:
            raise
        print(f"bench: error: {line}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
