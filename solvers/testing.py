"""Conformance helpers for backends: standard cases with hand-proved optima, and an API check.

``STANDARD_CASES`` are tiny problems whose optimum per objective level is worked out by hand in
``why``, with a witness plan reaching it. An exact backend must reach ``optimum`` on every
feasible case and report ``infeasible`` (or ``unknown``) on the others; a heuristic must return
valid plans (judged by ``engine.verify`` in the tests, never here: solver code does not import
the verifier).

``assert_backend_api(backend)`` checks the interface every backend promises: class attributes,
an empty problem solves, unknown parameters are rejected, timing keys are present, and a
non-exact backend never claims ``optimal`` or ``infeasible``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import PlacerError
from engine.ir import CONSTRAINT_KINDS, Problem
from engine.solution import Solution, Status

from .base import ALL_FEATURES, Backend, Options

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class StandardCase:
    name: str
    problem: Problem
    optimum: tuple[float, ...] | None  # per objective level; None: no valid plan exists
    witness: Mapping[tuple[str, str], int] = field(default_factory=dict)  # a plan reaching it
    why: str = ""
    # the devices of the witness's items, for groups that request devices
    witness_devices: Mapping[tuple[str, str], list[tuple[tuple[str, ...], int]]] = field(
        default_factory=dict
    )

    @property
    def feasible(self) -> bool:
        return self.optimum is not None


def _node(name: str, cpu: str, zone: str | None = None, cost: float = 1.0) -> dict[str, Any]:
    labels = {HOSTNAME: name}
    if zone is not None:
        labels[ZONE] = zone
    return {"name": name, "capacity": {"cpu": cpu}, "labels": labels, "cost": cost}


def _group(name: str, count: int, cpu: str = "1", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "count": count,
        "demand": {"cpu": cpu},
        "labels": {"app": name},
        **fields,
    }


def _case(
    name: str,
    data: dict[str, Any],
    optimum: tuple[float, ...] | None,
    witness: Mapping[tuple[str, str], int],
    why: str,
    devices: Mapping[tuple[str, str], list[tuple[tuple[str, ...], int]]] | None = None,
) -> StandardCase:
    problem = Problem.model_validate({"name": name, **data})
    return StandardCase(name, problem, optimum, dict(witness), why, dict(devices or {}))


def _gpu_node(name: str, gpus: int, model: str = "G2") -> dict[str, Any]:
    return {
        **_node(name, "8"),
        "devices": [
            {
                "name": "gpu",
                "count": gpus,
                "capacity": {"gpu-milli": 1000},
                "attributes": {"gpu.example.com/model": model},
            }
        ],
    }


STANDARD_CASES: tuple[StandardCase, ...] = (
    _case("empty", {}, (0.0,), {}, "nothing to place: placed = 0"),
    _case(
        "no-bins",
        {"items": [_group("web", 2)]},
        (0.0,),
        {},
        "no bin exists, so nothing can be placed: placed = 0",
    ),
    _case(
        "pack-two-bins",
        {
            "bins": [_node("n0", "10"), _node("n1", "10"), _node("n2", "10")],
            "items": [
                _group("a", 1, "6"),
                _group("b", 1, "4"),
                _group("c", 2, "5"),
            ],
            "objective": ["placed", {"bins_used": 1.0}],
        },
        (4.0, 2.0),
        {("a", "n0"): 1, ("b", "n0"): 1, ("c", "n1"): 2},
        "demand 20 cpu on bins of 10 needs >= 2 bins; 6+4 and 5+5 fill exactly two",
    ),
    _case(
        "priority-tiers",
        {
            "bins": [_node("n0", "2")],
            "items": [_group("low", 2), _group("high", 1, priority=1)],
        },
        (4.0,),
        {("high", "n0"): 1, ("low", "n0"): 1},
        "low weighs 1, high weighs 2*1+1 = 3; two slots: high + one low = 4 beats two lows = 2",
    ),
    _case(
        "anti-affinity",
        {
            "bins": [_node(f"n{k}", "4") for k in range(3)],
            "items": [_group("web", 4)],
            "constraints": [
                {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": HOSTNAME}
            ],
        },
        (3.0,),
        {("web", "n0"): 1, ("web", "n1"): 1, ("web", "n2"): 1},
        "at most one web per host and three hosts: placed = 3",
    ),
    _case(
        "spread",
        {
            "bins": [_node("n0", "4", "z0"), _node("n1", "1", "z1")],
            "items": [_group("web", 4)],
            "constraints": [
                {"kind": "spread", "selector": {"app": "web"}, "topology": ZONE, "max_skew": 1}
            ],
        },
        (3.0,),
        {("web", "n0"): 2, ("web", "n1"): 1},
        "z1 holds at most 1 (capacity), so min <= 1 and z0 <= min + 1 = 2: placed <= 3",
    ),
    _case(
        "affinity",
        {
            "bins": [_node("n0", "2", "z0"), _node("n1", "8", "z1")],
            "items": [_group("cache", 1, allowed=["n0"]), _group("api", 3)],
            "constraints": [
                {
                    "kind": "affinity",
                    "selector": {"app": "api"},
                    "target": {"app": "cache"},
                    "topology": ZONE,
                }
            ],
        },
        (2.0,),
        {("cache", "n0"): 1, ("api", "n0"): 1},
        "api needs the cache's zone z0, whose only bin has 1 cpu left: cache + 1 api = 2",
    ),
    _case(
        "gang",
        {
            "bins": [_node("n0", "3")],
            "items": [_group("trainer", 2), _group("ps", 2), _group("solo", 1)],
            "constraints": [{"kind": "gang", "items": ["trainer", "ps"]}],
        },
        (1.0,),
        {("solo", "n0"): 1},
        "the gang needs 4 cpu > 3: it is placed not at all; solo fits: placed = 1",
    ),
    _case(
        "quota",
        {
            "bins": [_node("n0", "8")],
            "items": [_group("job", 4, tenant="team")],
            "tenants": [{"name": "team"}],
            "constraints": [{"kind": "quota", "tenant": "team", "limits": {"cpu": "2"}}],
        },
        (2.0,),
        {("job", "n0"): 2},
        "the tenant's 2 cpu quota admits two 1-cpu jobs",
    ),
    _case(
        "item-cost",
        {
            "bins": [_node("n0", "1"), _node("n1", "1")],
            "items": [_group("web", 1, cost={"n0": 5.0, "n1": 1.0})],
            "objective": ["placed", {"cost": 1.0}],
        },
        (1.0, 1.0),
        {("web", "n1"): 1},
        "placing the item beats not placing it; n1 is the cheaper bin: cost 1",
    ),
    _case(
        "bin-cost",
        {
            "bins": [_node("a", "2"), _node("b", "2"), _node("big", "4", cost=3.0)],
            "items": [_group("web", 4)],
            "objective": ["placed", {"bins_used": 1.0}],
        },
        (4.0, 2.0),
        {("web", "a"): 2, ("web", "b"): 2},
        "all 4 fit; either both small bins (cost 2) or the big one (cost 3) or more: 2",
    ),
    _case(
        "balance",
        {
            "bins": [_node("n0", "4"), _node("n1", "4")],
            "items": [_group("web", 4)],
            "objective": ["placed", {"balance": 1.0}],
        },
        (4.0, 0.5),
        {("web", "n0"): 2, ("web", "n1"): 2},
        "4 cpu over 8: some bin holds >= 2 of 4 cpu, so the largest fraction is >= 0.5",
    ),
    _case(
        "moves",
        {
            "bins": [_node("n0", "2"), _node("n1", "2")],
            "items": [_group("web", 2, placed={"n0": 2}, movable=True)],
            "objective": ["placed", {"moves": 1.0}],
        },
        (2.0, 0.0),
        {("web", "n0"): 2},
        "leaving both where they are places all with no move",
    ),
    _case(
        "soft-anti-affinity",
        {
            "bins": [_node("n0", "4")],
            "items": [_group("web", 2)],
            "constraints": [
                {
                    "kind": "anti_affinity",
                    "selector": {"app": "web"},
                    "topology": HOSTNAME,
                    "weight": 1.5,
                }
            ],
            "objective": ["placed", {"soft": 1.0}],
        },
        (2.0, 1.5),
        {("web", "n0"): 2},
        "placing both (first level) breaks the soft rule once on the one host: soft = 1.5",
    ),
    _case(
        "gpu-fragments",
        {
            "bins": [_gpu_node("n0", 2)],
            "items": [
                _group("s6", 2, "0", devices={"share": {"gpu-milli": 600}}, value=600),
                _group("s4", 2, "0", devices={"share": {"gpu-milli": 400}}, value=400),
                _group("w", 1, "0", devices={"count": 1}, value=1000),
            ],
            "objective": ["value", "placed"],
        },
        (2000.0, 4.0),
        {("s6", "n0"): 2, ("s4", "n0"): 2},
        "2 GPUs give at most 2000 milli; 600+400 on each reaches it with 4 items, the whole GPU "
        "(1000) leaves room for one share only (3 items), and two 600s never share a GPU",
        {
            ("s6", "n0"): [(("gpu-0",), 1), (("gpu-1",), 1)],
            ("s4", "n0"): [(("gpu-0",), 1), (("gpu-1",), 1)],
        },
    ),
    _case(
        "gpu-model",
        {
            "bins": [_gpu_node("g2", 1), _gpu_node("t4", 2, model="T4")],
            "items": [_group("w", 2, devices={"select": {"gpu.example.com/model": "G2"}})],
        },
        (1.0,),
        {("w", "g2"): 1},
        "only the one G2 GPU matches; whole GPUs are never shared: 1 placed",
        {("w", "g2"): [(("gpu-0",), 1)]},
    ),
    _case(
        "required-infeasible",
        {
            "bins": [_node("n0", "2")],
            "items": [_group("web", 3, required=True)],
        },
        None,
        {},
        "3 required 1-cpu items cannot fit 2 cpu: no valid plan",
    ),
)

STANDARD_CASE_BY_NAME: dict[str, StandardCase] = {c.name: c for c in STANDARD_CASES}

TIMING_KEYS = ("compile_s", "solve_s", "decode_s")


def _backend(backend: Backend | type[Backend] | str) -> Backend:
    if isinstance(backend, str):
        from .registry import get

        return get(backend)
    return backend() if isinstance(backend, type) else backend


def assert_backend_api(backend: Backend | type[Backend] | str, *, time_limit: float = 5.0) -> None:
    """Raise AssertionError unless the backend honours the interface of ``solvers.base``."""
    be = _backend(backend)  # a composite answers for its child: read attributes off the instance
    assert isinstance(be.name, str) and be.name, "name must be a non-empty string"
    assert isinstance(be.supports, frozenset), "supports must be a frozenset"
    unknown = be.supports - ALL_FEATURES
    assert not unknown, f"supports names unknown features: {sorted(unknown)}"
    assert isinstance(be.exact, bool), "exact must be a bool"
    assert isinstance(be.requires, tuple), "requires must be a tuple of module names"
    assert isinstance(be.parameters, Mapping), "parameters must map names to help text"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in be.parameters.items())
    assert isinstance(be.exports, frozenset), "exports must be a frozenset"
    for kind, cls in CONSTRAINT_KINDS.items():  # a kind it claims must have an encoder
        assert kind not in be.supports or cls in be.encoders, (
            f"{be.name} supports {kind} constraints but has no encoder for them"
        )
    missing_modules = [m for m in be.requires if importlib.util.find_spec(m) is None]
    assert not missing_modules, f"{be.name} is not available: {missing_modules} missing"

    options = Options(time_limit=time_limit, seed=0, threads=1)
    empty = Problem.model_validate({"name": "empty"})
    solution = be.solve(empty, options)
    assert isinstance(solution, Solution), "solve must return a Solution"
    assert solution.problem == "empty", "the solution must name its problem"
    assert solution.backend == be.name, f"backend field {solution.backend!r} != {be.name!r}"
    assert solution.status.has_plan, f"an empty problem must solve, got {solution.status}"
    assert not solution.placements, "an empty problem has no placements"
    timing = solution.info.get("timing", {})
    missing = [k for k in TIMING_KEYS if k not in timing]
    assert not missing, f"timing keys missing: {missing}"
    assert solution.seconds >= 0

    try:
        be.solve(empty, Options(time_limit=time_limit, params={"no_such_parameter_xyz": 1}))
    except PlacerError:
        pass
    else:
        raise AssertionError("an unknown parameter must be rejected with a PlacerError")

    if not be.exact:
        for case in STANDARD_CASES:
            if be.missing(case.problem):
                continue
            got = be.solve(case.problem, options)
            assert got.status not in (Status.OPTIMAL, Status.INFEASIBLE), (
                f"non-exact backend claimed {got.status} on {case.name}"
            )
