"""Simulated annealing by a deadline.

One annealing read (dwave-samplers' ``SimulatedAnnealingSampler``) runs in native code that only
asks ``interrupt_function`` between reads: a read of 100,000 sweeps over ten thousand variables
takes minutes and cannot be stopped. Under a time limit ``anneal_within`` measures what a sweep
costs on a probe, then caps the sweeps so that every read fits the time left. The sampler's
default temperature range comes from a Python loop over the interactions (seconds on a million of
them, on every call): ``beta_range`` computes the same range with numpy, once.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from engine import interrupt

from ..deadline import Deadline

# One annealing read cannot be interrupted: under a time limit a read gets at most READ_SHARE of
# the annealing time left, its sweeps capped to what that holds at the measured cost of a sweep.
READ_SHARE = 0.25
# The probe's sweeps × (variables + interactions): a read long enough to time (tens of ms).
PROBE_WORK = 20_000_000
STOP_POLL_S = 0.05  # how often the caller looks for a stop request while a read runs
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
    """``sampler.sample(bqm, **kwargs)`` by ``deadline``, in two calls. A probe of two short
    reads times one read between them (the sampler asks ``interrupt_function`` after each read),
    apart from the call's set-up, which the sampler repeats on every call (a second on a million
    interactions). Then the other reads asked for, their sweeps capped so that one read takes at
    most ``READ_SHARE`` of the time left after a set-up, and none started that would end past
    the deadline or after a stop request. Every read, the probe's included, is in the returned
    sample set and counts among the reads asked for (a full-length one is always asked for)."""
    import dimod

    sweeps, reads = int(kwargs["num_sweeps"]), int(kwargs["num_reads"])
    step = int(kwargs.get("num_sweeps_per_beta", 1))  # sweeps must stay a multiple of it
    size = len(bqm) + bqm.num_interactions
    probe = min(sweeps, max(step, math.ceil(PROBE_WORK / max(1, size) / step) * step))
    sets = []
    capped = sweeps
    if not deadline.expired():
        ends: list[float] = []

        def probe_stop() -> bool:
            ends.append(time.perf_counter())
            return len(ends) >= 2 or deadline.expired()

        began = time.perf_counter()
        first = {**kwargs, "num_reads": min(reads, 2), "num_sweeps": probe}
        probed = sample_stoppably(sampler, bqm, {**first, "interrupt_function": probe_stop})
        if probed is None:  # Ctrl-C during the probe: no read to answer with
            return empty_state(bqm, info, "interrupted before the first read ended")
        sets.append(probed)
        call_s = time.perf_counter() - began
        done = len(sets[0])
        read_s = ends[1] - ends[0] if len(ends) >= 2 else call_s  # one read, or all (safe side)
        setup_s = max(0.0, call_s - done * read_s)
        per_sweep = read_s / probe
        more = reads - done if probe >= sweeps else max(1, reads - done)
        room = deadline.left() - setup_s
        capped = max(step, min(sweeps, int(READ_SHARE * room / per_sweep) // step * step))
        read_s = capped * per_sweep
        if more > 0 and room >= read_s:

            def stop() -> bool:  # asked between reads: none that would end past the deadline
                return deadline.left() <= read_s

            rest = {**kwargs, "num_reads": more, "num_sweeps": capped, "interrupt_function": stop}
            sampled = sample_stoppably(sampler, bqm, rest)
            if sampled is not None:  # else Ctrl-C: the probe's reads answer
                sets.append(sampled)
    info["num_sweeps_used"] = capped
    info["reads_done"] = sum(len(s) for s in sets)
    if capped < sweeps:
        info["sweeps_capped"] = (
            f"{capped} sweeps a read instead of {sweeps}: one read must fit "
            f"{READ_SHARE:.0%} of the time left"
        )
    if not sets:
        return empty_state(bqm, info, "no time was left to anneal")
    return dimod.concatenate(sets)


def empty_state(bqm: Any, info: dict[str, Any], why: str) -> Any:
    """The all-zero state as the only read, for the repair to fill."""
    import dimod

    info["not_annealed"] = f"{why}: the plan is the repaired empty state"
    empty = np.zeros((1, len(bqm)), np.int8)
    return dimod.SampleSet.from_samples_bqm((empty, list(bqm.variables)), bqm)


def sample_stoppably(sampler: Any, bqm: Any, kwargs: dict[str, Any]) -> Any | None:
    """``sampler.sample(bqm, **kwargs)`` on a thread that a stop request (Ctrl-C) leaves behind:
    a read runs in native code without the GIL and asks to stop only when it ends, which may be
    seconds away. None when left behind (it stops at its next read: its ``interrupt_function``
    sees the request, and the CLI ends the process without waiting for it)."""
    box: dict[str, Any] = {}
    abandoned = threading.Event()
    asked = kwargs.get("interrupt_function")
    if asked is not None:  # once left behind, it stops at its next read whatever else holds

        def stop() -> bool:
            return abandoned.is_set() or bool(asked())

        kwargs = {**kwargs, "interrupt_function": stop}

    def work() -> None:
        try:
            box["out"] = sampler.sample(bqm, **kwargs)
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="placer-anneal", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(STOP_POLL_S)
        if interrupt.requested() and thread.is_alive():
            abandoned.set()
            interrupt.leave_running(thread)
            return None
    if "error" in box:
        raise box["error"]
    return box["out"]
