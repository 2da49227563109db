"""Large-neighbourhood search over an exact backend (see ``driver``): sub-problems with the rest
of the cluster fixed (``subproblem``), guided neighbourhoods (``neighbourhoods``), and global
bounds from a relaxation at scale (``bound``)."""

from .driver import LargeNeighbourhood, lns_applies
from .subproblem import SubProblem, restrict

__all__ = ["LargeNeighbourhood", "SubProblem", "lns_applies", "restrict"]
