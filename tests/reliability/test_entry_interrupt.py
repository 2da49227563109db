"""Ctrl-C while Python is still loading placer (0.2 s idle, 0.5-1.5 s under load) ends the
command with one line and exit 130, not a KeyboardInterrupt traceback: the console script's
entry point (``placer_cli``) installs its handler before any of placer is imported."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

# The child runs the real entry point with the import of the CLI slowed down, and says when it
# has begun loading it: the SIGINT then surely lands while placer loads.
CHILD = textwrap.dedent(
    """
    import builtins, sys, time
    real_import = builtins.__import__

    def slow_import(name, *args, **kwargs):
        if name == "engine.cli":
            print("loading", flush=True)
            time.sleep(30)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = slow_import
    sys.argv = ["placer", "--version"]
    import placer_cli
    placer_cli.main()
    """
)


def test_ctrl_c_while_placer_loads_is_one_line_and_exit_130() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "loading"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert err == "placer: interrupted\n"


def test_the_entry_point_runs_the_cli() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, placer_cli; sys.argv = ['placer', '--version']; placer_cli.main()",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "placer" in done.stdout
