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
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from engine.errors import PlacerError, UnsupportedExport
from engine.ir import Problem
from engine.solution import Progress, Solution, Status

M = TypeVar("M")


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


@dataclass
class Compiled(Generic[M]):
    problem: Problem  # the problem this model encodes
    model: M  # native model: CpModel, LpProblem, BinaryQuadraticModel, greedy state
    index: Any = None  # inverse data: native variables -> (item, bin), scales, penalties


@dataclass
class RawResult:
    status: Status  # mapped from the native status
    values: Mapping[Hashable, float]  # native solution values, decoded by the backend
    objective: tuple[float, ...] | None = None
    bound: tuple[float | None, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)


# Features every backend handles (bookkeeping, not modelling choices).
BASE_FEATURES = frozenset({"objective:placed", "required", "priority"})
ALL_FEATURES = BASE_FEATURES | frozenset(
    {
        "anti_affinity",
        "anti_affinity:target",
        "affinity",
        "spread",
        "gang",
        "quota",
        "soft",
        "movable",
        "traffic",
        "objective:bins_used",
        "objective:cost",
        "objective:balance",
        "objective:moves",
        "objective:fairness",
        "objective:soft",
        "objective:traffic",
    }
)


_KIND_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
}


class Backend(ABC):
    name: ClassVar[str]
    supports: ClassVar[frozenset[str]] = ALL_FEATURES
    exact: ClassVar[bool] = False  # may it claim OPTIMAL / INFEASIBLE?
    requires: ClassVar[tuple[str, ...]] = ()  # importable module names
    install_hint: ClassVar[str] = "pip install placer"
    parameters: ClassVar[Mapping[str, str]] = {}  # accepted Options.params -> help text
    # Expected type of a parameter's value, where it has a simple one (checked before solving).
    parameter_types: ClassVar[Mapping[str, type]] = {}
    exports: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def available(cls) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in cls.requires)

    def missing(self, problem: Problem) -> frozenset[str]:
        return problem.features() - self.supports

    @abstractmethod
    def compile(self, problem: Problem, options: Options) -> Compiled[Any]: ...

    @abstractmethod
    def run(self, compiled: Compiled[Any], options: Options) -> RawResult: ...

    @abstractmethod
    def decode(self, compiled: Compiled[Any], raw: RawResult) -> Solution: ...

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

        Do not override. A non-exact backend never reports OPTIMAL or INFEASIBLE.
        """
        options = options or Options()
        self.check_params(options)
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
        return solution.model_copy(
            update={"status": status, "seconds": round(t_decode - start, 6), "info": info}
        )

    def export(self, problem: Problem, fmt: str) -> bytes:
        raise UnsupportedExport(self.name, fmt, self.exports)
