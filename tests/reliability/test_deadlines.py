"""A time limit is a promise: every backend stops within limit + 10 % + 0.5 s, building its model
included, on instances built to be slow for it (``python -m bench.deadlines`` measures the whole
command; these run in-process). Shared machines are busy, so the slack stretches with the load
(``tests.timing.held``); each case overran by far more before its fix (qubo: one read of
minutes; qaoa: one simulation per layer past the deadline; smt: the model build outside the
limit)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest

from engine import interrupt
from engine.generate import cluster
from engine.solution import Status
from engine.solve import solve
from solvers.deadline import Deadline, OutOfTime

from ..timing import held

# ---------------------------------------------------------------------- the one deadline


def test_deadline_check_raises_when_the_time_is_up_or_a_stop_is_asked() -> None:
    Deadline.within(time.perf_counter(), 60.0).check()  # plenty left
    Deadline.within(time.perf_counter(), None).check()  # no limit
    with pytest.raises(OutOfTime):
        Deadline.within(time.perf_counter() - 2.0, 1.0).check()
    with pytest.raises(OutOfTime):  # a share of the limit: 0.8 × 1 s began 0.9 s ago
        Deadline.within(time.perf_counter() - 0.9, 1.0, 0.8).check()
    interrupt.request_stop()
    try:
        with pytest.raises(OutOfTime):
            Deadline.never().check()
    finally:
        interrupt.reset()
    assert not math.isfinite(Deadline.within(0.0, None).at)


def test_slowdown_is_the_load_per_usable_core(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from solvers import deadline

    deadline.measure_from(None)  # no pace measured: the load alone
    top = deadline.MAX_SLOWDOWN
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    for load, expected in ((0.3, 1.0), (2.0, 1.0), (11.0, 5.5), (17.0, 8.5), (1e4, top)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, 0.0, 0.0))
        assert deadline.slowdown() == pytest.approx(expected)

    def unknown() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unknown)
    assert deadline.slowdown() == 1.0


def test_slowdown_sees_a_process_that_gets_little_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load average does not count a stopped process (SIGSTOP) nor see one starved by
    others at a higher priority: the pace is the wall clock over the CPU time it got."""
    from solvers import deadline

    monkeypatch.setattr(deadline, "load_per_core", lambda: 0.5)  # an idle machine, by its load
    cpu = [10.0]
    monkeypatch.setattr(deadline, "cpu_seconds", lambda: cpu[0])
    began = deadline.Since(time.perf_counter() - 2.0, 10.0 - 0.4)  # 0.4 s of CPU in 2 s
    assert deadline.slowdown(began) == pytest.approx(5.0, rel=0.05)
    with deadline.paced():  # engine.solve's: from its start ...
        assert deadline.slowdown() == 1.0  # ... no time yet to say anything
        deadline.measure_from(began)  # (as a command's start does)
        assert deadline.slowdown() == pytest.approx(5.0, rel=0.05)
    deadline.measure_from(None)
    stopped = deadline.Since(time.perf_counter() - 30.0, 10.0)  # no CPU at all in 30 s
    assert deadline.slowdown(stopped) == deadline.MAX_SLOWDOWN
    busy = deadline.Since(time.perf_counter() - 1.0, 10.0 - 2.0)  # two threads busy
    assert deadline.slowdown(busy) == 1.0


def test_a_command_measures_its_pace_from_its_start() -> None:
    """The CLI's clock and the pace begin together: the process start for the ``placer``
    executable, now for a command run in-process, and in-process the measuring ends with it."""
    from engine import commands
    from solvers import deadline

    try:
        commands.start_command(whole_process=True)
        since = deadline._measured_from
        assert since is not None and since.cpu == 0.0
        assert since.wall == pytest.approx(
            time.perf_counter() - commands.command_elapsed(), abs=0.01
        )
        commands.start_command(whole_process=False)
        since = deadline._measured_from
        assert since is not None and since.cpu > 0.0
    finally:
        commands.end_command()
    assert deadline._measured_from is None


def test_certifying_is_kept_back_at_todays_speed(monkeypatch: pytest.MonkeyPatch) -> None:
    """engine.solve gives the backend the limit less the verifier's estimate times the load's
    slowdown (never more than its share of the limit)."""
    import engine.solve as entry
    from engine.verify import seconds_to_certify
    from solvers.greedy.backend import GreedyBackend

    limits: list[float | None] = []

    class Recording(GreedyBackend):
        def solve(self, problem: Any, options: Any) -> Any:
            limits.append(options.time_limit)
            return super().solve(problem, options)

    problem = cluster(40, 300, seed=1)
    estimate = seconds_to_certify(problem)
    for factor in (1.0, 4.0):
        monkeypatch.setattr(entry, "slowdown", lambda factor=factor: factor)
        assert solve(problem, Recording(), time_limit=30.0).verified
    # less what went before the backend's start too (loading it: ~2 s for cpsat under load)
    assert 30.0 - estimate - 0.1 < limits[0] <= 30.0 - estimate
    assert 30.0 - 4.0 * estimate - 0.1 < limits[1] <= 30.0 - 4.0 * estimate
    monkeypatch.setattr(entry, "slowdown", lambda: 1e9)  # never past its share of the limit
    solve(problem, Recording(), time_limit=30.0)
    assert 30.0 * (1 - entry.CERTIFY_SHARE) - 0.1 < limits[2] <= 30.0 * (1 - entry.CERTIFY_SHARE)


# ---------------------------------------------------------------------- qubo


def test_numpy_beta_range_is_dwave_samplers_own() -> None:
    """The annealer's default temperature range, computed without its Python loop."""
    import dimod
    from dwave.samplers.sa.sampler import _default_ising_beta_range

    from solvers.qubo.anneal import beta_range

    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(1, 12))
        linear = {v: float(rng.choice([0, 1, -2, 0.5])) for v in range(n)}
        pairs = {
            (u, v): float(rng.choice([0, 1, -3, 0.25]))
            for u in range(n)
            for v in range(u + 1, n)
            if rng.random() < 0.4
        }
        bqm = dimod.BinaryQuadraticModel(linear, pairs, 0.0, dimod.BINARY)
        spin = bqm.change_vartype(dimod.SPIN, inplace=False)
        if not any(spin.linear.values()) and not any(spin.quadratic.values()):
            continue  # dwave warns and returns its arbitrary range; so do we (checked below)
        want = _default_ising_beta_range(spin.linear, spin.quadratic)
        assert beta_range(bqm) == pytest.approx(want), trial
    flat = dimod.BinaryQuadraticModel({0: 0.0, 1: 0.0}, {}, 0.0, dimod.BINARY)
    assert beta_range(flat) == [0.1, 1.0]


def test_squared_penalties_expand_as_written() -> None:
    """The blocked sink gives every state the energy of the plain expansion."""
    from solvers.qubo.penalties import QuadraticSink

    rng = np.random.default_rng(5)
    sink = QuadraticSink()
    expected: list[tuple[list[tuple[int, float]], float, float]] = []
    for _ in range(30):
        terms = [(int(rng.integers(0, 9)), float(rng.integers(-3, 4))) for _ in range(5)]
        constant, weight = float(rng.integers(-4, 4)), float(rng.integers(1, 5))
        sink.add_squared(terms, constant, weight)
        expected.append((terms, constant, weight))
    sink.add_all_pairs([1, 2, 3], 2.0)
    sink.add_quadratic(4, 2, -1.5)
    for _ in range(50):
        z = rng.integers(0, 2, 9)
        want = sum(w * (sum(c * z[v] for v, c in t) + k) ** 2 for t, k, w in expected)
        want += 2.0 * (z[1] * z[2] + z[1] * z[3] + z[2] * z[3]) - 1.5 * z[2] * z[4]
        got = sink.offset + sum(b * z[v] for v, b in sink.linear.items())
        got += sum(b * z[u] * z[v] for (u, v), b in sink.quadratic.items())
        assert got == pytest.approx(want)


def test_qubo_reads_are_capped_to_the_time_left() -> None:
    """One read of a million sweeps takes minutes here: the reads must be shortened."""
    problem = cluster(12, 6, pods_per_node=4, zones=0, anti_affinity=0.3, seed=4)
    began = time.perf_counter()
    plan = solve(problem, "qubo", time_limit=3.0, num_sweeps=1_000_000, num_reads=4)
    assert held(3.0, time.perf_counter() - began)
    assert plan.status.has_plan and plan.verified
    assert plan.info["num_sweeps_used"] < 1_000_000 and "sweeps_capped" in plan.info


def test_qubo_model_too_large_for_the_limit_is_not_built_past_it() -> None:
    problem = cluster(40, 20, pods_per_node=6, zones=0, anti_affinity=0.3, seed=4)
    began = time.perf_counter()
    plan = solve(problem, "qubo", time_limit=0.3)
    assert held(0.3, time.perf_counter() - began)
    assert not plan.status.has_plan and "not built" in plan.info["reason"]


# ---------------------------------------------------------------------- qaoa and smt


def test_qaoa_stops_between_simulations() -> None:
    from bench.deadlines import qaoa_tiny
    from solvers.qaoa import angles  # noqa: F401 - imported before the timing: scipy.optimize's
    # cold import (0.7 s alone, 5 s on a loaded machine) is no simulation time; it failed there

    began = time.perf_counter()
    plan = solve(qaoa_tiny(), "qaoa", time_limit=2.0, layers=12, restarts=20)
    assert held(2.0, time.perf_counter() - began)
    assert plan.status.has_plan and plan.verified
    assert "time limit reached at depth" in plan.info["stopped"]


def test_smt_counts_building_its_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that takes two seconds leaves z3 only what is left of the limit."""
    from solvers.smt import model

    build = model.Encoding._capacity

    def slow_build(self: Any) -> None:
        time.sleep(2.0)
        build(self)

    monkeypatch.setattr(model.Encoding, "_capacity", slow_build)
    problem = cluster(30, 15, pods_per_node=10, anti_affinity=0.3, spread=0.3, seed=5)
    began = time.perf_counter()
    solve(problem, "smt", time_limit=3.0)
    assert held(3.0, time.perf_counter() - began, slack=0.25)  # two seconds over before


# ---------------------------------------------------------------------- cpsat pool


def test_pool_rounding_gives_way_to_the_deadline() -> None:
    """Rounding the pool LP packs thousands of replicas: past the deadline it answers None (the
    start plan stands) instead of running on for seconds."""
    from solvers.cpsat.pool.driver import PoolModel
    from solvers.cpsat.pool.heuristics import round_lp
    from solvers.greedy.backend import GreedyBackend
    from solvers.lowering import lower

    problem = cluster(60, 20, pods_per_node=15, zones=0, anti_affinity=0.3, seed=3)
    start = GreedyBackend().solve(problem).counts()
    pool = PoolModel(lower(problem), start)
    pool.master.generate(time.perf_counter() + 5.0)
    assert round_lp(pool.master) is not None  # the LP rounds to a plan given time
    began = time.perf_counter()
    assert round_lp(pool.master, time.perf_counter() - 1.0) is None
    assert held(0.0, time.perf_counter() - began, slack=0.5)


def test_a_highs_object_solved_many_times_gets_its_whole_limit_each_run() -> None:
    """HiGHS before 2.0 measures ``time_limit`` against the run time of every run of the
    object together: a master re-solved for longer than the next run's limit stopped at once
    with kTimeLimit. ``highs_run`` gives each run its own seconds."""
    import highspy

    from solvers.deadline import highs_run
    from solvers.quiet import quiet_stdout

    rng = np.random.default_rng(0)
    n = 150
    with quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    inf = highspy.kHighsInf
    for _ in range(n):
        h.addCol(1.0, 0.0, inf, 0, np.array([], dtype=np.int32), np.array([]))
    for _ in range(n):
        row = rng.uniform(0.0, 1.0, n)
        h.addRow(1.0, inf, n, np.arange(n, dtype=np.int32), row)
    while h.getRunTime() < 0.3:  # solved from scratch until the runs add up to 0.3 s
        h.clearSolver()
        assert highs_run(h, Deadline.after(10.0))
    h.clearSolver()
    assert highs_run(h, Deadline.after(0.25))  # less than the sum, far more than one run
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal


# ---------------------------------------------------------------------- cold imports


def test_an_import_costs_nothing_once_loaded_and_its_idle_cost_at_the_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solvers import deadline

    monkeypatch.setattr(deadline, "slowdown", lambda *_: 7.0)
    assert deadline.import_seconds(("math", "time"), 0.4) == 0.0
    assert deadline.import_seconds(("math", "placer_never_loaded"), 0.4) == pytest.approx(2.8)


def test_a_native_library_that_would_not_load_in_time_leaves_the_start_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold first solve: CP-SAT's import (it loads pandas) took 4.3-4.5 s at load 11 inside a
    5 s limit, and the start plan came after the limit. With less time left than the import
    takes at the pace, the start plan answers at once, saying why."""
    from solvers import composites
    from solvers.cpsat.backend import CpSatBackend

    def no_compile(*_: Any, **__: Any) -> None:
        raise AssertionError("the native model was compiled without time to load its library")

    monkeypatch.setattr(composites, "import_seconds", lambda *_: 1e6)  # never loads in time
    monkeypatch.setattr(CpSatBackend, "compile", no_compile)
    problem = cluster(20, 10, seed=3)
    plan = solve(problem, "cpsat", time_limit=5.0, lns="off")
    assert plan.verified and plan.status == Status.FEASIBLE
    assert plan.info["returned_start"] == "greedy"
    assert "library not loaded" in plan.info["skipped"]
    assert plan.objective == solve(problem, "greedy").objective


def test_a_commands_ending_is_kept_back_at_the_pace_within_a_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ending a command takes is kept back at the pace, but never more than a tenth of its
    limit (a process stopped for a long while measures the pace at its cap of 100)."""
    from engine import commands
    from solvers import deadline

    try:
        commands.start_command(whole_process=False)
        monkeypatch.setattr(deadline, "slowdown", lambda *_: 5.0)
        left = commands.remaining(10.0)
        assert left is not None and 10.0 - 0.5 - 0.2 < left <= 10.0 - 0.5
        monkeypatch.setattr(deadline, "slowdown", lambda *_: deadline.MAX_SLOWDOWN)
        left = commands.remaining(10.0)
        assert left is not None and 10.0 - 1.0 - 0.2 < left <= 10.0 - commands.END_SHARE * 10
    finally:
        commands.end_command()


def test_a_command_that_ends_before_its_root_leaves_no_clock_behind() -> None:
    """`placer --version` ends before the root callback: its clock (and the pace measured from
    it) must not be the next in-process command's, which would find its limit long spent."""
    from engine import cli
    from solvers import deadline

    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert cli._clock_started_by_main is False
    assert deadline._measured_from is None
