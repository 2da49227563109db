"""Audit the solvers' claims: many packing runs, every claim checked against known optima and
against the other backends' verified plans.

``python -m bench audit -o DIR`` writes a suite (``DIR/suite.yaml``) of random packings (1-D and
vector, sizes from several distributions, items as large as a bin among them), generated
packings with a known optimum (``bench.planted``, all four kinds) and small random problems of
every constraint kind and objective term (``DIR/problems/``), runs it through the bench runner
(each run in its own process; cpsat, cpsat with the LNS and milp with HiGHS by default) and
judges every row:

- a plan is verified; a run ends (no timeout or crash) and within its limit + 10 % + 0.5 s;
- against a known optimum: no plan better than it, no bound past it, "optimal" only at it,
  never "infeasible";
- against the other backends on the same instance: no bound past a verified plan, no "optimal"
  worse than a verified plan, no "infeasible" where a plan was verified.

The findings go to ``DIR/audit.md`` (and the exit code is 1 when there are any). ``python -m bench
audit-check DIR`` judges an existing ``results.csv`` again (any suite's, not only an audit's).
Runs of one instance are compared on every level of the objective, lexicographically; a known
optimum (one level's) is held against runs whose objective has one level.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.formats import packing_problem
from engine.ir import Problem

SLACK_SHARE = 0.1  # the promise: wall clock <= limit + 10 % + 0.5 s
SLACK_SECONDS = 0.5
TOLERANCE = 1e-6  # relative, for comparing objective values read back from a CSV
PLAN_STATUSES = ("optimal", "feasible")
ANSWER_STATUSES = (*PLAN_STATUSES, "infeasible", "unknown")  # anything else: the run failed
DEFAULT_BACKENDS = (
    "cpsat",
    {"name": "cpsat", "options": {"lns": "on"}},
    {"name": "milp", "options": {"solver": "highs"}},
)

# planted kind -> the ranges its draws take (kept small: an audit wants many runs, not big ones)
PLANTED_PARAMS: dict[str, dict[str, Any]] = {
    "perfect": {"bins": [2, 40], "capacity": [20, 20000], "pieces": [2, 5]},
    "triplets": {"bins": [2, 40], "capacity": [100, 20000]},
    "vectors": {"bins": [2, 30], "capacity": [20, 1000], "d": 2},
    "vector_triplets": {"bins": [2, 30], "capacity": [100, 1000], "d": 3},
}
SIZE_MODES = ("uniform", "thirds", "large", "few_kinds", "whole")


# ----------------------------------------------------------------------------- instances


def random_packing(seed: int, d: int = 1, items: int = 40) -> Problem:
    """A random packing of ``items`` items in ``d`` dimensions, its sizes from one of
    ``SIZE_MODES`` chosen by the seed: uniform in (0, C]; near a third of C (no exact fills
    planted: the hard 1-D kind); above C/2 mixed with small ones; a few distinct sizes repeated
    (grouped items); or some items exactly as large as a bin."""
    rng = random.Random(f"audit-{d}-{items}-{seed}")
    capacity = round(math.exp(rng.uniform(math.log(10), math.log(20000))))
    mode = SIZE_MODES[seed % len(SIZE_MODES)]

    def size() -> int:
        if mode == "thirds":
            return rng.randint(max(1, capacity // 4), max(1, capacity // 2))
        if mode == "large":
            low = capacity // 2 + 1 if rng.random() < 0.4 else 1
            return rng.randint(min(low, capacity), capacity)
        if mode == "whole" and rng.random() < 0.15:
            return capacity
        return rng.randint(1, capacity)

    kinds = [tuple(size() for _ in range(d)) for _ in range(rng.randint(2, 6))]
    rows = [
        kinds[rng.randrange(len(kinds))] if mode == "few_kinds" else tuple(size() for _ in range(d))
        for _ in range(items)
    ]
    return packing_problem(
        f"audit-{mode}-d{d}-n{items}-s{seed}",
        [capacity] * d,
        Counter(rows),
        {"format": "audit", "mode": mode, "n": items},
    )


def random_problems(count: int, seed: int) -> list[Problem]:
    """``count`` small random problems of every constraint kind and objective term (the tests'
    hypothesis strategy, ``bench/strategies.py``, drawn reproducibly from ``seed``), renamed
    ``problem-SEED-K``; some are infeasible on purpose."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    from .strategies import problems

    drawn: dict[str, Problem] = {}

    @fixed_seed(seed)
    @settings(
        max_examples=2 * count,  # hypothesis repeats some small draws: enough distinct ones
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(problems(max_bins=6, max_groups=5, max_count=5))
    def collect(problem: Problem) -> None:
        drawn.setdefault(problem.model_dump_json(), problem)

    collect()
    return [
        p.model_copy(update={"name": f"problem-{seed}-{k:03d}"})
        for k, p in enumerate(list(drawn.values())[:count])
    ]


def audit_suite(
    random_count: int,
    planted_count: int,
    time_limit: float,
    seed: int = 0,
    backends: Iterable[Any] = DEFAULT_BACKENDS,
    problem_files: str | None = None,
) -> dict[str, Any]:
    """The suite an audit runs: ``random_count`` random packings (1-D for half of them, d = 2..4
    for the rest, 10-150 items), ``planted_count`` generated ones spread over the planted kinds,
    seeds from ``seed`` on (a new seed, a new sample), and the IR files ``problem_files`` (a
    glob) names."""
    rng = random.Random(f"audit-suite-{seed}")
    instances: list[dict[str, Any]] = [{"ir": problem_files}] if problem_files else []
    for k in range(random_count):
        d = 1 if k % 2 == 0 else rng.randint(2, 4)
        instances.append(
            {
                "generate": "bench.audit:random_packing",
                "params": {"d": d, "items": rng.randint(10, 150)},
                "seeds": [seed * 100_000 + k],
            }
        )
    kinds = list(PLANTED_PARAMS)
    for k in range(planted_count):
        kind = kinds[k % len(kinds)]
        instances.append(
            {"planted": kind, "params": PLANTED_PARAMS[kind], "seeds": [seed * 100_000 + k]}
        )
    return {
        "name": f"audit-s{seed}",
        "description": "python -m bench audit: random and planted packings, claims cross-checked",
        "time_limit": time_limit,
        "level": -1,
        "backends": list(backends),
        "instances": instances,
    }


# ----------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Finding:
    instance: str
    backend: str
    what: str

    def line(self) -> str:
        return f"| {self.instance} | {self.backend} | {self.what} |"


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _beyond(a: float, b: float, minimise: bool) -> bool:
    """``a`` is strictly better than ``b`` (lower when minimising), past the tolerance."""
    margin = TOLERANCE * max(1.0, abs(a), abs(b))
    return a < b - margin if minimise else a > b + margin


def _differs(a: float, b: float) -> bool:
    return abs(a - b) > TOLERANCE * max(1.0, abs(a), abs(b))


def _backend(row: Mapping[str, str]) -> str:
    return row["backend"] + (f" {row['options']}" if row.get("options") else "")


def _one_level(row: Mapping[str, str]) -> bool:
    """The run's objective has one level (its recorded value and bound are the whole story)."""
    return len(json.loads(row.get("objective") or "[]")) <= 1


def judge_row(row: Mapping[str, str]) -> list[str]:
    """What is wrong with one run on its own (and against its known optimum, if any)."""
    status = row["status"]
    if status not in ANSWER_STATUSES:
        return [f"run failed: {status} {row.get('error', '')}".strip()]
    wrong = []
    verified = row.get("verified") == "True"
    if status in PLAN_STATUSES and not verified:
        wrong.append(f"{status} plan not verified")
    limit, wall = _number(row.get("time_limit")), _number(row.get("wall_seconds"))
    if limit is not None and wall is not None:
        allowed = limit * (1 + SLACK_SHARE) + SLACK_SECONDS
        if wall > allowed:
            wrong.append(f"over the limit: {wall:.2f} s > {allowed:.2f} s")
    optimum = _number(row.get("best_known"))
    if optimum is None or row.get("optimal_known") != "True" or not _one_level(row):
        return wrong
    minimise = row.get("sense", "min") != "max"
    value, bound = _number(row.get("value")), _number(row.get("bound_value"))
    if value is not None and _beyond(value, optimum, minimise):
        wrong.append(f"plan {value:g} better than the proven optimum {optimum:g}")
    if bound is not None and _beyond(optimum, bound, minimise):
        wrong.append(f"bound {bound:g} past the proven optimum {optimum:g}")
    if status == "optimal" and value is not None and _differs(value, optimum):
        wrong.append(f"claims optimal at {value:g}, the optimum is {optimum:g}")
    if status == "infeasible":
        wrong.append(f"claims infeasible, a plan of {optimum:g} exists")
    return wrong


Vector = tuple[float | None, ...]


def _senses(row: Mapping[str, str]) -> tuple[bool, ...] | None:
    """Per objective level, whether it is minimised (None: not recorded for several levels)."""
    if text := row.get("senses"):
        return tuple(sense != "max" for sense in json.loads(text))
    return (row.get("sense", "min") != "max",) if _one_level(row) else None


def _vector(row: Mapping[str, str], column: str) -> Vector | None:
    values = json.loads(row.get(column) or "null")
    return tuple(None if v is None else float(v) for v in values) if values else None


def _lex_beyond(a: Vector, b: Vector, minimise: tuple[bool, ...]) -> bool:
    """``a`` is lexicographically better than ``b``, level by level until a level with no value
    (a bound is ``null`` after a level that was not proved: it would hold only given the
    earlier values)."""
    for x, y, low in zip(a, b, minimise, strict=False):
        if x is None or y is None:
            return False
        if _beyond(x, y, low):
            return True
        if _beyond(y, x, low):
            return False
    return False


def _show(v: Vector) -> str:
    return f"{v[0]:g}" if len(v) == 1 and v[0] is not None else json.dumps(list(v))


def judge_instance(rows: list[Mapping[str, str]]) -> list[Finding]:
    """What the runs of one instance (several backends, seeds) say against each other: every
    level of the objective, compared lexicographically."""
    minimise = next((m for r in rows if (m := _senses(r)) is not None), None)
    if minimise is None:
        return []
    plans = [
        (r, v)
        for r in rows
        if r.get("verified") == "True" and (v := _vector(r, "objective")) is not None
    ]
    if not plans:
        return []
    best_row, best = plans[0]
    for r, v in plans[1:]:
        if _lex_beyond(v, best, minimise):
            best_row, best = r, v
    by = f"{_backend(best_row)}'s plan {_show(best)}"
    found = []
    for row in rows:
        name, who = row["instance"], _backend(row)
        bound = _vector(row, "bound")
        if bound is not None and _lex_beyond(best, bound, minimise):
            found.append(Finding(name, who, f"bound {_show(bound)} past {by}"))
        value = _vector(row, "objective")
        claimed = row["status"] == "optimal" and row.get("verified") == "True"
        if claimed and value is not None and _lex_beyond(best, value, minimise):
            found.append(Finding(name, who, f"claims optimal at {_show(value)}, {by}"))
        if row["status"] == "infeasible":
            found.append(Finding(name, who, f"claims infeasible, {by}"))
    return found


def judge(rows: Iterable[Mapping[str, str]]) -> list[Finding]:
    """Every finding of a results table: each run alone, then each instance's runs together."""
    by_instance: dict[str, list[Mapping[str, str]]] = defaultdict(list)
    found = []
    for row in rows:
        by_instance[row["instance"]].append(row)
        found += [Finding(row["instance"], _backend(row), w) for w in judge_row(row)]
    for same in by_instance.values():
        found += judge_instance(same)
    return found


def read_rows(results: Path) -> list[dict[str, str]]:
    with results.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summary(rows: list[dict[str, str]], found: list[Finding], load: str = "") -> str:
    """``audit.md``: what ran, what was claimed, and every finding (``load``: the machine's load
    while it ran, which a run over its limit is read against)."""
    claims = Counter(r["status"] for r in rows)
    known = [r for r in rows if r.get("optimal_known") == "True"]
    at_optimum = sum(
        1
        for r in known
        if (v := _number(r.get("value"))) is not None
        and not _differs(v, _number(r["best_known"]) or 0.0)
    )
    slowest = max((_number(r.get("wall_seconds")) or 0.0 for r in rows), default=0.0)
    lines = [
        "# Audit",
        "",
        f"{len(rows)} runs on {len({r['instance'] for r in rows})} instances; "
        + ", ".join(f"{n} {s}" for s, n in sorted(claims.items()))
        + f"; {at_optimum} of {len(known)} runs with a known optimum reached it; slowest "
        f"{slowest:.2f} s.{' ' + load if load else ''}",
        "",
    ]
    if not found:
        return "\n".join([*lines, "No findings: every claim holds.", ""])
    return "\n".join(
        [
            *lines,
            f"{len(found)} findings:",
            "",
            "| instance | backend | finding |",
            "|---|---|---|",
            *(f.line() for f in found),
            "",
        ]
    )
