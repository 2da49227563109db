"""The lowering between the IR and the backends (CVXPY's reductions are the model).

``lower(problem)`` computes once what every exact backend needs — eligible (group, bin) pairs
with their bounds, resource divisors, symmetry classes with the one canonical order, topology
domains, priority tiers and objective levels — and ``Lowered.plan`` maps native values back.
Around it: the backends' evaluation of a plan (``terms``), quick start plans (``starts``), and
the lexicographic level driver (``lexicographic``). Backends only encode, run and decode.
"""

from .levels import Level, Stage, Tier
from .model import BinView, Bounds, Key, Lowered, TrafficRow, lower

__all__ = ["BinView", "Bounds", "Key", "Level", "Lowered", "Stage", "Tier", "TrafficRow", "lower"]
