"""``smt``: the placement problem as an SMT optimisation problem (z3's Optimize)."""
