"""``LargeNeighbourhood``: the composite the registry wraps around cpsat and milp.

Only its parameters live here; the search itself (``driver``, with numpy, the verifier and
HiGHS behind it) is imported when a problem is compiled, so loading the registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.ir import Problem
from engine.solution import Solution

from ..base import Compiled, Options, RawResult
from ..composites import Composite


class LargeNeighbourhood(Composite):
    own_parameters: Mapping[str, str] = {
        "lns": "auto (default) | on | off: large-neighbourhood search on large per-bin problems",
        "lns_bins": "bins in the first neighbourhood (default 24; adapted as it runs)",
        "lns_chains": "on (default) | off: chains of moves before the neighbourhoods, on plain "
        "problems (no rules between items, placed and value levels)",
        "lns_fill": "placed (default) | all: the filling model's start laid out by level 1 alone, "
        "or by [placed, value] as one level (the value a tie-break of the LP and the layout)",
        "lns_price": "a [placed, value] objective searched as price·placed + value, one level "
        "(a pod's price in GPUs: fewer pods for more GPUs); reported, bounded and judged "
        "optimal by the problem's own levels (default: none, the levels in order)",
    }
    own_parameter_types: Mapping[str, type] = {
        "lns": str,
        "lns_bins": int,
        "lns_chains": str,
        "lns_fill": str,
        "lns_price": float,
    }

    def compile(self, problem: Problem, options: Options) -> Compiled[Any, Any]:
        from .driver import compile_search

        return compile_search(self, problem, options)

    def run(self, compiled: Compiled[Any, Any], options: Options) -> RawResult:
        from .driver import run_search

        return run_search(self, compiled, options)

    def decode(self, compiled: Compiled[Any, Any], raw: RawResult) -> Solution:
        from .driver import decode_search

        return decode_search(self, compiled, raw)
