"""Reproducible starvation: a process (group) run only a share of the wall clock.

    python -m bench.starve 0.2 -- placer solve big.yaml -b cpsat -t 60   # 20 % of one slice

A watcher process stops the command's process group (SIGSTOP) and lets it go on (SIGCONT) in
slices of ``SLICE_S``: the command runs ``share`` of each slice, whatever else the machine runs,
so a slow step shows up the same way on every run (a process at ``nice 19`` beside CPU hogs is
starved as much as the hogs and the scheduler decide). The load average does not see it (a
stopped process is not runnable): estimates made from the load (``solvers.deadline.slowdown``)
are blind to it, as they are to a process that gets little of a core for any other reason.
``starved(share)`` does the same to the calling process for the duration of a ``with`` block.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

SLICE_S = 0.5  # one stop-and-go period: short next to the phases it starves (seconds)


def _watch(target: int, share: float, group: bool) -> None:
    """Alternate SIGCONT / SIGSTOP to ``target`` until it is gone or this watcher is told to
    end (SIGTERM): the target is always left running."""
    send = os.killpg if group else os.kill

    def end(*_: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, end)
    running = SLICE_S * share
    try:
        while True:
            send(target, signal.SIGCONT)
            time.sleep(running)
            send(target, signal.SIGSTOP)
            time.sleep(SLICE_S - running)
    except ProcessLookupError:
        return
    finally:
        with suppress(ProcessLookupError):
            send(target, signal.SIGCONT)


def _watcher(target: int, share: float, group: bool) -> subprocess.Popen[bytes]:
    args = [__file__, "--watch", str(target), repr(share), "group" if group else "process"]
    return subprocess.Popen([sys.executable, *args], start_new_session=True)


def _stop(watcher: subprocess.Popen[bytes]) -> None:
    watcher.terminate()  # it lets the target go on before it ends
    watcher.wait()


@contextmanager
def starved(share: float | None) -> Iterator[None]:
    """The calling process runs ``share`` of the wall clock inside the block (None: all)."""
    if share is None or share >= 1.0:
        yield
        return
    watcher = _watcher(os.getpid(), share, group=False)
    try:
        yield
    finally:
        _stop(watcher)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--watch"]:
        _watch(int(argv[1]), float(argv[2]), argv[3] == "group")
        return 0
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    share = float(argv[0])
    began = time.perf_counter()
    child = subprocess.Popen(argv[2:], start_new_session=True)
    watcher = _watcher(child.pid, share, group=True)
    try:
        code = child.wait()
        wall = time.perf_counter() - began  # the command's, not the watcher's ending
    finally:
        _stop(watcher)
    print(f"starved at {share:g}: exit {code} after {wall:.2f} s wall", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
