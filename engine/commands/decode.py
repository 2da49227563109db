"""`placer decode FILE SAMPLE -o PLAN.json [--model MODEL]`: a sample of an exported BQM back to a
verified plan.

SAMPLE is JSON: one mapping ``label → 0|1``, a list of them, or a dimod ``SampleSet``
serialisation (``sampleset.to_serializable()``), for example from a hardware sampler fed the
model that ``placer export FILE --format bqm`` wrote. With ``--model`` (that export) the compile
settings are taken from it and the problem's fingerprint is checked; without it the model is
rebuilt from FILE with the default settings (compilation is deterministic). Every sample is
decoded and greedily repaired as the ``qubo`` backend does; the best plan is certified by the
independent verifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from engine.errors import InputError

from .grammar import Json, Quiet, emit_json, is_stdout


def decode_file(file: Path, sample: Path, model: Path | None = None) -> Any:
    """Load the problem, the sample(s) and the optional model; return the certified plan."""
    from engine.io import load, read_json
    from engine.verify import certify
    from solvers import registry
    from solvers.qubo.backend import QuboBackend, parse_samples

    problem = load(file)
    samples = parse_samples(read_json(sample), str(sample))
    model_doc = read_json(model) if model is not None else None
    backend = registry.get("qubo")
    assert isinstance(backend, QuboBackend)
    solution = backend.decode_samples(
        problem,
        samples,
        model_doc,
        source=None if model is None else str(model),
        sample_source=str(sample),
    )
    return problem, certify(problem, solution)


def register(app: typer.Typer) -> None:
    @app.command("decode")
    def decode(
        file: Annotated[
            Path, typer.Argument(help="the problem the model was exported from", metavar="FILE")
        ],
        sample: Annotated[
            Path,
            typer.Argument(
                help="JSON sample {label: 0|1}, a list of them, or a SampleSet", metavar="SAMPLE"
            ),
        ],
        output: Annotated[
            Path,
            typer.Option(
                "--output", "-o", metavar="FILE", help="write the plan here ('-': stdout)"
            ),
        ] = ...,  # type: ignore[assignment]
        model: Annotated[
            Path | None,
            typer.Option(
                "--model", metavar="MODEL", help="the exported BQM (checks it matches FILE)"
            ),
        ] = None,
        quiet: Quiet = False,
        as_json: Json = False,
    ) -> None:
        """Decode a sample of an exported BQM into a verified plan (exit 0), or report that no
        sample repairs into a valid plan (exit 1)."""
        from engine.cli import err, out
        from engine.io import write_text_atomic
        from engine.summary import print_summary

        from . import drop_stale_output, stale_output_dropped_on_error

        with stale_output_dropped_on_error(output):
            if as_json and is_stdout(output):
                raise InputError("--json and -o - both write to stdout: choose one")
            problem, solution = decode_file(file, sample, model)
            ok = solution.status.has_plan and solution.verified
            if ok:
                write_text_atomic(output, solution.to_json() + "\n")
        if not ok and (note := drop_stale_output(output)):
            err.print(f"placer: {note}", markup=False)
        if as_json:
            emit_json(solution.model_dump(by_alias=True, mode="json"))
        elif not quiet:
            out = err if is_stdout(output) else out
            print_summary(out, problem, solution)
            info = solution.info
            out.print(
                f"samples: {info.get('reads', 0)}, raw feasible {info.get('raw_feasible_reads', 0)}, "
                f"feasible after repair {info.get('repaired_feasible_reads', 0)}"
            )
            if ok:
                out.print(f"plan written to {output}")
        if not ok:
            raise typer.Exit(1)
