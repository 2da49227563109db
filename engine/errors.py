"""Errors placer reports to people: each names where the problem is and what is wrong."""

from __future__ import annotations

from collections.abc import Iterable


class PlacerError(Exception):
    """Base of every error placer raises on purpose (the CLI turns these into exit code 2)."""


class InputError(PlacerError):
    """Bad input: which file, which path inside it, what was wrong."""

    def __init__(self, reason: str, *, path: str = "", source: str | None = None) -> None:
        self.reason = reason
        self.path = path
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.path) if p]
        return ": ".join([*parts, self.reason])

    def with_source(self, source: str) -> InputError:
        """The same error, now naming the file it came from (kept if already set)."""
        return InputError(self.reason, path=self.path, source=self.source or source)


class UnsupportedProblem(PlacerError):
    """The backend cannot encode some feature of the problem exactly; it refuses up front."""

    def __init__(self, backend: str, features: Iterable[str]) -> None:
        self.backend = backend
        self.features = sorted(features)
        super().__init__(
            f"backend {backend!r} does not support: {', '.join(self.features)} "
            f"(use the cpsat or milp backend, which cover the whole IR)"
        )


class UnknownBackend(PlacerError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown backend {name!r}; known backends: {', '.join(known)}")


class BackendUnavailable(PlacerError):
    def __init__(self, name: str, hint: str) -> None:
        super().__init__(f"backend {name!r} is not available: {hint}")


class UnsupportedExport(PlacerError):
    def __init__(self, backend: str, fmt: str, formats: Iterable[str]) -> None:
        super().__init__(
            f"backend {backend!r} cannot export {fmt!r}; it exports: {', '.join(sorted(formats)) or 'nothing'}"
        )
