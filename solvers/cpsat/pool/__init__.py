"""Node pools as configurations: column generation for bounds, CP-SAT over the columns for plans.

- ``columns``: pools (classes of interchangeable bins), groups as arrays, the configurations;
- ``master``: the master LP by column generation (HiGHS, CP-SAT pricing), the integer master;
- ``heuristics``: plans from the LP (rounding, diving) and spread rebalancing;
- ``driver``: when the formulation applies, and the whole run with its time budget.
"""

from .driver import PoolModel, PoolResult, pool_applies

__all__ = ["PoolModel", "PoolResult", "pool_applies"]
