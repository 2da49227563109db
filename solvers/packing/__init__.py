"""Bin packing algorithms that do not depend on a backend: lower bounds, heuristics, exact
solvers for one-dimensional packing, and vector packing heuristics.

- ``bounds``: Martello–Toth L2; ``heuristics``: FFD, bin completion, MBS';
- ``patterns``: exact packing into a target bin count through its patterns (CP-SAT);
- ``dive``: LP diving on the arc-flow relaxation (HiGHS);
- ``one_dim``: the one-dimensional solver that chains them (bound first, then a packing that meets it);
- ``vector``: vector packing lower bound and bin-centric heuristics.
"""
