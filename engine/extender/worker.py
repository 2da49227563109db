"""The planning process, supervised: death noticed at once, restarted with backoff, stopped for sure.

One process holds the solver (model building is pure Python; in the service's own process
it would hold the GIL the request path needs). It talks over one ``Pipe``: no queue, no lock
shared with the parent, so a process that dies mid-message cannot wedge anyone (a
``multiprocessing.Pool`` whose worker dies holding its queue lock hangs every later call and the
shutdown). Every wait is ``multiprocessing.connection.wait`` on the pipe, the process sentinel
and a stop pipe, so a death or a stop wakes the waiter at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("placer.extender.planner")

# Imported once by the fork server, so a planning process starts in milliseconds with the
# solver already loaded (a replacement for a dead one must not spend seconds on imports).
PRELOAD = (
    "engine.extender.planner",
    "engine.extender.gate",
    "engine.kube",
    "engine.solve",
    "engine.verify",
    "solvers.cpsat.backend",
    "solvers.greedy.backend",
    "ortools.sat.python.cp_model",
)
STARTUP_SECONDS = 120.0  # imports on a loaded machine; a process not ready by then is killed
KILL_GRACE_SECONDS = 0.5  # SIGTERM, then SIGKILL


class PlannerDied(Exception):
    """The planning process died (killed, out of memory, crashed) before answering."""


class PlannerStopped(Exception):
    """The service is stopping; the solve was abandoned."""


class PlannerDown(Exception):
    """No planning process came up in time."""


class SolveFailed(Exception):
    """The solve raised in the planning process (its type name and message)."""

    def __init__(self, kind: str, message: str, *, bad_input: bool) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.bad_input = bad_input


@dataclass
class Backoff:
    """Restart delays: ``initial``, doubling up to ``cap``; back to ``initial`` after a success."""

    initial: float = 0.25
    cap: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.cap, self.current * 2)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# What a planning process runs for each job, by default (``module:function``).
SOLVE_DOCUMENTS = "engine.extender.planner:solve_documents"


def worker_main(conn: Connection, memory_mib: int, solve: str = SOLVE_DOCUMENTS) -> None:
    """The planning process: warm the imports, then solve jobs until the pipe closes.

    ``solve`` names the job function (``module:function``): the extender's planner solves whole
    clusters, the scheduling-gate controller solves batches of gated pods."""
    # Ctrl-C reaches the whole process group; the service decides when its planner stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .planner import limit_memory

    limit_memory(memory_mib)
    import importlib

    from engine.errors import InputError

    for module in PRELOAD:  # already loaded by the fork server; imported here if not
        importlib.import_module(module)
    module_name, _, function = solve.partition(":")
    solve_documents = getattr(importlib.import_module(module_name), function)

    answer: tuple[Any, ...] = ("ready", os.getpid())
    while True:
        try:
            conn.send(answer)
            job = conn.recv()
        except (EOFError, OSError):  # the service is gone (stopped while this one started)
            return
        try:
            answer = ("ok", solve_documents(*job))
        except Exception as exc:  # MemoryError included: the process lives on for the next job
            answer = ("error", type(exc).__name__, str(exc), isinstance(exc, InputError))


def start_fork_server() -> None:
    """Start the fork server now, ignoring SIGINT when called from the main thread.

    An ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt
    handler: a Ctrl-C sent to the whole process group cannot interrupt its preloading (the
    service stops its planner itself; the fork server exits when the service does).
    """
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class PlanningProcess:
    """Keeps one planning process alive; ``run`` sends it a job and waits for the answer."""

    def __init__(
        self, memory_mib: int, *, backoff: Backoff | None = None, solve: str = SOLVE_DOCUMENTS
    ) -> None:
        self.memory_mib = memory_mib
        self.solve = solve
        self.backoff = backoff or Backoff()
        # A fork server: forks from a clean single-threaded process that has preloaded the
        # solver (never from the service, whose threads could hold locks at fork time).
        self._ctx = get_context("forkserver")
        self._ctx.set_forkserver_preload(list(PRELOAD))
        self._lock = threading.Condition()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._stop_r, self._stop_w = self._ctx.Pipe(duplex=False)
        self._stopping = threading.Event()
        self._killed: set[int] = set()  # pids we killed on purpose (not a death to report)
        self._thread: threading.Thread | None = None
        self.up = False
        self.down_since: float | None = time.monotonic()
        self.restarts = 0
        self.deaths: list[str] = []  # what the supervisor saw, read by the planner
        self.on_death: list[Any] = []  # callbacks (message) -> None

    # ---- lifecycle ----
    def start(self) -> None:
        if self._thread is None:
            start_fork_server()
            self._thread = threading.Thread(
                target=self._supervise, name="placer-planner-supervisor", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Abandon any solve, end the process, wake every waiter. Idempotent."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._stop_w.send_bytes(b"stop")
        with self._lock:
            proc = self._proc
            self._lock.notify_all()
        if proc is not None:
            self._kill(proc)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._proc = None
            self._conn = None
            self.up = False

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def _kill(self, proc: BaseProcess) -> None:
        if proc.pid is not None:
            self._killed.add(proc.pid)
        if proc.is_alive():
            proc.terminate()
            proc.join(KILL_GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
        proc.join(KILL_GRACE_SECONDS)

    # ---- the supervisor thread ----
    def _supervise(self) -> None:
        delay = 0.0
        while not self._stopping.wait(delay):
            try:
                delay = self._run_one()
            except Exception as exc:  # the supervisor must outlive anything it supervises
                self._report(f"planning process failed: {type(exc).__name__}: {exc}")
                delay = self.backoff.next()

    def _run_one(self) -> float:
        """Start one process, serve until it dies; the delay before the next one."""
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, self.memory_mib, self.solve),
            name="placer-planner",
            daemon=True,
        )
        try:
            proc.start()
        except Exception as exc:  # the fork server died or could not start
            parent.close()
            self._report(f"cannot start the planning process: {type(exc).__name__}: {exc}")
            return self.backoff.next()
        finally:
            child.close()
        with self._lock:
            self._proc = proc
        if self._stopping.is_set():  # stop() ran between the check and the start
            self._kill(proc)
            return 0.0
        ready = wait([parent, proc.sentinel, self._stop_r], STARTUP_SECONDS)
        if self._stop_r in ready:
            return 0.0
        if parent in ready and not self._received_ready(parent):
            ready = [proc.sentinel]
        if parent not in ready:
            if not ready:
                self._kill(proc)
            self._forget(proc, parent)
            self._report(f"planning process did not start ({describe_exit(proc.exitcode)})")
            return self.backoff.next()
        with self._lock:
            self._conn = parent
            self.up = True
            self.down_since = None
            self._lock.notify_all()
        log.info("planning process %d ready", proc.pid)
        wait([proc.sentinel, self._stop_r])
        if self._stopping.is_set():
            return 0.0
        proc.join(KILL_GRACE_SECONDS)
        self._forget(proc, parent)
        if proc.pid in self._killed:  # abandoned on purpose (deadline): start afresh at once
            self._killed.discard(proc.pid)
            return 0.0
        self._report(f"planning process {proc.pid} died ({describe_exit(proc.exitcode)})")
        return self.backoff.next()

    @staticmethod
    def _received_ready(conn: Connection) -> bool:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return False
        return isinstance(message, tuple) and message[:1] == ("ready",)

    def _forget(self, proc: BaseProcess, conn: Connection) -> None:
        with self._lock:
            if self._proc is proc:
                self._proc = None
                self._conn = None
            self.up = False
            if self.down_since is None:
                self.down_since = time.monotonic()
        conn.close()

    def _report(self, message: str) -> None:
        log.warning("%s", message)
        self.restarts += 1
        self.deaths.append(message)
        for callback in list(self.on_death):
            callback(message)

    # ---- one job ----
    def run(self, job: tuple[Any, ...], deadline: float) -> Any:
        """Solve ``job`` in the planning process within ``deadline`` seconds (raises on failure)."""
        give_up = time.monotonic() + deadline
        with self._lock:
            while not self.up and not self._stopping.is_set():
                left = give_up - time.monotonic()
                if left <= 0:
                    raise PlannerDown("no planning process is running (restarting)")
                self._lock.wait(min(left, 1.0))
            if self._stopping.is_set():
                raise PlannerStopped
            proc, conn = self._proc, self._conn
        assert proc is not None and conn is not None
        try:
            conn.send(job)
        except (OSError, ValueError):
            raise PlannerDied(f"planning process {proc.pid} died") from None
        ready = wait([conn, proc.sentinel, self._stop_r], max(0.0, give_up - time.monotonic()))
        if conn in ready:
            try:
                answer = conn.recv()
            except (EOFError, OSError):
                answer = None
            if isinstance(answer, tuple) and answer[0] == "ok":
                self.backoff.reset()
                return answer[1]
            if isinstance(answer, tuple) and answer[0] == "error":
                self.backoff.reset()  # the process is healthy; the problem was the job
                raise SolveFailed(answer[1], answer[2], bad_input=bool(answer[3]))
        if self._stopping.is_set():
            raise PlannerStopped
        if proc.sentinel in ready or conn in ready:
            proc.join(KILL_GRACE_SECONDS)
            raise PlannerDied(f"planning process {proc.pid} died ({describe_exit(proc.exitcode)})")
        self._kill(proc)  # the supervisor starts a fresh one
        raise TimeoutError(f"planning took over {deadline:.0f}s; abandoned")
