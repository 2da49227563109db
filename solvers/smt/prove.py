"""``placer verify --prove``: confirm or refute a plan's claim with z3, independently of the
backend that made it.

- ``optimal``: the plan must be valid (the verifier), and no valid plan may be lexicographically
  better than the verifier's objective values: z3 is asked for one; unsat confirms the claim, a
  model refutes it with a counterexample plan (itself checked by the verifier).
- ``infeasible``: z3 is asked for any plan that keeps the hard rules; unsat confirms the claim, a
  model refutes it.

Problems above ``MAX_ITEMS`` items or ``MAX_BINS`` bins are not attempted (said so), nor are
problems with features the smt encoding lacks; a time limit that runs out leaves the claim
undecided.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from engine.ir import Problem
from engine.solution import Solution, Status
from engine.verify import certify, seconds_to_certify, verify

from ..deadline import slowdown
from .backend import SmtBackend
from .model import Encoding

MAX_ITEMS = 200
MAX_BINS = 20

Outcome = Literal["confirmed", "refuted", "invalid", "undecided", "no-claim"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    counterexample: Solution | None = None


def too_large(problem: Problem) -> str | None:
    items = sum(g.count for g in problem.items)
    if items > MAX_ITEMS or len(problem.bins) > MAX_BINS:
        return (
            f"too large to prove: {items} items × {len(problem.bins)} bins (the prover takes "
            f"at most {MAX_ITEMS} items × {MAX_BINS} bins)"
        )
    gaps = SmtBackend().missing(problem)
    if gaps:
        return f"cannot prove: the smt encoding lacks {', '.join(sorted(gaps))}"
    return None


def prove(problem: Problem, plan: Solution, time_limit: float | None = 60.0) -> Verdict:
    import z3

    began = time.perf_counter()  # the limit counts from here: checking the plan, the formulas
    if plan.status not in (Status.OPTIMAL, Status.INFEASIBLE):
        return Verdict("no-claim", f"the plan claims {plan.status}: nothing to prove")
    if plan.status == Status.OPTIMAL:
        report = verify(problem, plan)
        if not report.ok:
            return Verdict(
                "invalid",
                f"refuted: the plan claimed optimal is not valid ({report.violations[0]})",
            )
    if (why := too_large(problem)) is not None:
        return Verdict("undecided", why)
    solver = z3.Solver()
    encoding = Encoding(problem, solver)
    if plan.status == Status.OPTIMAL:
        solver.add(encoding.better_than(list(report.objective)))
    started = time.perf_counter()
    if time_limit is not None:  # z3 gets what is left, less certifying a counterexample
        left = time_limit - (started - began) - seconds_to_certify(problem) * slowdown()
        solver.set(timeout=max(1, int(left * 1000)))  # z3 takes milliseconds, 0 for none
    result = solver.check()
    seconds = time.perf_counter() - started
    if result == z3.unknown:
        return Verdict("undecided", f"undecided: z3 {solver.reason_unknown()} after {seconds:.1f}s")
    claim = "optimal" if plan.status == Status.OPTIMAL else "infeasible"
    if result == z3.unsat:
        proof = (
            "no valid plan is lexicographically better"
            if claim == "optimal"
            else "no plan keeps the hard rules"
        )
        return Verdict("confirmed", f"confirmed {claim}: {proof} (z3, {seconds:.2f}s)")
    counts = encoding.counts(solver.model())
    found = certify(problem, Solution.from_counts(problem, "smt-prover", Status.FEASIBLE, counts))
    if not found.verified:  # the encoding and the verifier disagree: say so, claim nothing
        return Verdict(
            "undecided", f"undecided: z3's counterexample fails the verifier {found.info}"
        )
    better = (
        f"a valid plan with objective {list(found.objective)} beats {list(report.objective)}"
        if claim == "optimal"
        else f"a valid plan exists (objective {list(found.objective)})"
    )
    return Verdict("refuted", f"refuted {claim}: {better}", found)
