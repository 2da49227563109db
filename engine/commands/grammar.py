"""One grammar for every ``placer`` command: the shared options (what each short flag means, the
defaults), ``--json`` output, ``-o -`` for stdout, and help text without type placeholders.

Short flags mean one thing everywhere: ``-b`` backend, ``-t`` time limit, ``-o`` output file
(``-`` is stdout), ``-p`` backend parameter, ``-q`` quiet, ``-m`` the method (algorithm,
mechanism or baseline) to use. ``--json`` prints one JSON document on stdout instead of the
human summary, on every command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_TIME_LIMIT = 60.0  # seconds, for every command that solves
DEFAULT_THREADS = max(1, min(8, os.cpu_count() or 1))
STDOUT = "-"

TimeLimit = Annotated[
    float,
    typer.Option(
        "--time-limit",
        "-t",
        metavar="SECONDS",
        help="stop after this long, counted from the command's start, with the best plan so far",
    ),
]
Threads = Annotated[
    int,
    typer.Option(
        metavar="N",
        help="solver threads (default: this machine's cores, at most 8)",
    ),
]
Seed = Annotated[int, typer.Option(metavar="N", help="random seed")]
Json = Annotated[
    bool, typer.Option("--json", help="print one JSON document on stdout instead of a summary")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no summary")]


def output_option(what: str, *, required: bool = False) -> Any:
    """``-o FILE`` (``-`` writes to stdout)."""
    return typer.Option("--output", "-o", metavar="FILE", help=f"write {what} here ('-': stdout)")


def is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == STDOUT


def emit_json(document: Any) -> None:
    """One JSON document on stdout (machine output: no colour, no wrapping)."""
    sys.stdout.write(json.dumps(document, indent=1, default=str) + "\n")
    sys.stdout.flush()


def plain_help() -> None:
    """typer 0.2x prints every option's Python type (<bool>, <list[str]>, <path>) and a required
    argument as {file}; placer's help shows the metavar it names (SECONDS, FILE, KEY=VALUE),
    nothing for flags, and arguments as FILE / [FILE]."""
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar:
            return str(self.metavar)
        return None if self.is_flag else str(self.name).upper()

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None

    def usage_name(self: Any) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


def announce(output: Path, text: str, data: dict[str, Any], as_json: bool) -> None:
    """Say what a command wrote: ``text`` for people or ``data`` as JSON. When the file itself
    went to stdout (``-o -``), the message goes to stderr so that stdout stays the file."""
    stream = sys.stderr if is_stdout(output) else sys.stdout
    if as_json:
        stream.write(json.dumps({"output": str(output), **data}, default=str) + "\n")
    else:
        stream.write(text + "\n")
    stream.flush()


def run_app(app: typer.Typer, args: list[str] | None) -> Any:
    """Run a Typer app in-process (``standalone_mode=False``) without rebuilding its click
    command each call: ``Typer.__call__`` re-reads every command's annotations (≈30 ms a call
    for placer), which tests and programs that call ``main(argv)`` many times paid each time."""
    command = _commands.get(app)
    if command is None:  # built once, after every command is registered (at import)
        command = _commands[app] = typer.main.get_command(app)
    return command(args=args, standalone_mode=False)


_commands: dict[typer.Typer, Any] = {}


def usage_error_line(exc: BaseException) -> str | None:
    """A command-line usage error (unknown option, missing argument...) as one line naming the
    --help to read; None for any other exception. typer >= 0.2x raises its vendored click's
    errors and a lean install has no ``click`` package at all, so neither import is assumed."""
    import importlib

    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            usage_error = importlib.import_module(module).ClickException
        except ImportError:
            continue
        if isinstance(exc, usage_error):
            ctx = getattr(exc, "ctx", None)
            command = ctx.command_path if ctx is not None else "the command"
            message = " ".join(exc.format_message().split())
            return f"{message} (see {command} --help)"
    return None


def missing_extra_line(exc: BaseException, feature: str) -> str | None:
    """An import of a module that an extra provides, failed: one line saying what to install
    (a command that forgot its ``engine.extras.require`` still gets no traceback)."""
    from engine.extras import MissingExtra, extra_for_module

    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    extra = extra_for_module(exc.name)
    return None if extra is None else str(MissingExtra(extra, feature, [exc.name.split(".")[0]]))
