"""CP-SAT solves that a stop request (Ctrl-C; ``engine.interrupt``) ends at once.

``CpSolver.stop_search`` is thread-safe and ends a running search with its best solution, so the
interrupt watcher calls it directly (CP-SAT's own SIGINT handler is turned off). A stop already pending skips the solve: the caller then
sees UNKNOWN, as for a solve that ran out of time before its first solution, and keeps its
incumbent.
"""

from __future__ import annotations

from typing import Any

from engine import interrupt


def solve(solver: Any, model: Any, callback: Any = None) -> Any:
    """``solver.solve(model, callback)``, stopped by a stop request; its CpSolverStatus."""
    from ortools.sat.python import cp_model

    if interrupt.requested():
        return cp_model.UNKNOWN
    # CP-SAT's own SIGINT handler (on by default) would take Ctrl-C from placer's: it ends one
    # search, and the stages after it run on as if nothing had happened.
    solver.parameters.catch_sigint_signal = False
    # A request landing between the check above and the solve's start finds no search to stop;
    # the lexicographic driver and the callers' loops check requested() again after the solve.
    with interrupt.on_stop(solver.stop_search):
        return solver.solve(model, callback)
