"""Bin packing algorithms that do not depend on a backend: lower bounds, heuristics, exact
solvers for one-dimensional packing, and vector packing heuristics.

- ``bounds``: Martello–Toth L2; ``heuristics``: FFD, bin completion, MBS';
- ``patterns``: exact packing into a target bin count through its zero-waste patterns (CP-SAT);
- ``knapsack`` and ``colgen``: Gilmore–Gomory column generation (DP pricing, HiGHS master,
  Farley bounds at every step);
- ``improve``: dives with re-optimisation and CP-SAT over the generated patterns;
- ``reduced``: the arc-flow graph reduced by the LP's reduced costs (packings at the bound, or
  the proof that the bound is one higher);
- ``one_dim``: the one-dimensional solver that chains them within a deadline;
- ``vector``: vector packing lower bound and bin-centric heuristics; ``vector_pricing``: beam-search
  pricing for vector column generation.
"""
