"""`placer export --format ising`: h, J and offset (dimod's spin conversion) give every state the
energy the BQM gives it, and spin samples decode to the plans 0/1 samples decode to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.ir import Problem
from solvers import registry
from solvers.qubo.backend import QuboBackend, parse_samples
from solvers.qubo.model import compile_problem

PROBLEM = {
    "name": "tiny",
    "bins": [{"name": "a", "capacity": {"cpu": "2"}}, {"name": "b", "capacity": {"cpu": "2"}}],
    "items": [
        {"name": "web", "count": 2, "demand": {"cpu": "1"}},
        {"name": "db", "count": 1, "demand": {"cpu": "2"}},
    ],
    "objective": ["placed", {"bins_used": 1}],
}


def _export() -> tuple[Problem, dict]:
    p = Problem.model_validate(PROBLEM)
    backend = registry.get("qubo")
    return p, json.loads(backend.export(p, "ising"))


def test_h_j_offset_give_the_bqm_energies() -> None:
    p, doc = _export()
    assert doc["vartype"] == "SPIN" and doc["kind"] == "QuboModel"
    model = compile_problem(p)
    labels = model.labels
    h, ising = doc["ising"]["h"], doc["ising"]
    assert set(h) == set(labels) and all(set(pair[:2]) <= set(labels) for pair in ising["J"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(50, len(labels)))
    s = 2 * x - 1
    col = {v: i for i, v in enumerate(labels)}
    spin_energy = ising["offset"] + s @ np.array([h[v] for v in labels])
    for u, v, j in ising["J"]:
        spin_energy = spin_energy + j * s[:, col[u]] * s[:, col[v]]
    assert np.allclose(spin_energy, model.bqm().energies((x, labels)))


def test_spin_samples_decode_like_binary_ones() -> None:
    p, doc = _export()
    backend = registry.get("qubo")
    assert isinstance(backend, QuboBackend)
    labels = list(doc["ising"]["h"])
    rng = np.random.default_rng(1)
    x = {v: int(b) for v, b in zip(labels, rng.integers(0, 2, len(labels)), strict=True)}
    spins = {v: 2 * b - 1 for v, b in x.items()}
    binary_plan = backend.decode_samples(p, [x])
    spin_plan = backend.decode_samples(p, [spins], doc)
    assert spin_plan.placements == binary_plan.placements
    with pytest.raises(InputError, match="must be a spin, -1 or 1, got 0"):
        backend.decode_samples(p, [{v: 0 for v in labels}], doc)


def test_a_spin_sampleset_converts_back_with_dimod(tmp_path: Path) -> None:
    import dimod

    p, doc = _export()
    h = doc["ising"]["h"]
    j = {(u, v): b for u, v, b in doc["ising"]["J"]}
    ground = dimod.ExactSolver().sample_ising(h, j).truncate(1)
    samples = parse_samples(ground.to_serializable())
    assert set(next(iter(samples)).values()) <= {0, 1}
    plan = registry.get("qubo").decode_samples(p, samples)  # type: ignore[attr-defined]
    assert sum(pl.count for pl in plan.placements) == 3  # the ground state places everything
