"""``cpsat``: the OR-Tools CP-SAT backend and its formulations.

- ``backend``: the backend (formulation choice, lexicographic levels, honest bounds);
- ``per_bin``: one integer count per (group, eligible bin), every IR feature;
- ``pool``: node pools as configurations (column generation, CP-SAT over the columns);
- ``arcflow``: arc-flow graphs for pure one-resource packing;
- ``vector_packing``: plain vector bin packing (bound and start for the per-bin model);
- ``common``: objective terms as linear sums and their integer scaling.
"""

from .backend import CpSatBackend

__all__ = ["CpSatBackend"]
