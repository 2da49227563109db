"""Running one MILP stage with HiGHS (in process, via PuLP's ``HiGHS`` API) or CBC (a subprocess).

Both drivers decode the outcome themselves, from the solver's solution status and its proven
bound, never from PuLP's ``status`` alone: PuLP maps a HiGHS time limit to "Optimal", and a CBC
run stopped without a solution hands back the LP relaxation's values. Both also enforce the time
limit from outside (HiGHS: ``cancelSolve`` from a timer; CBC: the process is killed), because
solvers overrun their own limits on large models.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulp

from engine.errors import BackendUnavailable

Outcome = Literal["optimal", "feasible", "infeasible", "none"]

GRACE_S = 1.0  # how long past its limit a solver may run before it is stopped from outside
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


def closed(value: float, bound: float) -> bool:
    return value - bound <= GAP_TOL * max(1.0, abs(value))


def cbc_path(explicit: str | None = None) -> str:
    """The CBC binary: explicit, cbcbox's, PuLP's bundled one, or ``cbc`` on PATH."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    try:
        import cbcbox

        candidates.append(cbcbox.cbc_bin_path())
    except Exception:
        pass
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
        "solver 'cbc' needs a CBC binary: pip install cbcbox (or pulp[cbc]), or put cbc on PATH; "
        "the default solver 'highs' needs only highspy",
    )


def run_stage(
    lp: pulp.LpProblem,
    settings: RunSettings,
    start: dict[str, float] | None,
) -> StageResult:
    """Minimise ``lp``'s objective (which has no constant term) once; values are also written
    into the PuLP variables."""
    if settings.time_limit is not None and settings.time_limit <= 0:
        return StageResult("none", info={"stopped": "no time left"})
    if not lp.variables():
        constant = float(lp.objective.constant) if lp.objective is not None else 0.0
        return StageResult("optimal", constant, constant, {})
    if settings.solver == "cbc":
        return _run_cbc(lp, settings, start)
    return _run_highs(lp, settings, start)


# ---------------------------------------------------------------------------- HiGHS


def _highs_solver_class() -> type:
    import highspy

    class Stage(pulp.HiGHS):
        """PuLP's HiGHS API plus a warm start, an outside time limit and honest decoding."""

        def __init__(self, settings: RunSettings, start: dict[str, float] | None) -> None:
            super().__init__(
                msg=False,
                timeLimit=settings.time_limit,
                threads=settings.threads,
                gapRel=settings.gap,
                gapAbs=1e-9,
                random_seed=settings.seed,
            )
            self.start = start
            self.result = StageResult("none")
            self.settings = settings

        def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:
            # HiGHS fixes its thread pool at first use; a new thread count needs a fresh pool
            highspy.Highs.resetGlobalScheduler(True)
            with _quiet_stdout():  # HiGHS prints a banner on stdout when created
                super().createAndConfigureSolver(lp)

        def callSolver(self, lp: pulp.LpProblem) -> None:
            h = lp.solverModel
            if self.start:
                variables = lp.variables()
                solution = highspy.HighsSolution()
                solution.col_value = [float(self.start.get(v.name, 0.0)) for v in variables]
                solution.value_valid = True
                h.setSolution(solution)
            limit = self.settings.time_limit
            timer = threading.Timer(limit + GRACE_S, h.cancelSolve) if limit is not None else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                h.run()
                if self.start:
                    self._repair_stale_solution(h)
            finally:
                if timer is not None:
                    timer.cancel()

        def _repair_stale_solution(self, h: Any) -> None:
            """HiGHS 1.16 can report the optimum yet hand back the warm start's continuous values
            (seen when the start's integers were already optimal). Then re-solve with the
            integers fixed, so the values match the objective the solver proved."""
            info = h.getInfo()
            if info.primal_solution_status != 2:
                return
            model = h.getLp()
            values = list(h.getSolution().col_value)
            costs = list(model.col_cost_)
            recomputed = sum(c * v for c, v in zip(costs, values, strict=True))
            reported = info.objective_function_value
            if abs(recomputed - reported) <= GAP_TOL * max(1.0, abs(reported)):
                return
            integer = highspy.HighsVarType.kInteger
            kinds = list(model.integrality_) or [None] * len(values)
            for j, kind in enumerate(kinds):
                if kind == integer:
                    fixed = float(round(values[j]))
                    h.changeColBounds(j, fixed, fixed)
            h.run()

        def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:
            h = lp.solverModel
            status = h.getModelStatus()
            info = h.getInfo()
            ms = highspy.HighsModelStatus
            has_plan = info.primal_solution_status == 2  # kSolutionStatusFeasible
            value = float(info.objective_function_value) if has_plan else None
            bound = float(info.mip_dual_bound)
            bound_or_none = bound if math.isfinite(bound) else None
            native = {
                "highs_status": h.modelStatusToString(status),
                "mip_gap": info.mip_gap,
                "mip_dual_bound": bound,
            }
            if status in (ms.kInfeasible, ms.kUnboundedOrInfeasible):
                # every variable of the model is bounded, so "unbounded or infeasible" is infeasible
                self.result = StageResult("infeasible", info=native)
                return pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible
            if not has_plan or value is None:
                self.result = StageResult("none", bound=bound_or_none, info=native)
                return pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound
            # kOptimal alone is not a proof when a gap was allowed; without a finite bound (a
            # model solved outright) HiGHS's kOptimal is the proof, as the gap asked is zero
            proved = status == ms.kOptimal and (
                closed(value, bound) if bound_or_none is not None else self.settings.gap == 0
            )
            if status == ms.kOptimal and bound_or_none is None:
                bound_or_none = value  # a pure LP: the optimum is its own bound
            solution = h.getSolution()
            values = {v.name: float(solution.col_value[v.index]) for v in lp.variables()}
            for v in lp.variables():
                v.varValue = values[v.name]
            self.result = StageResult(
                "optimal" if proved else "feasible",
                value,
                value if proved else bound_or_none,
                values,
                native,
            )
            if proved:
                return pulp.LpStatusOptimal, pulp.LpSolutionOptimal
            return pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible

    return Stage


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (native code writes there, bypassing sys.stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _run_highs(
    lp: pulp.LpProblem, settings: RunSettings, start: dict[str, float] | None
) -> StageResult:
    solver = _highs_solver_class()(settings, start)
    solver.actualSolve(lp)
    result: StageResult = solver.result
    return result


# ---------------------------------------------------------------------------- CBC

_RESULT = re.compile(r"^Result - (.+)$", re.M)
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_OBJECTIVE = re.compile(r"^Objective value:\s+" + _NUMBER, re.M)
_LOWER = re.compile(r"^Lower bound:\s+" + _NUMBER, re.M)


def _run_cbc(
    lp: pulp.LpProblem, settings: RunSettings, start: dict[str, float] | None
) -> StageResult:
    path = cbc_path(settings.cbc_path)
    with tempfile.TemporaryDirectory(prefix="placer-cbc-") as tmp:
        mps, sol, mst = (str(Path(tmp) / n) for n in ("model.mps", "model.sol", "start.mst"))
        variables, var_names, con_names, _ = lp.writeMPS(mps, rename=1)
        args = [path, mps]
        if start:
            _write_cbc_start(mst, var_names, start)
            args += ["-mips", mst]
        if settings.time_limit is not None:
            args += ["-sec", f"{settings.time_limit:.3f}"]
        if settings.threads:
            args += ["-threads", str(settings.threads)]
        args += ["-randomCbcSeed", str(max(1, settings.seed)), "-allowableGap", "1e-9"]
        args += ["-ratioGap", str(settings.gap)]
        args += ["-solve", "-printingOptions", "all", "-solution", sol]
        timeout = settings.time_limit + GRACE_S if settings.time_limit is not None else None
        native: dict[str, Any] = {"cbc": path}
        try:
            run = subprocess.run(
                args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            native["stopped"] = f"killed after {timeout:.1f} s (CBC overran its time limit)"
            return StageResult("none", info=native)
        log = run.stdout
        found = _RESULT.search(log)
        native["cbc_result"] = found.group(1).strip() if found else f"exit code {run.returncode}"
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
        proved = first.startswith("Optimal") and (bound is None or closed(value, bound))
        return StageResult(
            "optimal" if proved else "feasible",
            value,
            value if proved else bound,
            {k: float(v) for k, v in values.items()},
            native,
        )


def _write_cbc_start(path: str, var_names: dict[str, str], start: dict[str, float]) -> None:
    """A CBC MIP start (the format PuLP's ``writesol`` writes), with only the given values."""
    lines = ["Stopped on time - objective value 0\n"]
    for i, (name, renamed) in enumerate(var_names.items()):
        if name in start:
            lines.append(f"{i:>7} {renamed} {start[name]:>15} {0:>23}\n")
    Path(path).write_text("".join(lines))
