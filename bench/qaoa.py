"""QAOA against simulated annealing and the exact optimum, by depth:
``python -m bench.qaoa [INSTANCES SEEDS MAX_LAYERS]``.

Random tiny placement problems whose QUBO has 8..16 binaries (the qubo backend's exact slack
encoding). Per depth p: how often the BQM's ground state is among the samples (1024 reads) and
among the 10 likeliest states, its mean probability, the approximation ratio
(E_max − ⟨E⟩)/(E_max − E_min) of the QAOA state against simulated annealing's reads (same BQM,
1,024 reads; exact = 1), and how often the repaired plan matches cpsat's proved optimum.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import numpy as np

from engine.ir import Problem
from engine.solve import solve
from solvers.qubo.model import compile_problem


def instances(count: int, seed: int = 0, low: int = 8, high: int = 16) -> list[Problem]:
    rng = np.random.default_rng(seed)
    out: list[Problem] = []
    while len(out) < count:
        bins = int(rng.integers(2, 4))
        groups = int(rng.integers(1, 4))
        data = {
            "name": f"tiny-{len(out)}",
            "bins": [
                {
                    "name": f"n{b}",
                    "capacity": {"cpu": str(int(rng.integers(2, 4)))},
                    "labels": {"kubernetes.io/hostname": f"n{b}"},
                    "cost": float(rng.integers(1, 3)),
                }
                for b in range(bins)
            ],
            "items": [
                {
                    "name": f"g{g}",
                    "count": int(rng.integers(1, 3)),
                    "demand": {"cpu": str(int(rng.integers(1, 3)))},
                    "labels": {"app": f"g{g}"},
                    "priority": int(rng.integers(0, 2)),
                }
                for g in range(groups)
            ],
            "objective": ["placed", {"bins_used": 1.0}] if rng.random() < 0.5 else ["placed"],
        }
        if rng.random() < 0.3:
            data["constraints"] = [
                {
                    "kind": "anti_affinity",
                    "selector": {"app": "g0"},
                    "topology": "kubernetes.io/hostname",
                }
            ]
        p = Problem.model_validate(data)
        if low <= len(compile_problem(p).labels) <= high:
            out.append(p)
    return out


def _sa(problem: Problem, seed: int) -> tuple[float, bool]:
    """Simulated annealing on the same BQM: the approximation ratio of its reads' mean energy
    and whether a read reached the ground state."""
    from dwave.samplers import SimulatedAnnealingSampler

    from solvers.qaoa.simulate import Landscape

    model = compile_problem(problem)
    bqm = model.bqm()
    lin, (r, c, d), off = bqm.to_numpy_vectors(variable_order=model.labels)
    land = Landscape.of(
        np.asarray(lin, float), np.asarray(r), np.asarray(c), np.asarray(d, float), float(off)
    )
    low, high = float(land.energy.min()), float(land.energy.max())
    reads = SimulatedAnnealingSampler().sample(bqm, num_reads=1024, seed=seed)
    energies = np.asarray(reads.record.energy, float)
    ratio = (high - energies.mean()) / (high - low) if high > low else 1.0
    return ratio, bool(np.any(energies <= low + 1e-9 * max(1.0, abs(low))))


def main(count: int = 8, seeds: int = 5, layers: int = 4) -> None:
    problems = instances(count)
    optimum = {p.name: solve(p, "cpsat", time_limit=10).objective for p in problems}
    rows: dict[int, list[tuple[bool, bool, float, float, bool, float]]] = defaultdict(list)
    sa = [_sa(p, s) for p in problems for s in range(seeds)]
    began = time.perf_counter()
    for p in problems:
        for depth in range(1, layers + 1):
            for s in range(seeds):
                plan = solve(p, "qaoa", seed=s, layers=depth)
                i = plan.info
                rows[depth].append(
                    (
                        i["ground_sampled"],
                        i["ground_rank"] <= 10,
                        i["ground_probability"],
                        i["approximation_ratio"],
                        plan.objective == optimum[p.name],
                        i["optimise_s"],
                    )
                )
    qubits = [len(compile_problem(p).labels) for p in problems]
    print(
        f"{count} instances ({min(qubits)}..{max(qubits)} qubits), {seeds} seeds, "
        f"{time.perf_counter() - began:.0f}s"
    )
    print(
        f"{'p':>3} {'in samples':>10} {'in top 10':>10} {'P(ground)':>10} {'ratio':>7} "
        f"{'plan opt':>9} {'s/run':>6}"
    )
    for depth, got in sorted(rows.items()):
        a = np.array(got, dtype=float)
        print(
            f"{depth:>3} {a[:, 0].mean():>10.0%} {a[:, 1].mean():>10.0%} {a[:, 2].mean():>10.3f} "
            f"{a[:, 3].mean():>7.3f} {a[:, 4].mean():>9.0%} {a[:, 5].mean():>6.2f}"
        )
    s = np.array(sa, dtype=float)
    print(f" SA {s[:, 1].mean():>10.0%} {'':>10} {'':>10} {s[:, 0].mean():>7.3f}   (1024 reads)")
    print("exact: ratio 1.000 by definition; plan opt = the repaired plan equals cpsat's optimum")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
