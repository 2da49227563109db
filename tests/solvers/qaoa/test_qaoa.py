"""QAOA: the simulation against matrix exponentials, the landscape against dimod, the backend's
answers against the exact optimum, and the size limit."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.linalg import expm

from engine.errors import UnsupportedProblem
from engine.ir import Problem
from engine.solve import solve
from solvers import registry
from solvers.qaoa.simulate import Landscape, cvar, expectation, probabilities, state
from solvers.qubo.model import compile_problem

X = np.array([[0, 1], [1, 0]], dtype=complex)


def _kron_x(n: int, q: int) -> np.ndarray:
    """X on qubit q (bit q of the basis index) of n qubits."""
    out = np.array([[1.0 + 0j]])
    for k in reversed(range(n)):  # the most significant bit is the leftmost factor
        out = np.kron(out, X if k == q else np.eye(2))
    return out


def _random_landscape(n: int, seed: int) -> Landscape:
    rng = np.random.default_rng(seed)
    rows, cols = np.triu_indices(n, 1)
    return Landscape.of(rng.normal(size=n), rows, cols, rng.normal(size=len(rows)), 0.5)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_simulation_is_the_product_of_matrix_exponentials(n: int) -> None:
    land = _random_landscape(n, n)
    gammas, betas = [0.7, -0.3], [0.4, 1.1]
    driver = sum(_kron_x(n, q) for q in range(n))
    psi = np.full(1 << n, 1 / math.sqrt(1 << n), dtype=complex)
    for g, b in zip(gammas, betas, strict=True):
        psi = expm(-1j * b * driver) @ (np.exp(-1j * g * land.cost) * psi)
    assert np.allclose(state(land, gammas, betas), psi)


def test_the_landscape_is_the_bqm_energy_of_every_state() -> None:
    p = Problem.model_validate(
        {
            "bins": [
                {"name": "a", "capacity": {"cpu": "2"}},
                {"name": "b", "capacity": {"cpu": "1"}},
            ],
            "items": [{"name": "w", "count": 2, "demand": {"cpu": "1"}}],
            "objective": ["placed", {"bins_used": 1}],
        }
    )
    model = compile_problem(p)
    bqm = model.bqm()
    lin, (r, c, d), off = bqm.to_numpy_vectors(variable_order=model.labels)
    land = Landscape.of(np.asarray(lin, float), r, c, np.asarray(d, float), float(off))
    states = np.array(list(itertools.product([0, 1], repeat=land.qubits)))[:, ::-1]
    index = states @ (1 << np.arange(land.qubits))
    assert np.allclose(land.energy[index], bqm.energies((states, model.labels)))


def test_cvar_of_everything_is_the_expectation_and_of_the_best_is_its_cost() -> None:
    land = _random_landscape(3, 7)
    probs = probabilities(land, [0.5], [0.3])
    assert cvar(land, probs, 1.0) == pytest.approx(expectation(land, probs))
    tiny = probs[land.order[0]] / 2  # inside the likeliest-lowest state's mass
    assert cvar(land, probs, tiny) == pytest.approx(land.cost[land.order[0]])


TINY = [
    {  # two replicas, one fits per node, a cheaper node: 9 qubits
        "name": "pick-cheap",
        "bins": [
            {"name": n, "capacity": {"cpu": "1"}, "cost": c}
            for n, c in (("a", 2), ("b", 1), ("c", 1))
        ],
        "items": [{"name": "w", "count": 2, "demand": {"cpu": "1"}}],
        "objective": ["placed", {"bins_used": 1}],
    },
    {  # priorities: db first, web where room is left
        "name": "tiers",
        "bins": [{"name": "a", "capacity": {"cpu": "2"}}],
        "items": [
            {"name": "web", "count": 2, "demand": {"cpu": "1"}},
            {"name": "db", "count": 1, "demand": {"cpu": "2"}, "priority": 5},
        ],
    },
]


@pytest.mark.parametrize("data", TINY, ids=[d["name"] for d in TINY])
def test_p3_puts_the_ground_state_among_the_samples_and_plans_are_optimal(data: dict) -> None:
    p = Problem.model_validate(data)
    best = solve(p, "cpsat").objective
    hits = 0
    for seed in range(5):
        plan = solve(p, "qaoa", seed=seed, layers=3, num_reads=256)
        assert plan.verified and plan.status == "feasible"
        assert plan.objective == best
        assert plan.info["qubits"] <= 16 and len(plan.info["gammas"]) == 3
        hits += plan.info["ground_sampled"]
        assert 0 < plan.info["approximation_ratio"] <= 1
    assert hits >= 4  # at least 80 % of the seeds


def test_too_many_qubits_is_refused_up_front() -> None:
    p = Problem.model_validate(
        {
            "bins": [{"name": f"n{k}", "capacity": {"cpu": "4"}} for k in range(4)],
            "items": [{"name": "w", "count": 6, "demand": {"cpu": "1"}}],
        }
    )
    with pytest.raises(UnsupportedProblem, match="models above 20 qubits"):
        solve(p, "qaoa")
    assert "models above 20 qubits" in next(iter(registry.get("qaoa").missing(p)))


@pytest.mark.parametrize("seed", range(6))
def test_the_landscape_adds_every_term_once_in_any_variable_order(seed: int) -> None:
    # terms stated (j, i) as well as (i, j), some pairs twice, and a zero bias: the dense sum
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    pairs = rng.integers(0, n, size=(3 * n, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    linear = rng.normal(size=n)
    linear[0] = 0.0
    quad = rng.normal(size=len(pairs))
    land = Landscape.of(linear, pairs[:, 0], pairs[:, 1], quad, -1.5)
    bits = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1
    dense = -1.5 + bits @ linear + (bits[:, pairs[:, 0]] * bits[:, pairs[:, 1]]) @ quad
    assert np.allclose(land.energy, dense)
