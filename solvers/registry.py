"""The backends placer knows, by name. Adding a backend is one module and one line here."""

from __future__ import annotations

import importlib
from typing import Any

from engine.errors import BackendUnavailable, UnknownBackend

from .base import Backend

# name -> "module:Class"; imported lazily so `placer --help` never loads a solver library.
# Insertion order is preference order.
BACKENDS: dict[str, str] = {
    "cpsat": "solvers.cpsat.backend:CpSatBackend",
    "milp": "solvers.milp.backend:MilpBackend",
    "qubo": "solvers.qubo.backend:QuboBackend",
    "greedy": "solvers.greedy.backend:GreedyBackend",
}


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise UnknownBackend(name, BACKENDS)
    module, cls = BACKENDS[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(name, f"{exc} (reinstall placer: make install)") from None
    backend: type[Backend] = getattr(mod, cls)
    return backend


def names() -> list[str]:
    return list(BACKENDS)


def available() -> list[str]:
    out = []
    for name in BACKENDS:
        try:
            if backend_class(name).available():
                out.append(name)
        except BackendUnavailable:
            continue
    return out


def get(name: str, **kwargs: Any) -> Backend:
    cls = backend_class(name)
    if not cls.available():
        raise BackendUnavailable(name, cls.install_hint)
    return cls(**kwargs)
