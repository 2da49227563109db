"""Erlang C against the SimPy simulation on a grid: ``python -m bench.sizing [CUSTOMERS]``.

Per (λ, μ, k): P(wait) by Erlang C and simulated, the mean wait both ways, and the simulated
fraction of waits above Erlang C's p99 (1 % when the waiting-time distribution is right).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from engine.sizing.erlang import Queue
from engine.sizing.simulate import waits

GRID = [
    (lam, mu, k)
    for mu in (1.0, 10.0)
    for k in (1, 2, 5, 10, 20)
    for rho in (0.3, 0.6, 0.8, 0.9)
    for lam in (rho * k * mu,)
]


def main(customers: int = 200_000) -> None:
    print(f"{len(GRID)} points, {customers} simulated arrivals each (after a 10 % warm-up)")
    print(
        f"{'λ':>7} {'μ':>5} {'k':>3} {'ρ':>5} {'C':>7} {'C sim':>7} {'|Δ|':>6} "
        f"{'Wq':>9} {'Wq sim':>9} {'>p99':>6}"
    )
    diffs, rel, tails = [], [], []
    began = time.perf_counter()
    for n, (lam, mu, k) in enumerate(GRID):
        q = Queue(lam, mu)
        delays = waits(q, k, customers=customers, warmup=customers // 10, seed=n)
        sim_p, sim_w = float(np.mean(delays > 0)), float(np.mean(delays))
        c = q.p_wait(k)
        t99 = q.wait_quantile(k)
        tail = float(np.mean(delays > t99)) if t99 > 0 else 0.0
        diffs.append(abs(sim_p - c))
        if c >= 0.01:  # relative errors of near-zero waits say nothing
            rel.append(abs(sim_w - q.mean_wait(k)) / q.mean_wait(k))
        if t99 > 0:
            tails.append(tail)
        print(
            f"{lam:7.2f} {mu:5.1f} {k:3d} {lam / (k * mu):5.2f} {c:7.4f} {sim_p:7.4f} "
            f"{diffs[-1]:6.4f} {q.mean_wait(k):9.4g} {sim_w:9.4g} {tail:6.4f}"
        )
    print(
        f"max |ΔC| {max(diffs):.4f} (mean {np.mean(diffs):.4f}); mean wait (C ≥ 0.01): max relative error "
        f"{max(rel):.3f}; simulated waits above Erlang C's p99: {min(tails):.4f}..{max(tails):.4f}; "
        f"{time.perf_counter() - began:.0f}s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
