"""A time limit as a promise: one remaining-budget object that every loop and native call reads.

``Deadline`` is a point on the ``perf_counter`` clock (``inf`` without a limit). Python loops ask
``expired()`` — true when the time is up or a stop was requested (``engine.interrupt``: Ctrl-C);
model builders call ``check()`` at every row and variable, which raises ``OutOfTime`` so that a
model too large for the limit is abandoned on time, not built past it (PuLP needs about
0.3-0.5 ms per variable, CP-SAT about 0.1 ms); native calls take ``left()`` as their own limit and
are stopped from outside when a stop is requested while they run (``cpsat_solve``,
``highs_run``). ``part(share)`` gives a sub-deadline for one phase, never later than the whole.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine import interrupt

from .quiet import run_highs

MIN_NATIVE_SECONDS = 0.01  # a native solver given less than this is not started
MAX_SLOWDOWN = 100.0  # ``slowdown`` never says more than this (reserves are capped by shares)
# The measured pace divides by at least this much CPU time: a process that got none at all is
# at the cap, and a few milliseconds after the mark say nothing either way (wall < this: < 1).
MIN_CPU_SECONDS = 0.05


def cpu_seconds() -> float:
    """This process's CPU time (every thread's) and its finished children's (CBC runs as one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Since:
    """A point the pace is measured from: ``perf_counter()`` and ``cpu_seconds()`` there."""

    wall: float
    cpu: float

    @classmethod
    def now(cls) -> Since:
        return cls(time.perf_counter(), cpu_seconds())

    def pace(self) -> float:
        """The wall clock over the CPU time this process got since then."""
        wall = time.perf_counter() - self.wall
        return wall / max(cpu_seconds() - self.cpu, MIN_CPU_SECONDS)


_measured_from: Since | None = None  # the running command's start (``measure_from``)


def measure_from(since: Since | None) -> None:
    """Measure the pace from ``since`` (a command's start; None: stop measuring)."""
    global _measured_from
    _measured_from = since


@contextmanager
def paced() -> Iterator[None]:
    """Measure the pace from here to the end of the block, unless a command already measures
    it from its own start (the CLI: from the process start, imports and reading included)."""
    if _measured_from is not None:
        yield
        return
    measure_from(Since.now())
    try:
        yield
    finally:
        measure_from(None)


def load_per_core() -> float:
    """The 1-minute load average per core this process may use (0 where none is reported)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return 0.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return load / max(1, cores or 1)


def slowdown(since: Since | None = None) -> float:
    """How many times longer CPU-bound work takes now than on an idle machine (at least 1, at
    most ``MAX_SLOWDOWN``): the larger of the load per usable core and the pace measured since
    ``since`` (by default the running command's start, or ``engine.solve``'s): the wall clock
    over this process's CPU time. The load average alone is blind to a process starved by
    others at a higher priority (nice), throttled, or stopped (SIGSTOP: ``bench.starve``): at
    20 % of a core the load said 2 where the pace said 11. Work done AFTER a deadline
    (decoding a plan, certifying it, writing it) and steps that cannot look at a deadline are
    weighed by their idle estimate times this: on the 2-core machine at load 9-19 certifying
    took 4x the idle estimate. Several busy threads make the measured pace fall below 1 (more
    CPU than wall): the load then speaks."""
    since = since or _measured_from
    measured = since.pace() if since is not None else 0.0
    return min(MAX_SLOWDOWN, max(1.0, load_per_core(), measured))


def import_seconds(modules: tuple[str, ...], idle_seconds: float) -> float:
    """What importing ``modules`` takes now: nothing once they are loaded, else their cost on
    an idle core times the pace (an import looks at no deadline)."""
    if all(m in sys.modules for m in modules):
        return 0.0
    return idle_seconds * slowdown()


class OutOfTime(Exception):
    """Raised by ``Deadline.check``: the work in hand (a model build) ran out of time or was
    asked to stop; the caller answers without it."""


def not_built(model: str, share: float, time_limit: float | None) -> str:
    """Why a model abandoned by ``OutOfTime`` was not built (a Solution's ``info.reason``)."""
    why = "interrupted" if interrupt.requested() else "not within"
    if why != "interrupted":
        why += f" {share:.0%} of the time limit ({time_limit or 0:g} s)"
    return f"the {model} model was not built: {why}"


@dataclass(frozen=True)
class Deadline:
    at: float  # perf_counter() value; math.inf for no limit

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        return cls(math.inf if seconds is None else time.perf_counter() + max(0.0, seconds))

    @classmethod
    def never(cls) -> Deadline:
        return cls(math.inf)

    @classmethod
    def within(cls, started: float, seconds: float | None, share: float = 1.0) -> Deadline:
        """``share`` of a limit of ``seconds`` that began at ``started`` (a ``perf_counter``
        value): the limit of a backend counts from its compile, not from where it is read."""
        return cls(math.inf if seconds is None else started + share * max(0.0, seconds))

    def left(self) -> float:
        """Seconds left (``inf`` without a limit, 0 when past it or stopped)."""
        if interrupt.requested():
            return 0.0
        return max(0.0, self.at - time.perf_counter())

    def expired(self) -> bool:
        return self.left() <= 0.0

    def check(self) -> None:
        """Raise ``OutOfTime`` when expired (or a stop was requested)."""
        if self.expired():
            raise OutOfTime

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.at)

    def part(self, share: float, at_most: float | None = None, at_least: float = 0.0) -> Deadline:
        """A sub-deadline: ``share`` of what is left (at most ``at_most``, at least
        ``at_least`` seconds), never later than this one."""
        left = self.left()
        if not math.isfinite(left):
            return self if at_most is None else Deadline.after(at_most)
        seconds = max(at_least, share * left)
        if at_most is not None:
            seconds = min(seconds, at_most)
        return Deadline(min(self.at, time.perf_counter() + seconds))

    def earliest(self, other: Deadline) -> Deadline:
        return self if self.at <= other.at else other

    def native_seconds(self) -> float | None:
        """The limit to hand a native solver (None: unlimited)."""
        left = self.left()
        return None if not math.isfinite(left) else left


def cpsat_solve(
    solver: Any, model: Any, deadline: Deadline | None = None, callback: Any = None
) -> Any:
    """``solver.solve(model)`` within the deadline (None: the solver's own limit): CP-SAT's own
    limit is the time left (never raised above one already set), and a stop request ends the
    search at once. A stop already pending skips the solve: the caller sees UNKNOWN, as for a
    solve that ran out of time before its first solution, and keeps its incumbent."""
    from ortools.sat.python import cp_model

    left = (deadline or Deadline.never()).native_seconds()  # 0 once a stop is requested
    prm = solver.parameters
    if left is not None:
        if left < MIN_NATIVE_SECONDS:
            return cp_model.UNKNOWN
        prm.max_time_in_seconds = min(left, prm.max_time_in_seconds)
    # CP-SAT's own SIGINT handler (on by default) would take Ctrl-C from placer's: it ends this
    # one search and every stage after it runs on to the time limit as if nothing had happened.
    prm.catch_sigint_signal = False
    # A request landing between the check above and the solve's start finds no search to stop;
    # callers' loops look at the deadline (or ``interrupt.requested()``) again after the solve.
    with interrupt.on_stop(solver.stop_search):
        return solver.solve(model, callback)


def highs_time_limit(highs: Any, seconds: float | None) -> None:
    """Give the next ``highs.run()`` ``seconds`` (None: no limit). HiGHS before 2.0 compares
    ``time_limit`` with the run time summed over every run of the object (ERGO-Code/HiGHS
    #1331, #1477), so a limit for one more run is that sum plus ``seconds``: a re-solved master
    (column generation, dives, lexicographic stages) otherwise stops at once with kTimeLimit."""
    import highspy

    if seconds is None or not math.isfinite(seconds):
        highs.setOptionValue("time_limit", highspy.kHighsInf)
    else:
        highs.setOptionValue("time_limit", float(highs.getRunTime()) + max(0.0, seconds))


def highs_run(highs: Any, deadline: Deadline) -> bool:
    """``highs.run()`` within the deadline (HiGHS' ``time_limit``, and ``cancelSolve`` on a stop
    request). False when it was not started because no time is left."""
    left = deadline.native_seconds()
    if left is not None:
        if left < MIN_NATIVE_SECONDS:
            return False
        highs_time_limit(highs, left)
    with interrupt.on_stop(highs.cancelSolve):
        run_highs(highs)
    return True
