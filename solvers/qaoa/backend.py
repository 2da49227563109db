"""``qaoa``: the Quantum Approximate Optimisation Algorithm on a state-vector simulation.

compile → the ``qubo`` backend's model (the same BQM, penalties and lexicographic weights) and its
energy landscape over all 2^n basis states (n ≤ 20 qubits); run → p layers of cost and driver
(``simulate``), angles optimised classically (``angles``, scipy), ``num_reads`` bit strings
sampled from the final state, each decoded and greedily repaired by the ``qubo`` backend's repair;
decode → the best plan. Like ``qubo`` it never proves anything: ``feasible`` or ``unknown``.

The simulation is exact, so the plan's ``info`` also reports what hardware could not: the
probability of the BQM's ground state in the final state, whether a sample hit it, and the
approximation ratio (E_max − ⟨E⟩)/(E_max − E_min) of the state.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine import interrupt
from engine.errors import InputError, PlacerError
from engine.ir import Problem
from engine.solution import Solution

from ..base import Backend, Compiled, Options, RawResult
from ..deadline import Deadline
from ..qubo.backend import QuboBackend, compile_options, counts_from, repaired
from ..qubo.model import QuboModel, compile_problem
from .angles import optimise
from .simulate import MAX_QUBITS, Landscape, cvar, expectation, probabilities

DEFAULT_LAYERS = 3
OPTIMISE_SHARE, REPAIR_SHARE = 0.8, 0.9  # of the time limit, from the start of compile
DEFAULT_READS = 1024
QUBO_PARAMS = ("capacity_encoding", "penalty", "penalty_scale", "max_slack_bits", "unbalanced")


class QaoaBackend(Backend):
    name = "qaoa"
    supports = QuboBackend.supports
    exact = False
    requires = ("dimod", "scipy")
    install_hint = "pip install dimod scipy"
    encoders = QuboBackend.encoders
    parameters: Mapping[str, str] = {
        "layers": f"QAOA depth p (default {DEFAULT_LAYERS})",
        "num_reads": f"bit strings sampled from the final state (default {DEFAULT_READS})",
        "objective": "cvar (default: mean of the lowest cvar_alpha of the distribution) | expectation",
        "cvar_alpha": "fraction of the probability mass CVaR averages (default 0.1)",
        "restarts": "random starting angles for p = 1 besides the best grid point (default 2)",
        "max_qubits": f"refuse larger models (default and most {MAX_QUBITS})",
        "capacity_encoding": "as for qubo: slack (default, exact) | unbalanced (no slack qubits)",
        "penalty": "as for qubo: safe (default) | local",
        "penalty_scale": "as for qubo",
        "max_slack_bits": "as for qubo",
        "unbalanced": "as for qubo",
    }
    parameter_types: Mapping[str, type] = {
        "layers": int,
        "num_reads": int,
        "objective": str,
        "cvar_alpha": float,
        "restarts": int,
        "max_qubits": int,
        "capacity_encoding": str,
        "penalty": str,
        "penalty_scale": float,
        "max_slack_bits": int,
    }

    def missing(self, problem: Problem) -> frozenset[str]:
        gaps = super().missing(problem)
        if gaps:
            return gaps
        x = sum(
            g.count * len(problem.eligible(g.name))
            for g in problem.items
            if g.movable or not g.placed
        )
        if x > MAX_QUBITS:  # placement variables alone: no need to build the model
            return frozenset({f"models above {MAX_QUBITS} qubits (at least {x} here)"})
        qubits = len(compile_problem(problem).labels)
        if qubits > MAX_QUBITS:
            return frozenset({f"models above {MAX_QUBITS} qubits ({qubits} here)"})
        return frozenset()

    # ---------------------------------------------------------------- compile
    def compile(self, problem: Problem, options: Options) -> Compiled[Any, Any]:
        started = time.perf_counter()  # the time limit covers compiling too
        params = options.params
        limit = int(params.get("max_qubits", MAX_QUBITS))
        if not 1 <= limit <= MAX_QUBITS:
            raise InputError(f"max_qubits must be 1..{MAX_QUBITS}, got {limit}")
        model = compile_problem(
            problem, compile_options({k: v for k, v in params.items() if k in QUBO_PARAMS})
        )
        if len(model.labels) > limit:
            raise PlacerError(
                f"qaoa: the model needs {len(model.labels)} qubits, more than {limit} "
                "(use the qubo backend, or capacity_encoding=unbalanced to drop slack qubits)"
            )
        linear, (rows, cols, data), offset = model.bqm().to_numpy_vectors(
            variable_order=model.labels
        )
        landscape = Landscape.of(
            np.asarray(linear, float),
            np.asarray(rows),
            np.asarray(cols),
            np.asarray(data, float),
            float(offset),
        )
        model.started = started
        return Compiled(problem=problem, model=landscape, index=model)

    # ---------------------------------------------------------------- run
    def run(self, compiled: Compiled[Any, QuboModel], options: Options) -> RawResult:
        p = options.params
        layers = int(p.get("layers", DEFAULT_LAYERS))
        reads = int(p.get("num_reads", DEFAULT_READS))
        restarts = int(p.get("restarts", 2))
        kind = p.get("objective", "cvar")
        alpha = float(p.get("cvar_alpha", 0.1))
        if layers < 1 or reads < 1 or restarts < 1:
            raise InputError("layers, num_reads and restarts must be at least 1")
        if kind not in ("cvar", "expectation"):
            raise InputError(f"objective must be cvar or expectation, got {kind!r}")
        if not 0 < alpha <= 1:
            raise InputError(f"cvar_alpha must lie in (0, 1], got {alpha}")
        model, landscape = compiled.index, compiled.model
        start = time.perf_counter()
        began = model.started if model.started is not None else start
        deadline = Deadline.within(began, options.time_limit, OPTIMISE_SHARE)
        info: dict[str, Any] = {"qubits": landscape.qubits, "layers": layers, "objective": kind}
        if landscape.qubits == 0:
            states = np.zeros((1, 0), dtype=np.int8)
            return repaired(model, states, landscape.energy[:1], info)
        best: dict[str, Any] = {
            "value": np.inf
        }  # the best state evaluated: sampled from at the end

        def score(gammas: np.ndarray, betas: np.ndarray) -> float:
            probs = probabilities(landscape, gammas, betas)
            value = (
                cvar(landscape, probs, alpha) if kind == "cvar" else expectation(landscape, probs)
            )
            if value < best["value"]:
                best.update(value=value, gammas=gammas.copy(), betas=betas.copy(), probs=probs)
            return value

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=options.threads or 1):
            _, gammas, betas, by_depth = optimise(
                score, layers, restarts=restarts, seed=options.seed, deadline=deadline
            )
        if len(by_depth) < layers or deadline.expired():
            info["stopped"] = (
                "interrupted" if interrupt.requested() else "time limit reached"
            ) + f" at depth {len(gammas)} of {layers}"
        if np.array_equal(gammas, best["gammas"]) and np.array_equal(betas, best["betas"]):
            probs = best["probs"]  # no second simulation of the same angles
        else:
            probs = probabilities(landscape, gammas, betas)
        rng = np.random.default_rng(options.seed)
        drawn = rng.choice(len(probs), size=reads, p=probs)
        energy = landscape.energy
        low, high = float(energy.min()), float(energy.max())
        ground = energy <= low + 1e-9 * max(1.0, abs(low))
        mean = float(probs @ energy)
        info.update(
            {
                "gammas": [round(float(g), 6) for g in gammas],
                "betas": [round(float(b), 6) for b in betas],
                "objective_by_depth": [round(v, 6) for v in by_depth],
                "optimise_s": round(time.perf_counter() - start, 6),
                "ground_energy": low,
                "ground_probability": float(probs[ground].sum()),
                "ground_sampled": bool(ground[drawn].any()),
                # 1 + states more likely than the likeliest ground state
                "ground_rank": 1 + int(np.sum(probs > probs[ground].max())),
                "approximation_ratio": (high - mean) / (high - low) if high > low else 1.0,
                "reads": reads,
            }
        )
        repair_by = Deadline.within(began, options.time_limit, REPAIR_SHARE)
        by = repair_by.at if repair_by.bounded else None
        return repaired(model, landscape.bits(drawn), energy[drawn], info, deadline=by)

    # ---------------------------------------------------------------- decode
    def decode(self, compiled: Compiled[Any, QuboModel], raw: RawResult) -> Solution:
        return self.plan(compiled.problem, raw, counts_from(raw))
