"""`placer migrate PROBLEM TARGET_PLAN -o steps.yaml`: an ordered, safe sequence of steps that
takes the running items to a target plan (``--check STEPS`` judges an existing sequence)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from .grammar import Json, emit_json


def register(app: typer.Typer) -> None:
    @app.command("migrate")
    def migrate_command(
        problem_file: Annotated[Path, typer.Argument(help="the problem (running items as placed)")],
        target_file: Annotated[Path, typer.Argument(help="the target plan (Solution JSON)")],
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="write the steps here (YAML)")
        ] = None,
        time_limit: Annotated[float, typer.Option("--time-limit", "-t", help="seconds")] = 10.0,
        park: Annotated[
            bool,
            typer.Option("--park", help="allow intermediate nodes (an item may move twice)"),
        ] = False,
        check: Annotated[
            Path | None,
            typer.Option("--check", help="judge this sequence step by step instead of searching"),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no summary")] = False,
        as_json: Json = False,
    ) -> None:
        """Order the moves of a target plan into steps that keep every rule, capacity and
        disruption budget (exit 0); exit 1 when no sequence was found or --check finds
        violations; 2 on bad input."""
        from engine.cli import out
        from engine.commands import check_time_limit, remaining
        from engine.io import check_writable, load, load_solution, write_text_atomic
        from engine.migrate.check import check_plan
        from engine.migrate.model import load_plan
        from engine.migrate.run import check_inputs, evictable, migrate

        check_time_limit(time_limit)
        if output is not None:
            check_writable(output)
        problem = evictable(load(problem_file))
        target = load_solution(target_file)
        if check is not None:
            check_inputs(problem, target, str(target_file))
            plan = load_plan(str(check))
            violations = check_plan(problem, target.counts(), plan, str(check))
            moves = sum(t.count for s in plan.steps for t in s.evict)
            if as_json:
                emit_json(
                    {
                        "valid": not violations,
                        "steps": len(plan.steps),
                        "evictions": moves,
                        "violations": [str(v) for v in violations],
                    }
                )
            elif not violations:
                out.print(f"valid: {len(plan.steps)} step(s), {moves} eviction(s)")
            else:
                out.print(f"invalid: {len(violations)} violation(s)")
                for v in violations:
                    out.print(f"  {v}")
            if violations:
                raise typer.Exit(1)
            return
        # the limit counts from the command's start: reading the files takes seconds at scale
        limit = remaining(time_limit)
        plan = migrate(problem, target, time_limit=limit, park=park, source=str(target_file))
        found = plan.status.has_sequence
        if output is not None and found:
            write_text_atomic(output, plan.to_yaml())
        if as_json:
            emit_json(yaml.safe_load(plan.to_yaml()))
        elif not quiet:
            _summary(plan)
            if output is not None and found:
                out.print(f"steps written to {output}")
        if not found:
            raise typer.Exit(1)


def _summary(plan: object) -> None:
    from engine.cli import out
    from engine.migrate.model import MigrationPlan

    assert isinstance(plan, MigrationPlan)
    lb = plan.lower_bound
    head = f"{plan.problem}: {plan.status}"
    if plan.status.has_sequence:
        parked = plan.info.get("parked", 0)
        extra = f" ({parked} via intermediate nodes)" if parked else ""
        head += f", {len(plan.steps)} step(s), {plan.moves} move(s){extra} in {plan.seconds:.2f}s"
        checked = plan.info.get("checked")
        if checked is not None:
            head += ", checked step by step" if checked else ", NOT checked"
    out.print(head)
    if lb is not None:
        out.print(f"  lower bound {lb.steps} step(s): {lb.proof}")
    for key in ("reason", "note", "intermediate_nodes", "temporary_capacity_text"):
        if key in plan.info:
            out.print(f"  {plan.info[key]}")
