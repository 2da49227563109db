"""`placer generate ...` (filled in by the generators work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    generate = typer.Typer(no_args_is_help=True, help="Generate seeded, reproducible instances.")
    app.add_typer(generate, name="generate")
