"""Run benchmark cases: each run in its own process, under a hard wall clock and a memory cap.

A solver that hangs, crashes or blows its memory is recorded as such (status ``timeout``,
``crashed``, ``memory``) and the suite goes on. Rows are appended to ``results.csv`` as runs
finish; a rerun skips the runs already recorded, so long suites survive interruption.
"""

from __future__ import annotations

import contextlib
import csv
import json
import multiprocessing as mp
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .environment import environment
from .suites import Run, build_problem

COLUMNS = [
    "suite",
    "instance",
    "backend",
    "options",
    "seed",
    "repetition",
    "status",
    "verified",
    "sense",
    "senses",
    "objective",
    "bound",
    "level",
    "value",
    "bound_value",
    "best_known",
    "optimal_known",
    "gap_best",
    "gap_bound",
    "seconds",
    "wall_seconds",
    "first_plan_s",
    "time_limit",
    "peak_mem_mb",
    "items",
    "bins",
    "error",
    "trace",
    "placer_commit",
    "python",
    "ortools",
    "pulp",
    "highspy",
    "dimod",
    "cpu",
    "cores",
]
KEY_COLUMNS = ("suite", "instance", "backend", "options", "seed", "repetition")
# Each run gets a fresh process forked from a server that has already imported the solvers, so a
# run costs milliseconds to start instead of seconds of imports (and runs stay isolated).
PRELOAD = [
    "bench.runner",
    "engine.solve",
    "engine.verify",
    "solvers.greedy",
    "solvers.cpsat",
    "solvers.milp",
    "ortools.sat.python.cp_model",
    "pulp",
    "numpy",
]
GRACE_S = 30.0  # compile, verify and process start-up on top of the solver's own limit
DEFAULT_MEMORY_MB = 6144


def _gap(value: float | None, reference: float | None, minimise: bool) -> float | None:
    if value is None or reference is None:
        return None
    diff = (value - reference) if minimise else (reference - value)
    return diff / abs(reference) if reference else abs(diff)


def execute(run: Run) -> dict[str, Any]:
    """Solve one run in this process and describe it as a row (without environment columns)."""
    from engine.ir import minimised_terms
    from engine.solve import solve

    problem = build_problem(run.case)
    trace: list[tuple[float, float]] = []
    level = run.level if run.level >= 0 else len(problem.objective) + run.level
    level = max(0, min(level, len(problem.objective) - 1))
    start = time.perf_counter()

    def on_progress(p: Any) -> None:
        if p.objective and len(p.objective) > level:
            trace.append((round(time.perf_counter() - start, 4), float(p.objective[level])))

    solution = solve(
        problem,
        run.backend.name,
        time_limit=run.time_limit,
        seed=run.seed,
        threads=run.backend.threads,
        on_progress=on_progress,
        **run.backend.options,
    )
    wall = time.perf_counter() - start
    minimise = minimised_terms(problem.objective[level])
    value = solution.objective[level] if solution.verified and solution.objective else None
    bound = solution.bound[level] if solution.bound and len(solution.bound) > level else None
    first_plan = trace[0][0] if trace else (round(wall, 4) if value is not None else None)
    if value is not None and (not trace or trace[-1][1] != value):
        trace.append((round(wall, 4), value))
    return {
        "status": str(solution.status),
        "verified": solution.verified,
        "sense": "min" if minimise else "max",
        "senses": json.dumps(["min" if minimised_terms(x) else "max" for x in problem.objective]),
        "objective": json.dumps(list(solution.objective)),
        "bound": json.dumps(list(solution.bound) if solution.bound else None),
        "level": level,
        "value": value,
        "bound_value": bound,
        "gap_best": _gap(value, run.case.best_known, minimise),
        "gap_bound": _gap(value, bound, minimise),
        "seconds": round(solution.seconds, 4),
        "wall_seconds": round(wall, 4),
        "first_plan_s": first_plan,
        "items": sum(i.count for i in problem.items),
        "bins": len(problem.bins),
        "trace": json.dumps(trace[-200:]),
    }


def _child(run: Run, conn: Connection, memory_mb: int) -> None:
    limit = memory_mb * 2**20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        row = execute(run)
    except MemoryError:
        row = {"status": "memory", "error": f"exceeded {memory_mb} MB"}
    except BaseException as exc:  # recorded, never fatal to the suite
        row = {
            "status": "crashed",
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "trace": json.dumps(traceback.format_exc().splitlines()[-3:]),
        }
    row["peak_mem_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    conn.send(row)
    conn.close()


def _base_row(run: Run) -> dict[str, Any]:
    return {
        "suite": run.suite,
        "instance": run.case.instance,
        "backend": run.backend.name,
        "options": run.backend.options_key,
        "seed": run.seed,
        "repetition": run.repetition,
        "best_known": run.case.best_known,
        "optimal_known": run.case.optimal_known,
        "time_limit": run.time_limit,
    }


_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in mp.get_all_start_methods():
            _CONTEXT = mp.get_context("forkserver")
            _CONTEXT.set_forkserver_preload(PRELOAD)
        else:
            _CONTEXT = mp.get_context("spawn")
    return _CONTEXT


class _Slot:
    """One run in flight: its process, pipe and deadline."""

    def __init__(self, run: Run, memory_mb: int, grace_s: float = GRACE_S) -> None:
        ctx = _context()
        self.run = run
        self.recv, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, args=(run, send, memory_mb), daemon=True)
        self.started = time.perf_counter()
        self.deadline = self.started + run.time_limit * 1.5 + grace_s
        self.process.start()
        send.close()

    def poll(self) -> dict[str, Any] | None:
        """The finished row, or None while still running."""
        # alive first: a child that sends its row and exits between a look at the pipe and a look
        # at the process was read as crashed (2 of 3,240 runs of vbp-all, exit code 0)
        alive = self.process.is_alive()
        if self.recv.poll():
            try:
                row: dict[str, Any] = self.recv.recv()
            except EOFError:
                row = {"status": "crashed", "error": f"exit code {self.process.exitcode}"}
            self.process.join(5)
            return row
        if not alive:
            self.process.join(5)
            code = self.process.exitcode
            status = "memory" if code == -9 else "crashed"
            return {"status": status, "error": f"process ended with exit code {code}"}
        if time.perf_counter() > self.deadline:
            self.process.kill()
            self.process.join(5)
            elapsed = time.perf_counter() - self.started
            return {
                "status": "timeout",
                "error": f"killed after {elapsed:.0f}s (hard wall clock)",
                "wall_seconds": round(elapsed, 2),
            }
        return None


def run_isolated(
    run: Run, memory_mb: int = DEFAULT_MEMORY_MB, grace_s: float = GRACE_S
) -> dict[str, Any]:
    """One run in its own process; blocks until it finishes or is killed."""
    slot = _Slot(run, memory_mb, grace_s)
    while (row := slot.poll()) is None:
        time.sleep(0.05)
    return {**_base_row(run), **row}


def run_local(
    runs: Iterable[Run],
    jobs: int,
    on_row: Callable[[dict[str, Any]], None],
    memory_mb: int = DEFAULT_MEMORY_MB,
    grace_s: float = GRACE_S,
) -> None:
    """Up to ``jobs`` runs at a time, each in its own process."""
    pending = list(runs)
    active: list[_Slot] = []
    while pending or active:
        while pending and len(active) < max(1, jobs):
            active.append(_Slot(pending.pop(0), memory_mb, grace_s))
        for slot in list(active):
            row = slot.poll()
            if row is not None:
                active.remove(slot)
                on_row({**_base_row(slot.run), **row})
        time.sleep(0.02)


def run_ray(
    runs: Iterable[Run],
    on_row: Callable[[dict[str, Any]], None],
    address: str | None = None,
    num_cpus: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    grace_s: float = GRACE_S,
) -> None:
    """The same isolated runs as tasks on a Ray cluster (a local one by default); each task asks
    for as many CPUs as its run uses threads."""
    try:
        import ray
    except ImportError:
        from engine.errors import PlacerError

        raise PlacerError("the ray executor needs Ray: pip install 'placer[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    remote = ray.remote(run_isolated)
    futures = {
        remote.options(num_cpus=max(1, r.backend.threads)).remote(r, memory_mb, grace_s): r
        for r in runs
    }
    waiting = list(futures)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                on_row(ray.get(ref))
    finally:
        if started:
            ray.shutdown()


class ResultsFile:
    """results.csv: append rows as they finish; know which runs are already done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = environment()
        self._columns: list[str] | None = None

    def done_keys(self) -> set[tuple[str, ...]]:
        if not self.path.exists():
            return set()
        with self.path.open(newline="", encoding="utf-8") as fh:
            return {tuple(row[c] for c in KEY_COLUMNS) for row in csv.DictReader(fh)}

    def columns(self) -> list[str]:
        """The file's own header (a run resumed into a results.csv that an older placer began,
        with fewer columns, appends rows in that file's columns), or ``COLUMNS`` for a new one;
        read once."""
        if self._columns is None:
            if not self.path.exists():
                return COLUMNS
            with self.path.open(newline="", encoding="utf-8") as fh:
                self._columns = next(csv.reader(fh), None) or COLUMNS
        return self._columns

    def append(self, row: dict[str, Any]) -> None:
        full = {**self.env, **row}
        new = not self.path.exists()
        columns = self.columns()
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({c: "" if full.get(c) is None else full.get(c) for c in columns})
            fh.flush()


def progress_printer(total: int) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """A rich progress bar (counts, ETA) on a terminal; one line per run otherwise."""
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        task = bar.add_task("runs", total=total)
        bar.start()

        def advance(row: dict[str, Any]) -> None:
            bar.update(task, advance=1, description=f"{row['instance'][:28]:28} {row['backend']:7}")

        return advance, bar.stop
    count = [0]

    def line(row: dict[str, Any]) -> None:
        count[0] += 1
        print(
            f"[{count[0]}/{total}] {row['instance']} {row['backend']}: {row['status']} "
            f"value={row.get('value')} {row.get('wall_seconds', '')}s",
            file=sys.stderr,
            flush=True,
        )

    return line, lambda: None
