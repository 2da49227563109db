"""A state-vector simulation of QAOA for a diagonal cost Hamiltonian (numpy).

The problem Hamiltonian of a QUBO is diagonal in the computational basis: H_C|z⟩ = E(z)|z⟩ with
E the BQM's energy (spins s = 2x − 1 give the same operator as h·Z + J·ZZ + offset). QAOA with
p layers prepares |γ, β⟩ = Π_l e^{−iβ_l H_B} e^{−iγ_l H_C} |+⟩^n with the transverse-field
driver H_B = Σ_i X_i: the cost layer is one element-wise phase, the driver an RX(2β) on every
qubit. Bit i of a basis-state index is variable i of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_QUBITS = 20


@dataclass(frozen=True)
class Landscape:
    """Every basis state's energy, and the scaled cost the angles act on."""

    qubits: int
    energy: np.ndarray  # E(z) for z = 0 .. 2^n − 1
    cost: np.ndarray  # (E − mean) / spread: angles of order 1 suit every model
    order: np.ndarray  # states by increasing energy (for CVaR)

    @classmethod
    def of(
        cls, linear: np.ndarray, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, offset: float
    ) -> Landscape:
        n = len(linear)
        if n > MAX_QUBITS:
            raise ValueError(f"{n} qubits: the simulation holds at most {MAX_QUBITS}")
        # each term is added through a strided view of the states where its bits are 1: no
        # 2^n x n bit matrix (168 MB and seconds at 20 qubits), 2^(n-1) or 2^(n-2) adds a term
        energy = np.full(1 << n, float(offset))
        for i, h in enumerate(linear.tolist()):
            energy.reshape(-1, 2, 1 << i)[:, 1, :] += h
        for a, b, q in zip(rows.tolist(), cols.tolist(), data.tolist(), strict=True):
            lo, hi = min(a, b), max(a, b)  # bit lo varies fastest
            both = energy.reshape(-1, 2, 1 << (hi - lo - 1), 2, 1 << lo)[:, 1, :, 1, :]
            both += q
        spread = float(np.std(energy)) or 1.0
        cost = (energy - float(np.mean(energy))) / spread
        return cls(n, energy, cost, np.argsort(energy, kind="stable"))

    def bits(self, states: np.ndarray) -> np.ndarray:
        return ((states[:, None] >> np.arange(self.qubits)) & 1).astype(np.int8)


def state(landscape: Landscape, gammas: Any, betas: Any) -> np.ndarray:
    """|γ, β⟩ for p = len(gammas) layers."""
    n = landscape.qubits
    size = 1 << n
    psi = np.full(size, 1 / math.sqrt(size), dtype=np.complex128)
    for gamma, beta in zip(gammas, betas, strict=True):
        psi *= np.exp(-1j * gamma * landscape.cost)
        c, s = math.cos(beta), -1j * math.sin(beta)
        for q in range(n):  # RX(2β) on qubit q: mixes the halves that differ in bit q
            view = psi.reshape(-1, 2, 1 << q)
            zero = view[:, 0, :].copy()
            one = view[:, 1, :]
            view[:, 0, :] = c * zero + s * one
            view[:, 1, :] = s * zero + c * one
    return psi


def probabilities(landscape: Landscape, gammas: Any, betas: Any) -> np.ndarray:
    p = np.abs(state(landscape, gammas, betas)) ** 2
    return p / p.sum()


def expectation(landscape: Landscape, probs: np.ndarray) -> float:
    """⟨H_C⟩ in the scaled cost."""
    return float(probs @ landscape.cost)


def cvar(landscape: Landscape, probs: np.ndarray, alpha: float) -> float:
    """Conditional value at risk: the mean scaled cost of the lowest ``alpha`` of the probability
    mass (Barkoutsos et al. 2020); alpha = 1 is the expectation."""
    p = probs[landscape.order]
    c = landscape.cost[landscape.order]
    cum = np.cumsum(p)
    take = np.clip(alpha - (cum - p), 0.0, p)  # the part of each state inside the lowest alpha
    return float(take @ c / alpha)
