"""Ctrl-C as "stop now and return the best plan so far".

A solve runs for seconds to minutes, mostly inside native code (CP-SAT, HiGHS, CBC, the annealer),
where Python's own SIGINT handling cannot run until the call returns. Inside ``stop_on_sigint()``
the first SIGINT instead *requests a stop*: a watcher thread, woken at once through
``signal.set_wakeup_fd`` even while the main thread sits in native code, runs every callback that
backends registered with ``on_stop`` (CP-SAT's ``stop_search``, HiGHS' cancel, terminating a CBC
subprocess); loops in Python poll ``requested()``. The backend then returns its best plan as
``feasible`` (or ``unknown``), the caller writes it and exits 130. A second SIGINT ends the
process at once (exit 130), whatever it is doing.

Outside ``stop_on_sigint()`` (library use, the extender's planner) nothing changes, and
``request_stop()`` lets a caller stop a running solve from another thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType

_FINISH = 0xFF  # a byte no signal number uses: tells the watcher thread to end
_requested = threading.Event()
_lock = threading.Lock()
_callbacks: list[Callable[[], None]] = []
_left_running: list[threading.Thread] = []


def requested() -> bool:
    """Has a stop been asked for (Ctrl-C, or ``request_stop``)?"""
    return _requested.is_set()


def request_stop() -> None:
    """Ask the running solve to stop and return its best plan; runs the registered callbacks."""
    with _lock:
        first = not _requested.is_set()
        _requested.set()
        callbacks = list(_callbacks)
    if first:
        for callback in callbacks:
            with contextlib.suppress(Exception):  # a stop must never raise into a solver thread
                callback()


def reset() -> None:
    _requested.clear()


def leave_running(thread: threading.Thread) -> None:
    """A native call that did not stop when told (its thread is a daemon, still inside the
    solver): the process must end without waiting for it (``exit_now_if_left_running``)."""
    _left_running.append(thread)


def exit_now_if_left_running(code: object) -> None:
    """End the process at once with ``code`` when a native call is still running: interpreter
    shutdown would abort when that thread next asks for the GIL."""
    if any(t.is_alive() for t in _left_running):
        exit_now(code)


def exit_now(code: object) -> None:
    """End the process with ``code`` (as ``sys.exit`` takes it) once its output is flushed,
    without the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say there
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


@contextlib.contextmanager
def on_stop(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, a stop request calls ``callback`` (at once if one is already pending).

    The callback runs on another thread: it must only signal (set a flag, call a thread-safe
    stop method), never wait.
    """
    with _lock:
        _callbacks.append(callback)
        pending = _requested.is_set()
    if pending:
        with contextlib.suppress(Exception):
            callback()
    try:
        yield
    finally:
        with _lock:
            _callbacks.remove(callback)


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[None]:
    """The first SIGINT within the block requests a stop; a second ends the process (exit 130).

    Only the main thread can install signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reset()
    reader, writer = socket.socketpair()
    reader.setblocking(True)
    writer.setblocking(False)

    def handler(signum: int, frame: FrameType | None) -> None:
        request_stop()  # the watcher has usually done it already; this covers Python-only waits

    def watch() -> None:
        seen = 0
        try:
            while True:
                data = reader.recv(64)
                if not data or _FINISH in data:  # the writer closed, or told to finish
                    return
                seen += data.count(signal.SIGINT)
                if seen == 1:
                    request_stop()
                elif seen > 1:  # a second Ctrl-C: the user wants out now, whatever is running
                    with contextlib.suppress(OSError):
                        os.write(2, b"placer: interrupted again, exiting\n")
                    os._exit(130)
        except OSError:
            return
        finally:
            # The watcher owns its end: closed by another thread while recv() waits, its number
            # could be reused by an unrelated file, and this thread would read that file's bytes.
            reader.close()

    previous_handler = signal.signal(signal.SIGINT, handler)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="placer-sigint", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        with contextlib.suppress(OSError):
            writer.send(bytes([_FINISH]))
        writer.close()  # the watcher reads FINISH (or the end of the stream) and closes its end
        watcher.join(timeout=1.0)
        reset()  # the request belonged to this block: a later solve in the process starts clean
