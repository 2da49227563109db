"""``placer import bpplib`` and ``placer import vbp``: the public bin-packing benchmark formats
(BPPLIB's 1-D "BPP format", VPSolver's ``.vbp`` vector format) as placer IR files.

The readers live in ``engine.formats`` (the benchmark suites use them too); these commands only
read, write and say what they wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..ir import Problem
from .grammar import Json, announce, output_option

OutputOption = Annotated[Path, output_option("the IR")]


def _convert(read: Callable[[Path], Problem], file: Path, output: Path, as_json: bool) -> None:
    from ..io import check_writable, dump_problem

    check_writable(output)
    try:
        problem = read(file)
    except InputError as exc:
        raise exc.with_source(str(file)) from None
    dump_problem(problem, output)
    items = sum(g.count for g in problem.items)
    resources = len(problem.bins[0].capacity) if problem.bins else 0
    announce(
        output,
        f"wrote {output}: {items} items of {len(problem.items)} sizes, {resources} "
        f"resource{'s' if resources != 1 else ''}, {len(problem.bins)} bins offered "
        "(first-fit decreasing's count)",
        {"items": items, "sizes": len(problem.items), "bins": len(problem.bins)},
        as_json,
    )


def register_import(group: typer.Typer) -> None:
    @group.command("bpplib")
    def bpplib_command(
        file: Annotated[Path, typer.Argument(help="BPPLIB instance (n, capacity, n weights)")],
        output: OutputOption,
        as_json: Json = False,
    ) -> None:
        """BPPLIB 1-D bin packing instance -> placer IR (fewest bins)."""
        from ..formats import read_bpplib

        _convert(read_bpplib, file, output, as_json)

    @group.command("vbp")
    def vbp_command(
        file: Annotated[Path, typer.Argument(help="VPSolver .vbp vector packing instance")],
        output: OutputOption,
        as_json: Json = False,
    ) -> None:
        """VPSolver .vbp vector bin packing instance -> placer IR (fewest bins)."""
        from ..formats import read_vbp

        _convert(read_vbp, file, output, as_json)
