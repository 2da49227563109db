"""Optional parts of placer and the packages each needs (``pip install 'placer[EXTRA]'``).

``make run`` installs the runtime alone; a command that needs an extra checks for it first, so a
missing package is one line saying what to install instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

from .errors import PlacerError

# extra -> the modules it provides (import names), as pyproject.toml's optional-dependencies.
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("starlette", "uvicorn", "prometheus_client", "kubernetes"),
    "bench": ("matplotlib",),
    "ray": ("ray",),
    "sim": ("simpy",),
    "smt": ("z3",),
}


class MissingExtra(PlacerError):
    """A feature whose optional packages are not installed."""

    def __init__(self, extra: str, feature: str, missing: list[str]) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs {', '.join(missing)} (not installed): "
            f"pip install 'placer[{self.extra}]' (in a clone: .venv/bin/pip install -e '.[{self.extra}]')"
        )


def extra_for_module(module: str) -> str | None:
    """The extra that provides ``module`` (a dotted import name), or None."""
    top = module.split(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, feature: str) -> None:
    """Raise MissingExtra naming what to install when ``extra`` is not fully installed."""
    if gaps := missing(extra):
        raise MissingExtra(extra, feature, gaps)
