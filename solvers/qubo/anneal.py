"""Simulated annealing by a deadline.

One annealing read (dwave-samplers' ``SimulatedAnnealingSampler``) runs in native code that only
asks ``interrupt_function`` between reads: a read of 100,000 sweeps over ten thousand variables
takes minutes and cannot be stopped. Under a time limit ``anneal_within`` measures what a sweep
costs on probe reads, then caps the sweeps so that every read fits the time left. The sampler's
default temperature range comes from a Python loop over the interactions (seconds on a million of
them, on every call): ``beta_range`` computes the same range with numpy, once.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..deadline import Deadline

# One annealing read cannot be interrupted: under a time limit a read gets at most READ_SHARE of
# the annealing time left, its sweeps capped to what that holds at the measured cost of a sweep.
# The cost comes from probe reads of PROBE_SWEEPS sweeps, 4× more each time, until one takes
# PROBE_SHARE of the time left or a full read's sweeps (each probe read is kept as a sample).
READ_SHARE, PROBE_SHARE, PROBE_SWEEPS = 0.25, 0.05, 8
EXCITATION_RATE = 0.01  # dwave-samplers' default single-spin excitation rate at the cold end


def beta_range(bqm: Any) -> list[float]:
    """dwave-samplers' default ``[hot, cold]`` inverse temperatures of ``bqm``: hot lets the
    strongest spin flip with probability 1/2, cold leaves the weakest excitable spins flipping
    with total rate ``EXCITATION_RATE`` (its ``_default_ising_beta_range``, same rules)."""
    import dimod

    h, (rows, cols, j), _ = bqm.change_vartype(dimod.SPIN, inplace=False).to_numpy_vectors()
    h, j = np.abs(np.asarray(h, float)), np.abs(np.asarray(j, float))
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    field = h.copy()  # the largest effective field per spin
    np.add.at(field, rows, j)
    np.add.at(field, cols, j)
    weakest = np.where(h != 0, h, np.inf)  # the smallest non-zero bias per spin
    nonzero = j != 0
    np.minimum.at(weakest, rows[nonzero], j[nonzero])
    np.minimum.at(weakest, cols[nonzero], j[nonzero])
    weakest = weakest[np.isfinite(weakest)]
    if not len(weakest):  # every bias zero: the sampler's own arbitrary range
        return [0.1, 1.0]
    strongest = float(field.max(initial=0.0))
    hot = 1.0 if strongest == 0 else math.log(2) / (2 * strongest)
    low = float(weakest.min())
    cold = math.log(int(np.sum(weakest == low)) / EXCITATION_RATE) / (2 * low)
    return [hot, cold]


def anneal_within(
    sampler: Any, bqm: Any, kwargs: dict[str, Any], deadline: Deadline, info: dict[str, Any]
) -> Any:
    """``sampler.sample(bqm, **kwargs)`` by ``deadline``: probe reads measure the cost of a sweep,
        then the reads asked for run with their sweeps capped so that one read takes at most
        ``READ_SHARE`` of the time left, and no read starts that would end past the deadline (or
        after a stop request). Every read, probes included, is in the returned sample set, and
    counts among the reads asked for (one full read is always asked for)."""
    import dimod

    sweeps, reads = int(kwargs["num_sweeps"]), int(kwargs["num_reads"])
    step = int(kwargs.get("num_sweeps_per_beta", 1))  # sweeps must stay a multiple of it
    sets = []
    per_sweep: float | None = None
    probe = step * max(1, PROBE_SWEEPS // step)
    while probe < sweeps and not deadline.expired():
        began = time.perf_counter()
        sets.append(sampler.sample(bqm, **{**kwargs, "num_reads": 1, "num_sweeps": probe}))
        took = time.perf_counter() - began
        per_sweep = took / probe  # the call's overhead counted as sweeps: errs on the safe side
        if took >= PROBE_SHARE * deadline.left():
            break
        probe *= 4
    capped = sweeps
    if per_sweep is not None:
        fit = int(READ_SHARE * deadline.left() / per_sweep) // step * step
        capped = max(step, min(sweeps, fit))
    read_s = 0.0 if per_sweep is None else capped * per_sweep

    def stop() -> bool:  # asked between reads: no read that would end past the deadline
        return deadline.expired() or deadline.left() < read_s

    if not stop():
        left = max(1, reads - len(sets))  # the probes count as reads; one full read at least
        rest = {**kwargs, "num_reads": left, "num_sweeps": capped, "interrupt_function": stop}
        sets.append(sampler.sample(bqm, **rest))
    info["num_sweeps_used"] = capped if capped < sweeps else sweeps
    info["reads_done"] = sum(len(s) for s in sets)
    if capped < sweeps:
        info["sweeps_capped"] = (
            f"{capped} sweeps a read instead of {sweeps}: one read must fit "
            f"{READ_SHARE:.0%} of the time left"
        )
    return dimod.concatenate(sets)
