"""``migrate(problem, target)``: the search, its lower bound, the independent check and, when the
search is stuck, what would unblock it (an intermediate node, or the smallest temporary capacity).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from ..ir import Problem
from ..quantity import format_quantity
from ..solution import Solution
from ..verify import verify
from .bound import Bound, evictions_and_binds, lower_bound
from .check import CheckCut, StateJudge, check_plan, start_counts
from .model import LowerBound, MigrationPlan, SequenceStatus, Step, Transfer
from .search import Outcome, Planner

MAX_TEMPORARY_ROUNDS = 8
# The independent check of a finished sequence judges the start whole, then per step only what
# the step touched: kept back from the search, in times the judgement of the start took (the
# inputs' check), one more per this many steps of the lower bound (3,000 nodes / 19,994 pods:
# start 0.2 s, 23 steps 0.9-1.1 s more)
CHECK_STEPS_PER_START = 4.0
# Writing the steps (the command's YAML) comes after too: one more judgement of the start per
# this many moves (3,000 nodes: 9,983 moves written in 1.0-1.6 s, the start judged in 0.2 s)
WRITE_MOVES_PER_START = 1500.0
CHECK_SHARE = 0.5  # ... at most this share of the time left after the inputs' check
# The search's set-up looks at no deadline: begun only with this many times the start's
# judgement left (3,000 nodes: set-up 0.7-2.5 s, judging the start 0.2-0.9 s, load 3-19)
SETUP_STATES = 4.0
MIN_CHECK_SECONDS = 0.1  # the inputs are not checked with less left (reading took the limit)


def evictable(problem: Problem) -> Problem:
    """Kubernetes input: running pods that a controller owns are movable (an evicted pod is
    recreated and rebound); bare pods never move, since nothing would recreate them."""
    if problem.meta.get("family") != "kubernetes":
        return problem
    items = tuple(
        g.model_copy(update={"movable": True})
        if g.placed and g.meta.get("bound") and g.meta.get("owner")
        else g
        for g in problem.items
    )
    return problem.model_copy(update={"items": items})  # its lookups come from the new items


def check_inputs(
    problem: Problem, target: Solution, source: str = "<target>", deadline: float | None = None
) -> float | None:
    """The target must be a valid plan of the problem and the current placement must keep every
    rule (a sequence cannot keep what the start already breaks). Returns the seconds judging
    the current placement took (the step-by-step check's unit of cost); None when the
    ``deadline`` (a ``time.monotonic()`` value) passed before the start was judged."""
    report = verify(problem, target)
    if not report.ok:
        raise InputError(
            f"the target plan is not valid: {report.violations[0]} "
            f"({len(report.violations)} violation(s); placer verify lists them)",
            source=source,
        )
    began = time.monotonic()
    if deadline is not None and began >= deadline:
        return None
    broken = StateJudge(problem, start_counts(problem)).violations()
    judged = time.monotonic() - began
    if broken:
        raise InputError(
            f"the current placement already breaks a rule ({broken[0]}); no sequence can keep "
            "every rule in every step",
            source=source,
        )
    return judged


def _to_steps(problem: Problem, outcome: Outcome) -> tuple[Step, ...]:
    out = []
    for step in outcome.steps:
        evict, bind = [], []
        for (g, b), (down, up) in sorted(step.items()):
            item, bin_ = problem.items[g].name, problem.bins[b].name
            if down:
                evict.append(Transfer(item=item, bin=bin_, count=down))
            if up:
                bind.append(Transfer(item=item, bin=bin_, count=up))
        out.append(Step(evict=tuple(evict), bind=tuple(bind)))
    return tuple(out)


def _shortfall(planner: Planner, outcome: Outcome) -> tuple[str, dict[str, int]] | None:
    """The smallest extra room on one bin that lets a blocked move through."""
    state = planner.state
    best: tuple[float, str, dict[str, int]] | None = None
    for block in outcome.blocked:
        g, b = block.group, block.bin
        need = {
            state.resources[r]: state.load[b][r] + amount - state.cap[b][r]
            for r, amount in enumerate(state.demand[g])
            if amount > 0 and state.load[b][r] + amount > state.cap[b][r]
        }
        if not need:
            continue
        size = sum(v / max(1, state.cap[b][state.resources.index(r)]) for r, v in need.items())
        if best is None or size < best[0]:
            best = (size, state.bins[b], need)
    return None if best is None else (best[1], best[2])


def _temporary_capacity(
    problem: Problem, target: Mapping[tuple[str, str], int], outcome: Outcome, time_limit: float
) -> dict[str, dict[str, int]] | None:
    """Add the smallest shortfall of a blocked move to its bin and search again, until the search
    gets through (the extra room is needed only in intermediate steps)."""
    extra: dict[str, dict[str, int]] = {}
    deadline = time.monotonic() + time_limit
    planner = Planner(problem, target)
    for _ in range(MAX_TEMPORARY_ROUNDS):
        found = _shortfall(planner, outcome)
        if found is None or time.monotonic() >= deadline:
            return None
        b, need = found
        for r, v in need.items():
            extra.setdefault(b, {})[r] = extra.get(b, {}).get(r, 0) + v
        planner = Planner(problem, target, extra_capacity=extra)
        outcome = planner.run(max(0.0, deadline - time.monotonic()))
        if outcome.done:
            return extra
    return None


def _describe(extra: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(
        f"{b} +" + ", ".join(f"{r} {format_quantity(r, v)}" for r, v in sorted(need.items()))
        for b, need in extra.items()
    )


def migrate(
    problem: Problem,
    target: Solution,
    *,
    time_limit: float | None = 10.0,
    park: bool = False,
    source: str = "<target>",
) -> MigrationPlan:
    """A checked sequence of steps from the running items to the target plan (or why none)."""
    began = time.monotonic()
    deadline = None if time_limit is None else began + time_limit
    # checking the inputs looks at no deadline between its two halves (3,000 nodes at a fifth
    # of a core: 1.5-3.5 s, after 8 s of reading them): not begun with nothing left
    judged = None
    if time_limit is None or time_limit > MIN_CHECK_SECONDS:
        judged = check_inputs(problem, target, source, deadline)
    if judged is None:
        why = "time limit reached before the inputs were checked"
        return _none_found(problem, None, began, {"reason": why})
    wanted = target.counts()
    bound = lower_bound(problem, start_counts(problem), wanted)
    lb = LowerBound(steps=bound.steps, proof=bound.proof)
    leave, _ = evictions_and_binds(problem, start_counts(problem), wanted)
    info: dict[str, Any] = {"direct_moves": sum(leave.values())}
    if bound.impossible is not None:
        return MigrationPlan(
            problem=problem.name,
            status=SequenceStatus.INFEASIBLE,
            lower_bound=lb,
            seconds=time.monotonic() - began,
            info={**info, "reason": bound.impossible},
        )
    # the limit counts from the start: checks, the bound and the planner's set-up take time
    # too, and the check of the sequence found comes after the search
    if deadline is not None and deadline - time.monotonic() < SETUP_STATES * judged:
        # the search's set-up (rule tables, the start state) looks at no deadline: not begun
        info["reason"] = (
            f"time limit reached before the search began (checking the inputs took "
            f"{time.monotonic() - began:.1f} s)"
        )
        return _none_found(problem, lb, began, info)
    planner = Planner(problem, wanted, park=park)
    search_s = None
    if deadline is not None:
        left = deadline - time.monotonic()
        check_s = judged * (1.0 + max(1, bound.steps) / CHECK_STEPS_PER_START)
        check_s += judged * info["direct_moves"] / WRITE_MOVES_PER_START
        search_s = left - min(CHECK_SHARE * left, check_s)
    outcome = planner.run(search_s)
    steps = _to_steps(problem, outcome)
    if outcome.done:
        plan = MigrationPlan(
            problem=problem.name,
            status=SequenceStatus.OPTIMAL if len(steps) == bound.steps else SequenceStatus.FEASIBLE,
            lower_bound=lb,
            moves=sum(t.count for s in steps for t in s.evict),
            seconds=time.monotonic() - began,
            steps=steps,
            info={**info, "parked": outcome.parked},
        )
        try:
            violations = check_plan(problem, wanted, plan, deadline=deadline)
        except CheckCut as cut:  # the time ran out: handed out, but never called checked
            note = (
                f"not checked: the time limit ran out after the independent check had judged "
                f"{cut.steps_checked} of {len(steps)} step(s) (placer migrate --check judges it "
                "without a limit)"
            )
            return plan.model_copy(update={"info": {**plan.info, "checked": False, "note": note}})
        if violations:  # the search and the checker disagree: never hand out such a sequence
            return plan.model_copy(
                update={
                    "status": SequenceStatus.UNKNOWN,
                    "steps": (),
                    "info": {**plan.info, "violations": violations[:20], "checked": False},
                }
            )
        return plan.model_copy(update={"info": {**plan.info, "checked": True}})
    info["done_steps"] = len(steps)
    if outcome.timed_out:
        info["reason"] = "time limit reached before the sequence was complete"
    elif outcome.budget_stuck:
        info["reason"] = "disruption budgets allow no further eviction: " + "; ".join(
            outcome.budget_stuck
        )
    else:
        info["reason"] = _stuck_reason(problem, outcome)
        rest = None if deadline is None else max(0.0, deadline - time.monotonic())
        info.update(_unblockers(problem, wanted, outcome, park, rest))
    return _none_found(problem, lb, began, info)


def _none_found(
    problem: Problem, lower_bound: LowerBound | None, began: float, info: dict[str, Any]
) -> MigrationPlan:
    """No sequence: the bound and why (``info["reason"]``)."""
    return MigrationPlan(
        problem=problem.name,
        status=SequenceStatus.UNKNOWN,
        lower_bound=lower_bound,
        seconds=time.monotonic() - began,
        info=info,
    )


def _stuck_reason(problem: Problem, outcome: Outcome) -> str:
    seen = []
    for block in outcome.blocked[:5]:
        src = "" if block.source is None else f"{problem.bins[block.source].name} -> "
        seen.append(
            f"{problem.items[block.group].name} {src}{problem.bins[block.bin].name} ({block.reason})"
        )
    after = f"after {len(outcome.steps)} step(s)" if outcome.steps else "from the current placement"
    return f"no safe step {after}: every remaining move is blocked, e.g. " + "; ".join(seen)


def _unblockers(
    problem: Problem,
    wanted: Mapping[tuple[str, str], int],
    outcome: Outcome,
    park: bool,
    time_limit: float | None,
) -> dict[str, Any]:
    limit = 10.0 if time_limit is None else time_limit
    began = time.monotonic()
    out: dict[str, Any] = {}
    if not park:
        parked = Planner(problem, wanted, park=True).run(limit)
        limit = max(0.0, limit - (time.monotonic() - began))
        if parked.done:
            out["intermediate_nodes"] = (
                f"parking {parked.parked} item(s) on intermediate nodes breaks it "
                f"({len(parked.steps)} steps, +{parked.parked} move(s)): re-run with --park"
            )
    extra = _temporary_capacity(problem, wanted, outcome, limit)
    if extra is not None:
        out["temporary_capacity"] = {
            b: {r: format_quantity(r, v) for r, v in need.items()} for b, need in extra.items()
        }
        out["temporary_capacity_text"] = (
            f"the smallest temporary capacity found that breaks it: {_describe(extra)}"
        )
    return out


__all__ = ["Bound", "check_inputs", "migrate"]
