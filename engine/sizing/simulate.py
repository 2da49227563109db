"""A discrete-event simulation of the M/M/k queue (SimPy), the reference the formulas are
checked against: arrivals, a resource of k replicas, first come first served."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..extras import require
from .erlang import Queue


@dataclass(frozen=True)
class Simulated:
    customers: int  # measured (after the warm-up)
    p_wait: float  # fraction that waited at all
    mean_wait: float
    p99_wait: float


def simulate(
    queue: Queue, replicas: int, *, customers: int = 50_000, warmup: int = 5_000, seed: int = 0
) -> Simulated:
    """Statistics of the waits of ``customers`` arrivals after ``warmup`` arrivals."""
    measured = waits(queue, replicas, customers=customers, warmup=warmup, seed=seed)
    return Simulated(
        customers=customers,
        p_wait=float(np.mean(measured > 0)),
        mean_wait=float(np.mean(measured)),
        p99_wait=float(np.quantile(measured, 0.99)),
    )


def waits(
    queue: Queue, replicas: int, *, customers: int = 50_000, warmup: int = 5_000, seed: int = 0
) -> np.ndarray:
    """The queueing delay of each of ``customers`` arrivals after ``warmup`` arrivals."""
    require("sim", "the queue simulation")
    import simpy

    queue.check_stable(replicas)
    rng = np.random.default_rng(seed)
    total = warmup + customers
    gaps = rng.exponential(1 / queue.arrival, total)
    work = rng.exponential(1 / queue.service, total)
    delays = np.zeros(total)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=replicas)

    def customer(n: int) -> Generator[Any, Any, None]:
        arrived = env.now
        with servers.request() as turn:
            yield turn
            delays[n] = env.now - arrived
            yield env.timeout(work[n])

    def arrivals() -> Generator[Any, Any, None]:
        for n in range(total):
            yield env.timeout(gaps[n])
            env.process(customer(n))

    env.process(arrivals())
    env.run()
    return delays[warmup:]
