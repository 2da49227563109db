"""The one small interface every backend implements: compile -> run -> decode.

Modelled on dimod's ``Sampler`` and CVXPY's solver interface: a backend has a name, declares
what it can encode exactly (``supports``), whether it can prove things (``exact``), which
parameters it takes, and which model formats it exports. ``solve`` is a template method that
times each stage and keeps status claims honest; backends implement the three stages.
"""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from engine.errors import PlacerError, UnsupportedExport
from engine.ir import FEATURES, Problem
from engine.solution import DeviceRows, Progress, Solution, Status

M = TypeVar("M")
I = TypeVar("I")  # noqa: E741 - the index type, as in Compiled[Model, Index]

Key = tuple[str, str]  # (group, bin)


@dataclass(frozen=True)
class StartPlan:
    """A plan an exact backend may start from, and where it came from."""

    counts: Mapping[Key, int]
    source: str  # options.hint | greedy | fair_fill | ffd
    devices: DeviceRows | None = None  # the devices its items use, where they request some

    @property
    def trusted(self) -> bool:
        """Does it respect every hard rule by construction? (FFD only packs capacity.)"""
        return self.source != "ffd"


@dataclass(frozen=True, kw_only=True)
class Options:
    time_limit: float | None = None
    seed: int = 0
    threads: int | None = None
    hint: Solution | None = (
        None  # a plan to start from (CP-SAT hints, MILP warm start, SA initial state)
    )
    on_progress: Callable[[Progress], None] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # Start plans, best first (``solvers.composites.QuickStart`` fills them in).
    starts: tuple[StartPlan, ...] = ()


@dataclass
class Compiled(Generic[M, I]):
    problem: Problem  # the problem this model encodes
    model: M  # native model: CpModel, LpProblem, BinaryQuadraticModel, greedy state
    index: I  # inverse data, one named dataclass per backend (what decode needs)


@dataclass
class RawResult:
    status: Status  # mapped from the native status
    values: Mapping[Hashable, float]  # native solution values, decoded by the backend
    objective: tuple[float, ...] | None = None
    bound: tuple[float | None, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    devices: DeviceRows | None = None  # the devices of items that request some


# Features every backend handles (bookkeeping, not modelling choices); all come from the IR.
BASE_FEATURES = frozenset({"objective:placed", "required", "priority"})
ALL_FEATURES = FEATURES


_KIND_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
}


class Backend(ABC):
    # What a backend is (class data, as in CVXPY and dimod); a composite takes its child's.
    name: str
    supports: frozenset[str] = ALL_FEATURES
    exact: bool = False  # may it claim OPTIMAL / INFEASIBLE?
    requires: tuple[str, ...] = ()  # importable module names
    # The native library its compile imports and that import's cost on an idle core: a first
    # solve in a process pays it inside its limit (CP-SAT's loads pandas: 4.3-4.5 s at load 11)
    native: tuple[str, ...] = ()
    native_import_s: float = 0.0
    install_hint: str = "pip install placer"
    parameters: Mapping[str, str] = {}  # accepted Options.params -> help text
    # Expected type of a parameter's value, where it has a simple one (checked before solving).
    parameter_types: Mapping[str, type] = {}
    exports: frozenset[str] = frozenset()
    # Constraint class -> how this backend encodes it (the conformance kit checks that every
    # constraint kind in ``supports`` has one; a model meeting a class without one raises).
    encoders: Mapping[type, Any] = {}

    @classmethod
    def available(cls) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in cls.requires)

    def missing(self, problem: Problem) -> frozenset[str]:
        return problem.features() - self.supports

    @abstractmethod
    def compile(self, problem: Problem, options: Options) -> Compiled[Any, Any]: ...

    @abstractmethod
    def run(self, compiled: Compiled[Any, Any], options: Options) -> RawResult: ...

    @abstractmethod
    def decode(self, compiled: Compiled[Any, Any], raw: RawResult) -> Solution: ...

    def plan(
        self, problem: Problem, raw: RawResult, counts: Mapping[tuple[str, str], int]
    ) -> Solution:
        """The Solution of a raw result whose plan is ``counts`` (or the failure it reports)."""
        if not raw.status.has_plan:
            return Solution.failure(problem, self.name, raw.status, **raw.info)
        return Solution.from_counts(
            problem,
            self.name,
            raw.status,
            counts,
            devices=raw.devices,
            objective=raw.objective or (),
            bound=raw.bound,
            info=raw.info,
        )

    def check_params(self, options: Options) -> None:
        unknown = set(options.params) - set(self.parameters)
        if unknown:
            known = ", ".join(sorted(self.parameters)) or "none"
            raise PlacerError(
                f"backend {self.name!r} does not take parameter(s) {', '.join(sorted(unknown))}; "
                f"it takes: {known}"
            )
        for key, value in options.params.items():
            kind = self.parameter_types.get(key)
            if kind is None:
                continue
            ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise PlacerError(
                    f"backend {self.name!r}: parameter {key} expects {_KIND_NAMES[kind]}, got {value!r}"
                )

    def solve(self, problem: Problem, options: Options | None = None) -> Solution:
        """Compile, run and decode, timing each stage into ``info['timing']``.

        Do not override. A non-exact backend never reports OPTIMAL or INFEASIBLE. A backend that
        reported no progress while it ran reports its plan once at the end.
        """
        options = options or Options()
        self.check_params(options)
        reported = _Reported(options.on_progress)
        if options.on_progress is not None:
            options = replace(options, on_progress=reported)
        start = time.perf_counter()
        compiled = self.compile(problem, options)
        t_compile = time.perf_counter()
        raw = self.run(compiled, options)
        t_run = time.perf_counter()
        solution = self.decode(compiled, raw)
        t_decode = time.perf_counter()
        status = solution.status
        if not self.exact and status == Status.OPTIMAL:
            status = Status.FEASIBLE
        if not self.exact and status == Status.INFEASIBLE:
            status = Status.UNKNOWN
        info = dict(solution.info)
        info["timing"] = {
            "compile_s": round(t_compile - start, 6),
            "solve_s": round(t_run - t_compile, 6),
            "decode_s": round(t_decode - t_run, 6),
        }
        solution = solution.model_copy(
            update={"status": status, "seconds": round(t_decode - start, 6), "info": info}
        )
        if reported.callback is not None and not reported.calls and status.has_plan:
            reported(Progress(solution.seconds, solution.objective, solution.bound))
        return solution

    def export(self, problem: Problem, fmt: str) -> bytes:
        raise UnsupportedExport(self.name, fmt, self.exports)


class _Reported:
    """A progress callback that remembers whether it was called."""

    def __init__(self, callback: Callable[[Progress], None] | None) -> None:
        self.callback = callback
        self.calls = 0

    def __call__(self, progress: Progress) -> None:
        self.calls += 1
        if self.callback is not None:
            self.callback(progress)
