"""Running one MILP stage with HiGHS (in process, via PuLP's ``HiGHS`` API) or CBC (a subprocess).

Both drivers decode the outcome themselves, from the solver's solution status and its proven
bound, never from PuLP's ``status`` alone: PuLP maps a HiGHS time limit to "Optimal", and a CBC
run stopped without a solution hands back the LP relaxation's values. Both also enforce the time
limit from outside (HiGHS: its interrupt callbacks, told to stop by a timer; CBC: the process is
killed), because solvers overrun their own limits on large models. Ctrl-C (``engine.interrupt``)
stops either the same way, with the best plan found so far.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pulp

from engine import interrupt
from engine.errors import BackendUnavailable

from ..deadline import highs_time_limit, slowdown
from ..quiet import quiet_stdout

Outcome = Literal["optimal", "feasible", "infeasible", "none"]

GRACE_S = (
    1.0  # how long past its limit CBC may run before its process is killed (and its plan lost)
)
# HiGHS is told to stop through its interrupt callbacks this long after its own limit: it keeps
# its best plan either way, and a full second of grace (CBC's) let a 5 s solve end at 5.7-6.7 s
HIGHS_GRACE_S = 0.1
# HiGHS answers its limit and interrupts only between steps of its root node: at load 9 a run
# told to stop went on 0.5 s more (left running). It is given this much less of its stage's time
# (times slowdown(), at most STOP_SHARE of it): 7 of 70 runs of a 5 s audit ended at 6.04-6.31 s.
HIGHS_STOP_S = 0.1
STOP_SHARE = 0.1
ABANDON_S = 0.3  # how long a HiGHS run told to stop may take before it is left behind
CBC_ABANDON_S = 0.5  # how long CBC may take to write its plan after SIGINT before it is killed
POLL_S = 0.05
LEFT_RUNNING = f"HiGHS did not stop within {ABANDON_S} s of being told to; left running"
# CBC's runs copy a model into HiGHS for ``Stages.tighten`` only up to this many variables
TIGHTEN_BUILD_LIMIT = 20_000
GAP_TOL = 1e-6  # relative and absolute: a level is proved when |best - bound| is within this


@dataclass
class StageResult:
    outcome: Outcome
    value: float | None = None  # objective of the plan found (minimise form)
    bound: float | None = None  # proven lower bound (minimise form)
    values: dict[str, float] | None = None  # variable name -> value, when a plan was found
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    solver: Literal["highs", "cbc"]
    time_limit: float | None
    threads: int | None
    seed: int
    gap: float = 0.0  # relative gap at which a stage may stop (0: prove optimality)
    cbc_path: str | None = None
    began: float | None = None  # monotonic clock at compile: building the model uses the budget too


def closed(value: float, bound: float) -> bool:
    return value - bound <= GAP_TOL * max(1.0, abs(value))


def cbc_path(explicit: str | None = None) -> str:
    """The CBC binary: explicit, PuLP's bundled one, or ``cbc`` on PATH."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    try:
        with warnings.catch_warnings():  # deprecated in PuLP 3.x (no binary in 4.0), still there
            warnings.simplefilter("ignore", DeprecationWarning)
            bundled = pulp.PULP_CBC_CMD()
        if bundled.available():
            candidates.append(bundled.path)
    except Exception:  # PuLP releases without a bundled binary
        pass
    on_path = shutil.which("cbc")
    if on_path:
        candidates.append(on_path)
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise BackendUnavailable(
        "milp",
        "solver 'cbc' needs a CBC binary: PuLP 3 bundles one (pip install 'pulp<4'), or put cbc "
        "on PATH (e.g. apt-get install coinor-cbc) or pass -p cbc_path=PATH; "
        "the default solver 'highs' needs only highspy",
    )


class Stages:
    """Runs the stages of one model. HiGHS keeps one model in memory (built once through PuLP's
    HiGHS API, then changed in place: objective, fixing rows, bounds), because moving a large
    model from PuLP to HiGHS costs seconds each time; CBC gets a fresh MPS file per stage."""

    def __init__(self, lp: pulp.LpProblem, settings: RunSettings) -> None:
        self.lp = lp
        self.settings = settings
        self._highs: HighsSession | None = None

    def highs(self) -> HighsSession:
        if self._highs is None:
            self._highs = HighsSession(self.lp, self.settings)
        return self._highs

    def _session(self, time_limit: float | None) -> tuple[HighsSession, float | None]:
        """The HiGHS session and what is left of ``time_limit`` once it exists: the first use
        copies the model into HiGHS (0.5 s for 4,000 variables under load), which the limit the
        caller measured before does not know of (a 2 s run took 2.6-2.9 s at load 4)."""
        began = time.monotonic()
        session = self.highs()
        if time_limit is None:
            return session, None
        return session, max(0.0, time_limit - (time.monotonic() - began))

    def solve(
        self,
        expr: pulp.LpAffineExpression,
        time_limit: float | None,
        start: dict[str, float] | None,
        gap: float | None = None,
        solver: str | None = None,
    ) -> StageResult:
        """Minimise ``expr`` (no constant term) under every row so far."""
        if time_limit is not None and time_limit <= 0:
            return StageResult("none", info={"stopped": "no time left"})
        if interrupt.requested():
            return StageResult("none", info={"stopped": "interrupted"})
        if not self.lp.numVariables():
            return StageResult("optimal", 0.0, 0.0, {})
        settings = replace(
            self.settings,
            time_limit=time_limit,
            gap=self.settings.gap if gap is None else gap,
        )
        if (solver or settings.solver) == "cbc":
            objective = expr.copy()
            if not objective.keys():  # else PuLP's MPS writer adds a dummy variable for good
                objective = pulp.LpAffineExpression([(self.lp.variables()[0], 0.0)])
            self.lp.setObjective(objective)
            return _run_cbc(self.lp, settings, start)
        session, left = self._session(time_limit)
        session.objective(expr)
        return session.solve(replace(settings, time_limit=left), start)

    def fix(self, expr: pulp.LpAffineExpression, upper: float, name: str) -> None:
        """Add ``expr <= upper`` for every later stage."""
        if not expr.keys():
            return  # a level without variables: nothing to hold (and an empty row upsets CBC)
        self.lp += expr <= upper, name
        if self._highs is not None:
            self._highs.add_upper(expr, upper)

    def tighten(
        self,
        expr: pulp.LpAffineExpression,
        values: dict[str, float],
        time_limit: float | None,
    ) -> float | None:
        """The least value of ``expr`` with every integer variable at its rounded value in
        ``values`` (None when ``expr`` has no continuous variable: then rounding alone gives it,
        or when the LP does not solve in time).

        A MIP solver accepts integers within its integrality tolerance (1e-6), and a one-sided
        auxiliary variable (balance, traffic, fairness) follows them below its exact value: a
        level fixed at the solver's value would then cut off every exact plan of that value."""
        if all(v.cat == pulp.LpInteger for v in expr):
            return None
        if self._highs is None and self.lp.numVariables() > TIGHTEN_BUILD_LIMIT:
            return None  # CBC's run: a large model would take seconds to copy into HiGHS
        integers = [v for v in self.lp.variables() if v.cat == pulp.LpInteger]
        session, time_limit = self._session(time_limit)
        for v in integers:
            n = float(round(values.get(v.name, 0.0)))
            session.bounds(v, n, n)
        try:
            session.objective(expr)
            result = session.solve(replace(self.settings, time_limit=time_limit, gap=0.0), None)
        finally:
            for v in integers:
                session.bounds(v, v.lowBound, v.upBound)
        return result.value if result.outcome == "optimal" else None

    def complete(
        self,
        counts: dict[pulp.LpVariable, int],
        expr: pulp.LpAffineExpression,
        time_limit: float | None,
    ) -> dict[str, float] | None:
        """Values of every variable for these fixed counts (None: they break a hard row)."""
        session, time_limit = self._session(time_limit)
        for var, n in counts.items():
            session.bounds(var, n, n)
        try:
            session.objective(expr)
            settings = replace(self.settings, time_limit=time_limit, gap=1.0)
            result = session.solve(settings, None)
        finally:
            for var in counts:
                session.bounds(var, var.lowBound, var.upBound)
        return result.values if result.outcome in ("optimal", "feasible") else None


def _highs_builder_class() -> type:
    import highspy

    class Builder(pulp.HiGHS):
        """PuLP's HiGHS API, used to create and fill the HiGHS model (quietly)."""

        def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:
            # HiGHS fixes its thread pool at first use; a new thread count needs a fresh pool
            highspy.Highs.resetGlobalScheduler(True)
            with quiet_stdout():  # HiGHS prints a banner on stdout when created
                super().createAndConfigureSolver(lp)

    return Builder


class HighsSession:
    """One in-memory HiGHS model with a warm start, an outside time limit and honest decoding."""

    def __init__(self, lp: pulp.LpProblem, settings: RunSettings) -> None:
        import highspy

        self.hs = highspy
        lp.setObjective(pulp.LpAffineExpression())
        builder = _highs_builder_class()(
            msg=False, threads=settings.threads, gapAbs=1e-9, random_seed=settings.seed
        )
        builder.createAndConfigureSolver(lp)
        builder.buildSolverModel(lp)  # sets v.index for every variable
        self.h = lp.solverModel
        # highspy's cancelSolve only works through solve() in a thread of its own; run() is
        # stopped by answering HiGHS's interrupt callbacks instead, from this flag.
        self.stop = threading.Event()
        self.abandoned = False  # a run that did not stop in time still owns the model
        for event in ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt"):
            getattr(self.h, event).subscribe(self._interrupt)
        self.variables = list(lp.variables())
        self.threads = settings.threads

    def _interrupt(self, event: Any) -> None:
        if self.stop.is_set():
            event.interrupt()

    def _run(self, limit: float | None) -> bool:
        """h.run() in a worker thread, told to stop HIGHS_GRACE_S after ``limit`` or at once by a stop
        request (Ctrl-C). HiGHS answers its interrupt callbacks only between some of its steps
        (not in the root node's LPs, cuts and heuristics), so a run still going ABANDON_S after
        it was told to stop is left behind: False, and the session is dead from then on (the
        model is HiGHS's until the run ends; the caller keeps the plan it has)."""
        self.stop.clear()
        done = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self.h.run()
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=work, name="placer-highs", daemon=True)
        backstop = math.inf if limit is None else time.monotonic() + limit + HIGHS_GRACE_S
        told: float | None = None
        with interrupt.on_stop(self.stop.set):  # Ctrl-C: HiGHS stops with its best plan
            worker.start()
            while not done.wait(POLL_S):
                now = time.monotonic()
                if now >= backstop:
                    self.stop.set()
                if told is None and self.stop.is_set():
                    told = now
                if told is not None and now - told >= ABANDON_S:
                    self.abandoned = True
                    interrupt.leave_running(worker)
                    return False
        if failure:
            raise failure[0]
        return True

    def objective(self, expr: pulp.LpAffineExpression) -> None:
        if self.abandoned:  # the model belongs to a run left behind
            return
        costs = np.zeros(len(self.variables))
        for v, c in expr.items():
            costs[v.index] += c
        self.h.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32), costs)

    def add_upper(self, expr: pulp.LpAffineExpression, upper: float) -> None:
        if self.abandoned:  # the model belongs to a run left behind
            return
        index = np.array([v.index for v in expr], dtype=np.int32)
        value = np.array([c for c in expr.values()], dtype=np.float64)
        self.h.addRow(-self.hs.kHighsInf, upper - float(expr.constant), len(index), index, value)

    def bounds(self, var: pulp.LpVariable, low: float | None, up: float | None) -> None:
        if self.abandoned:  # the model belongs to a run left behind
            return
        inf = self.hs.kHighsInf
        self.h.changeColBounds(
            var.index, -inf if low is None else float(low), inf if up is None else float(up)
        )

    def solve(self, settings: RunSettings, start: dict[str, float] | None) -> StageResult:
        if interrupt.requested() or self.abandoned:
            return StageResult("none", info={"stopped": "interrupted"})
        h, hs = self.h, self.hs
        hs.Highs.resetGlobalScheduler(True)  # another solve in this process may have changed it
        if self.threads is not None:
            h.setOptionValue("threads", int(self.threads))
        h.setOptionValue("mip_rel_gap", float(settings.gap))
        h.setOptionValue("random_seed", int(settings.seed))
        limit = settings.time_limit
        if limit is not None and limit <= 0:
            return StageResult("none", info={"stopped": "no time left"})
        if limit is not None:
            limit -= min(STOP_SHARE * limit, HIGHS_STOP_S * slowdown())
        began = time.monotonic()
        highs_time_limit(h, limit)  # this stage's run: the object may have run before
        if start:
            solution = hs.HighsSolution()
            solution.col_value = [float(start.get(v.name, 0.0)) for v in self.variables]
            solution.value_valid = True
            h.setSolution(solution)
        if not self._run(limit):
            return StageResult("none", info={"stopped": LEFT_RUNNING})
        result = self._decode(settings)
        if start and result.values is not None and self._stale(result):
            left = None if limit is None else max(0.1, limit - (time.monotonic() - began))
            if left is not None:  # the second run gets what is left of the stage's limit
                highs_time_limit(h, left)
            result = self._without_start(settings, result, left)
        return result

    def _without_start(
        self, settings: RunSettings, stale: StageResult, limit: float | None
    ) -> StageResult:
        """HiGHS 1.16 can report a warm-started run's optimum yet hand back the start's values
        (integers included), so those values are not the plan it proved. Solve again from scratch;
        if the answer is still inconsistent, keep the values (a valid plan) but claim no more
        than they show."""
        again = stale
        if not interrupt.requested():  # stopped: no second run, the stale values' plan stands
            self.h.clearSolver()
            if not self._run(limit):
                return StageResult("none", info={"stopped": LEFT_RUNNING})
            again = self._decode(settings)
        if again is not stale and again.values is not None and not self._stale(again):
            again.info["warm_start_discarded"] = "HiGHS returned the start's values"
            return again
        if again.values is not None:
            again.values = self._values_for_fixed_integers(again.values)
        best = again if again.values is not None else stale
        assert best.values is not None
        best.outcome = "feasible"
        best.value = self._recomputed(best.values)
        best.info["inconsistent_solution"] = "HiGHS's values do not reach the objective it reported"
        return best

    def _recomputed(self, values: dict[str, float]) -> float:
        model = self.h.getLp()
        column = np.array([values[v.name] for v in self.variables])
        return float(np.dot(np.array(model.col_cost_), column))

    def _stale(self, result: StageResult) -> bool:
        """HiGHS 1.16 can report the optimum yet hand back the warm start's continuous values
        (seen when the start's integers were already optimal): the values then miss the
        objective value it reports."""
        assert result.values is not None and result.value is not None
        model = self.h.getLp()
        column = np.array([result.values[v.name] for v in self.variables])
        recomputed = float(np.dot(np.array(model.col_cost_), column))
        return abs(recomputed - result.value) > GAP_TOL * max(1.0, abs(result.value))

    def _values_for_fixed_integers(self, values: dict[str, float]) -> dict[str, float]:
        """Re-solve with every integer fixed at its value, for matching continuous values (the
        status and bound of the stage stay those of the real solve)."""
        h = self.h
        model = h.getLp()
        low, up = list(model.col_lower_), list(model.col_upper_)
        kinds = list(model.integrality_)
        integer = [j for j, k in enumerate(kinds) if k == self.hs.HighsVarType.kInteger]
        for j in integer:
            fixed = float(round(values[self.variables[j].name]))
            h.changeColBounds(j, fixed, fixed)
        try:
            h.setOptionValue("time_limit", self.hs.kHighsInf)
            h.run()
            if h.getInfo().primal_solution_status == 2:
                column = list(h.getSolution().col_value)
                values = {v.name: float(column[v.index]) for v in self.variables}
                for v in self.variables:
                    v.varValue = values[v.name]
        finally:
            for j in integer:
                h.changeColBounds(j, float(low[j]), float(up[j]))
        return values

    def _decode(self, settings: RunSettings) -> StageResult:
        h = self.h
        ms = self.hs.HighsModelStatus
        status = h.getModelStatus()
        info = h.getInfo()
        has_plan = info.primal_solution_status == 2  # kSolutionStatusFeasible
        # a model without integer columns is solved as an LP: HiGHS then leaves the MIP dual bound
        # at its default (0), which is no bound, and kOptimal is the proof
        as_lp = not any(k == self.hs.HighsVarType.kInteger for k in h.getLp().integrality_)
        bound = math.nan if as_lp else float(info.mip_dual_bound)
        bound_or_none = bound if math.isfinite(bound) else None
        native = {
            "highs_status": h.modelStatusToString(status),
            "mip_gap": info.mip_gap,
            "mip_dual_bound": bound_or_none,
        }
        if status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
            # every variable of the model is bounded, so "unbounded or infeasible" is infeasible
            return StageResult("infeasible", info=native)
        if not has_plan:
            return StageResult("none", bound=bound_or_none, info=native)
        value = float(info.objective_function_value)
        # kOptimal alone is not a proof when a gap was allowed; without a finite bound (a model
        # solved outright) HiGHS's kOptimal is the proof, as the gap asked is zero
        proved = status == ms.kOptimal and (
            closed(value, bound) if bound_or_none is not None else as_lp or settings.gap == 0
        )
        if status == ms.kOptimal and bound_or_none is None:
            bound_or_none = value
        column = list(h.getSolution().col_value)  # one copy: each access copies the whole vector
        values = {}
        for v in self.variables:
            v.varValue = values[v.name] = float(column[v.index])
        return StageResult(
            "optimal" if proved else "feasible",
            value,
            value if proved else bound_or_none,
            values,
            native,
        )


# ---------------------------------------------------------------------------- CBC

_RESULT = re.compile(r"^Result - (.+)$", re.M)
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_OBJECTIVE = re.compile(r"^Objective value:\s+" + _NUMBER, re.M)
_LOWER = re.compile(r"^Lower bound:\s+" + _NUMBER, re.M)


def _run_cbc(
    lp: pulp.LpProblem, settings: RunSettings, start: dict[str, float] | None
) -> StageResult:
    path = cbc_path(settings.cbc_path)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="placer-cbc-") as tmp:
        mps, sol, mst = (str(Path(tmp) / n) for n in ("model.mps", "model.sol", "start.mst"))
        variables, var_names, con_names, _ = lp.writeMPS(mps, rename=1)
        args = [path, mps]
        if start:
            _write_cbc_start(mst, var_names, start)
            args += ["-mips", mst]
        limit = settings.time_limit
        if limit is not None:  # writing the model took time from the same budget
            limit -= time.monotonic() - began
            if limit <= 0:
                return StageResult("none", info={"stopped": "no time left after writing the model"})
            args += ["-sec", f"{limit:.3f}"]
        args += cbc_thread_args(settings.threads)
        args += ["-randomCbcSeed", str(max(1, settings.seed)), "-allowableGap", "1e-9"]
        args += ["-ratioGap", str(settings.gap)]
        args += ["-solve", "-printingOptions", "all", "-solution", sol]
        timeout = limit + GRACE_S if limit is not None else None
        native: dict[str, Any] = {"cbc": path}
        log = _cbc_log(args, timeout)
        if log is None:
            native["stopped"] = (
                f"killed: CBC did not stop within {CBC_ABANDON_S} s of being interrupted"
                if interrupt.requested()
                else f"killed after {timeout or 0:.1f} s (CBC overran its time limit)"
            )
            return StageResult("none", info=native)
        found = _RESULT.search(log)
        native["cbc_result"] = found.group(1).strip() if found else "no result line"
        lower = _LOWER.search(log)
        bound = float(lower.group(1)) if lower else None
        if not os.path.exists(sol):
            return StageResult("none", bound=bound, info=native)
        first = Path(sol).read_text().split("\n", 1)[0]
        native["cbc_solution"] = first.strip()
        if "infeasible" in first.lower() and "Stopped" not in first:
            return StageResult("infeasible", info=native)
        if (
            not (first.startswith("Optimal") or first.startswith("Stopped"))
            or "no integer" in first
        ):
            return StageResult("none", bound=bound, info=native)
        solver = pulp.COIN_CMD(path=path, msg=False)
        _, values, *_ = solver.readsol_MPS(sol, lp, variables, var_names, con_names)
        lp.assignVarsVals(values)
        value = float(pulp.value(lp.objective) or 0.0)
        objective = _OBJECTIVE.search(log)
        if objective:
            native["cbc_objective"] = float(objective.group(1))
        # A solution file that says "Optimal" proves nothing unless CBC's log agrees and the
        # integers are integral: a run cut off at the root LP writes the relaxation that way.
        integral = all(
            abs(float(values[v.name]) - round(float(values[v.name]))) <= 1e-6
            for v in variables
            if v.cat == pulp.LpInteger and v.name in values
        )
        # without integer columns CBC solves an LP and prints no "Result" line: its solution
        # file's "Optimal" is then the simplex's proof
        as_lp = not any(v.cat == pulp.LpInteger for v in variables)
        log_optimal = as_lp or (found is not None and found.group(1).strip().startswith("Optimal"))
        proved = (
            first.startswith("Optimal")
            and log_optimal
            and integral
            and (bound is None or closed(value, bound))
        )
        if not integral:
            return StageResult("none", bound=bound, info=native)
        return StageResult(
            "optimal" if proved else "feasible",
            value,
            value if proved else bound,
            {k: float(v) for k, v in values.items()},
            native,
        )


def cbc_thread_args(threads: int | None) -> list[str]:
    """CBC's thread option: only for two threads or more. ``-threads 1`` is not the serial
    search but the parallel one with one worker, whose thread at times waits 10 s to start
    (CBC 2.10: "Thread 0 used 0 times, waiting to start 10.000"; 2 runs in 100 of a small model
    with a start) — ten seconds of nothing on a limit of a few."""
    return ["-threads", str(threads)] if threads and threads > 1 else []


def _cbc_log(args: list[str], timeout: float | None) -> str | None:
    """Run CBC and return its log; None when it was killed (it overran ``timeout``, or did not
    stop within CBC_ABANDON_S of a stop request). A stop request (Ctrl-C) first interrupts CBC as a
    terminal would, so that it can still write its best solution."""
    stop = threading.Event()
    with subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as process:

        def interrupt_cbc() -> None:
            stop.set()
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)

        deadline = math.inf if timeout is None else time.monotonic() + timeout
        with interrupt.on_stop(interrupt_cbc):
            while True:
                wait = POLL_S * 4 if not stop.is_set() else CBC_ABANDON_S
                try:
                    log, _ = process.communicate(
                        timeout=min(wait, max(0.0, deadline - time.monotonic()))
                    )
                    return log
                except subprocess.TimeoutExpired:
                    if stop.is_set() or time.monotonic() >= deadline:
                        process.kill()
                        process.communicate()
                        return None


def _write_cbc_start(path: str, var_names: dict[str, str], start: dict[str, float]) -> None:
    """A CBC MIP start (the format PuLP's ``writesol`` writes), with only the given values."""
    lines = ["Stopped on time - objective value 0\n"]
    for i, (name, renamed) in enumerate(var_names.items()):
        if name in start:
            lines.append(f"{i:>7} {renamed} {start[name]:>15} {0:>23}\n")
    Path(path).write_text("".join(lines))
