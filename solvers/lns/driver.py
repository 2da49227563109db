"""``LargeNeighbourhood(child)``: large-neighbourhood search over an exact backend.

On a large problem that the child could only attack with its per-bin model, the search starts
from the best quick plan (``QuickStart``'s), then repeatedly frees a neighbourhood of a few dozen
bins (``neighbourhoods``), builds it as a sub-problem with the rest fixed (``subproblem``), has
the child solve it exactly from the incumbent (a hint), and keeps the merged plan when the
independent verifier passes it and it is lexicographically better (or equal and packs more
resource volume: fewer stranded GPUs). The neighbourhood grows while sub-solves finish proved
and shrinks while they time out. With two or more threads, as many sub-solves run at once on
disjoint neighbourhoods (the native solvers release the GIL), each merged onto the incumbent of
its turn and verified again.

Bounds come from the LP relaxation of the whole problem (``bound``), never from a neighbourhood;
the plan is ``optimal`` only when it meets that bound on every level. Memory follows the
neighbourhood: no model of the whole cluster is ever built.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import interrupt
from engine.ir import AntiAffinity, Problem, minimised_terms
from engine.solution import Progress, Solution, Status
from engine.verify import evaluate, verify_counts

from ..base import Compiled, Options, RawResult, StartPlan
from ..composites import GREEDY_SECONDS, quick_plans
from ..deadline import Since, slowdown
from ..lowering import Key, Lowered, lower
from .bound import Classes, bin_classes, class_shares, level_bounds
from .chains import chains_apply, run_chains
from .neighbourhoods import Chooser, State
from .sizes import sizes
from .subproblem import DevicePlan, Selections, SubProblem, restrict

if TYPE_CHECKING:
    from .composite import LargeNeighbourhood

MODES = ("auto", "on", "off")
CHAINS_MODES = ("on", "off")
FILL_LEVELS = ("placed", "all")  # ``lns_fill``: the levels the filling model's start weighs
MIN_BINS = 200  # auto: below this the child's own model is used
TIE_TOLERANCE = 1e-13  # relative: levels closer than this are equal (below one item at 1e12)
MIN_PAIRS = 20_000  # ... unless the per-bin model would have this many (group, bin) counts
START_SIZE = 24  # bins in the first neighbourhood
MIN_SIZE, MAX_SIZE = 6, 160
SUB_SECONDS = 1.0  # each sub-solve's limit
BOUND_SHARE = 0.2  # of the time limit, for the global LP bound
BOUND_SECONDS = 30.0  # without a time limit
STALL_ROUNDS = 400  # without a time limit: stop after this many rounds without improvement
ORDERED_START_SHARE = 0.25  # a greedy start in fill order only while the time spent is at most
ORDERED_SECONDS_SHARE = 0.4  # ... this share of the time left, and it gets this share
NEW_GROUPS_MIN = 6  # groups with only unplaced items admitted into a neighbourhood, at least
FILL_SHARE = 0.9  # of the time left, for the filling model's plan (where cpsat has one)
# the filling model is not begun when this per bin (idle speed, times ``slowdown()``) is not
# left: measured at 5,000 nodes (load 5, slowdown 2.6) it reached 27,538 pods (0.5 % under the
# LP) in 16.7 s, and 23,468 with 5.4 s (no refill yet: below the fill-order greedy's 26,759,
# which then stands). 0.002 skipped it at load 10 with 43 s left, and the neighbourhoods
# added 14 pods there (3.24 % under the LP): at this floor it is tried whenever it may finish
FILL_SECONDS_PER_BIN = 0.001
FILL_SECONDS = 60.0  # ... without a time limit
# The filling model's compile does not look at a deadline: begun only when, at the pace now,
# it takes at most this share of the time left. Idle (500 nodes): classes and pricing tables
# 0.05 s, CP-SAT's first import 0.7 s (0.25 s of CPU, the rest reading modules); session 10,
# starved beside a test suite, the compile took 25 s of the 35 s left
FILL_COMPILE_SHARE = 0.3
FILL_COMPILE_SECONDS_PER_BIN = 2e-4
CP_SAT_IMPORT_SECONDS = 0.7
LP_PULL = 9.0  # admission weight added to the neighbourhood's focus (or the LP's shortfall)
MIN_PHASE_SECONDS = 0.05  # a phase (start, bound, sub-solve) given less is not begun
# The greedy start is the plan every later phase must beat, and cut short it leaves whole
# groups unplaced (session 10, starved at load 13-15: cut at QuickStart's 5 s with a third of
# the pods, and the run ended there): it gets this share of the limit (idle it takes about 1 s
# at 500 nodes and 4-8 s at 5,000)
START_SHARE = 0.6
START_SECONDS = 60.0  # ... without a time limit
AT_THE_PACE = "(times the pace)"  # how a step skipped for want of time says why
REPACK_SHARE = 0.3  # of a sub-solve's limit, for the quick repacking that may hint it
RESERVE_VERIFICATIONS = 2.0  # kept back at the end: verifying a last plan and decoding it,
RESERVE_SHARE = 0.25  # ... in times one verification of the start took (at most this share)
VERIFY_DECAY = 0.8  # a round keeps back its merged plans' verifications: the latest, decaying
# of the time left, for the chains of moves before the neighbourhoods (at 500 nodes they end
# on their own in 4-11 s) and, of what is left then, for the chains again after them (on the
# neighbourhoods' last plan of a 500-node sample they found 5 pods and 3.5 GPUs in 6 s)
CHAIN_SHARE = 0.25
CHAIN_END_SHARE = 0.15


def lns_applies(
    problem: Problem, lowered: Lowered, child: str, start: StartPlan | None
) -> str | None:
    """Why the LNS would not help here (None when it would)."""
    if child == "cpsat":
        from ..cpsat.arcflow import arcflow_applies
        from ..cpsat.pool import pool_applies

        trusted = start.counts if start is not None and start.trusted else None
        if arcflow_applies(lowered) is None:
            return "the arc-flow model solves this problem whole"
        if pool_applies(lowered, trusted) is None:
            return "the node-pool model solves this problem whole"
    if any("cost" in level for level in problem.objective) and any(g.cost for g in problem.items):
        # measured: on the 3,000-task edge topology the whole per-bin model, with its LP guide,
        # proves the optimum (402,786 ms) in 7-27 s; the LNS reached 419,853 ms in a minute
        return "per-item costs: the whole per-bin model does better here"
    if len(problem.bins) < MIN_BINS and int((lowered.high > 0).sum()) < MIN_PAIRS:
        return f"fewer than {MIN_BINS} bins: the whole model is small"
    return None


@dataclass
class Plan:
    counts: dict[Key, int]
    devices: DevicePlan | None  # the devices of items that request some
    objective: tuple[float, ...]
    key: tuple[float, ...]  # lexicographic, smaller is better


@dataclass
class Search:
    """The LNS state between compile and run."""

    problem: Problem
    lowered: Lowered
    start: StartPlan | None
    started: float
    reason: str | None = None  # why the child solves the whole problem instead
    child: Compiled[Any, Any] | None = None
    child_options: Options | None = None
    info: dict[str, Any] = field(default_factory=dict)
    starts: tuple[StartPlan, ...] = ()  # every start plan found (the search begins at the best)
    cpu_started: float = 0.0  # ``deadline.cpu_seconds()`` at ``started``


def compile_search(
    owner: LargeNeighbourhood, problem: Problem, options: Options
) -> Compiled[Any, Search]:
    """The search's compile step: the child's whole model when the search would not help."""
    from engine.errors import PlacerError

    began = Since.now()  # the pace is measured from here
    started, cpu_started = began.wall, began.cpu
    mode = str(options.params.get("lns", "auto"))
    if mode not in MODES:
        raise PlacerError(f"lns must be one of {', '.join(MODES)}, not {mode!r}")
    chains = str(options.params.get("lns_chains", "on"))
    if chains not in CHAINS_MODES:  # a typo must not turn them on silently
        raise PlacerError(f"lns_chains must be one of {', '.join(CHAINS_MODES)}, not {chains!r}")
    fill = str(options.params.get("lns_fill", FILL_LEVELS[0]))
    if fill not in FILL_LEVELS:
        raise PlacerError(f"lns_fill must be one of {', '.join(FILL_LEVELS)}, not {fill!r}")
    price = options.params.get("lns_price")
    if price is not None and not (math.isfinite(float(price)) and float(price) > 0):
        raise PlacerError(f"lns_price must be a positive number, not {price!r}")
    child_options = owner.child_options(options)
    if mode == "off" or not problem.bins or not problem.items:
        child = owner.child.compile(problem, child_options)
        return Compiled(
            problem,
            None,
            Search(problem, lower(problem), None, started, "off", child, child_options),
        )
    limit = options.time_limit
    greedy_seconds = START_SECONDS if limit is None else max(GREEDY_SECONDS, START_SHARE * limit)
    starts = options.starts or quick_plans(problem, child_options, greedy_seconds)
    lowered = lower(problem)
    start = next((s for s in starts if s.trusted), None)
    reason = None if mode == "on" else lns_applies(problem, lowered, owner.child.name, start)
    if options.params.get("formulation") == "fill":
        reason = "the filling model was asked for: it solves the problem whole"
    if reason is None and start is None:
        reason = "no start plan that keeps every rule"
    if reason is not None:
        used = time.perf_counter() - started
        child_options = replace(
            child_options,
            starts=starts,
            time_limit=None if limit is None else max(0.0, limit - used),
        )
        child = owner.child.compile(problem, child_options)
        search = Search(problem, lowered, start, started, reason, child, child_options)
        return Compiled(problem, None, search)
    search = Search(problem, lowered, start, started, starts=starts, cpu_started=cpu_started)
    return Compiled(problem, None, search)


def run_search(
    owner: LargeNeighbourhood, compiled: Compiled[Any, Search], options: Options
) -> RawResult:
    search = compiled.index
    if search.child is not None:
        assert search.child_options is not None
        raw = owner.child.run(search.child, search.child_options)
        if search.reason not in (None, "off"):
            raw.info.setdefault("lns", {"used": False, "reason": search.reason})
        return raw
    return _Run(owner, search, options).run()


def decode_search(
    owner: LargeNeighbourhood, compiled: Compiled[Any, Search], raw: RawResult
) -> Solution:
    search = compiled.index
    if search.child is not None:
        return owner.child.decode(search.child, raw)
    counts = {k: int(v) for k, v in raw.values.items() if isinstance(k, tuple)}
    return owner.plan(compiled.problem, raw, counts)


# ---------------------------------------------------------------------- the search


def _values(counts: Mapping[Key, int]) -> dict[Any, float]:
    return {k: float(n) for k, n in counts.items()}


def _key(problem: Problem, objective: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(
        v if minimised_terms(level) else -v
        for level, v in zip(problem.objective, objective, strict=True)
    )


def _better(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Is key ``a`` lexicographically better than ``b`` (beyond rounding)?"""
    for x, y in zip(a, b, strict=True):
        # placed levels weigh priority tiers up to ~1e12 (integer sums, exact in a double):
        # a relative tolerance of 1e-9 there hid hundreds of low-priority items
        if math.isclose(x, y, rel_tol=TIE_TOLERANCE, abs_tol=1e-9):
            continue
        return x < y
    return False


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return not _better(a, b) and not _better(b, a)


class _Run:
    def __init__(self, owner: LargeNeighbourhood, search: Search, options: Options) -> None:
        self.owner, self.search, self.options = owner, search, options
        self.problem, self.lowered = search.problem, search.lowered
        limit = options.time_limit
        self.deadline = math.inf if limit is None else search.started + limit
        self.rng = np.random.default_rng(options.seed)
        self.chooser = Chooser(self.lowered, self.rng)
        self.size = int(options.params.get("lns_bins", START_SIZE))
        self.sub_seconds = SUB_SECONDS
        self.parallel = max(1, int(options.threads or 1))
        self.info: dict[str, Any] = {
            "used": True,
            "rounds": 0,
            "accepted": 0,
            "proved": 0,
            "rejected_by_verifier": 0,
            "trace": [],
        }
        measured = sizes(self.lowered)
        self.volume = measured.volume  # per item: its scarcity-weighted share of the cluster
        self.dominant = measured.dominant
        self.eligible = (self.lowered.high > 0).sum(axis=1)  # per group: bins it may use
        self.fill_bound: float | None = None  # the filling model's bound on level 1
        self.lp_x: np.ndarray | None = None  # per group: items the LP relaxation places
        self.state: State | None = None  # the incumbent's, while neighbourhoods are drawn
        self.selections = Selections(self.problem)  # the groups each rule selects
        self.bound_now: tuple[float | None, ...] = (None,) * len(self.problem.objective)
        self.verifying = 0.0  # seconds one verification of a whole plan takes (recent, at most)
        # why the chains of moves do not run (None: they do)
        self.chains_skip = (
            "lns_chains=off"
            if str(options.params.get("lns_chains", "on")) == "off"
            else chains_apply(self.lowered)
        )
        self.fill_levels = str(options.params.get("lns_fill", FILL_LEVELS[0]))
        self.price = self.trade_price(options.params.get("lns_price"))
        self.bounds_held = -math.inf  # the most level 1 any later level's bound was held at
        self.tie_break = any("placed" in lv for lv in self.problem.objective) and not any(
            "cost" in lv for lv in self.problem.objective
        )

    def keep_back(self, verification: float) -> None:
        """Move the search's own deadline earlier by what verifying and decoding a last plan
        will take (measured on the start): the answer comes within the limit."""
        if not math.isfinite(self.deadline):
            return
        limit = self.options.time_limit or 0.0
        reserve = min(RESERVE_SHARE * limit, RESERVE_VERIFICATIONS * verification)
        self.deadline -= reserve
        self.info["reserve_s"] = round(reserve, 3)

    def phase(self, name: str) -> None:
        """When a phase of the run ended (seconds from the start of compile): ``info.lns.phases``
        shows where the minute went."""
        seconds = time.perf_counter() - self.search.started
        self.info.setdefault("phases", {})[name] = round(seconds, 3)

    def left(self) -> float:
        """Seconds left; none once a stop was requested (Ctrl-C): every phase then ends and
        the incumbent answers."""
        if interrupt.requested():
            return 0.0
        return self.deadline - time.perf_counter()

    def pace(self) -> float:
        """How many times longer work takes now than on an idle machine (``slowdown``),
        measured from the compile's start (the phases before the neighbourhoods run on one
        thread): a process starved by others at a higher priority, throttled or stopped runs
        slow at any load average."""
        return slowdown(Since(self.search.started, self.search.cpu_started))

    def fits(self, idle_seconds: float, share: float = 1.0) -> bool:
        """Would a step that cannot look at the deadline while it runs (a model build, a
        native library's first import), of ``idle_seconds`` on an idle machine, end within
        ``share`` of the time left at the current pace?"""
        return idle_seconds * self.pace() <= share * self.left()

    # ------------------------------------------------------------------ plans

    def best_start(self) -> tuple[Plan, str] | None:
        """The best of the trusted start plans that verify, and its source (None: none does)."""
        search = self.search
        starts = [s for s in search.starts if s.trusted]
        if not starts and search.start is not None:
            starts = [search.start]
        best: tuple[Plan, str] | None = None
        for start in starts:
            if best is not None and self.left() < MIN_PHASE_SECONDS:
                break
            devices = start.devices
            plan = self.evaluate(
                dict(start.counts),
                None if devices is None else {k: list(r) for k, r in devices.items()},
            )
            if plan is not None and (best is None or _better(plan.key, best[0].key)):
                best = (plan, start.source)
        return best

    def evaluate(self, counts: dict[Key, int], devices: DevicePlan | None) -> Plan | None:
        """Verify the whole plan (the independent verifier); None when it breaks a rule."""
        began = time.perf_counter()
        report = verify_counts(self.problem, counts, devices)
        self.verifying = max(self.verifying * VERIFY_DECAY, time.perf_counter() - began)
        if not report.ok:
            return None
        return Plan(counts, devices, report.objective, self.key(report.objective))

    def trade_price(self, price: Any) -> float | None:
        """``lns_price``: the value one unit of level 1 is worth in the search (None: the
        levels in order). Only a ``[placed, value]`` objective is searched as one level."""
        if price is None:
            return None
        levels = self.problem.objective
        if len(levels) != 2 or set(levels[0]) != {"placed"} or set(levels[1]) != {"value"}:
            self.info["price"] = {"ignored": "the objective is not [placed, value]"}
            return None
        self.info["price"] = float(price)
        return float(price)

    def key(self, objective: tuple[float, ...]) -> tuple[float, ...]:
        """What the search ranks plans by: the problem's levels in order, or with ``lns_price``
        price·placed + value as one level (the levels' reported values, weights included)."""
        if self.price is None:
            return _key(self.problem, objective)
        first, second = objective
        return (-(self.price * first + second),)

    def search_levels(self) -> tuple[dict[str, float], ...] | None:
        """The one level the search ranks by under ``lns_price`` (None: the problem's)."""
        if self.price is None:
            return None
        first, second = self.problem.objective
        return ({"placed": self.price * first["placed"], "value": second["value"]},)

    def packed(self, counts: Mapping[Key, int]) -> float:
        gi = self.lowered.group_index
        return float(sum(n * self.volume[gi[g]] for (g, _), n in counts.items()))

    def report(self, plan: Plan) -> None:
        seconds = time.perf_counter() - self.search.started
        self.info["trace"].append([round(seconds, 3), list(plan.objective)])
        if self.options.on_progress is not None:
            self.options.on_progress(Progress(seconds, plan.objective, self.bound_now))

    # ------------------------------------------------------------------ sub-solves

    def sub_options(self, sub: SubProblem, incumbent: Plan, seconds: float, seed: int) -> Options:
        hint = Solution.from_counts(
            sub.problem,
            self.owner.name,
            Status.FEASIBLE,
            sub.hint(incumbent.counts),
            devices=sub.hint_devices(incumbent.devices),
        )
        params = {
            k: v for k, v in self.options.params.items() if k not in self.owner.own_parameters
        }
        return Options(time_limit=seconds, seed=seed, threads=1, hint=hint, params=params)

    def tie_broken(self, sub: SubProblem) -> SubProblem:
        """A last level for the sub-problem: pack as much resource volume as ties allow (and
        ``placed`` then ``value`` as one level, ``one_level``)."""
        sub = self.one_level(sub)
        if not self.tie_break:
            return sub
        gi = self.lowered.group_index
        items = tuple(
            g.model_copy(
                update={
                    "cost": {b: -round(float(self.volume[gi[g.name]]), 9) for b in g.allowed or ()}
                }
            )
            if g.name in gi and g.name not in sub.ghosts
            else g
            for g in sub.problem.items
        )
        problem = sub.problem.model_copy(
            update={"items": items, "objective": (*sub.problem.objective, {"cost": 1.0})}
        )
        return replace(sub, problem=problem)

    def one_level(self, sub: SubProblem) -> SubProblem:
        """``[placed, value, ...]`` as ``[{placed: M, value}, ...]`` for the sub-solve, M above
        all the value the neighbourhood holds (so the order of the levels stays): the exact
        backend solves levels in stages, each held before the next, and on a neighbourhood it
        seldom proves the ``placed`` stage within the sub-solve's second — the ``value``
        stage got what was left. Whatever the sub-solve returns is judged by the whole
        problem's own levels (``accept``)."""
        levels = sub.problem.objective
        if len(levels) < 2 or set(levels[0]) != {"placed"} or set(levels[1]) != {"value"}:
            return sub
        first, second = levels[0]["placed"], levels[1]["value"]
        if first <= 0 or second <= 0:
            return sub
        most = sum(g.count * g.value for g in sub.problem.items) * second
        # with ``lns_price`` the search's own weight (the neighbourhood is judged by it)
        weight = first * (self.price or math.ceil(1.0 + most / first))
        merged = ({"placed": weight, "value": second}, *levels[2:])
        return replace(sub, problem=sub.problem.model_copy(update={"objective": merged}))

    def admit(self, waiting: list[int]) -> set[int]:
        """Which groups with only unplaced items come into a neighbourhood: a few, drawn by
        priority weight per room taken — smaller items are likelier, since the same room holds
        more of them (what is left out waits for another neighbourhood)."""
        most = max(NEW_GROUPS_MIN, self.size // 2)
        if len(waiting) <= most:
            return set(waiting)
        lw = self.lowered
        size = self.dominant[waiting]
        typical = float(size.mean()) or 1.0
        weight = np.array(
            [lw.placed_weight[lw.problem.items[g].name] for g in waiting], np.float64
        ) / (size + typical)
        worth = self.chooser.value[waiting]
        if worth.any():  # a value level: what a group adds there counts as much as its size
            weight = weight * (1.0 + worth / float(worth.mean()))
        focus = self.chooser.focus
        if focus:  # the groups the neighbourhood was drawn for come in first
            weight = weight * (1.0 + LP_PULL * np.isin(waiting, list(focus)))
        elif self.lp_x is not None and self.state is not None:
            # groups the LP places more of than the incumbent does come in first
            placed = self.state.x[waiting].sum(axis=1)
            weight = weight * (1.0 + LP_PULL * (self.lp_x[waiting] > placed + 0.5))
        chosen = self.rng.choice(len(waiting), size=most, replace=False, p=weight / weight.sum())
        return {waiting[int(i)] for i in chosen}

    def solve_sub(self, sub: SubProblem, options: Options) -> Solution:
        """The child's exact solve of the sub-problem, hinted with the better of the incumbent
        and a quick repacking of the neighbourhood (smallest items first). The repacking and
        the child share the sub-solve's limit: a round never outlasts it."""
        ends = time.perf_counter() + (options.time_limit or math.inf)
        repacked = self.repack(sub, options)
        if repacked is not None and options.hint is not None:
            mine = _key(sub.problem, evaluate(sub.problem, repacked.counts()))
            theirs = _key(sub.problem, evaluate(sub.problem, options.hint.counts()))
            if _better(mine, theirs):
                options = replace(options, hint=repacked)
                self.info["repacked"] = self.info.get("repacked", 0) + 1
        left = ends - time.perf_counter()
        if left < MIN_PHASE_SECONDS or interrupt.requested():  # the hint is the answer
            assert options.hint is not None  # counted as cut short, not as finished
            return options.hint.model_copy(update={"seconds": options.time_limit or 0.0})
        limit = None if not math.isfinite(left) else left
        return self.owner.child.solve(sub.problem, replace(options, time_limit=limit))

    def fill_order(self, problem: Problem, lp_first: bool = False) -> Problem:
        """``problem`` with its groups in the order that fits the most items when placed one by
        one: higher priority first, then (``lp_first``) the groups the LP relaxation places
        whole, then those it places in part, then the groups with the fewest bins to go to (so
        that flexible items do not take the scarce bins' room), then smallest dominant share
        (the same room holds more of them). Ghosts (unknown to the whole problem) come first."""
        gi = self.lowered.group_index
        items = problem.items

        def order(n: int) -> tuple[float, ...]:
            g = items[n]
            return self.rank(gi[g.name], lp_first) if g.name in gi else (-math.inf,)

        ordered = tuple(items[n] for n in sorted(range(len(items)), key=order))
        return problem.model_copy(update={"items": ordered})

    def rank(self, k: int, lp_first: bool = False) -> tuple[float, ...]:
        """Group k's place in ``fill_order``."""
        g = self.problem.items[k]
        placed = () if not lp_first or self.lp_x is None else (self._lp_bucket(k),)
        return (
            -g.priority,
            -self.domains_needed.get(g.name, 0.0),
            *placed,
            float(self.eligible[k]),
            float(self.dominant[k]),
        )

    @cached_property
    def domains_needed(self) -> dict[str, float]:
        """Per group under hard anti-affinity: the domains its items need at least (count /
        max per domain). Such groups go first among their priority in ``fill_order``: placed
        last, on a nearly full cluster, they find too few domains with room (a greedy start
        left 328 one-per-node pods out of 50,000 on 5,000 nodes; placed first, 72)."""
        need: dict[str, float] = {}
        by_name = self.problem.item_by_name
        for c in self.problem.constraints:
            if not isinstance(c, AntiAffinity) or c.soft or c.target is not None:
                continue
            for name in self.selections(c.selector):
                count = by_name[name].count / max(1, c.max_per_domain)
                need[name] = max(need.get(name, 0.0), count)
        return need

    def _lp_bucket(self, k: int) -> float:
        assert self.lp_x is not None
        count = self.problem.items[k].count
        return 0.0 if self.lp_x[k] > count - 1e-3 else 1.0 if self.lp_x[k] > 1e-3 else 2.0

    def repack(self, sub: SubProblem, options: Options) -> Solution | None:
        """The greedy backend on the neighbourhood with its items in ``fill_order`` (items
        that stay and ghosts are placed first whatever the order)."""
        from ..greedy.backend import GreedyBackend

        seconds = min(1.0, REPACK_SHARE * (options.time_limit or 1.0))
        plan = GreedyBackend().solve(
            self.fill_order(sub.problem), Options(seed=options.seed, time_limit=seconds)
        )
        if not plan.status.has_plan:
            return None
        return Solution.from_counts(
            sub.problem,
            self.owner.name,
            Status.FEASIBLE,
            plan.counts(),
            devices=plan.device_rows() or None,
        )

    def ordered_start(self, incumbent: Plan) -> Plan:
        """The best of the start plan and greedy over the whole problem in ``fill_order``, with
        the LP's groups first and without (each while the time spent is a small share of the
        limit: it costs about what the start did, and a cut-short greedy plan is a poor one)."""
        from ..greedy.backend import GreedyBackend

        if not any("placed" in level for level in self.problem.objective[:1]):
            return incumbent
        for lp_first in (True, False) if self.lp_x is not None else (False,):
            if not lp_first and self.lp_x is not None and self.fill_skipped() is None:
                # the filling model comes next and does far better; the LP-first plan is its
                # fallback (at 5,000 nodes this greedy costs 4-8 s of the minute)
                break
            spent = time.perf_counter() - self.search.started
            if math.isfinite(self.left()) and spent > ORDERED_START_SHARE * self.left():
                break
            seconds = max(0.1, min(30.0, ORDERED_SECONDS_SHARE * self.left()))
            plan = GreedyBackend().solve(
                self.fill_order(self.problem, lp_first),
                Options(seed=self.options.seed, time_limit=seconds),
            )
            if not plan.status.has_plan:
                continue
            candidate = self.evaluate(plan.counts(), plan.device_rows() or None)
            if candidate is None:
                continue
            name = "lp_ordered" if lp_first else "ordered"
            self.info["start"][name] = list(candidate.objective)
            if _better(candidate.key, incumbent.key):
                incumbent = candidate
                self.info["start"]["source"] = name
        return incumbent

    def fill_skipped(self) -> str | None:
        """Why cpsat's filling model will not start the search (None: it will, now)."""
        if self.owner.child.name != "cpsat":
            return "not cpsat"
        from ..cpsat.fill import fill_applies, fill_worthwhile

        reason = fill_applies(self.lowered) or fill_worthwhile(self.lowered)
        if reason is not None:
            return reason
        left = self.left()
        if left < MIN_PHASE_SECONDS:  # out of time, or stopped
            return "no time left"
        if not self.fits(FILL_SECONDS_PER_BIN * len(self.problem.bins), FILL_SHARE):
            # cut short before its refill, its plan is below the fill-order greedy's: the
            # minute goes to the neighbourhoods instead
            return f"under {FILL_SECONDS_PER_BIN} s a bin left {AT_THE_PACE}"
        if not self.fits(self.fill_compile_seconds(), FILL_COMPILE_SHARE):
            # its compile (CP-SAT's first import, the node classes) looks at no deadline
            return f"its compile would not fit the time left {AT_THE_PACE}"
        return None

    def fill_compile_seconds(self) -> float:
        """The filling model's compile on an idle machine: its classes and pricing tables,
        and CP-SAT's Python module when not loaded yet (it loads pandas)."""
        import sys

        loaded = "ortools.sat.python.cp_model" in sys.modules
        return FILL_COMPILE_SECONDS_PER_BIN * len(self.problem.bins) + (
            0.0 if loaded else CP_SAT_IMPORT_SECONDS
        )

    def fill_problem(self) -> tuple[Problem, float | None]:
        """The problem the filling model starts from, and the price of one unit of level 1 in
        it (None: the problem itself). With ``lns_fill=all`` a ``[placed, value]`` objective
        becomes one level, ``price·placed + value`` with the price above all the value there
        is, so its order stays: the filling model then lays out by level 1 alone no longer
        (session 9, gpuspec33 500 nodes: more multi-GPU pods, fewer shares — 3 to 10 GPUs more
        and 5 to 9 pods fewer at 60 s). With ``lns_price`` the price is that one (whatever
        ``lns_fill`` says): the start is laid out by the search's own level. Its bound over
        the price bounds level 1, since no value is negative; level 1 must be integral for
        the floor."""
        levels = self.problem.objective
        if (
            (self.fill_levels != "all" and self.price is None)
            or len(levels) != 2
            or set(levels[0]) != {"placed"}
            or set(levels[1]) != {"value"}
        ):
            return self.problem, None
        first, second = levels[0]["placed"], levels[1]["value"]
        weight = self.lowered.placed_weight
        if any(not float(first * weight[g.name]).is_integer() for g in self.problem.items):
            return self.problem, None
        most = second * sum(g.count * g.value for g in self.problem.items)
        price = self.price or float(math.ceil(1.0 + most))
        items = tuple(
            g.model_copy(update={"value": price * first * weight[g.name] + second * g.value})
            for g in self.problem.items
        )
        merged = self.problem.model_copy(update={"items": items, "objective": ({"value": 1.0},)})
        return merged, price

    def fill_start(self, incumbent: Plan) -> Plan:
        """The better of the incumbent and cpsat's filling model (column generation over node
        fillings, devices included) where it applies: on many alike GPU nodes it gets close to
        the bound in seconds, and its relaxation's bound is kept (it bounds the whole problem)."""
        skipped = self.fill_skipped()
        if skipped is not None:
            if skipped.endswith(AT_THE_PACE):  # for want of time (else it does not apply)
                self.info["start"]["fill"] = {"skipped": skipped}
            return incumbent
        left = self.left()
        seconds = FILL_SECONDS if not math.isfinite(left) else FILL_SHARE * left
        options = replace(
            self.owner.child_options(self.options),
            time_limit=seconds,
            starts=(StartPlan(incumbent.counts, "lns", incumbent.devices),),
            params={
                **{
                    k: v
                    for k, v in self.options.params.items()
                    if k not in self.owner.own_parameters
                },
                "formulation": "fill",
            },
        )
        began = time.perf_counter()
        problem, price = self.fill_problem()
        solution = self.owner.child.solve(problem, options)
        record: dict[str, Any] = {"seconds": round(time.perf_counter() - began, 3)}
        if "timing" in solution.info:  # the child's compile, filling and decode
            record["timing"] = solution.info["timing"]
        if price is not None:
            record["levels"] = "all" if self.price is None else f"price {self.price:g}"
        self.info["start"]["fill"] = record
        if solution.bound and solution.bound[0] is not None:
            # the one level's bound over its price per level-1 unit bounds level 1 (values >= 0)
            bound = float(solution.bound[0])
            self.fill_bound = bound if price is None else math.floor(bound / price + 1e-6)
            record["bound"] = self.fill_bound
            self.tighten(self.fill_bound)
        if not solution.status.has_plan:
            return incumbent
        candidate = self.evaluate(solution.counts(), solution.device_rows() or None)
        if candidate is None:
            return incumbent
        record["objective"] = list(candidate.objective)
        if _better(candidate.key, incumbent.key):
            self.info["start"]["source"] = "fill"
            self.report(candidate)
            return candidate
        return incumbent

    def chain(self, incumbent: Plan, seconds: float) -> Plan:
        """The incumbent after the chains of moves (``chains``: inserts, swaps and the
        relocations that make their room) where they apply and the plan they give verifies
        better; ``info.lns.chains`` has their moves and seconds."""
        if self.chains_skip is not None or seconds < MIN_PHASE_SECONDS:
            return incumbent
        record = self.info.setdefault(
            "chains", {"runs": 0, "improved": 0, "seconds": 0.0, "moves": {}}
        )
        began = time.perf_counter()
        found = run_chains(
            self.lowered, incumbent.counts, incumbent.devices, seconds, self.search_levels()
        )
        record["runs"] += 1
        better = None
        if found is not None:
            counts, devices, moves = found
            for kind, n in moves.items():
                record["moves"][kind] = record["moves"].get(kind, 0) + n
            plan = self.evaluate(counts, devices)
            if plan is None:
                self.info["rejected_by_verifier"] += 1
            elif _better(plan.key, incumbent.key):
                better = plan
        record["seconds"] = round(record["seconds"] + time.perf_counter() - began, 3)
        if better is None:
            return incumbent
        record["improved"] += 1
        self.report(better)
        return better

    def tighten(self, level1: float) -> None:
        """The filling model's bound on level 1 where it is below the LP's (both bound the
        whole problem; the LP's later levels stay: they hold level 1 at the plan's value)."""
        current = self.bound_now[0] if self.bound_now else None
        if current is not None and current <= level1:
            return
        self.bound_now = (level1, *self.bound_now[1:])
        self.info["bound"]["level1_from"] = "fill"

    def guide(self, classes: Classes, seconds: float) -> None:
        """The LP relaxation's items per class of bins, for the start's order, admissions and
        the ``lp`` neighbourhoods (only when ``placed`` leads: the LP maximises it)."""
        if not self.problem.objective or set(self.problem.objective[0]) != {"placed"}:
            return
        if self.left() < MIN_PHASE_SECONDS:
            return
        x = class_shares(self.lowered, classes, self.volume, seconds, self.price)
        if x is not None:
            self.chooser.guide(classes, x)
            self.lp_x = x.sum(axis=1)

    # ------------------------------------------------------------------ the loop

    def run(self) -> RawResult:
        search, problem = self.search, self.problem
        assert search.start is not None
        verifying = time.perf_counter()
        best = self.best_start()
        if best is None:
            # a start that breaks a rule (e.g. pods already running): the child takes it all
            return self._whole()
        incumbent, source = best
        self.info["start"] = {"source": source, "objective": list(incumbent.objective)}
        self.info["first_plan_s"] = round(time.perf_counter() - search.started, 4)
        if self._all_placed(incumbent):  # no plan can do better: no LP, no neighbourhood
            self.info["stopped"] = "the start places every item and only placed is scored"
            return RawResult(
                status=Status.OPTIMAL,
                values=_values(incumbent.counts),
                objective=incumbent.objective,
                bound=incumbent.objective,
                info={"lns": self.info, "first_plan_s": self.info["first_plan_s"]},
                devices=incumbent.devices,
            )
        self.keep_back(time.perf_counter() - verifying)
        limit = self.options.time_limit
        budget = BOUND_SECONDS if limit is None else max(0.2, BOUND_SHARE * self.left())
        classes = bin_classes(self.lowered)
        self.guide(classes, min(budget, self.left()))
        self.phase("guide")
        incumbent = self.ordered_start(incumbent)  # cheap, and the filling's fallback
        self.phase("ordered")
        # the LP bound before the filling model, which may take the rest of the time
        bounds, bound_info = self.level_bounds(incumbent, min(budget, self.left()), classes)
        self.bound_now = bounds
        self.info["bound"] = bound_info
        self.report(incumbent)
        self.phase("bound")
        held = incumbent.objective
        incumbent = self.fill_start(incumbent)
        self.phase("fill")
        if len(held) > 1 and not _same(incumbent.key, self.key(held)):
            # later levels' bounds hold level 1 at the plan's value: at the filling model's
            # plan (usually the final level 1) they are tighter than at the start's
            again, _ = self.level_bounds(incumbent, min(budget, max(0.0, self.left() - 0.2)))
            self.bound_now = tuple(
                b if b is not None else a for a, b in zip(self.bound_now, again, strict=True)
            )
            self.phase("bound_again")
        incumbent = self.chain(incumbent, CHAIN_SHARE * self.left())
        self.phase("chains")
        # the chains again on the neighbourhoods' plan: their moves open new chains (then the
        # neighbourhoods again, with what the chains left of their share)
        kept = CHAIN_END_SHARE * self.left() if self.chains_skip is None else 0.0
        kept = kept if math.isfinite(kept) else 0.0
        self.deadline -= kept
        incumbent = self.search_loop(incumbent)
        self.deadline += kept
        self.phase("search")
        if kept:
            incumbent = self.chain(incumbent, self.left() - self.verifying)
            self.phase("chains_end")
            incumbent = self.search_loop(incumbent)
            self.phase("search_end")
        bounds, _ = self._bounds(incumbent)
        bounds = self.held_bounds(incumbent, bounds)
        met = all(
            b is not None and (v <= b + 1e-6 if minimised_terms(lv) else v >= b - 1e-6)
            for lv, v, b in zip(problem.objective, incumbent.objective, bounds, strict=True)
        )
        self.info["trace"] = self.info["trace"][-200:]
        return RawResult(
            status=Status.OPTIMAL if met else Status.FEASIBLE,
            values=_values(incumbent.counts),
            objective=incumbent.objective,
            bound=bounds,
            info={"lns": self.info, "first_plan_s": self.info["first_plan_s"]},
            devices=incumbent.devices,
        )

    def level_bounds(
        self, plan: Plan, seconds: float, classes: Classes | None = None
    ) -> tuple[tuple[float | None, ...], dict[str, Any]]:
        """The LP's bounds, with the filling model's on level 1 when it is tighter (both bound
        the whole problem; the LP's later levels hold level 1 at the plan's value, so they
        stay valid)."""
        fill = self.fill_bound
        self.bounds_held = max(self.bounds_held, plan.objective[0] if plan.objective else 0.0)
        lp, info = level_bounds(self.lowered, plan.objective, time_limit=seconds, classes=classes)
        if fill is None or (lp[0] is not None and lp[0] <= fill):
            return lp, info
        info["level1_from"] = "fill"
        return (fill, *lp[1:]), info

    def held_bounds(self, plan: Plan, bounds: tuple[float | None, ...]) -> tuple[float | None, ...]:
        """Later levels' bounds hold level 1 at least at a plan's value (``bounds_held``): they
        bound the optimum, and every plan placing as much. With ``lns_price`` the answer may
        place less (fewer pods for more GPUs), and beat them on level 2: they are not claimed
        then (one LP more at the end would not fit the time kept back)."""
        if self.price is None or plan.objective[0] >= self.bounds_held - 1e-6:
            return bounds
        self.info.setdefault("bound", {})["later_levels"] = "held above the plan's level 1"
        return (bounds[0], *(None for _ in bounds[1:]))

    def _bounds(self, plan: Plan) -> tuple[tuple[float | None, ...], dict[str, Any]]:
        """Re-derive later levels' bounds when the plan now meets an earlier level's bound."""
        bounds = self.bound_now
        for n, (level, value, bound) in enumerate(
            zip(self.problem.objective, plan.objective, bounds, strict=True)
        ):
            if bound is None:
                break
            met = value <= bound + 1e-6 if minimised_terms(level) else value >= bound - 1e-6
            if not met:
                break
            if n + 1 < len(bounds) and bounds[n + 1] is None:
                seconds = (
                    min(BOUND_SECONDS, max(0.2, 0.5 * self.left()))
                    if math.isfinite(self.left())
                    else BOUND_SECONDS
                )
                if seconds > 0.2:
                    bounds, _ = self.level_bounds(plan, seconds)
                    self.bound_now = bounds
                break
        return bounds, {}

    def _whole(self) -> RawResult:
        started = self.search
        options = replace(
            self.owner.child_options(self.options),
            starts=(),
            time_limit=None if self.options.time_limit is None else max(0.0, self.left()),
        )
        child = self.owner.child.compile(started.problem, options)
        raw = self.owner.child.run(child, options)
        solution = self.owner.child.decode(child, raw)
        raw = RawResult(
            status=solution.status,
            values=_values(solution.counts()),
            objective=solution.objective or None,
            bound=solution.bound,
            info={
                **solution.info,
                "lns": {"used": False, "reason": "the start plan breaks a rule"},
            },
            devices=solution.device_rows() or None,
        )
        return raw

    def search_loop(self, incumbent: Plan) -> Plan:
        rounds_without = 0
        pool = ThreadPoolExecutor(self.parallel) if self.parallel > 1 else None
        round_no = 0
        try:
            while True:
                # a round ends with verifying its merged plans (1-1.5 s each at 5,000 nodes
                # under load): kept back from its sub-solves, and no round begun without them
                left = self.left() - self.parallel * self.verifying
                if left < 0.3 or (not math.isfinite(left) and rounds_without >= STALL_ROUNDS):
                    break
                if self._at_bound(incumbent):
                    self.info["stopped"] = "the plan meets the global bound"
                    break
                state = self.state = State.of(self.lowered, incumbent.counts)
                taken: set[int] = set()
                claimed: set[str] | None = set() if self.parallel > 1 else None
                jobs = []
                for _ in range(self.parallel):
                    name, bins = self.chooser.pick(state, self.size)
                    bins = [b for b in bins if b not in taken]
                    if not bins:
                        continue
                    taken.update(bins)
                    names = [self.lowered.bins[b].name for b in bins]
                    round_no += 1
                    sub = self.tie_broken(
                        restrict(
                            self.lowered,
                            incumbent.counts,
                            names,
                            f"n{round_no}",
                            self.admit,
                            claimed,
                            self.selections,
                        )
                    )
                    after = self.left() - self.parallel * self.verifying - 0.2
                    seconds = max(0.05, min(self.sub_seconds, after))
                    options = self.sub_options(
                        sub, incumbent, seconds, self.options.seed + round_no
                    )
                    jobs.append((name, sub, options))
                if not jobs:
                    break
                if pool is not None and len(jobs) > 1:
                    futures = [pool.submit(self.solve_sub, sub, opts) for _, sub, opts in jobs]
                    results = [f.result() for f in futures]
                else:
                    results = [self.solve_sub(sub, opts) for _, sub, opts in jobs]
                improved_any = False
                for (name, sub, opts), solution in zip(jobs, results, strict=True):
                    self.info["rounds"] += 1
                    proved = solution.status == Status.OPTIMAL
                    limit = opts.time_limit or math.inf
                    finished = proved or solution.seconds < 0.8 * limit
                    self.info["proved"] += int(proved)
                    better = False
                    if solution.status.has_plan:
                        candidate = self.accept(incumbent, sub, solution)
                        if candidate is not None:
                            incumbent, better = candidate, True
                    self.chooser.reward(name, better)
                    self.adapt(finished, better, solution.seconds)
                    improved_any |= better
                rounds_without = 0 if improved_any else rounds_without + 1
        except KeyboardInterrupt:
            self.info["stopped"] = "interrupted"
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.info["size"] = self.size
        self.info["verify_s"] = round(self.verifying, 3)
        self.info["sub_seconds"] = round(self.sub_seconds, 3)
        self.info["strategy_weights"] = {k: round(v, 3) for k, v in self.chooser.weights.items()}
        self.info["strategy_rounds"] = dict(self.chooser.tally)  # [rounds, improved]
        return incumbent

    def _all_placed(self, plan: Plan) -> bool:
        """Does the plan place every item, on an objective of ``placed`` levels only?"""
        levels = self.problem.objective
        if not levels or any(set(lv) != {"placed"} or lv["placed"] <= 0 for lv in levels):
            return False
        placed: dict[str, int] = {}
        for (g, _), n in plan.counts.items():
            placed[g] = placed.get(g, 0) + n
        return all(placed.get(g.name, 0) >= g.count for g in self.problem.items)

    def _at_bound(self, plan: Plan) -> bool:
        bounds = self.bound_now
        for level, v, b in zip(self.problem.objective, plan.objective, bounds, strict=True):
            if b is None:
                return False
            if not (v <= b + 1e-6 if minimised_terms(level) else v >= b - 1e-6):
                return False
        return True

    def accept(self, incumbent: Plan, sub: SubProblem, solution: Solution) -> Plan | None:
        """The merged plan when it verifies and beats the incumbent (or ties and packs more)."""
        counts = solution.counts()
        hint = sub.hint(incumbent.counts)
        if counts == hint:
            return None
        # the sub-problem's own levels differ from the whole's by constants: skip the whole
        # verification when the sub-plan is not better there
        mine = _key(sub.problem, evaluate(sub.problem, counts))
        theirs = _key(sub.problem, evaluate(sub.problem, hint))
        if not _better(mine, theirs):
            return None
        merged = {k: n for k, n in incumbent.counts.items() if k[1] not in sub.bins}
        for (g, b), n in counts.items():
            if n > 0 and g not in sub.ghosts:
                merged[(g, b)] = merged.get((g, b), 0) + n
        devices = sub.merge_devices(incumbent.devices, solution.device_rows() or None)
        plan = self.evaluate(merged, devices)
        if plan is None:
            self.info["rejected_by_verifier"] += 1
            return None
        if _better(plan.key, incumbent.key) or (
            _same(plan.key, incumbent.key)
            and self.packed(plan.counts) > self.packed(incumbent.counts) + 1e-12
        ):
            self.info["accepted"] += 1
            self.report(plan)
            return plan
        return None

    def adapt(self, finished: bool, improved: bool, seconds: float) -> None:
        """Grow while sub-solves finish in time; shrink while they run out of it without
        improving (a cut-short sub-solve that improves is worth its time)."""
        if finished:
            self.size = min(MAX_SIZE, max(self.size + 1, int(self.size * 1.15)))
        elif not improved:
            self.size = max(MIN_SIZE, int(self.size * 0.9))
