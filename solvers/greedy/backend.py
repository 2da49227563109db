"""``greedy``: an imitation of the default kube-scheduler, one pod at a time.

Replicas are taken in priority order (higher first, then problem order). For each replica every
bin goes through the FILTERS in kube-scheduler's plugin order — NodeAffinity (``allowed``),
NodeResourcesFit (with items already placed), traffic (a delay must be known to every partner),
PodTopologySpread (``spread``), InterPodAffinity (``anti_affinity``, ``affinity`` with the
first-pod rule) — and tenant quotas are checked like ResourceQuota admission. As in kube, a
spread or affinity never places a selected item on a bin without the topology key (or, for a
spread with ``bins``, outside those bins), although the IR would allow it there. Surviving bins are
SCORED 0..100 per plugin and the weighted sum picks the bin; ties are broken by a seeded RNG:

- NodeResourcesFit: LeastAllocated by default, MostAllocated when an objective level contains
  ``bins_used`` (consolidation); zero cpu/memory requests score as 100m / 200Mi like kube does.
- NodeResourcesBalancedAllocation (with LeastAllocated only, as kube's bin-packing guide advises).
- item ``cost`` per bin when the objective has ``cost`` (cheaper bins score higher).
- soft constraints: bins where a soft rule would break score lower (weight 2, as kube weighs
  PodTopologySpread and InterPodAffinity scoring).

Gang groups are placed all-or-nothing (rolled back otherwise). Items already placed stay where
they are, except movable ones that break a rule there (capacity, quota, anti-affinity, affinity):
those are scheduled again with the others (``info["evicted"]``). Groups that cannot be placed get kube's ``FitError`` text in
``Unplaced.reasons`` and ``info["unschedulable"]``.

Speed: bins are vectorised with numpy. A group no rule touches is placed with a heap over bins
whose score for its k-th replica is precomputed (only the chosen bin's score changes between
replicas), so 10,000 pods on 1,000 nodes take a fraction of a second.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Hashable, Mapping
from typing import Any, cast

from engine import interrupt
from engine.ir import Problem
from engine.solution import Placement, Solution, Status, Unplaced

from ..base import ALL_FEATURES, Backend, Compiled, Options, RawResult
from ..deadline import slowdown
from .model import RULES, GreedyModel, compile_model
from .scheduler import Scheduler
from .scoring import LEAST_ALLOCATED, MOST_ALLOCATED

FLOOR_S = 0.25  # the scheduling pass always gets this long: tiny limits still get a plan
# Decoding a plan row took about 7 us (20,000 rows of 60,000 pods: 0.15 s): kept back from the
# limit, at most DECODE_SHARE of it
DECODE_S_PER_ROW, DECODE_SHARE = 7e-6, 0.1


class GreedyBackend(Backend):
    """kube-scheduler's default policy (filter, score, bind one pod at a time), vectorised."""

    name = "greedy"
    supports = ALL_FEATURES
    exact = False
    requires = ("numpy",)
    parameters: Mapping[str, str] = {
        "scoring": "auto | LeastAllocated | MostAllocated (auto: MostAllocated when an "
        "objective level has bins_used)",
    }
    parameter_types: Mapping[str, type] = {"scoring": str}
    encoders = RULES

    def compile(self, problem: Problem, options: Options) -> Compiled[GreedyModel, float]:
        started = time.perf_counter()  # the time limit covers compiling too
        scoring = str(options.params.get("scoring", "auto"))
        if scoring not in ("auto", LEAST_ALLOCATED, MOST_ALLOCATED):
            from engine.errors import PlacerError

            raise PlacerError(
                f"greedy: scoring must be auto, {LEAST_ALLOCATED} or {MOST_ALLOCATED}, "
                f"got {scoring!r}"
            )
        return Compiled(problem=problem, model=compile_model(problem, scoring), index=started)

    def run(self, compiled: Compiled[GreedyModel, float], options: Options) -> RawResult:
        model = compiled.model
        scheduler = Scheduler(model, options.seed)
        limit = options.time_limit
        deadline = math.inf
        if limit is not None:  # decoding the plan's rows comes after: keep its time back
            problem = model.problem
            rows = min(sum(g.count for g in problem.items), len(problem.items) * len(model.bins))
            keep = min(DECODE_SHARE * limit, DECODE_S_PER_ROW * rows * slowdown())
            deadline = compiled.index + max(limit - keep, FLOOR_S)
        stopped = None
        for k, unit in enumerate(model.units):
            if interrupt.requested() or time.perf_counter() >= deadline:
                # the plan so far stands; the groups not reached stay unplaced, saying why
                stopped = "interrupted" if interrupt.requested() else "time limit reached"
                for g in (g for later in model.units[k:] for g in later):
                    scheduler.reasons[model.problem.items[g].name] = f"not scheduled: {stopped}"
                break
            scheduler.place_unit(unit)
        values: dict[Hashable, float] = {}
        short = []
        for g, per_bin in enumerate(scheduler.counts):
            group = model.problem.items[g]
            for b, n in per_bin.items():
                if n > 0:
                    values[(group.name, model.bins[b])] = n
            if group.required and sum(per_bin.values()) < group.count:
                short.append(group.name)
        info: dict[str, Any] = {
            "scoring": MOST_ALLOCATED if model.most_allocated else LEAST_ALLOCATED,
            "unschedulable": dict(scheduler.reasons),
        }
        if stopped is not None:
            info["stopped"] = stopped
        if scheduler.evicted:  # movable running items that broke a rule where they ran
            info["evicted"] = scheduler.evicted
        status = Status.FEASIBLE
        if short:
            status = Status.UNKNOWN
            info["required_unplaced"] = short
        devices = scheduler.devices.plan_rows() if scheduler.devices is not None else None
        return RawResult(status=status, values=values, info=info, devices=devices)

    def decode(self, compiled: Compiled[GreedyModel, float], raw: RawResult) -> Solution:
        problem = compiled.problem
        order = {b.name: k for k, b in enumerate(problem.bins)}
        per_item: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for key, n in raw.values.items():
            item, b = cast(tuple[str, str], key)
            per_item[item].append((b, int(n)))
        placements = []
        unplaced = []
        reasons = raw.info.get("unschedulable", {})
        for group in problem.items:  # problem order of items, then bins (as from_counts)
            rows = sorted(per_item.get(group.name, []), key=lambda row: order[row[0]])
            for b, n in rows:
                listed = (raw.devices or {}).get((group.name, b))
                if listed:
                    placements += [
                        Placement(item=group.name, bin=b, count=k, devices=names)
                        for names, k in listed
                    ]
                else:
                    placements.append(Placement(item=group.name, bin=b, count=n))
            left = group.count - sum(n for _, n in rows)
            if left > 0:
                unplaced.append(
                    Unplaced(item=group.name, count=left, reasons=reasons.get(group.name))
                )
        return Solution.model_validate(
            {
                "problem": problem.name,
                "backend": self.name,
                "status": raw.status,
                "placements": placements,
                "unplaced": unplaced,
                "info": raw.info,
            }
        )
