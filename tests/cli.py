"""placer's and bench's command lines run in-process, as a user runs them: the exit code and
what they printed."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def _exit_code(run: Callable[[], object]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        run()
    code = exit_info.value.code
    return code if isinstance(code, int) else 0


def run_placer(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``placer ARGV``."""
    from engine.cli import main

    code = _exit_code(lambda: main(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_bench(argv: list[str]) -> int:
    """The exit code of ``python -m bench ARGV``."""
    from bench.__main__ import main

    return _exit_code(lambda: main(argv))
