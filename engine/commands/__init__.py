"""CLI command groups, one module each; engine.cli registers them (COMMAND_MODULES).

Also the helpers every command shares: option checks (the limits themselves live in
``engine.limits``), the command's wall clock, and the rule for outputs of failed runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from engine import limits
from engine.errors import InputError, PlacerError

# Never hand a backend less than this: it still returns its start plan (or says it has none).
MIN_BUDGET = 0.05
# Ending a command on an idle machine (the summary printed, the process exited): about 0.05 s
# of CPU measured on 3,000 nodes / 30,000 pods; twice that, as the certify estimate is.
END_SECONDS = 0.1
END_SHARE = 0.1  # ... at most this share of the limit (a process stopped for long: pace 100)


def check_time_limit(value: float | None, option: str = "--time-limit") -> None:
    """A time limit is a positive finite number of seconds (negatives, inf and NaN are refused)."""
    limits.check_time_limit(value, option)


def check_at_least(value: int | None, least: int, option: str) -> None:
    """Counts such as --random: refused below ``least`` instead of reaching a solver."""
    if value is not None and value < least:
        raise InputError(f"must be at least {least}, got {value}", path=option)


def check_solver_options(
    time_limit: float | None, seed: int | None = None, threads: int | None = None
) -> None:
    """--time-limit, --seed and --threads, against engine.limits."""
    limits.check_time_limit(time_limit)
    if seed is not None:
        limits.check_seed(seed)
    limits.check_threads(threads)


def _process_age() -> float:
    """Seconds since this process started, to the clock tick: its start in ticks after boot
    (/proc/self/stat) against the time since boot (psutil's ``create_time`` adds the boot time
    in whole seconds: up to 1 s of the limit lost)."""
    import os

    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, field 3 on
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)


def _process_started() -> float:
    """time.monotonic() at the start of this process (interpreter start-up and imports count:
    they are part of the wall clock a user measures)."""
    now_wall, now_mono = time.time(), time.monotonic()
    try:
        return now_mono - _process_age()
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc: ask psutil
        pass
    try:
        import psutil

        return now_mono - max(0.0, now_wall - psutil.Process().create_time())
    except Exception:  # psutil refuses: count from here
        return now_mono


PROCESS_STARTED = _process_started()
_command_started = PROCESS_STARTED


def start_command(whole_process: bool) -> None:
    """Start a command's clock: from the start of the process when the process is the command
    (the ``placer`` executable), else now (``main(argv)`` from a program or a test, typer's
    CliRunner: the time the process spent before, on other commands, is not this command's).
    The pace (``solvers.deadline.slowdown``) is measured over the same span: a process starved
    from its start is seen as slow before its first solve begins."""
    global _command_started
    from solvers.deadline import Since, cpu_seconds, measure_from

    _command_started = PROCESS_STARTED if whole_process else time.monotonic()
    cpu = 0.0 if whole_process else cpu_seconds()  # a process's CPU time counts from its start
    measure_from(Since(time.perf_counter() - command_elapsed(), cpu))


def end_command() -> None:
    """The command is over: the pace is no longer measured from its start (a program or test
    that runs commands in-process goes on to other work)."""
    from solvers.deadline import measure_from

    measure_from(None)


def command_elapsed() -> float:
    """Seconds since the command started (see ``start_command``)."""
    return time.monotonic() - _command_started


def seconds_to_end(time_limit: float) -> float:
    """What ending a command takes at the current pace (at most ``END_SHARE`` of its limit):
    printing its summary, the interpreter's exit (``engine.cli.main`` skips the teardown of
    the whole process's objects: at 20 % of a core it took 1.2-2.1 s after the plan was
    written)."""
    from solvers.deadline import slowdown

    return min(END_SHARE * time_limit, END_SECONDS * slowdown())


def remaining(time_limit: float | None) -> float | None:
    """What is left of a command's time limit, counted from the command's start, less what
    ending the command takes (``seconds_to_end``)."""
    if time_limit is None:
        return None
    return max(MIN_BUDGET, time_limit - command_elapsed() - seconds_to_end(time_limit))


def drop_stale_output(path: Path | None) -> str | None:
    """A run that ends without writing ``path`` must not leave an older file there to be taken
    for its result (a script would apply last week's plan): remove it, and return the sentence
    that says so (None when there was nothing to remove). ``-`` is stdout, never removed."""
    from engine.io import remove_stale_output

    if path is not None and str(path) != "-" and remove_stale_output(path):
        return f"removed the previous {path}: this run wrote none"
    return None


@contextlib.contextmanager
def stale_output_dropped_on_error(path: Path | None) -> Iterator[None]:
    """Within the block, a placer error or Ctrl-C removes an older ``path`` (see
    ``drop_stale_output``); the error then carries the sentence as a note, printed on its line."""
    try:
        yield
    except PlacerError as exc:
        if note := drop_stale_output(path):
            exc.add_note(note)
        raise
    except KeyboardInterrupt:
        drop_stale_output(path)
        raise
