"""``qubo``: the quantum-annealing formulation (dimod BQM), sampled by simulated annealing.

- ``backend``: the backend and BQM export / sample decoding;
- ``model``: IR -> BQM with calibrated penalties; ``penalties``: one class per hard constraint;
- ``repair``: reads -> plans, repairing infeasible reads greedily.
"""

from .backend import QuboBackend

__all__ = ["QuboBackend"]
