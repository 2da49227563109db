"""The backends placer knows, by name. Adding a backend is one module and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from engine.errors import BackendUnavailable, UnknownBackend

from .base import Backend
from .composites import Composite, QuickStart
from .lns import LargeNeighbourhood


@dataclass(frozen=True)
class Entry:
    backend: str  # "module:Class", imported lazily so `placer --help` loads no solver library
    composites: tuple[type[Composite], ...] = ()  # wrapped around it, innermost first


# Insertion order is preference order.
BACKENDS: dict[str, Entry] = {
    "cpsat": Entry("solvers.cpsat.backend:CpSatBackend", (QuickStart, LargeNeighbourhood)),
    "milp": Entry("solvers.milp.backend:MilpBackend", (QuickStart, LargeNeighbourhood)),
    "qubo": Entry("solvers.qubo.backend:QuboBackend"),
    "greedy": Entry("solvers.greedy.backend:GreedyBackend"),
    "qaoa": Entry("solvers.qaoa.backend:QaoaBackend"),
    "smt": Entry("solvers.smt.backend:SmtBackend"),
}


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise UnknownBackend(name, BACKENDS)
    module, cls = BACKENDS[name].backend.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        from engine.extras import extra_for_module

        extra = extra_for_module(exc.name or "")
        hint = f"pip install 'placer[{extra}]'" if extra else "reinstall placer: make install"
        raise BackendUnavailable(name, f"{exc} ({hint})") from None
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
    """The backend ``name`` with its composites around it (``kwargs`` go to the backend)."""
    cls = backend_class(name)
    if not cls.available():
        raise BackendUnavailable(name, cls.install_hint)
    backend = cls(**kwargs)
    for composite in BACKENDS[name].composites:
        backend = composite(backend)
    return backend
