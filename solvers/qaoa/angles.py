"""Classical optimisation of the QAOA angles (scipy): a coarse grid for p = 1, then layer by layer
the INTERP initialisation of Zhou et al. (2020) — the optimum for p layers, linearly interpolated
to p + 1 — refined by a local optimiser (L-BFGS-B), with seeded random restarts.

Under a deadline no evaluation starts that would end past it (its cost is the last one's per
layer), and the answer is then the best angles evaluated so far, of whatever depth."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from ..deadline import Deadline

Objective = Callable[[np.ndarray, np.ndarray], float]


class OutOfEvaluations(Exception):
    """The deadline leaves no time for one more evaluation."""


class Tracked:
    """The objective under a deadline: the best angles evaluated so far, and a refusal
    (``OutOfEvaluations``) of any evaluation that would end past the deadline (the first one
    always runs: there must be angles to answer with)."""

    def __init__(self, objective: Objective, deadline: Deadline) -> None:
        self.objective, self.deadline = objective, deadline
        self.value = math.inf
        self.gammas = self.betas = np.zeros(0)
        self.per_layer = 0.0  # seconds per layer of the last evaluation
        self.evaluations = 0

    def __call__(self, gammas: np.ndarray, betas: np.ndarray) -> float:
        if self.evaluations and self.deadline.left() < self.per_layer * len(gammas):
            raise OutOfEvaluations
        began = time.perf_counter()
        value = self.objective(gammas, betas)
        self.per_layer = (time.perf_counter() - began) / max(1, len(gammas))
        self.evaluations += 1
        if value < self.value:
            self.value, self.gammas, self.betas = value, gammas.copy(), betas.copy()
        return value


def _interp(angles: np.ndarray) -> np.ndarray:
    """Angles for p + 1 layers from those for p (INTERP)."""
    p = len(angles)
    out = np.empty(p + 1)
    for i in range(p + 1):
        left = angles[i - 1] if i >= 1 else 0.0
        right = angles[i] if i < p else 0.0
        out[i] = (i / p) * left + ((p - i) / p) * right
    return out


def _local(
    objective: Tracked, gammas: np.ndarray, betas: np.ndarray, iterations: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """L-BFGS-B from the given angles; raises ``OutOfEvaluations`` when the time runs out."""
    p = len(gammas)

    def f(x: np.ndarray) -> float:
        return objective(x[:p], x[p:])

    x0 = np.concatenate([gammas, betas])
    best = (objective(gammas, betas), x0)
    # L-BFGS-B on finite differences: the landscape is smooth, and scipy's COBYLA is now a
    # pure-Python port whose overhead dwarfs a small simulation
    result = minimize(f, x0, method="L-BFGS-B", options={"maxiter": iterations})
    if result.fun < best[0]:
        best = (float(result.fun), result.x)
    return best[0], best[1][:p], best[1][p:]


def optimise(
    objective: Objective,
    layers: int,
    *,
    restarts: int,
    seed: int,
    deadline: Deadline,
    iterations: int = 200,
) -> tuple[float, np.ndarray, np.ndarray, list[float]]:
    """Angles minimising ``objective`` for ``layers`` layers; also the best value per depth
    reached. When the deadline cuts the search short: the best angles evaluated (fewer layers
    when the deeper ones were not reached)."""
    tracked = Tracked(objective, deadline)
    by_depth: list[float] = []
    try:
        value, gammas, betas = _search(tracked, layers, restarts, seed, iterations, by_depth)
    except OutOfEvaluations:
        return tracked.value, tracked.gammas, tracked.betas, by_depth
    return value, gammas, betas, by_depth


def _search(
    objective: Tracked,
    layers: int,
    restarts: int,
    seed: int,
    iterations: int,
    by_depth: list[float],
) -> tuple[float, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    grid = [(g, b) for g in np.linspace(0.1, 2.0, 6) for b in np.linspace(0.1, 1.4, 4)]
    scored = sorted(grid, key=lambda gb: objective(np.array([gb[0]]), np.array([gb[1]])))
    starts = [scored[0]] + [
        (rng.uniform(0.05, 2.5), rng.uniform(0.05, 1.5)) for _ in range(max(0, restarts - 1))
    ]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for g0, b0 in starts:
        value, g, b = _local(objective, np.array([g0]), np.array([b0]), iterations)
        if best is None or value < best[0]:
            best = (value, g, b)
    assert best is not None
    by_depth.append(best[0])
    value, gammas, betas = best
    for _ in range(2, layers + 1):
        value, gammas, betas = _local(objective, _interp(gammas), _interp(betas), iterations)
        by_depth.append(value)
    return value, gammas, betas
