"""`placer import ...`: turn other tools' formats into placer files.

Each module listed in IMPORT_MODULES defines register_import(group: typer.Typer) -> None and adds
its own subcommand (alibaba-gpu, edgesimpy, ifogsim, ...).
"""

from __future__ import annotations

import importlib

import typer

IMPORT_MODULES: tuple[str, ...] = (
    "engine.edge.importers",
    "engine.kube.alibaba",
    "engine.commands.packing_formats",
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        no_args_is_help=True, help="Import other tools' formats (traces, simulators)."
    )
    for module in IMPORT_MODULES:
        importlib.import_module(module).register_import(group)
    app.add_typer(group, name="import")
