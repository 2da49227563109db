"""The LNS starved of CPU (a process at a low priority beside busy ones, throttled or stopped):
the greedy start is not cut at a fixed few seconds, the search begins at the best start, steps
that cannot look at the deadline are not begun when the measured pace says they would not
fit, and a filling begun after its deadline returns at once. Structural: no test here times
the machine."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.solution import Status
from engine.solve import solve
from engine.verify import verify_counts
from solvers import registry
from solvers.base import Options, StartPlan
from solvers.cpsat.fill import FillModel
from solvers.deadline import Deadline
from solvers.lowering import lower

from .test_driver import _gpu_trap


def _no_cpu_on_an_idle_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load says idle, but the process gets no CPU: the pace is at its cap."""
    from solvers import deadline

    monkeypatch.setattr(deadline, "load_per_core", lambda: 0.0)
    monkeypatch.setattr(deadline, "cpu_seconds", lambda: 100.0)
    monkeypatch.setattr(deadline, "MIN_CPU_SECONDS", 1e-9)  # the cap, whatever the clock


def test_the_greedy_start_gets_most_of_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 10, starved: QuickStart's 5 s cut the start with a third of the pods placed
    and the run ended there; the LNS's start now gets a share of the limit."""
    from solvers.greedy.backend import GreedyBackend

    given: list[float | None] = []
    real = GreedyBackend.solve

    def recorded(self: GreedyBackend, problem: Any, options: Options | None = None) -> Any:
        given.append(None if options is None else options.time_limit)
        return real(self, problem, options)

    monkeypatch.setattr(GreedyBackend, "solve", recorded)
    backend = registry.get("cpsat")
    backend.compile(_gpu_trap(nodes=40), Options(time_limit=60.0, params={"lns": "on"}))
    assert given and given[0] is not None and given[0] >= 30.0


def test_the_search_begins_at_the_best_trusted_start() -> None:
    problem = _gpu_trap(nodes=40)
    greedy = solve(problem, "greedy")
    nothing = StartPlan({}, "options.hint")  # trusted, valid, and places no pod
    found = StartPlan(greedy.counts(), "greedy", greedy.device_rows() or None)
    options = Options(time_limit=3.0, threads=1, params={"lns": "on"}, starts=(nothing, found))
    plan = registry.get("cpsat").solve(problem, options)
    start = plan.info["lns"]["start"]
    assert start["objective"] == list(greedy.objective), start
    assert verify_counts(problem, plan.counts(), plan.device_rows() or None).ok


def test_a_filling_begun_after_its_deadline_returns_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starved, the filling model's compile took 25 s of the 22 s it had, and its solve then
    ran 8 s more (its deadline looked at only after its first phases)."""
    from solvers.cpsat.fill import driver as fill_driver

    model = FillModel(lower(_gpu_trap(nodes=120)))

    def no_phase(*_: Any, **__: Any) -> Any:
        raise AssertionError("a phase begun after the deadline")

    monkeypatch.setattr(fill_driver, "PatternMaster", no_phase)
    result = model.solve(Deadline(time.perf_counter() - 1.0))
    assert result.counts == {} and result.bound is None
    assert result.info["stopped"] == "no time left when the filling began"


def test_the_filling_model_is_not_begun_when_the_process_gets_no_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The load average does not see a process starved by others at a higher priority or
    stopped (SIGSTOP): the pace is the wall clock over the CPU time the process got. Here it
    gets none after the compile began, so no step that cannot look at the deadline fits."""
    _no_cpu_on_an_idle_machine(monkeypatch)
    plan = solve(_gpu_trap(nodes=300), "cpsat", time_limit=4, threads=1, lns="on")
    fill = plan.info["lns"]["start"]["fill"]
    assert "pace" in fill["skipped"], fill
    assert plan.verified and plan.status in (Status.FEASIBLE, Status.OPTIMAL)


def test_the_filling_models_compile_alone_is_weighed_at_the_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even where its search would fit, a compile that looks at no deadline is not begun when
    at the pace it would take more than its share of the time left (and the run says so)."""
    from solvers.lns import driver

    monkeypatch.setattr(driver, "FILL_SECONDS_PER_BIN", 0.0)
    _no_cpu_on_an_idle_machine(monkeypatch)
    plan = solve(_gpu_trap(nodes=300), "cpsat", time_limit=4, threads=1, lns="on")
    fill = plan.info["lns"]["start"]["fill"]
    assert fill["skipped"].startswith("its compile would not fit"), fill
