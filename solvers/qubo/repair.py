"""Decode sampler reads into plans, repairing the ones that break a hard constraint.

Every read is judged on its placement variables only: ``y`` (bin used) is recomputed from them and
slack bits are ignored, so a read is *raw feasible* when its placements meet every hard constraint.
Each distinct read then goes through the same greedy repair, which leaves a raw-feasible read's
placements in place and only adds to them:

1. one bin per item — an item set on several bins keeps the one with the best objective bias;
2. drop — while some constraint is broken, take off the placed item of that constraint whose
   removal costs the least objective (required items last); a partly placed gang is taken off
   whole;
3. fill — in order of required first, then best objective gain, try each unplaced item (a gang as
   one unit) on its bins from the best objective change down, and keep the first bin that breaks
   no constraint when the item is required, belongs to a pinned gang, or improves the objective
   (repeated while anything changes, at most three passes); a required item that fits nowhere
   takes a bin from optional items in its way (running pods that may move, say), which a later
   pass may place elsewhere.

A read is *repaired feasible* when the result meets every constraint (a required item with no
room left, for example, stays a violation). The best repaired plan by combined objective wins.
Reads are repaired lowest energy first; past ``max_repairs`` distinct reads (exhaustive samplers
such as ``dimod.ExactSolver`` return every state) only raw-feasible reads are still decoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import QuboModel
from .penalties import AllOrNothing, HardConstraint, Implies, LinearLeq, OneHot


@dataclass
class DecodeStats:
    reads: int = 0
    distinct: int = 0
    raw_feasible: int = 0
    repaired_feasible: int = 0
    best_energy: float | None = None
    best_raw_feasible: bool = False
    per_kind_violations: dict[str, int] = field(default_factory=dict)
    undecoded: int = 0  # reads left when the time limit ran out

    def as_info(self) -> dict[str, Any]:
        def rate(k):
            return round(k / self.reads, 4) if self.reads else 0.0

        return {
            "reads": self.reads,
            "distinct_reads": self.distinct,
            "raw_feasible_reads": self.raw_feasible,
            "raw_feasible_rate": rate(self.raw_feasible),
            "repaired_feasible_reads": self.repaired_feasible,
            "repaired_feasible_rate": rate(self.repaired_feasible),
            "best_from_raw_feasible_read": self.best_raw_feasible,
            "raw_violations_by_kind": self.per_kind_violations,
            "undecoded_reads": self.undecoded,
        }


class Repairer:
    def __init__(self, model: QuboModel) -> None:
        self.m = model
        n = model.num_variables
        obj = model.objective
        self.h = np.zeros(n)
        for v, b in obj.linear.items():
            self.h[v] = b
        nbrs: list[list[int]] = [[] for _ in range(n)]
        wts: list[list[float]] = [[] for _ in range(n)]
        for (u, v), b in obj.quadratic.items():
            nbrs[u].append(v)
            wts[u].append(b)
            nbrs[v].append(u)
            wts[v].append(b)
        self.nbr = [np.array(a, dtype=np.int64) for a in nbrs]
        self.wt = [np.array(a) for a in wts]
        keys = list(obj.quadratic)
        self.qi = np.array([k[0] for k in keys], dtype=np.int64)
        self.qj = np.array([k[1] for k in keys], dtype=np.int64)
        self.qw = np.array([obj.quadratic[k] for k in keys])
        self.x_vars = np.flatnonzero(model.var_item >= 0)
        self.touching: list[list[HardConstraint]] = [[] for _ in range(n)]
        for c in model.constraints:
            if isinstance(c, Implies):
                continue  # y is derived from x during repair, so it always holds
            for v in c.variables.tolist():
                self.touching[v].append(c)
        self.y_of = {v: model.y.get(b) for v, b in model.var_bin.items()}
        self.units = self._units()

    # ---- helpers
    def _units(self) -> list[tuple[list[int], bool]]:
        """Items that must be placed together (gangs), with "must place" (pinned gang) flags."""
        parent = list(range(len(self.m.items)))
        forced: set[int] = set()

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for c in self.m.constraints:
            if isinstance(c, AllOrNothing):
                ids = [int(self.m.var_item[vs[0]]) for vs in c.items if len(vs)]
                for i in ids[1:]:
                    parent[root(i)] = root(ids[0])
                if c.forced:
                    forced.update(ids)
        groups: dict[int, list[int]] = {}
        for i in range(len(self.m.items)):
            groups.setdefault(root(i), []).append(i)
        return [(ids, any(i in forced for i in ids)) for ids in groups.values()]

    def energy(self, z: np.ndarray) -> float:
        zf = z.astype(float)
        e = self.m.objective.offset + float(self.h @ zf)
        if len(self.qw):
            e += float((self.qw * zf[self.qi] * zf[self.qj]).sum())
        return e

    def contrib(self, v: int, z: np.ndarray) -> float:
        """Objective change of turning v on (or, for an on variable, what it contributes)."""
        return float(self.h[v] + (self.wt[v] * z[self.nbr[v]]).sum())

    def derive_y(self, z: np.ndarray) -> None:
        for _b, y in self.m.y.items():
            z[y] = 0
        for v in self.x_vars[z[self.x_vars] == 1].tolist():
            used = self.y_of[v]
            if used is not None:
                z[used] = 1

    def set_off(self, z: np.ndarray, v: int) -> None:
        z[v] = 0
        y = self.y_of.get(v)
        if y is not None and z[y]:
            b = self.m.var_bin[v]
            z[y] = int(any(z[u] for u, bn in self.m.var_bin.items() if bn == b))

    def violated(self, z: np.ndarray) -> list[HardConstraint]:
        return [c for c in self.m.constraints if c.violation(z) > 0]

    # ---- the three steps
    def repair(self, state: np.ndarray) -> np.ndarray:
        z = np.zeros(self.m.num_variables, dtype=np.int8)
        z[self.x_vars] = state[self.x_vars]
        for it in self.m.items:  # 1. one bin per item
            on = it.variables[z[it.variables] == 1]
            if len(on) > 1:
                keep = on[int(np.argmin(self.h[on]))]
                z[on] = 0
                z[keep] = 1
        self.derive_y(z)
        self.drop(z)
        for _ in range(3):
            if not self.fill(z):
                break
        return z

    def drop(self, z: np.ndarray) -> None:
        while True:
            broken = [
                c
                for c in self.m.constraints
                if not isinstance(c, Implies)
                and not (isinstance(c, OneHot) and c.exact)
                and not (isinstance(c, AllOrNothing) and c.forced)
                and c.violation(z) > 0
            ]
            if not broken:
                return
            c = broken[0]
            if isinstance(c, AllOrNothing):
                for vs in c.items:
                    for v in vs[z[vs] == 1].tolist():
                        self.set_off(z, v)
                continue
            on = [v for v in c.variables.tolist() if z[v] and self.m.var_item[v] >= 0]
            if not on:  # broken by pinned items alone: nothing a repair can do
                return

            def cost_of_removal(v: int) -> float:
                required = self.m.items[self.m.var_item[v]].required
                return -self.contrib(v, z) + (1e300 if required else 0.0)

            self.set_off(z, min(on, key=cost_of_removal))

    def try_place(self, z: np.ndarray, item: int) -> tuple[int, float] | None:
        """Put one item on its best admissible bin; returns (variable, objective change)."""
        it = self.m.items[item]
        options = []
        for v in it.variables.tolist():
            y = self.y_of.get(v)
            delta = self.contrib(v, z) + (self.contrib(y, z) if y is not None and not z[y] else 0.0)
            options.append((delta, v))
        for delta, v in sorted(options):
            y = self.y_of.get(v)
            y_was = int(z[y]) if y is not None else 0
            z[v] = 1
            if y is not None:
                z[y] = 1
            if all(
                c.violation(z) == 0
                for c in self.touching[v]
                if not isinstance(c, AllOrNothing) and not (isinstance(c, OneHot) and c.exact)
            ):
                return v, delta
            z[v] = 0
            if y is not None:
                z[y] = y_was
        return None

    def make_room(self, z: np.ndarray, item: int) -> int | None:
        """Put a required item that fits nowhere on a bin by taking off optional items (alone in
        their unit, not in a gang) from the constraints it breaks there, the least objective lost
        first; returns its variable, or None (``z`` as it was). The final check of the read
        judges what their removal did elsewhere."""
        solo = {ids[0] for ids, forced in self.units if len(ids) == 1 and not forced}
        for v in sorted(self.m.items[item].variables.tolist(), key=lambda v: self.contrib(v, z)):
            saved = z.copy()
            z[v] = 1
            y = self.y_of.get(v)
            if y is not None:
                z[y] = 1
            while True:
                broken = [
                    c
                    for c in self.touching[v]
                    if not isinstance(c, AllOrNothing)
                    and not (isinstance(c, OneHot) and c.exact)
                    and c.violation(z) > 0
                ]
                if not broken:
                    return v
                takeable = [
                    u
                    for u in broken[0].variables.tolist()
                    if z[u]
                    and u != v
                    and (i := int(self.m.var_item[u])) >= 0
                    and i in solo
                    and not self.m.items[i].required
                ]
                if not takeable:
                    break
                self.set_off(z, min(takeable, key=lambda u: -self.contrib(u, z)))
            z[:] = saved
        return None

    def fill(self, z: np.ndarray) -> bool:
        changed = False

        def placed(i: int) -> bool:
            return bool(z[self.m.items[i].variables].any())

        def priority(unit: tuple[list[int], bool]) -> tuple[bool, float]:
            ids, forced = unit
            must = forced or any(self.m.items[i].required for i in ids)
            best = min(
                (
                    float(self.h[self.m.items[i].variables].min())
                    for i in ids
                    if len(self.m.items[i].variables)
                ),
                default=0.0,
            )
            return (not must, best)

        for ids, forced in sorted(self.units, key=priority):
            todo = [i for i in ids if not placed(i)]
            if not todo:
                continue
            must = forced or any(self.m.items[i].required for i in ids)
            done: list[int] = []
            total = 0.0
            for i in todo:
                got = self.try_place(z, i)
                if got is None and must and len(ids) == 1 and not forced:
                    # a required item is worth more than the optional ones in its way
                    v = self.make_room(z, i)
                    got = None if v is None else (v, self.contrib(v, z))
                if got is None:
                    break
                done.append(got[0])
                total += got[1]
            # a gang member with no bin at all is in no unit: its gang still says "none"
            complete = len(done) == len(todo) and not any(
                c.violation(z) > 0
                for v in done
                for c in self.touching[v]
                if isinstance(c, AllOrNothing)
            )
            if complete and (must or total < 0):
                changed = True
                continue
            for v in done:
                self.set_off(z, v)
        return changed


def decode_reads(
    model: QuboModel,
    states: np.ndarray,
    energies: np.ndarray | None = None,
    max_repairs: int = 1000,
    deadline: float | None = None,
) -> tuple[np.ndarray | None, DecodeStats]:
    """Judge every read, repair the distinct ones (the ``max_repairs`` lowest-energy ones when an
    exhaustive sampler returns more), and return the best feasible state and the statistics.
    Past ``deadline`` (perf_counter) the remaining reads are left undecoded once a plan exists."""
    stats = DecodeStats(reads=int(states.shape[0]))
    if stats.reads == 0:
        return None, stats
    rep = Repairer(model)
    x = rep.x_vars
    distinct, first, counts = np.unique(
        states[:, x].astype(np.int8), axis=0, return_index=True, return_counts=True
    )
    stats.distinct = len(distinct)
    order = np.arange(len(distinct))
    if energies is not None:
        order = np.argsort(np.asarray(energies)[first], kind="stable")
    best: np.ndarray | None = None
    best_e = float("inf")
    kinds: dict[str, int] = {}
    for rank, d in enumerate(order.tolist()):
        n = int(counts[d])
        if deadline is not None and best is not None and time.perf_counter() > deadline:
            stats.undecoded += n
            continue
        z = np.zeros(model.num_variables, dtype=np.int8)
        z[x] = distinct[d]
        rep.derive_y(z)
        broken = rep.violated(z)
        raw_ok = not broken
        for c in broken:
            kinds[c.kind] = kinds.get(c.kind, 0) + n
        if raw_ok:
            stats.raw_feasible += n
        if rank >= max_repairs and not raw_ok:
            continue
        fixed = rep.repair(z)
        if rep.violated(fixed):
            continue
        stats.repaired_feasible += n
        e = rep.energy(fixed)
        if e < best_e - 1e-9:
            best, best_e = fixed, e
            stats.best_raw_feasible = raw_ok and bool((fixed == z).all())
    stats.per_kind_violations = kinds
    stats.best_energy = None if best is None else best_e
    return best, stats


def counts_of(model: QuboModel, z: np.ndarray) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = dict(model.fixed)
    for v in np.flatnonzero((z == 1) & (model.var_item >= 0)).tolist():
        key = (model.items[model.var_item[v]].group, model.var_bin[v])
        counts[key] = counts.get(key, 0) + 1
    return counts


def state_from_counts(model: QuboModel, counts: dict[tuple[str, str], int]) -> np.ndarray:
    """A 0/1 state realising a plan's counts (for hints): items prefer their home bins."""
    z = np.zeros(model.num_variables, dtype=np.int8)
    left = {k: n - model.fixed.get(k, 0) for k, n in counts.items()}
    order = sorted(range(len(model.items)), key=lambda i: model.items[i].home is None)
    for i in order:
        it = model.items[i]
        prefer = sorted(it.bins, key=lambda b: b != it.home)
        for b in prefer:
            if left.get((it.group, b), 0) > 0:
                z[it.variables[it.bins.index(b)]] = 1
                left[(it.group, b)] -= 1
                break
    Repairer(model).derive_y(z)
    for c in model.constraints:
        if isinstance(c, LinearLeq) and len(c.slack):
            for s, bit in c.best_slack(z).items():
                z[s] = bit
    return z
