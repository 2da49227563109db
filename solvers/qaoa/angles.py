"""Classical optimisation of the QAOA angles (scipy): a coarse grid for p = 1, then layer by layer
the INTERP initialisation of Zhou et al. (2020) — the optimum for p layers, linearly interpolated
to p + 1 — refined by a local optimiser (L-BFGS-B), with seeded random restarts."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

Objective = Callable[[np.ndarray, np.ndarray], float]


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
    objective: Objective, gammas: np.ndarray, betas: np.ndarray, iterations: int, deadline: float
) -> tuple[float, np.ndarray, np.ndarray]:
    p = len(gammas)
    evaluations = [0]

    def f(x: np.ndarray) -> float:
        evaluations[0] += 1
        if time.perf_counter() > deadline:
            raise TimeoutError
        return objective(x[:p], x[p:])

    x0 = np.concatenate([gammas, betas])
    best = (objective(gammas, betas), x0)  # one evaluation even past the deadline
    try:
        # L-BFGS-B on finite differences: the landscape is smooth, and scipy's COBYLA is now a
        # pure-Python port whose overhead dwarfs a small simulation
        result = minimize(f, x0, method="L-BFGS-B", options={"maxiter": iterations})
        if result.fun < best[0]:
            best = (float(result.fun), result.x)
    except TimeoutError:
        pass
    return best[0], best[1][:p], best[1][p:]


def optimise(
    objective: Objective,
    layers: int,
    *,
    restarts: int,
    seed: int,
    deadline: float,
    iterations: int = 200,
) -> tuple[float, np.ndarray, np.ndarray, list[float]]:
    """Angles minimising ``objective`` for ``layers`` layers; also the best value per depth."""
    rng = np.random.default_rng(seed)
    grid = [(g, b) for g in np.linspace(0.1, 2.0, 6) for b in np.linspace(0.1, 1.4, 4)]
    scored = sorted(grid, key=lambda gb: objective(np.array([gb[0]]), np.array([gb[1]])))
    starts = [scored[0]] + [
        (rng.uniform(0.05, 2.5), rng.uniform(0.05, 1.5)) for _ in range(max(0, restarts - 1))
    ]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for g0, b0 in starts:
        value, g, b = _local(objective, np.array([g0]), np.array([b0]), iterations, deadline)
        if best is None or value < best[0]:
            best = (value, g, b)
    assert best is not None
    by_depth = [best[0]]
    value, gammas, betas = best
    for _ in range(2, layers + 1):
        value, gammas, betas = _local(
            objective, _interp(gammas), _interp(betas), iterations, deadline
        )
        by_depth.append(value)
    return value, gammas, betas, by_depth
