"""Do solves stop on time, and on Ctrl-C? ``python -m bench.deadlines [--limit S] [--only NAME]``.

Each row runs ``placer solve`` as a user does (a fresh process, the instance read from disk) on
an instance built to be slow for that backend, and measures the wall clock from the process
start to its exit. The goal: at most ``limit × 1.1 + 0.5 s`` (loading, verifying and writing
included). The Ctrl-C rows run on a pseudo terminal, send SIGINT once the progress line shows a
plan, and measure the time to exit (goal: exit 130 with the best plan so far written, at once).

Writes ``bench/reports/deadlines/latest.{json,md}`` (``--report NAME``: ``NAME.{json,md}``). Run
it on a quiet machine, one solve at a time; the load average is part of the report.

Starved and A/B runs (``--starve 0.2``: each command runs a fifth of the wall clock, stopped and
let go on by ``bench.starve``; its wall clock is the command's own)::

    python -m bench.deadlines --no-interrupt --starve 0.2 --file demo=instances/demo-cluster.yaml \
        --code /path/to/old/checkout --bytecode none --report old-20   # and at the same time
    python -m bench.deadlines --no-interrupt --starve 0.2 --file demo=instances/demo-cluster.yaml \
        --bytecode none --report new-20

``--code DIR`` runs ``python -m engine`` from another checkout (the other arm; this
interpreter's packages). ``--bytecode none`` removes the compiled copies of placer's own
sources before each run (a cold start where PYTHONDONTWRITEBYTECODE is set: every process
compiles them), ``compiled`` compiles them first (``make bytecode``), ``keep`` leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.generate import binpack, cluster
from engine.io import dump_problem
from engine.ir import Problem

REPORTS = Path(__file__).parent / "reports" / "deadlines"
SLACK_SHARE, SLACK_S = 0.1, 0.5  # the promise: limit + 10 % + 0.5 s
LIVE_LINE = re.compile(rb"\d+\.\ds")  # the live line's clock: "12.3s  best placed ..."


def bound(limit: float) -> float:
    return limit * (1 + SLACK_SHARE) + SLACK_S


# ---------------------------------------------------------------------- instances


def large_cluster() -> Problem:
    """15,000 pods on 1,000 nodes with anti-affinity and zone spread: large exact models."""
    return cluster(1000, 300, pods_per_node=15, anti_affinity=0.3, spread=0.3, seed=1)


def huge_cluster() -> Problem:
    """60,000 pods on 3,000 nodes: reading and greedy scheduling alone take seconds."""
    return cluster(3000, 1000, pods_per_node=20, anti_affinity=0.3, spread=0.3, seed=2)


def pool_cluster() -> Problem:
    """Node pools of identical nodes, hostname anti-affinity only: the pool formulation."""
    return cluster(1000, 300, pods_per_node=15, zones=0, anti_affinity=0.3, seed=3)


def hard_cluster() -> Problem:
    """A cluster no exact backend proves optimal within minutes (the Ctrl-C rows)."""
    return cluster(100, 60, pods_per_node=15, anti_affinity=0.3, spread=0.3, seed=1)


def annealing_cluster() -> Problem:
    """As large as the qubo backend takes: thousands of binaries, slow sweeps."""
    return cluster(40, 20, pods_per_node=6, zones=0, anti_affinity=0.3, seed=4)


def long_reads() -> Problem:
    """A qubo model built in a blink whose reads of ten million sweeps take minutes (Ctrl-C)."""
    return cluster(20, 10, pods_per_node=5, zones=0, anti_affinity=0.3, seed=2)


def smt_cluster() -> Problem:
    return cluster(30, 15, pods_per_node=10, anti_affinity=0.3, spread=0.3, seed=5)


def qaoa_tiny() -> Problem:
    """The largest model qaoa simulates (close to 20 qubits), at high depth."""
    from bench.qaoa import instances

    return instances(1, seed=3, low=17, high=20)[0]


def packing() -> Problem:
    """1-D bin packing: the arc-flow model and the packing presolve (solvers/packing)."""
    return binpack(1000, seed=6)


def hard_packing() -> Problem:
    """1-D packing whose optimum is not proved within seconds (items 1/5-1/3 of a bin)."""
    return binpack(600, capacity=100_000, low=20_000, high=35_000, seed=4)


def vector_packing() -> Problem:
    """3-D vector packing: the vector packing solver, then the model built around its plan."""
    return binpack(300, dims=3, seed=3)


@dataclass(frozen=True)
class Row:
    name: str
    instance: Callable[[], Problem]
    args: tuple[str, ...]
    # Ctrl-C rows: SIGINT this long after the live line first shows (None: once it shows a plan;
    # backends that report no progress while they run show one only at the end)
    after: float | None = None


ROWS: tuple[Row, ...] = (
    Row("greedy", huge_cluster, ("-b", "greedy")),
    Row("cpsat per-bin", large_cluster, ("-b", "cpsat", "-p", "lns=off")),
    Row("cpsat pool", pool_cluster, ("-b", "cpsat", "-p", "lns=off", "-p", "formulation=pool")),
    Row("cpsat + lns", large_cluster, ("-b", "cpsat", "-p", "lns=on")),
    Row("cpsat arcflow (packing)", packing, ("-b", "cpsat", "-p", "formulation=arcflow")),
    Row("milp highs", large_cluster, ("-b", "milp", "-p", "lns=off")),
    Row("milp cbc", large_cluster, ("-b", "milp", "-p", "lns=off", "-p", "solver=cbc")),
    Row("milp + lns", large_cluster, ("-b", "milp", "-p", "lns=on")),
    Row("qubo", annealing_cluster, ("-b", "qubo", "-p", "num_sweeps=100000")),
    Row("smt", smt_cluster, ("-b", "smt")),
    Row("qaoa", qaoa_tiny, ("-b", "qaoa", "-p", "layers=12", "-p", "restarts=20")),
)

INTERRUPT_ROWS: tuple[Row, ...] = (
    Row("cpsat per-bin", hard_cluster, ("-b", "cpsat", "-p", "lns=off")),
    Row("cpsat + lns", large_cluster, ("-b", "cpsat", "-p", "lns=on")),
    Row("milp highs", hard_cluster, ("-b", "milp", "-p", "lns=off")),
    Row("milp cbc", hard_cluster, ("-b", "milp", "-p", "lns=off", "-p", "solver=cbc")),
    Row("cpsat packing 1-D", hard_packing, ("-b", "cpsat"), after=1.0),
    Row("cpsat vector packing", vector_packing, ("-b", "cpsat"), after=1.0),
    Row("greedy", huge_cluster, ("-b", "greedy"), after=0.5),
    Row("qubo", long_reads, ("-b", "qubo", "-p", "num_sweeps=10000000"), after=3.0),
    Row("smt", smt_cluster, ("-b", "smt")),  # shows each better plan
    Row("qaoa", qaoa_tiny, ("-b", "qaoa", "-p", "layers=12", "-p", "restarts=20"), after=2.0),
)


# ---------------------------------------------------------------------- runs


def solve_command(problem: Path, out: Path, limit: float, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "engine",
        "solve",
        str(problem),
        "-t",
        f"{limit:g}",
        "-o",
        str(out),
        *args,
    ]


STARVED_WALL = re.compile(r"starved at \S+: exit -?\d+ after ([\d.]+) s wall")
CODE_DIRS = ("engine", "solvers", "bench")  # placer's own sources (``--bytecode``)


def set_bytecode(code: Path, state: str) -> None:
    """Placer's compiled sources under ``code``: ``none`` removed, ``compiled`` made, ``keep``."""
    if state == "none":
        for name in CODE_DIRS:
            for cache in (code / name).rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
    elif state == "compiled":
        dirs = [str(code / name) for name in CODE_DIRS]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True)


def timed_run(
    problem: Path,
    out: Path,
    limit: float,
    *args: str,
    starve: float | None = None,
    code: Path | None = None,
) -> dict[str, Any]:
    """One solve to its limit: wall seconds from spawn to exit (starved: the command's own, as
    ``bench.starve`` reports it), exit code, the plan's status. ``code``: the checkout whose
    ``engine`` runs."""
    command = [*solve_command(problem, out, limit, *args), "-q"]
    if starve is not None:
        command = [sys.executable, str(Path(__file__).parent / "starve.py"), f"{starve:g}", "--"]
        command += [*solve_command(problem, out, limit, *args), "-q"]
    began = time.monotonic()
    run = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=code
    )
    wall = time.monotonic() - began
    if starve is not None and (seen := STARVED_WALL.search(run.stderr)):
        wall = float(seen.group(1))
    result = {"wall_s": round(wall, 2), "exit": run.returncode, **_plan(out, run.stderr)}
    if starve is not None:
        result["starved"] = starve
    return result


def interrupted_run(
    problem: Path, out: Path, *args: str, limit: float = 120.0, after: float | None = None
) -> dict[str, Any]:
    """``placer solve`` on a pseudo terminal (so that its progress line shows), SIGINT once a
    plan is shown (or ``after`` seconds after the line first shows): exit code, seconds from
    SIGINT to exit, the terminal's last output."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        solve_command(problem, out, limit, *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    seen = bytearray()
    shown = threading.Event()

    def drain() -> None:  # keep reading: a full terminal buffer would block the spinner
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            seen.extend(data)
            if b"  best " in seen or (after is not None and LIVE_LINE.search(seen)):
                shown.set()  # the live line shows a plan (or shows, when ``after`` is given)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not shown.wait(limit * 0.75):
            raise RuntimeError(f"no progress line in time: {bytes(seen)[-300:]!r}")
        time.sleep(0.5 if after is None else after)  # into the search (past the first plan)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=limit)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        os.close(master)
    terminal = bytes(seen).decode(errors="replace")
    return {"after_sigint_s": round(elapsed, 2), "exit": code, "terminal": terminal[-300:]}


def _plan(out: Path, stderr: str) -> dict[str, Any]:
    if not out.exists():
        lines = [line for line in stderr.strip().splitlines() if not STARVED_WALL.search(line)]
        # a native abort's cause is its glog line ("F1205 ... Check failed: ..."), not the last
        fatal = [line for line in lines if re.match(r"F\d{4} ", line)]
        return {"status": None, "error": (fatal + lines[-1:])[:2] or None}
    doc = json.loads(out.read_text())
    info = doc.get("info", {})
    return {
        "status": doc.get("status"),
        "verified": doc.get("verified"),
        "objective": doc.get("objective"),
        "interrupted": info.get("interrupted"),
        "budget": info.get("budget"),  # what the search had (engine.solve)
        "skipped": info.get("skipped") or info.get("note"),
    }


# ---------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deadlines", description=__doc__)
    parser.add_argument("-t", "--limit", type=float, default=5.0, help="time limit per solve (s)")
    parser.add_argument("--only", action="append", help="run only rows whose name has this")
    parser.add_argument("--no-interrupt", action="store_true", help="skip the Ctrl-C rows")
    parser.add_argument(
        "--starve", type=float, help="run each solve this share of the wall clock (bench.starve)"
    )
    parser.add_argument(
        "--file",
        action="append",
        metavar="NAME=PATH[:ARGS]",
        help="a row on an instance file instead of the built ones (ARGS: space-separated "
        "placer solve options, default -b cpsat)",
    )
    parser.add_argument("--code", type=Path, help="run placer from this checkout (A/B arms)")
    parser.add_argument("--bytecode", choices=("keep", "none", "compiled"), default="keep")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each row")
    parser.add_argument(
        "--report", default="latest", help="report name (bench/reports/deadlines) or path stem"
    )
    args = parser.parse_args(argv)
    wanted = [w.lower() for w in args.only or []]
    rows_run = _file_rows(args.file) if args.file else ROWS
    code = (args.code or Path(__file__).parent.parent).resolve()
    if args.bytecode == "compiled":
        set_bytecode(code, "compiled")

    def chosen(row: Row) -> bool:
        return not wanted or any(w in row.name.lower() for w in wanted)

    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="placer-deadlines-") as tmp:
        built: dict[str, Path] = {}

        def instance(make: Callable[[], Problem]) -> Path:
            if isinstance(make, FileInstance):
                return make.path
            if make.__name__ not in built:
                path = Path(tmp) / f"{make.__name__}.json"
                dump_problem(make(), path)
                built[make.__name__] = path
            return built[make.__name__]

        for row in [r for r in rows_run if chosen(r)] * args.repeat:
            if args.bytecode == "none":
                set_bytecode(code, "none")
            load = os.getloadavg()[0]
            result = timed_run(
                instance(row.instance),
                Path(tmp) / "plan.json",
                args.limit,
                *row.args,
                starve=args.starve,
                code=args.code and code,
            )
            result.update(row=row.name, limit_s=args.limit, bound_s=round(bound(args.limit), 2))
            result["ok"] = result["wall_s"] <= result["bound_s"] and bool(result.get("verified"))
            result["load"] = round(load, 2)
            rows.append(result)
            print(_line(result), flush=True)
            (Path(tmp) / "plan.json").unlink(missing_ok=True)
        stops: list[dict[str, Any]] = []
        for row in () if args.no_interrupt else INTERRUPT_ROWS:
            if not chosen(row):
                continue
            out = Path(tmp) / "plan.json"
            result = interrupted_run(instance(row.instance), out, *row.args, after=row.after)
            result.update(row=row.name, **_plan(out, ""))
            result["ok"] = result["exit"] == 130 and result["status"] is not None
            stops.append(result)
            print(
                f"Ctrl-C {row.name:<26} exit {result['exit']} after {result['after_sigint_s']} s"
                f"  plan {result['status']}",
                flush=True,
            )
            out.unlink(missing_ok=True)
    report = {
        "limit_s": args.limit,
        "starved": args.starve,
        "code": str(code),
        "commit": _commit(code),
        "bytecode": args.bytecode,
        "load_average": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "deadlines": rows,
        "interrupts": stops,
    }
    stem = REPORTS / args.report if "/" not in args.report else Path(args.report)
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    Path(f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(r["ok"] for r in rows + stops) else 1


@dataclass(frozen=True)
class FileInstance:
    """An instance read from a file (``--file``), in place of a built one."""

    path: Path

    def __call__(self) -> Problem:
        from engine.io import load

        return load(self.path)


def _file_rows(specs: list[str]) -> tuple[Row, ...]:
    rows = []
    for spec in specs:
        name, _, rest = spec.partition("=")
        path, _, options = rest.partition(":")
        args = tuple(options.split()) if options else ("-b", "cpsat")
        rows.append(Row(name, FileInstance(Path(path).resolve()), args))
    return tuple(rows)


def _commit(code: Path) -> str | None:
    found = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or None


def _line(r: dict[str, Any]) -> str:
    verdict = "ok" if r["ok"] else "OVER"
    return (
        f"{r['row']:<26} wall {r['wall_s']:6.2f} s (bound {r['bound_s']} s) {verdict:<4} "
        f"exit {r['exit']} {r.get('status') or r.get('error')}"
    )


def markdown(report: dict[str, Any]) -> str:
    limit = report["limit_s"]
    starved = report.get("starved")
    lines = [
        f"Time limit {limit:g} s, goal ≤ {bound(limit):.2f} s wall from process start; load "
        f"average {report['load_average'][0]:.1f} → {report['load_average_after'][0]:.1f}"
        + (f"; each run starved to {starved:g} of the wall clock" if starved else "")
        + f"; code {report.get('commit')}, bytecode {report.get('bytecode', 'keep')}.",
        "",
        "| backend (instance) | wall s | within | exit | plan |",
        "|---|---:|---|---:|---|",
    ]
    for r in report["deadlines"]:
        plan = r.get("status") or (r.get("error") or ["none"])[0]
        lines.append(
            f"| {r['row']} | {r['wall_s']:.2f} | {'yes' if r['ok'] else 'NO'} | {r['exit']} | {plan} |"
        )
    if report["interrupts"]:
        lines += [
            "",
            "| Ctrl-C during | exit | s from SIGINT to exit | plan written |",
            "|---|---:|---:|---|",
        ]
        for r in report["interrupts"]:
            lines.append(
                f"| {r['row']} | {r['exit']} | {r['after_sigint_s']:.2f} | {r.get('status') or 'none'} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
