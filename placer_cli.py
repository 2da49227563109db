"""The ``placer`` command's entry point, outside the engine package so that it runs before any
of placer is imported: a Ctrl-C while Python loads placer (0.2 s idle, 0.5-1.5 s under load)
ends the command with one line and exit 130, as a Ctrl-C does anywhere later, not with a
KeyboardInterrupt traceback (exit -2)."""

from __future__ import annotations

import os
import signal
from types import FrameType


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"placer: interrupted\n")
    os._exit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted_while_loading)
    from engine.cli import main as run  # the CLI and everything it imports

    signal.signal(signal.SIGINT, previous)  # from here the CLI answers Ctrl-C itself
    run()
