"""`placer generate ...`: seeded, reproducible instances.

Each module listed in GENERATE_MODULES defines register_generate(group: typer.Typer) -> None and
adds its own subcommand (cluster, binpack, edge, tenants, ...).
"""

from __future__ import annotations

import importlib

import typer

GENERATE_MODULES: tuple[str, ...] = (
    "engine.edge.generate",
    "engine.generate",
    "engine.fair.generate",
)


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Generate seeded, reproducible instances.")
    for module in GENERATE_MODULES:
        importlib.import_module(module).register_generate(group)
    app.add_typer(group, name="generate")
