"""Filling fixed nodes: the most placed value on a cluster whose nodes come in few
kinds (e.g. GPU nodes of a handful of models and sizes), devices included.

- ``classes``: nodes whose room (devices included) is the same, with their devices as slots;
- ``pricing``: the most profitable filling of one node of a class (CP-SAT);
- ``bound``: the aggregate LP: an upper bound on level 1 and per-class quotas;
- ``driver``: when the formulation applies, the profits, quota-guided filling, decoding.
"""

from .driver import FillModel, FillResult, fill_applies, fill_worthwhile

__all__ = ["FillModel", "FillResult", "fill_applies", "fill_worthwhile"]
