"""Large-neighbourhood search over an exact backend (see ``driver``): sub-problems with the rest
of the cluster fixed (``subproblem``), guided neighbourhoods (``neighbourhoods``), and global
bounds from a relaxation at scale (``bound``). ``composite`` holds the registry's light class;
the rest loads on first use."""

from __future__ import annotations

from typing import Any

from .composite import LargeNeighbourhood

__all__ = ["LargeNeighbourhood", "SubProblem", "lns_applies", "restrict"]


def __getattr__(name: str) -> Any:
    if name == "lns_applies":
        from .driver import lns_applies

        return lns_applies
    if name in ("SubProblem", "restrict"):
        from . import subproblem

        return getattr(subproblem, name)
    raise AttributeError(name)
