"""Backends: one module each, behind the small interface in ``solvers.base``."""

from .base import Backend, Compiled, Options, RawResult
from .registry import available, get, names

__all__ = ["Backend", "Compiled", "Options", "RawResult", "available", "get", "names"]
