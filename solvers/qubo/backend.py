"""``qubo``: the quantum-annealing formulation, sampled by simulated annealing.

compile → ``model`` (IR → dimod BinaryQuadraticModel, calibrated penalties, lexicographic
weights); run → any dimod ``Sampler`` (dwave-samplers' ``SimulatedAnnealingSampler`` by default,
seeded, time limit through ``interrupt_function``, a hint as the first initial state), then
``repair`` (every read decoded, infeasible reads greedily repaired, best plan kept, part of the
search); decode → the plan.
A QUBO result is never proved: the status is ``feasible`` or ``unknown``.

``export(problem, "bqm")`` writes one JSON document holding dimod's own serialisation of the BQM
and the variable map that ``decode_samples`` needs to turn a sample taken elsewhere into a plan.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import interrupt
from engine.errors import InputError, PlacerError, UnsupportedExport
from engine.ir import Problem
from engine.solution import Solution, Status

from ..base import BASE_FEATURES, Backend, Compiled, Options, RawResult
from ..deadline import Deadline, OutOfTime, not_built
from .anneal import anneal_within, beta_range, empty_state, sample_stoppably
from .model import ENCODERS, CompileOptions, QuboModel, compile_problem
from .penalties import describe
from .repair import counts_of, decode_reads, state_from_counts

MODEL_KIND = "QuboModel"
SAMPLERS = ("sa", "exact", "tabu", "steepest")
COMPILE_PARAMS = (
    "capacity_encoding",
    "penalty",
    "penalty_scale",
    "max_slack_bits",
    "max_variables",
    "max_interactions",
)
DEFAULT_READS = 64
DEFAULT_SWEEPS = 1000
# Under a time limit: compiling must end by BUILD_SHARE of it, annealing by ANNEAL_SHARE, repairing
# by REPAIR_SHARE (the rest: decoding, verifying, writing).
BUILD_SHARE, ANNEAL_SHARE, REPAIR_SHARE = 0.6, 0.8, 0.95


def fingerprint(problem: Problem) -> str:
    """Identifies the problem an exported model was built from."""
    return hashlib.sha256(problem.model_dump_json(by_alias=True).encode()).hexdigest()


def compile_options(params: Mapping[str, Any]) -> CompileOptions:
    enc = params.get("capacity_encoding", "slack")
    if enc not in ("slack", "unbalanced"):
        raise InputError(f"capacity_encoding must be slack or unbalanced, got {enc!r}")
    pen = params.get("penalty", "safe")
    if pen not in ("local", "safe"):
        raise InputError(f"penalty must be local or safe, got {pen!r}")
    try:
        scale = float(params.get("penalty_scale", 1.0))
        bits = int(params.get("max_slack_bits", 12))
        limit = int(params.get("max_variables", 20_000))
        interactions = int(params.get("max_interactions", 5_000_000))
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad qubo parameter: {exc}") from None
    lambdas = params.get("unbalanced", (0.96, 0.0371))
    if (
        not isinstance(lambdas, list | tuple)
        or len(lambdas) != 2
        or not all(isinstance(v, int | float) and v >= 0 for v in lambdas)
    ):
        raise InputError(f"unbalanced must be [l1, l2] with l1, l2 >= 0, got {lambdas!r}")
    if scale < 1.0:
        raise InputError(
            f"penalty_scale must be at least 1 (got {scale}): below it a violation may pay"
        )
    return CompileOptions(
        capacity_encoding=enc,
        penalty=pen,
        penalty_scale=scale,
        max_slack_bits=max(1, bits),
        max_variables=limit,
        max_interactions=interactions,
        unbalanced=(float(lambdas[0]), float(lambdas[1])),
    )


class QuboBackend(Backend):
    name = "qubo"
    supports = BASE_FEATURES | frozenset(
        {
            "anti_affinity",
            "anti_affinity:target",
            "gang",
            "quota",
            "movable",
            "traffic",
            "objective:bins_used",
            "objective:cost",
            "objective:moves",
            "objective:traffic",
            "objective:soft",  # always 0: soft constraints themselves are refused
        }
    )
    exact = False
    requires = ("dimod", "dwave.samplers")
    install_hint = "pip install dimod dwave-samplers"
    exports = frozenset({"bqm", "ising"})
    encoders = ENCODERS
    parameters: Mapping[str, str] = {
        "sampler": "sa (default) | exact | tabu | steepest, or any dimod Sampler object",
        "num_reads": f"annealing runs (default {DEFAULT_READS})",
        "num_sweeps": f"sweeps per run (default {DEFAULT_SWEEPS})",
        "num_sweeps_per_beta": "sweeps at each temperature (default 1)",
        "beta_range": "[hot, cold] inverse temperatures (default: from the biases)",
        "beta_schedule_type": "linear | geometric (default geometric)",
        "randomize_order": "visit variables in random order (default false)",
        "capacity_encoding": "slack (default: exact, slack bits) | unbalanced (no slack bits)",
        "penalty": "safe (default: one weight above the objective range) | local (per-constraint weights)",
        "penalty_scale": "multiplier ≥ 1 on the calibrated weights (default 1)",
        "max_slack_bits": "bits per inequality before it is coarsened conservatively (default 12)",
        "max_variables": "refuse models larger than this (default 20000)",
        "max_interactions": "refuse models with more quadratic terms (default 5000000)",
        "unbalanced": "[l1, l2] of the unbalanced penalty l2·h² − l1·h (default [0.96, 0.0371])",
        "max_repairs": "distinct reads repaired, lowest energy first (default 1000)",
    }
    parameter_types: Mapping[str, type] = {
        "num_reads": int,
        "num_sweeps": int,
        "num_sweeps_per_beta": int,
        "beta_schedule_type": str,
        "randomize_order": bool,
        "capacity_encoding": str,
        "penalty": str,
        "penalty_scale": float,
        "max_slack_bits": int,
        "max_variables": int,
        "max_interactions": int,
        "max_repairs": int,
    }

    def __init__(self, sampler: Any = None) -> None:
        self.sampler = sampler

    # ---------------------------------------------------------------- compile
    def compile(self, problem: Problem, options: Options) -> Compiled[Any, Any]:
        started = time.perf_counter()
        by = Deadline.within(started, options.time_limit, BUILD_SHARE)
        try:
            model = compile_problem(problem, compile_options(options.params), by)
            by.check()
            bqm = model.bqm()
        except OutOfTime:  # no model: run says so
            return Compiled(problem=problem, model=None, index=Unbuilt(started, options.time_limit))
        model.started = started
        return Compiled(problem=problem, model=bqm, index=model)

    # ---------------------------------------------------------------- run
    def _sampler(self, options: Options) -> Any:
        chosen = options.params.get("sampler", self.sampler)
        if chosen is None or chosen == "sa":
            from dwave.samplers import SimulatedAnnealingSampler

            return SimulatedAnnealingSampler()
        if chosen == "exact":
            import dimod

            return dimod.ExactSolver()
        if chosen == "tabu":
            from dwave.samplers import TabuSampler

            return TabuSampler()
        if chosen == "steepest":
            from dwave.samplers import SteepestDescentSolver

            return SteepestDescentSolver()
        if isinstance(chosen, str):
            raise InputError(f"sampler must be one of {', '.join(SAMPLERS)}, got {chosen!r}")
        if not callable(getattr(chosen, "sample", None)):
            raise InputError(f"sampler {chosen!r} is not a dimod Sampler (it has no .sample)")
        return chosen

    def _sample_kwargs(
        self, sampler: Any, model: QuboModel, bqm: Any, options: Options, deadline: float | None
    ) -> dict[str, Any]:
        p = options.params
        wanted: dict[str, Any] = {
            "num_reads": int(p.get("num_reads", DEFAULT_READS)),
            "num_sweeps": int(p.get("num_sweeps", DEFAULT_SWEEPS)),
            "seed": options.seed % (2**31),
        }
        for key in ("num_sweeps_per_beta", "beta_range", "beta_schedule_type", "randomize_order"):
            if key in p:
                wanted[key] = p[key]
        sa = type(sampler).__name__ == "SimulatedAnnealingSampler"
        if "beta_range" not in p and sa and not (deadline and time.perf_counter() >= deadline):
            wanted["beta_range"] = beta_range(bqm)  # its own default, without its Python loop
        # Between reads the annealer asks whether to stop: at the deadline, or on Ctrl-C.
        if deadline is not None:
            wanted["interrupt_function"] = lambda: (
                time.perf_counter() >= deadline or interrupt.requested()
            )
        else:
            wanted["interrupt_function"] = interrupt.requested
        if options.hint is not None and options.hint.placements:
            start = state_from_counts(model, options.hint.counts())
            wanted["initial_states"] = (start[None, :], model.labels)
            wanted["initial_states_generator"] = "random"
        accepted = getattr(sampler, "parameters", None)
        if accepted is None:
            return wanted
        kwargs = {k: v for k, v in wanted.items() if k in accepted}
        if "seed" not in accepted and "random_state" in accepted:
            kwargs["random_state"] = wanted["seed"]
        return kwargs

    def run(self, compiled: Compiled[Any, QuboModel | Unbuilt], options: Options) -> RawResult:
        """Sample the BQM, then turn the reads into the best plan (infeasible ones repaired)."""
        model = compiled.index
        if isinstance(model, Unbuilt):
            reason = not_built("QUBO", BUILD_SHARE, model.limit)
            return RawResult(Status.UNKNOWN, {}, info={"reason": reason})
        start = model.started if model.started is not None else time.perf_counter()
        anneal_by = Deadline.within(start, options.time_limit, ANNEAL_SHARE)
        deadline = anneal_by.at if anneal_by.bounded else None
        sampler = self._sampler(options)
        bqm = compiled.model
        max_repairs = int(options.params.get("max_repairs", 1000))
        linear, (_, _, quadratic), _ = bqm.to_numpy_vectors()
        if not np.any(linear) and not np.any(quadratic):
            # nothing to anneal (no variables, or every state costs the same): one empty read
            states = np.zeros((1, len(model.labels)), dtype=np.int8)
            info: dict[str, Any] = {"sampler": "none (flat model)", "sample_s": 0.0}
            info["hint_used"] = False
            return repaired(model, states, bqm.energies((states, model.labels)), info, max_repairs)
        kwargs = self._sample_kwargs(sampler, model, bqm, options, deadline)
        sampling = time.perf_counter()
        timed: dict[str, Any] = {}
        try:
            if anneal_by.bounded and "num_sweeps" in kwargs:
                sampleset = anneal_within(sampler, bqm, kwargs, anneal_by, timed)
            else:
                sampleset = sample_stoppably(sampler, bqm, kwargs)
                if sampleset is None:  # Ctrl-C before the first read ended
                    sampleset = empty_state(bqm, timed, "interrupted before the first read ended")
        except (ValueError, TypeError) as exc:
            raise PlacerError(
                f"qubo: sampler {type(sampler).__name__} refused the model: {exc}"
            ) from None
        info = {
            "sampler": type(sampler).__name__,
            "sampler_params": {
                k: v for k, v in kwargs.items() if k not in ("interrupt_function", "initial_states")
            },
            "sample_s": round(time.perf_counter() - sampling, 6),
            "hint_used": "initial_states" in kwargs,
            **timed,
        }
        repair_by = (
            None if options.time_limit is None else start + REPAIR_SHARE * options.time_limit
        )
        if interrupt.requested():  # stopped: repair what the annealer has, no more
            repair_by = time.perf_counter()
        states, energies = _states(sampleset, model.labels)
        return repaired(model, states, energies, info, max_repairs, repair_by)

    # ---------------------------------------------------------------- decode
    def decode(self, compiled: Compiled[Any, QuboModel], raw: RawResult) -> Solution:
        return self.plan(compiled.problem, raw, counts_from(raw))

    # ---------------------------------------------------------------- export / external samples
    def export(self, problem: Problem, fmt: str, **params: Any) -> bytes:
        if fmt not in self.exports:
            raise UnsupportedExport(self.name, fmt, self.exports)
        model = compile_problem(problem, compile_options(params))
        doc = export_document(model, spin=fmt == "ising")
        return (json.dumps(doc, separators=(",", ":")) + "\n").encode()

    def decode_samples(
        self,
        problem: Problem,
        samples: Sequence[Mapping[str, Any]],
        model_doc: Mapping[str, Any] | None = None,
        source: str | None = None,
        sample_source: str | None = None,
    ) -> Solution:
        """Samples of an exported BQM (label → 0/1) back to the best repaired plan (uncertified).

        ``source`` names the model file and ``sample_source`` the sample file in errors."""
        params: dict[str, Any] = {}
        if model_doc is not None:
            check_model_document(problem, model_doc, source)
            params = {k: v for k, v in model_doc["compile"].items() if k in COMPILE_PARAMS}
        model = compile_problem(problem, compile_options(params))
        if model_doc is not None and set(model_doc["bqm"]["variable_labels"]) != set(model.labels):
            raise InputError(
                "the model's variables differ from the ones this problem compiles to "
                "(exported by another placer version?)",
                path="bqm.variable_labels",
                source=source,
            )
        spin = model_doc is not None and model_doc.get("vartype") == "SPIN"
        states = _states_from_mappings(samples, model.labels, sample_source, spin=spin)
        energies = model.bqm().energies((states, model.labels))
        info = {"sampler": "external", "samples": len(samples)}
        raw = repaired(model, states, energies, info)
        return self.plan(problem, raw, counts_from(raw))


@dataclass(frozen=True)
class Unbuilt:
    """The index of a model abandoned for lack of time."""

    started: float
    limit: float | None


def repaired(
    model: QuboModel,
    states: np.ndarray,
    energies: np.ndarray | None,
    info: dict[str, Any],
    max_repairs: int = 1000,
    deadline: float | None = None,
) -> RawResult:
    """The best plan among the reads, each infeasible one repaired (``repair``)."""
    start = time.perf_counter()
    best, stats = decode_reads(model, states, energies, max_repairs, deadline)
    info.update(stats.as_info())
    info["decode_repair_s"] = round(time.perf_counter() - start, 6)
    info["model"] = model.info
    info["penalties"] = describe(model.constraints)
    info["energy_offset"] = model.objective.offset + model.penalties.offset
    if model.info["pinned_infeasible"]:
        info["reason"] = "items that may not move already break: " + ", ".join(
            model.info["pinned_infeasible"]
        )
        return RawResult(Status.UNKNOWN, {}, info=info)
    if best is None:
        info["reason"] = "no read could be repaired into a valid plan"
        return RawResult(Status.UNKNOWN, {}, info=info)
    info["best_energy"] = stats.best_energy
    counts: dict[Hashable, float] = {k: float(n) for k, n in counts_of(model, best).items()}
    return RawResult(Status.FEASIBLE, counts, objective=model.level_values(best), info=info)


def counts_from(raw: RawResult) -> dict[tuple[str, str], int]:
    return {k: round(v) for k, v in raw.values.items() if isinstance(k, tuple)}


def export_document(model: QuboModel, *, spin: bool = False) -> dict[str, Any]:
    """The model for an external sampler; ``spin``: as an Ising model (h, J, offset over spins
    s = 2x − 1 = ±1, dimod's own conversion) instead of a 0/1 BQM."""
    p = model.problem
    variables = {
        model.labels[v]: {
            "item": model.items[i].group,
            "replica": model.items[i].replica,
            "bin": model.var_bin[v],
        }
        for v, i in enumerate(model.var_item.tolist())
        if i >= 0
    }
    doc: dict[str, Any] = {
        "apiVersion": "placer/v1",
        "kind": MODEL_KIND,
        "problem": p.name,
        "fingerprint": fingerprint(p),
        "compile": model.options.as_dict(),
        "objective": [dict(level) for level in p.objective],
        "level_weights": model.level_weights,
        "penalties": describe(model.constraints),
        "decode": (
            "a sample maps every label to 0/1; x labels below place one replica of an item on a "
            "bin, y.<bin> marks a used bin, s.* are slack bits; add the pinned counts; then "
            "`placer decode PROBLEM SAMPLE --model THIS -o PLAN.json` repairs and verifies"
        ),
        "variables": variables,
        "bin_used": {model.labels[y]: b for b, y in model.y.items()},
        "pinned": [{"item": g, "bin": b, "count": n} for (g, b), n in model.fixed.items() if n],
        "bqm": model.bqm().to_serializable(),
    }
    if spin:
        import dimod

        bqm = model.bqm()
        h, j, offset = bqm.to_ising()
        doc["vartype"] = "SPIN"
        doc["ising"] = {
            "h": {str(v): float(b) for v, b in h.items()},
            "J": [[str(u), str(v), float(b)] for (u, v), b in j.items()],
            "offset": float(offset),
        }
        doc["bqm"] = bqm.change_vartype(dimod.SPIN, inplace=False).to_serializable()
        doc["decode"] = doc["decode"].replace("0/1", "±1 (spin s means x = (s + 1)/2)")
    return doc


def check_model_document(problem: Problem, doc: Mapping[str, Any], source: str | None) -> None:
    if not isinstance(doc, Mapping) or doc.get("kind") != MODEL_KIND:
        raise InputError(f"not a placer BQM export (kind: {MODEL_KIND})", source=source)
    for key in ("compile", "bqm", "fingerprint"):
        if key not in doc:
            raise InputError("required field missing", path=key, source=source)
    if doc["fingerprint"] != fingerprint(problem):
        raise InputError(
            f"the model was exported from a different problem than {problem.name!r}",
            path="fingerprint",
            source=source,
        )


def _states(sampleset: Any, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reads as rows over ``labels`` (0/1 int8), whatever the sampler's variable order, and
    their energies."""
    record = sampleset.record
    if len(record) == 0:
        return np.zeros((0, len(labels)), dtype=np.int8), np.zeros(0)
    position = {v: n for n, v in enumerate(sampleset.variables)}
    cols = np.array([position[label] for label in labels], dtype=np.int64)
    samples = np.asarray(record.sample)[:, cols]
    reps = np.asarray(record.num_occurrences, dtype=np.int64)
    samples = np.repeat(samples, reps, axis=0)
    energies = np.repeat(np.asarray(record.energy, dtype=float), reps)
    return (samples > 0).astype(np.int8), energies


def _states_from_mappings(
    samples: Sequence[Mapping[str, Any]], labels: list[str], source: str | None, spin: bool = False
) -> np.ndarray:
    """Placement (x.*) labels are required; y.* and slack bits default to 0 (decoding
    recomputes them). Values are 0/1, or spins ±1 (x = (s + 1)/2; required for an Ising
    model's samples, ``spin``)."""
    allowed: tuple[int, ...] = (-1, 1) if spin else (0, 1, -1)
    out = np.zeros((len(samples), len(labels)), dtype=np.int8)
    known = set(labels)
    for r, sample in enumerate(samples):
        strangers = sorted(str(k) for k in sample if k not in known)
        if strangers:
            raise InputError(
                f"sample has {len(strangers)} variable(s) this model does not have, e.g. "
                f"{strangers[0]!r} (a sample of another model?)",
                path=f"[{r}]",
                source=source,
            )
        for c, label in enumerate(labels):
            if label not in sample:
                if not label.startswith("x."):
                    continue
                raise InputError(
                    f"sample has no value for variable {label!r}", path=f"[{r}]", source=source
                )
            value = sample[label]
            if value not in allowed or (isinstance(value, bool) and spin):
                want = "a spin, -1 or 1" if spin else "0 or 1 (or a spin, -1 or 1)"
                raise InputError(
                    f"variable {label!r} must be {want}, got {value!r}",
                    path=f"[{r}]",
                    source=source,
                )
            out[r, c] = 1 if value == 1 else 0
    return out


def parse_samples(doc: Any, source: str | None = None) -> list[dict[str, Any]]:
    """A sample document: one mapping label → 0/1, a list of them, or a dimod SampleSet."""
    if isinstance(doc, Mapping) and doc.get("type") == "SampleSet":
        import dimod

        try:
            sampleset = dimod.SampleSet.from_serializable(doc)
        except Exception as exc:  # dimod raises assorted errors on malformed input
            raise InputError(f"not a readable dimod SampleSet: {exc}", source=source) from None
        if sampleset.vartype is dimod.SPIN:  # dimod's own conversion back to 0/1
            sampleset = sampleset.change_vartype(dimod.BINARY, inplace=False)
        return [{str(k): int(v) for k, v in s.items()} for s in sampleset.samples()]
    if isinstance(doc, Mapping):
        return [dict(doc)]
    if isinstance(doc, list) and all(isinstance(s, Mapping) for s in doc) and doc:
        return [dict(s) for s in doc]
    raise InputError(
        "a sample is a JSON object {label: 0|1}, a list of them, or a dimod SampleSet",
        source=source,
    )
