"""Sequence search: list scheduling of evict-then-rebind steps, most constrained budget first.

Each step starts from a safe state and grows a batch of actions while the state after the batch
stays safe (every addition is judged by ``State.violation`` on the state the step would end in):

1. moves of items that must change bins, taken group by group in order of the steps their
   tightest disruption budget still needs (the critical path), each from the source bin whose
   eviction frees room others wait for, to a target bin with room;
2. binds of items that are not running yet, and evictions of items the target no longer places;
3. when no single action fits, a **cycle** of moves between full bins taken at once (a leaves
   for b, whose item leaves for c, ..., back to a): evict-then-rebind lets a step swap them.

A step that can add nothing means the search is stuck. Identical items are interchangeable, so
which item of a group leaves a bin never matters, only how many.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..ir import Gang, Problem
from .budgets import Budget, resolve
from .state import State

Key = tuple[int, int]
MAX_CYCLE = 4  # bins in a cycle of moves
MAX_EXPANSIONS = 20_000  # per cycle search


@dataclass
class Blocked:
    """A move that could not be made: ``group`` wants onto ``bin`` (from ``source``)."""

    group: int
    source: int | None
    bin: int
    reason: str


@dataclass
class Outcome:
    steps: list[dict[Key, tuple[int, int]]]  # per step: (g, b) -> (evicted, bound)
    done: bool
    parked: int = 0
    blocked: list[Blocked] = field(default_factory=list)
    budget_stuck: list[str] = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0


class Planner:
    def __init__(
        self,
        problem: Problem,
        target: Mapping[tuple[str, str], int],
        *,
        park: bool = False,
        extra_capacity: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        self.problem = problem
        gi = {g.name: i for i, g in enumerate(problem.items)}
        bi = {b.name: i for i, b in enumerate(problem.bins)}
        start = {(gi[g.name], bi[b]): n for g in problem.items for b, n in g.placed.items()}
        self.state = State(problem, start)
        self.target: dict[Key, int] = {(gi[g], bi[b]): n for (g, b), n in target.items() if n}
        for name, extra in (extra_capacity or {}).items():
            for r, amount in extra.items():
                if r in self.state.resources:
                    self.state.cap[bi[name]][self.state.resources.index(r)] += amount
        self.budgets: list[Budget] = resolve(problem)
        self.budgets_of: list[list[int]] = [[] for _ in problem.items]
        for n, budget in enumerate(self.budgets):
            for g in budget.groups:
                self.budgets_of[g].append(n)
        self.park = park
        self.movable = [g.movable for g in problem.items]
        gang_groups = {gi[i] for c in problem.constraints if isinstance(c, Gang) for i in c.items}
        self.in_gang = [i in gang_groups for i in range(len(problem.items))]
        self.surplus: list[dict[int, int]] = [{} for _ in problem.items]
        self.deficit: list[dict[int, int]] = [{} for _ in problem.items]
        self.deficit_on: dict[int, int] = defaultdict(int)  # per bin, summed over groups
        for g, b in set(start) | set(self.target):  # elsewhere nothing runs or is wanted
            self._refresh(g, b)

    # ------------------------------------------------------------ bookkeeping
    def _refresh(self, g: int, b: int) -> None:
        have = self.state.counts.get((g, b), 0)
        want = self.target.get((g, b), 0)
        self.deficit_on[b] += max(0, want - have) - self.deficit[g].get(b, 0)
        for table, value in ((self.surplus[g], have - want), (self.deficit[g], want - have)):
            if value > 0:
                table[b] = value
            else:
                table.pop(b, None)

    def remaining(self) -> int:
        return sum(
            sum(s.values()) + sum(d.values())
            for s, d in zip(self.surplus, self.deficit, strict=True)
        )

    def _must_leave(self, budget: Budget) -> int:
        return sum(sum(self.surplus[g].values()) for g in budget.groups)

    def _criticality(self, g: int, allowed: list[int]) -> float:
        """Steps the group's tightest budget still needs (its place on the critical path)."""
        worst = 0.0
        for n in self.budgets_of[g]:
            left = self._must_leave(self.budgets[n])
            worst = max(worst, math.inf if allowed[n] == 0 else left / allowed[n])
        return worst

    # ------------------------------------------------------------ one step
    def _step(self, deadline: float) -> tuple[dict[Key, tuple[int, int]], list[Blocked]]:
        state = self.state
        allowed = [b.allowed(state.totals) for b in self.budgets]
        self._left = list(allowed)
        self._evicted: dict[Key, int] = defaultdict(int)
        self._bound: dict[Key, int] = defaultdict(int)
        self._start = dict(state.counts)
        order = sorted(
            range(len(self.problem.items)),
            key=lambda g: (-self._criticality(g, allowed), g),
        )
        order = [g for g in order if self.surplus[g] or self.deficit[g]]
        blocked: list[Blocked] = []
        while time.monotonic() < deadline:
            blocked = []
            changed = False
            for g in order:
                if time.monotonic() >= deadline:  # a pass is long on thousands of nodes
                    break
                changed |= self._moves(g, blocked)
                changed |= self._binds(g, blocked)
                changed |= self._drops(g)
            changed = changed or self._gang_binds(blocked)
            if not changed:
                changed = self._cycle(order)
            if not changed and self.park and not self._evicted:
                changed = self._park(order, blocked)
            if not changed:
                break
        step = {
            k: (self._evicted.get(k, 0), self._bound.get(k, 0))
            for k in set(self._evicted) | set(self._bound)
        }
        return step, blocked

    def _can_evict(self, g: int, count: int = 1) -> bool:
        return all(self._left[n] >= count for n in self.budgets_of[g])

    def _budgets_allow(self, evicting: list[int]) -> bool:
        """May this step still evict one item of each listed group (repeats count)?"""
        use: dict[int, int] = defaultdict(int)
        for g in evicting:
            for n in self.budgets_of[g]:
                use[n] += 1
        return all(self._left[n] >= k for n, k in use.items())

    def _evictable(self, g: int, b: int) -> int:
        """Items of g on b that were there when the step started and are not yet evicted."""
        return min(
            self.surplus[g].get(b, 0),
            self._start.get((g, b), 0) - self._evicted.get((g, b), 0),
        )

    def _do(self, delta: dict[Key, int]) -> None:
        self.state.apply(delta)
        for (g, b), n in delta.items():
            if n < 0:
                self._evicted[(g, b)] += -n
                for m in self.budgets_of[g]:
                    self._left[m] += n
            else:
                self._bound[(g, b)] += n
            self._refresh(g, b)

    def _pressure(self, b: int, g: int) -> int:
        """Items of other groups still wanted on b."""
        return self.deficit_on[b] - self.deficit[g].get(b, 0)

    def _sources(self, g: int) -> list[int]:
        sources = [a for a in self.surplus[g] if self._evictable(g, a) > 0]
        return sorted(sources, key=lambda a: -self._pressure(a, g))

    def _moves(self, g: int, blocked: list[Blocked]) -> bool:
        changed = False
        while self.surplus[g] and self.deficit[g] and self._can_evict(g):
            found = None
            sources = self._sources(g)
            for b in list(self.deficit[g]):
                if not self.state.fits(g, b):
                    blocked.append(Blocked(g, sources[0] if sources else None, b, "capacity"))
                    continue
                for a in sources:
                    why = self.state.violation({(g, a): -1, (g, b): 1})
                    if why is None:
                        found = (a, b)
                        break
                    blocked.append(Blocked(g, a, b, why))
                if found:
                    break
            if found is None:
                return changed
            a, b = found
            self._do({(g, a): -1, (g, b): 1})
            changed = True
        return changed

    def _binds(self, g: int, blocked: list[Blocked]) -> bool:
        """Items the target places beyond those that move: bound where they fit (gangs: later)."""
        changed = False
        while not self.in_gang[g] and sum(self.deficit[g].values()) > sum(self.surplus[g].values()):
            for b in list(self.deficit[g]):
                why = self.state.violation({(g, b): 1})
                if why is None:
                    self._do({(g, b): 1})
                    changed = True
                    break
                blocked.append(Blocked(g, None, b, why))
            else:
                return changed
        return changed

    def _drops(self, g: int) -> bool:
        """Running items the target no longer places: evicted, within the budgets."""
        changed = False
        while sum(self.surplus[g].values()) > sum(self.deficit[g].values()) and self._can_evict(g):
            for a in self._sources(g):
                if self.state.violation({(g, a): -1}) is None:
                    self._do({(g, a): -1})
                    changed = True
                    break
            else:
                return changed
        return changed

    def _gang_binds(self, blocked: list[Blocked]) -> bool:
        """A gang's new items all arrive in one step, once its groups have no moves left."""
        changed = False
        for c in self.problem.constraints:
            if not isinstance(c, Gang):
                continue
            members = [self.state.groups.index(i) for i in c.items]
            if any(self.surplus[g] for g in members) or not any(self.deficit[g] for g in members):
                continue
            delta = {(g, b): n for g in members for b, n in self.deficit[g].items()}
            why = self.state.violation(delta)
            if why is None:
                self._do(delta)
                changed = True
            else:
                blocked.append(Blocked(members[0], None, next(iter(delta))[1], why))
        return changed

    def _cycle(self, order: list[int]) -> bool:
        """Moves around a cycle of full bins, made together (each frees room for the previous)."""
        movers = [g for g in order if self.surplus[g] and self.deficit[g] and self._can_evict(g)]
        if not movers:
            return False
        leaving: dict[int, list[int]] = defaultdict(list)  # bin -> groups that may leave it
        for h in movers:
            for x in self.surplus[h]:
                if self._evictable(h, x) > 0:
                    leaving[x].append(h)
        budget = [MAX_EXPANSIONS]
        for g in movers:
            for a in self._sources(g):
                for b in self.deficit[g]:
                    if self.state.fits(g, b) or b == a:
                        continue
                    path = self._close(g, a, b, [(g, a, b)], leaving, budget)
                    if path is not None:
                        delta: dict[Key, int] = defaultdict(int)
                        for h, x, y in path:
                            delta[(h, x)] -= 1
                            delta[(h, y)] += 1
                        self._do(dict(delta))
                        return True
                    if budget[0] <= 0:
                        return False
        return False

    def _close(
        self,
        g: int,
        home: int,
        x: int,
        path: list[tuple[int, int, int]],
        leaving: Mapping[int, list[int]],
        budget: list[int],
    ) -> list[tuple[int, int, int]] | None:
        """Extend ``path`` (its last move lands on full bin x) until a move lands back on home."""
        state = self.state
        for h in leaving.get(x, ()):
            budget[0] -= 1
            if budget[0] <= 0:
                return None
            taken = sum(1 for k, src, _ in path if k == h and src == x) + 1
            if (
                not self._budgets_allow([k for k, _, _ in path] + [h])
                or self._evictable(h, x) < taken
            ):
                continue
            room = all(
                state.load[x][r] - state.demand[h][r] + state.demand[g][r] <= state.cap[x][r]
                for r in range(len(state.resources))
            )
            if not room:
                continue
            for y in self.deficit[h]:
                step = [*path, (h, x, y)]
                if y == home or state.fits(h, y):
                    delta: dict[Key, int] = defaultdict(int)
                    for k, src, dst in step:
                        delta[(k, src)] -= 1
                        delta[(k, dst)] += 1
                    if state.violation(dict(delta)) is None:
                        return step
                elif len(step) < MAX_CYCLE and y not in {src for _, src, _ in path}:
                    found = self._close(h, home, y, step, leaving, budget)
                    if found is not None:
                        return found
                    if budget[0] <= 0:
                        return None
        return None

    def _park(self, order: list[int], blocked: list[Blocked]) -> bool:
        """Stuck: move an item that must leave a full target bin to an intermediate bin with room
        (one extra move later), so that the blocked move can go ahead."""
        for block in blocked:
            b = block.bin
            for h in order:
                if self._evictable(h, b) <= 0 or not self._can_evict(h):
                    continue
                for c in range(len(self.problem.bins)):
                    if c == b or c in self.deficit[h] or not self.state.fits(h, c):
                        continue
                    if self.state.violation({(h, b): -1, (h, c): 1}) is None:
                        self._do({(h, b): -1, (h, c): 1})
                        self.parked += 1
                        return True
        return False

    # ------------------------------------------------------------ the whole sequence
    def run(self, time_limit: float | None = None) -> Outcome:
        began = time.monotonic()
        deadline = began + (time_limit if time_limit is not None else math.inf)
        self.parked = 0
        steps: list[dict[Key, tuple[int, int]]] = []
        blocked: list[Blocked] = []
        budget_stuck: list[str] = []
        while self.remaining():
            if time.monotonic() >= deadline:
                return Outcome(
                    steps, False, self.parked, blocked, [], True, time.monotonic() - began
                )
            step, blocked = self._step(deadline)
            if not step:
                allowed = [b.allowed(self.state.totals) for b in self.budgets]
                budget_stuck = [
                    f"{b.name}: {self._must_leave(b)} item(s) still to evict, none allowed "
                    f"({sum(self.state.totals[g] for g in b.groups)} running, {b.desired_healthy} must stay up)"
                    for b, a in zip(self.budgets, allowed, strict=True)
                    if a == 0 and self._must_leave(b)
                ]
                break
            steps.append(step)
        done = not self.remaining()
        return Outcome(
            steps,
            done,
            self.parked,
            [] if done else blocked,
            budget_stuck,
            False,
            time.monotonic() - began,
        )
