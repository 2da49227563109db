"""placer's core: the IR, the verifier, builders, the Kubernetes adapter and the CLI.

Kept light: importing ``engine`` loads no solver library.
"""

from .errors import InputError, PlacerError
from .ir import Problem
from .solution import Solution, Status

__all__ = ["InputError", "PlacerError", "Problem", "Solution", "Status"]
