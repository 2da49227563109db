"""`placer verify --prove PROBLEM PLAN`: the plan's optimal or infeasible claim, confirmed or
refuted by the smt prover (``solvers.smt.prove``)."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.ir import Problem
from engine.solution import Solution

EXIT = {"confirmed": 0, "no-claim": 0, "refuted": 1, "invalid": 1, "undecided": 3}


def prove_claim(
    problem: Problem,
    plan: Solution,
    time_limit: float,
    counterexample: Path | None,
    as_json: bool = False,
) -> None:
    from engine.cli import out
    from engine.commands import check_time_limit, remaining
    from engine.extras import require
    from engine.io import check_writable, write_text_atomic

    from .grammar import emit_json

    check_time_limit(time_limit)
    if counterexample is not None:
        check_writable(counterexample)
    require("smt", "placer verify --prove")
    from solvers.smt.prove import prove

    verdict = prove(problem, plan, remaining(time_limit))
    wrote = verdict.counterexample is not None and counterexample is not None
    if wrote:
        assert verdict.counterexample is not None and counterexample is not None
        write_text_atomic(counterexample, verdict.counterexample.to_json() + "\n")
    if as_json:
        emit_json(
            {
                "outcome": verdict.outcome,
                "message": verdict.message,
                "counterexample": str(counterexample) if wrote else None,
            }
        )
    else:
        out.print(verdict.message)
        if wrote:
            out.print(f"counterexample written to {counterexample}")
    if EXIT[verdict.outcome]:
        raise typer.Exit(EXIT[verdict.outcome])
