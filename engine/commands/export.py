"""`placer export FILE --format lp|mps|bqm|ising -o OUT`: write a problem's model for an external solver.

The format picks the backend through the registry (the first backend whose ``exports`` lists it:
lp/mps from ``milp``, bqm from ``qubo``), so a new exporting backend needs no change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.errors import BackendUnavailable, InputError, UnsupportedProblem

from .grammar import Json, announce


def exporter_for(fmt: str) -> str:
    """Name of the backend that exports ``fmt``; InputError listing the known formats otherwise."""
    from solvers import registry

    known: dict[str, str] = {}
    missing: list[str] = []
    for name in registry.names():
        try:
            cls = registry.backend_class(name)
        except BackendUnavailable:
            missing.append(name)
            continue
        for exported in sorted(cls.exports):
            known.setdefault(exported, name)
    if fmt in known:
        return known[fmt]
    note = f" (backends not installed: {', '.join(missing)})" if missing else ""
    raise InputError(
        f"unknown export format {fmt!r}; known formats: {', '.join(sorted(known)) or 'none'}{note}",
        path="--format",
    )


def export_problem(file: Path, fmt: str, output: Path) -> str:
    """Load, export and write atomically; returns the exporting backend's name."""
    from engine.io import check_writable, load, write_text_atomic
    from solvers import registry

    backend_name = exporter_for(fmt)
    check_writable(output)
    problem = load(file)
    backend = registry.get(backend_name)
    # A model that leaves out a constraint would be a different problem: refuse, as solve does.
    if gaps := backend.missing(problem):
        raise UnsupportedProblem(backend_name, gaps)
    write_text_atomic(output, backend.export(problem, fmt))
    return backend_name


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        file: Annotated[
            Path,
            typer.Argument(help="IR file, edge topology, or Kubernetes manifests", metavar="FILE"),
        ],
        fmt: Annotated[
            str, typer.Option("--format", "-f", metavar="FORMAT", help="lp | mps | bqm | ising")
        ] = "lp",
        output: Annotated[
            Path,
            typer.Option(
                "--output", "-o", metavar="FILE", help="write the model here ('-': stdout)"
            ),
        ] = ...,  # type: ignore[assignment]
        as_json: Json = False,
    ) -> None:
        """Write the problem's model for an external solver: LP/MPS (MILP, objective level 1;
        later levels as defined variables), BQM (dimod, with the variable map to decode) or its
        Ising form (h, J, offset)."""
        from . import stale_output_dropped_on_error

        with stale_output_dropped_on_error(output):
            backend = export_problem(file, fmt.lower(), output)
        announce(
            output,
            f"{fmt.lower()} model written to {output} (backend {backend})",
            {"format": fmt.lower(), "backend": backend},
            as_json,
        )
