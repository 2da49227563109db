"""Benchmark suites: small YAML files naming instances, known optima, backends and limits.

A suite file (``bench/suites/NAME.yaml``)::

    name: binpack
    time_limit: 10          # seconds per run (default for every backend)
    repetitions: 1
    level: -1               # objective level the best-known value and gaps refer to
    backends:
      - cpsat
      - {name: greedy}
      - {name: milp, options: {solver: cbc}, time_limit: 30, threads: 1}
    instances:
      - bpplib: ../shared/data/bpp1d/instances/falkenauer_u/*.txt
        best_known: {csv: ../shared/data/bpp1d/optima.csv, key: instance, value: optimum}
        limit: 20           # optional: first N files (sorted)
      - vbp: ../shared/data/vbp/panigrahy/class1/*.vbp
        best_known: {csv: ../shared/data/vbp/best_known.csv, key: instance, value: [opt, best_known_ub]}
      - ir: instances/*.yaml
      - generate: cluster
        params: {nodes: 100, groups: 20}
        seeds: [1, 2]
      - generate: bench.families:alibaba        # any module:function returning a Problem
        requires: ../shared/data/traces/alibaba_gpu_v2023/*.csv   # skipped when absent
        params: {sample_nodes: 100}
      - planted: perfect        # bench.planted: a generated packing with its optimum known
        params: {bins: [3, 120], capacity: [100, 100000], pieces: [2, 5]}
        seeds: 50               # a list of seeds, or N for seeds 1..N

Relative paths are taken from the repository root. A source whose files are absent is reported
and skipped; the rest of the suite still runs. An unknown kind or key is an error.
"""

from __future__ import annotations

import csv
import glob
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = Path(__file__).resolve().parent / "suites"
SOURCE_KINDS = ("bpplib", "vbp", "ir", "generate", "planted")
# The keys each kind of instance source takes besides its own.
SOURCE_KEYS = {
    "bpplib": {"best_known", "limit", "sample"},
    "vbp": {"best_known", "limit", "sample"},
    "ir": {"best_known", "limit", "sample"},
    "generate": {"params", "seeds", "label", "requires"},
    "planted": {"params", "seeds", "label"},
}


@dataclass(frozen=True)
class BackendSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    time_limit: float | None = None
    threads: int = 1

    @property
    def options_key(self) -> str:
        return json.dumps(self.options, sort_keys=True) if self.options else ""


@dataclass(frozen=True)
class Case:
    """One instance of a suite: how to build its problem, and its best known value."""

    instance: str
    kind: str  # bpplib | vbp | ir | generate | planted
    source: str  # path, or generator name
    params: dict[str, Any] = field(default_factory=dict)
    best_known: float | None = None
    optimal_known: bool = False


@dataclass(frozen=True)
class Run:
    suite: str
    case: Case
    backend: BackendSpec
    time_limit: float
    seed: int
    repetition: int
    level: int

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (
            self.suite,
            self.case.instance,
            self.backend.name,
            self.backend.options_key,
            str(self.seed),
            str(self.repetition),
        )


@dataclass
class Suite:
    name: str
    time_limit: float
    repetitions: int
    level: int
    backends: list[BackendSpec]
    cases: list[Case]
    skipped: list[str]  # human notes about sources that were absent

    def runs(
        self, backends: list[str] | None = None, time_limit: float | None = None, seed: int = 0
    ) -> list[Run]:
        chosen = [b for b in self.backends if backends is None or b.name in backends]
        if backends:
            known = {b.name for b in self.backends}
            chosen += [BackendSpec(name=b) for b in backends if b not in known]
        return [
            Run(
                suite=self.name,
                case=case,
                backend=b,
                time_limit=time_limit or b.time_limit or self.time_limit,
                seed=seed + rep,
                repetition=rep,
                level=self.level,
            )
            for case in self.cases
            for b in chosen
            for rep in range(self.repetitions)
        ]


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InputError(
            f"no such suite; known suites: {', '.join(suite_names())}", source=str(path)
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read a suite: {exc}", source=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("a suite is a mapping", source=str(path))
    return _parse_suite(data, str(path))


def _parse_suite(data: dict[str, Any], source: str) -> Suite:
    unknown = set(data) - {
        "name",
        "description",
        "time_limit",
        "repetitions",
        "level",
        "backends",
        "instances",
    }
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)}", source=source)
    backends = [_parse_backend(b, source, n) for n, b in enumerate(data.get("backends") or [])]
    if not backends:
        raise InputError("a suite needs at least one backend", source=source, path="backends")
    cases: list[Case] = []
    skipped: list[str] = []
    for n, entry in enumerate(data.get("instances") or []):
        found, note = _expand_source(entry, source, n)
        cases.extend(found)
        if note:
            skipped.append(note)
    names = Counter(case.instance for case in cases)
    twice = sorted(name for name, k in names.items() if k > 1)
    if twice:  # results are keyed by instance: a rerun would take one for the other
        raise InputError(f"instance names given twice (label them): {twice[:5]}", source=source)
    return Suite(
        name=str(data.get("name") or Path(source).stem),
        time_limit=float(data.get("time_limit", 10)),
        repetitions=int(data.get("repetitions", 1)),
        level=int(data.get("level", -1)),
        backends=backends,
        cases=cases,
        skipped=skipped,
    )


def _parse_backend(entry: Any, source: str, n: int) -> BackendSpec:
    if isinstance(entry, str):
        return BackendSpec(name=entry)
    if isinstance(entry, dict) and "name" in entry:
        extra = set(entry) - {"name", "options", "time_limit", "threads"}
        if extra:
            raise InputError(
                f"unknown key(s) {sorted(extra)}", source=source, path=f"backends[{n}]"
            )
        return BackendSpec(
            name=str(entry["name"]),
            options=dict(entry.get("options") or {}),
            time_limit=float(entry["time_limit"]) if entry.get("time_limit") else None,
            threads=int(entry.get("threads", 1)),
        )
    raise InputError(
        "a backend is a name or {name, options, time_limit, threads}",
        source=source,
        path=f"backends[{n}]",
    )


def _resolve(pattern: str) -> list[Path]:
    full = pattern if Path(pattern).is_absolute() else str(ROOT / pattern)
    return [Path(p) for p in sorted(glob.glob(full))]


def _read_best_known(spec: dict[str, Any] | None) -> dict[str, tuple[float, bool]]:
    """instance -> (value, proved optimal?) from a CSV; the first non-empty value column wins."""
    if not spec:
        return {}
    files = _resolve(str(spec["csv"]))
    if not files:
        return {}
    columns = spec["value"] if isinstance(spec["value"], list) else [spec["value"]]
    optimal_columns = set(spec.get("optimal", [columns[0]]))
    out: dict[str, tuple[float, bool]] = {}
    with files[0].open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for col in columns:
                raw = (row.get(col) or "").strip()
                if raw and float(raw) >= 0:
                    out[row[spec.get("key", "instance")]] = (float(raw), col in optimal_columns)
                    break
    return out


def _expand_source(entry: Any, source: str, n: int) -> tuple[list[Case], str | None]:
    if not isinstance(entry, dict):
        raise InputError("an instance source is a mapping", source=source, path=f"instances[{n}]")
    kinds = [k for k in SOURCE_KINDS if k in entry]
    if len(kinds) != 1:
        raise InputError(
            f"give exactly one of {', '.join(SOURCE_KINDS)}", source=source, path=f"instances[{n}]"
        )
    kind = kinds[0]
    unknown = set(entry) - {kind} - SOURCE_KEYS[kind]
    if unknown:
        raise InputError(
            f"unknown key(s) {sorted(unknown)} for a {kind} source",
            source=source,
            path=f"instances[{n}]",
        )
    if kind == "planted":
        return _planted_cases(entry, source, n), None
    if kind == "generate":
        needs = entry.get("requires")
        if needs and not _resolve(str(needs)):
            return [], f"generator {entry['generate']!r} needs {needs!r}, which is absent: skipped"
        generator = str(entry["generate"])
        params = dict(entry.get("params") or {})
        label = entry.get("label") or "-".join(f"{k}{v}" for k, v in params.items())
        cases = [
            Case(
                instance=f"{generator}-{label}-s{seed}",
                kind="generate",
                source=generator,
                params={**params, "seed": seed},
            )
            for seed in _seeds(entry)
        ]
        return cases, None
    pattern = str(entry[kind])
    files = _resolve(pattern)
    if not files:
        return [], f"{kind} source {pattern!r} is absent: skipped"
    if "sample" in entry:  # every k-th file keeps classes and sizes represented
        files = files[:: max(1, len(files) // int(entry["sample"]))][: int(entry["sample"])]
    if "limit" in entry:
        files = files[: int(entry["limit"])]
    best = _read_best_known(entry.get("best_known"))
    cases = []
    for f in files:
        value, optimal = best.get(f.stem, (None, False))
        cases.append(
            Case(instance=f.stem, kind=kind, source=str(f), best_known=value, optimal_known=optimal)
        )
    return cases, None


def _seeds(entry: dict[str, Any]) -> list[int]:
    seeds = entry.get("seeds", [0])
    return list(range(1, seeds + 1)) if isinstance(seeds, int) else [int(s) for s in seeds]


def _planted_cases(entry: dict[str, Any], source: str, n: int) -> list[Case]:
    """Generated packings with their planted optimum as the best known value (proved: every bin
    of the planted packing is full). Drawn here, which is quick, to learn the optimum."""
    from bench.planted import draw

    kind = str(entry["planted"])
    params = dict(entry.get("params") or {})
    label = entry.get("label") or (f"{kind}-d{params['d']}" if "d" in params else kind)
    cases = []
    for seed in _seeds(entry):
        try:
            instance = draw(kind, seed, **params)
        except InputError as exc:
            raise InputError(str(exc), source=source, path=f"instances[{n}]") from None
        cases.append(
            Case(
                instance=f"{label}-s{seed}",
                kind="planted",
                source=kind,
                params={**params, "seed": seed},
                best_known=float(instance.optimum),
                optimal_known=True,
            )
        )
    return cases


def build_problem(case: Case) -> Any:
    """The Problem of a case (imported lazily: runs build it inside their own process)."""
    if case.kind == "bpplib":
        from engine.formats import read_bpplib

        return read_bpplib(case.source)
    if case.kind == "vbp":
        from engine.formats import read_vbp

        return read_vbp(case.source)
    if case.kind == "ir":
        from engine.io import load

        return load(case.source)
    if case.kind == "planted":
        from bench.planted import draw

        return draw(case.source, **case.params).problem()
    import importlib

    module, _, func = (
        case.source.rpartition(":") if ":" in case.source else ("engine.generate", "", case.source)
    )
    fn = getattr(importlib.import_module(module), func, None)
    if fn is None:
        raise InputError(f"unknown generator {case.source!r}")
    return fn(**case.params)
