"""The scheduling loop: one replica at a time, filter, score, bind (vectorised over bins)."""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.quantity import format_quantity

from .devices import DRA_UNSCHEDULABLE, DevicePlugin
from .interpod import AntiAffinityRule
from .model import GreedyModel
from .rules import NO_DELAY, NODE_AFFINITY, BoolArray, IntArray, Rule
from .scoring import MAX_SCORE, SOFT_WEIGHT, cost_scores, fit_scores
from .spread import SpreadRule

HEAP_CELLS = 4_000_000  # largest bins x replicas score table the heap path precomputes


class Scheduler:
    def __init__(self, model: GreedyModel, seed: int) -> None:
        self.m = model
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        p = model.problem
        B = len(model.bins)
        self.used = np.zeros((B, len(model.resources)), np.int64)
        self.score_used = np.zeros((B, len(model.score_cols)), np.int64)
        self.counts: list[dict[int, int]] = [{} for _ in p.items]
        self.tenant_used: dict[str, IntArray] = {
            t: np.zeros(len(model.resources), np.int64) for t in model.quotas
        }
        self.reasons: dict[str, str] = {}
        self.devices = DevicePlugin(p, model.devices) if model.devices is not None else None
        self.gang_of = {g: unit for unit in model.units if unit[0] in model.gangs for g in unit}
        bin_index = {b: k for k, b in enumerate(model.bins)}
        for g, group in enumerate(p.items):  # items already placed stay where they are ...
            for name, n in group.placed.items():
                self._commit(g, bin_index[name], n, running=True)
        self.evicted = self._evict_breaking()  # ... unless movable and breaking a rule there

    # -- running items
    def _evict_breaking(self) -> dict[str, dict[str, int]]:
        """Take off the movable running items that break a rule where they run, to be scheduled
        again with the others: on an overfull bin, over their tenant's quota, over an
        anti-affinity limit, with no affinity target in their domain, or holding a device that
        running items overcommit (they give their devices back). Lowest priority first, one
        replica at a time, while the rule is still broken; passes repeat while they evict (an
        evicted target may leave selected items alone). A gang's members move only when the
        whole gang may (every member with running items movable): a gang that cannot be made
        whole again is then taken off entirely (``place_unit``). Not moved: items the rules do
        not re-judge once running (spread judges only the domains that receive items,
        eligibility — taints, node affinity — is IgnoredDuringExecution; the Kubernetes adapter
        drops the pods the taint manager evicts, NoExecute)."""
        m, p = self.m, self.m.problem
        movable = [
            g
            for g, group in enumerate(p.items)
            if group.movable and group.placed and self._gang_movable(g)
        ]
        movable.sort(key=lambda g: (p.items[g].priority, -g))
        evicted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        changed = True
        while changed:
            changed = False
            for g in movable:
                hard = [
                    r for r in m.touching[g] if r.weight is None and not isinstance(r, SpreadRule)
                ]
                for b in [b for b, n in self.counts[g].items() if n > 0]:
                    while self.counts[g][b] > 0 and self._breaks(g, b, hard):
                        self._commit(g, b, -1)
                        evicted[p.items[g].name][m.bins[b]] += 1
                        changed = True
        return {name: dict(per_bin) for name, per_bin in evicted.items()}

    def _gang_movable(self, g: int) -> bool:
        """May g's running items move? Outside gangs when movable; in a gang only when every
        running item of the gang may move (otherwise the gang could not be undone)."""
        items = self.m.problem.items
        unit = self.gang_of.get(g, [g])
        return all(items[k].movable or not items[k].placed for k in unit)

    def _breaks(self, g: int, b: int, hard: list[Rule]) -> bool:
        """Does one running item of g on bin b break a rule there? (For the rules over domains:
        taken off, would it be refused its place back?)"""
        m = self.m
        uses = m.demand[g] > 0
        if ((self.used[b] > m.cap[b]) & uses).any():
            return True
        tenant = m.problem.items[g].tenant or ""
        limits = m.quotas.get(tenant)
        if limits and any(self.tenant_used[tenant][c] > v and uses[c] for c, v in limits.items()):
            return True
        if self.devices is not None and self.devices.requests(g):
            if self.devices.holds_broken(g, b):
                return True
        if not hard:
            return False
        for rule in hard:  # only the rules' counts matter here
            rule.place(g, b, -1)
        refused = any(not rule.ok(g)[b] for rule in hard)
        for rule in hard:
            rule.place(g, b, 1)
        return refused

    # -- state
    def _commit(self, g: int, b: int, n: int, running: bool = False) -> None:
        m = self.m
        if self.devices is not None and self.devices.requests(g):
            if running:  # items already placed keep their devices
                lists = m.problem.items[g].placed_devices.get(m.bins[b], ())
                self.devices.keep(g, b, lists)
            elif n > 0:
                self.devices.allocate(g, b, n)
            else:  # running items taken off give their devices back
                for _ in range(-n):
                    self.devices.release(g, b)
        self.used[b] += n * m.demand[g]
        self.score_used[b] += n * m.score_demand[g]
        self.counts[g][b] = self.counts[g].get(b, 0) + n
        for rule in m.touching[g]:
            rule.place(g, b, n)
        tenant = m.problem.items[g].tenant
        if tenant in self.tenant_used:
            self.tenant_used[tenant] += n * m.demand[g]

    def _save(self) -> Any:
        return (
            self.used.copy(),
            self.score_used.copy(),
            [dict(c) for c in self.counts],
            {t: u.copy() for t, u in self.tenant_used.items()},
            [r.save() for r in self.m.rules],
            self.devices.save() if self.devices is not None else None,
        )

    def _load(self, state: Any) -> None:
        self.used, self.score_used, self.counts, self.tenant_used, rules, devices = state
        for rule, saved in zip(self.m.rules, rules, strict=True):
            rule.load(saved)
        if self.devices is not None:
            self.devices.load(devices)

    # -- quotas (ResourceQuota admission: not per node)
    def _quota_room(self, g: int) -> int:
        """How many more items of g the tenant's quota admits."""
        tenant = self.m.problem.items[g].tenant
        limits = self.m.quotas.get(tenant or "")
        if not limits:
            return 1 << 62
        room = 1 << 62
        used = self.tenant_used[tenant or ""]
        for col, limit in limits.items():
            d = int(self.m.demand[g, col])
            if int(used[col]) + d > limit:
                return 0
            if d > 0:
                room = min(room, (limit - int(used[col])) // d)
        return room

    def _quota_reason(self, g: int) -> str:
        m = self.m
        tenant = m.problem.items[g].tenant or ""
        used = self.tenant_used[tenant]
        cols = sorted(m.quotas[tenant])

        def show(values: Mapping[int, int]) -> str:
            return ",".join(
                f"{m.resources[c]}={format_quantity(m.resources[c], int(values[c]))}" for c in cols
            )

        return (
            f"exceeded quota: {tenant}, requested: {show(dict(enumerate(m.demand[g])))}, "
            f"used: {show(dict(enumerate(used)))}, limited: {show(m.quotas[tenant])}"
        )

    # -- filters
    def _fits(self, g: int, rows: slice | IntArray = slice(None)) -> BoolArray:
        d = self.m.demand[g]
        cols = np.flatnonzero(d)
        if not len(cols):
            return np.ones(len(self.m.cap[rows]), bool)
        return (self.used[rows][:, cols] + d[cols] <= self.m.cap[rows][:, cols]).all(axis=1)

    def _traffic_ok(self, g: int) -> BoolArray | None:
        known = self.m.has_delay
        if known is None or g not in self.m.partners:
            return None
        fine = np.ones(len(self.m.bins), bool)
        for h in self.m.partners[g]:
            on = [b for b, n in self.counts[h].items() if n > 0]
            if on:
                fine &= known[:, on].all(axis=1)
        return fine

    def _static_ok(self, g: int) -> BoolArray:
        allowed = self.m.allowed[g]
        fits = self._fits(g)
        if self.devices is not None and self.devices.requests(g):
            fits &= self.devices.room_for(g, slice(None), 1) > 0
        return fits if allowed is None else fits & allowed

    def _dynamic_ok(self, g: int, hard: list[Rule]) -> BoolArray | None:
        fine = self._traffic_ok(g)
        for rule in hard:
            ok = rule.ok(g)
            fine = ok if fine is None else fine & ok
        return fine

    def _unschedulable(self, g: int, hard: list[Rule]) -> str:
        """kube's FitError text: each bin counted under the first filter that rejects it."""
        B = len(self.m.bins)
        if B == 0:
            return "0/0 nodes are available: no nodes available to schedule pods."
        histogram: dict[str, int] = defaultdict(int)
        open_ = np.ones(B, bool)
        allowed = self.m.allowed[g]
        if allowed is not None:
            histogram[NODE_AFFINITY] += int((open_ & ~allowed).sum())
            open_ &= allowed
        d = self.m.demand[g]
        short = np.zeros(B, bool)
        for col in np.flatnonzero(d):
            lacking = open_ & (self.used[:, col] + d[col] > self.m.cap[:, col])
            r = self.m.resources[col]
            text = "Too many pods" if r == "pods" else f"Insufficient {r}"
            if lacking.any():
                histogram[text] += int(lacking.sum())
            short |= lacking
        open_ &= ~short
        if self.devices is not None and self.devices.requests(g):
            lacking = open_ & (self.devices.room_for(g, slice(None), 1) == 0)
            if lacking.any():
                histogram[DRA_UNSCHEDULABLE] += int(lacking.sum())
            open_ &= ~lacking
        failures: list[tuple[BoolArray, str]] = []
        traffic = self._traffic_ok(g)
        if traffic is not None:
            failures.append((~traffic, NO_DELAY))
        ordered = sorted(hard, key=lambda r: not isinstance(r, SpreadRule))  # kube plugin order
        for rule in ordered:
            failures.extend(rule.failures(g))
        for failed, text in failures:
            hit = open_ & failed
            if hit.any():
                histogram[text] += int(hit.sum())
            open_ &= ~failed
        if open_.any():  # cannot happen when called on failure; say so rather than lie
            histogram["node(s) were available but not chosen"] += int(open_.sum())
        parts = sorted(f"{n} {text}" for text, n in histogram.items())
        return f"0/{B} nodes are available: {', '.join(parts)}."

    # -- placing one group
    def place_group(self, g: int) -> int:
        """Place the group's remaining items; returns how many could not be placed."""
        group = self.m.problem.items[g]
        todo = group.count - sum(self.counts[g].values())  # running items evicted count too
        if todo <= 0:
            return 0
        touching = self.m.touching[g]
        hard = [r for r in touching if r.weight is None]
        soft = [r for r in touching if r.weight is not None]
        admitted = min(todo, self._quota_room(g))
        per_bin = self._per_bin_limits(g, hard) if not soft and g not in self.m.partners else None
        if per_bin is not None:
            placed = self._place_by_heap(g, admitted, per_bin, hard)
        else:
            placed = self._place_one_by_one(g, admitted, hard, soft)
        left = todo - placed
        if left:
            if placed == admitted and admitted < todo:
                self.reasons[group.name] = self._quota_reason(g)
            else:
                self.reasons[group.name] = self._unschedulable(g, hard)
        return left

    def _per_bin_limits(self, g: int, hard: list[Rule]) -> IntArray | None:
        """How many more items of g each bin may take, when every rule on g is per bin.

        True for no rules at all, and for anti-affinity over a topology whose domains are single
        bins (hostname): then only the chosen bin's state changes and the batched paths apply.
        None when some rule couples bins (zones, spread, affinity).
        """
        limit = np.full(len(self.m.bins), 1 << 40, np.int64)
        for rule in hard:
            if not (isinstance(rule, AntiAffinityRule) and rule.per_bin and rule.sel[g]):
                return None
            room = np.maximum(rule.limit - rule.count, 0)
            room[rule.n_dom] = 1 << 40
            limit = np.minimum(limit, room[rule.dom])
        return limit

    def _base_scores(self, g: int, rows: IntArray, k: IntArray | int = 1) -> IntArray:
        """Score of each bin in ``rows`` if it received its k-th more replica of g."""
        m = self.m
        kk = np.asarray(k)
        cap = m.cap[rows][:, m.score_cols]
        if kk.ndim == 1:  # a table: rows x k
            req = self.score_used[rows][:, None, :] + kk[None, :, None] * m.score_demand[g]
            cap = cap[:, None, :]
        else:
            req = self.score_used[rows] + int(kk) * m.score_demand[g]
        return fit_scores(req, cap, m.most_allocated, balanced=not m.most_allocated)

    def _place_by_heap(self, g: int, todo: int, per_bin: IntArray, hard: list[Rule]) -> int:
        """No rule touches g, so between two replicas only the chosen bin's score changes.

        The score of each bin for its 1st, 2nd, ... next replica is one table. When every row
        falls (LeastAllocated) one-at-a-time greedy takes the ``todo`` best cells; when every
        row rises (MostAllocated) it fills bins one after another, best first; otherwise a heap
        replays the one-at-a-time choice exactly. Ties go to seeded random keys.
        """
        m = self.m
        rows = np.flatnonzero(self._static_ok(g) & (per_bin > 0))
        if not len(rows) or todo <= 0:
            return 0
        kmax = np.minimum(self._room(g, rows, todo), per_bin[rows])
        depth = int(kmax.max())
        if depth <= 0:
            return 0
        if len(rows) * depth > HEAP_CELLS:
            return self._place_one_by_one(g, todo, hard, [])
        cost = (
            cost_scores(m.problem, g, m.bins)[rows] if m.use_cost else np.zeros(len(rows), np.int64)
        )
        if m.most_allocated:  # a bin's score only rises as it fills: provably fill in turn
            first = self._base_scores(g, rows) + cost
            taken = self._fill_in_turn(first, kmax, todo)
            for i in np.flatnonzero(taken):
                self._commit(g, int(rows[i]), int(taken[i]))
            return int(taken.sum())
        table = self._base_scores(g, rows, np.arange(1, depth + 1))
        table = table + cost[:, None]
        valid = np.arange(depth)[None, :] < kmax[:, None]
        step = np.diff(table, axis=1)
        later = valid[:, 1:]
        if np.all((step <= 0) | ~later):
            taken = self._best_cells(table, valid, todo)
        elif np.all((step >= 0) | ~later):
            taken = self._fill_in_turn(table[:, 0], kmax, todo)
        else:
            taken = self._replay(table, kmax, todo)
        for i in np.flatnonzero(taken):
            self._commit(g, int(rows[i]), int(taken[i]))
        return int(taken.sum())

    def _best_cells(self, table: IntArray, valid: BoolArray, todo: int) -> IntArray:
        keys = np.where(valid, table + self.np_rng.random(table.shape), -np.inf).ravel()
        n = min(todo, int(valid.sum()))
        best = np.argpartition(-keys, n - 1)[:n] if n < len(keys) else np.arange(len(keys))
        return np.bincount(best // table.shape[1], minlength=table.shape[0])[: table.shape[0]]

    def _fill_in_turn(self, first: IntArray, kmax: IntArray, todo: int) -> IntArray:
        order = np.lexsort((self.np_rng.random(len(first)), -first))
        filled = np.minimum(np.cumsum(kmax[order]), todo)
        taken = np.zeros(len(first), np.int64)
        taken[order] = np.diff(filled, prepend=0)
        return taken

    def _replay(self, table: IntArray, kmax: IntArray, todo: int) -> IntArray:
        scores = table.tolist()
        limits = kmax.tolist()
        rand = self.rng.random
        heap = [(-scores[i][0], rand(), i) for i in range(len(limits)) if limits[i] > 0]
        heapq.heapify(heap)
        taken = [0] * len(limits)
        left = todo
        while left and heap:
            _, _, i = heapq.heappop(heap)
            taken[i] += 1
            left -= 1
            if taken[i] < limits[i]:
                heapq.heappush(heap, (-scores[i][taken[i]], rand(), i))
        return np.array(taken, np.int64)

    def _place_one_by_one(self, g: int, todo: int, hard: list[Rule], soft: list[Rule]) -> int:
        """Rules couple bins (zones, spread, affinity, soft rules, traffic): filter and score
        every bin again for each replica, as kube-scheduler does."""
        m = self.m
        B = len(m.bins)
        all_rows = np.arange(B)
        ok_static = self._static_ok(g)
        kmax = self._room(g, all_rows, todo)
        cost = cost_scores(m.problem, g, m.bins) if m.use_cost else np.zeros(B, np.int64)
        depth = int(kmax.max()) if B else 0
        table = None
        if depth > 0 and B * depth <= HEAP_CELLS:  # each bin's score for its k-th replica
            table = self._base_scores(g, all_rows, np.arange(1, depth + 1)) + cost[:, None]
            base = table[:, 0].copy()
        else:
            base = self._base_scores(g, all_rows) + cost
        taken = np.zeros(B, np.int64)
        placed = 0
        while placed < todo:
            ok = ok_static
            dynamic = self._dynamic_ok(g, hard)
            if dynamic is not None:
                ok = ok & dynamic
            candidates = np.flatnonzero(ok)
            if not len(candidates):
                break
            total = base[candidates]
            if soft:
                penalty = np.zeros(B)
                for rule in soft:
                    penalty += (rule.weight or 0.0) * ~rule.ok(g)
                worst = penalty[candidates].max()
                if worst > 0:
                    soft_score = SOFT_WEIGHT * MAX_SCORE * (1.0 - penalty[candidates] / worst)
                    total = total + soft_score.astype(np.int64)
                else:
                    total = total + SOFT_WEIGHT * MAX_SCORE
            best = np.flatnonzero(total == total.max())
            b = int(candidates[best[self.rng.randrange(len(best))]])
            self._commit(g, b, 1)
            placed += 1
            # only bin b changed: refresh its fit and score (both arrays are ours)
            taken[b] += 1
            if taken[b] >= kmax[b]:
                ok_static[b] = False
            elif table is not None:
                base[b] = table[b, taken[b]]
            else:
                base[b] = self._base_scores(g, np.array([b]))[0] + cost[b]
        return placed

    def _room(self, g: int, rows: IntArray, todo: int) -> IntArray:
        """How many more items of g fit on each bin of ``rows`` (at most ``todo``), their
        devices included."""
        d = self.m.demand[g]
        cols = np.flatnonzero(d)
        if not len(cols):
            room = np.full(len(rows), todo, np.int64)
        else:
            room = (self.m.cap[rows][:, cols] - self.used[rows][:, cols]) // d[cols]
            room = np.clip(room.min(axis=1), 0, todo)
        if self.devices is not None and self.devices.requests(g):
            room = np.minimum(room, self.devices.room_for(g, rows, todo))
        return room

    def place_unit(self, unit: list[int]) -> None:
        if unit[0] not in self.m.gangs:
            self.place_group(unit[0])
            return
        state = self._save()
        for g in unit:
            if self.place_group(g):
                failed = self.m.problem.items[g].name
                why = self.reasons.get(failed, "")
                self._load(state)
                names = ", ".join(self.m.problem.items[k].name for k in unit)
                undone = self._undo_gang(unit)
                for k in unit:
                    self.reasons[self.m.problem.items[k].name] = (
                        f"gang [{names}] rolled back{undone}: {failed}: {why}"
                    )
                return

    def _undo_gang(self, unit: list[int]) -> str:
        """A gang that cannot be made whole has none of its items placed, when all of its running
        items may move: they are taken off (all or nothing holds for running items too)."""
        running = [(g, b, n) for g in unit for b, n in self.counts[g].items() if n > 0]
        if not running or not self._gang_movable(unit[0]):
            return ""
        for g, b, n in running:
            self._commit(g, b, -n)
            per_bin = self.evicted.setdefault(self.m.problem.items[g].name, {})
            per_bin[self.m.bins[b]] = per_bin.get(self.m.bins[b], 0) + n
        return " and its running items taken off"
