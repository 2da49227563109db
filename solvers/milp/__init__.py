"""``milp``: the full IR as a mixed-integer linear program (PuLP), solved by HiGHS or CBC.

- ``backend``: the backend (warm start, lexicographic levels, honest status and bounds);
- ``model``: the formulation; ``arcflow``: arc-flow for pure one-resource packing;
- ``drivers``: one stage run by HiGHS (in process) or CBC (a subprocess);
- ``export``: LP and MPS files.
"""

from .backend import MilpBackend

__all__ = ["MilpBackend"]
