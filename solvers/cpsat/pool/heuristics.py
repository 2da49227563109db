"""Plans from the master's LP: rounding (whole bins, then first fit of the residual), diving
(fix whole bins, re-solve the residual with new columns), and rebalancing across sibling pools
with a local search so that spread rules see evenly filled domains."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import interrupt

from .columns import Columns, IntArray
from .master import Master

REPAIR_STEPS = 200  # improving moves or swaps tried to balance spread domains
DIVE_STEP_SECONDS = 0.1  # column generation per diving step (a few rounds, not convergence)


@dataclass
class OpenBin:
    """A bin being filled while rounding: its pool, its configuration so far, its room."""

    pool: int
    config: IntArray
    room: IntArray


@dataclass
class Laid:
    """One bin of a rebalanced plan: its pool, configuration and items per spread rule."""

    pool: int
    config: IntArray
    amounts: IntArray


def round_lp(master: Master, deadline: float = math.inf) -> dict[int, int] | None:
    """A plan from the LP: every column's whole bins, then the residual replicas packed by
    first-fit decreasing onto the pools' remaining bins (new configurations become columns).
    None when the residual does not fit (in partial mode what does not fit stays unplaced,
    highest priority packed first), or when the deadline passes or a stop is asked for first."""
    cols = master.cols
    z = master.lp_values()
    if z is None:
        return None
    uses: dict[int, int] = {}
    left = cols.sizes.copy()
    covered = np.zeros(len(cols.groups), np.int64)
    for c, value in enumerate(z[: len(cols.columns)]):
        whole = math.floor(value + 1e-9)
        if whole > 0:
            column = cols.columns[c]
            uses[c] = whole
            left[column.pool] -= whole
            covered += whole * column.config
    residual = np.maximum(0, cols.count - covered)
    total_cap = sum(len(p.bins) * p.capacity.astype(np.float64) for p in cols.pools)
    total_cap = np.where(total_cap > 0, total_cap, 1.0)
    size = (cols.demand / total_cap).max(axis=1, initial=0.0)

    def fits(bin_: OpenBin, g: int) -> bool:
        pool = cols.pools[bin_.pool]
        if bin_.config[g] >= pool.upper[g] or (cols.demand[g] > bin_.room).any():
            return False
        return all(bin_.config[r.groups].sum() < r.cap for r in pool.rules if g in r.groups)

    def place(bin_: OpenBin, g: int) -> None:
        bin_.config[g] += 1
        bin_.room -= cols.demand[g]

    def open_bin(g: int) -> OpenBin | None:
        """A bin of the pool with the least cost per capacity that can hold g."""
        candidates = [
            p
            for p, pool in enumerate(cols.pools)
            if left[p] > 0 and pool.upper[g] > 0 and not (cols.demand[g] > pool.capacity).any()
        ]
        if not candidates:
            return None
        p = min(
            candidates,
            key=lambda p: (
                cols.pools[p].cost / float((cols.pools[p].capacity / total_cap).sum()),
                p,
            ),
        )
        left[p] -= 1
        return OpenBin(p, np.zeros(len(cols.groups), np.int64), cols.pools[p].capacity.copy())

    tier = cols.tier_of if cols.partial else np.zeros(len(cols.groups), np.int64)
    order = sorted(np.nonzero(residual)[0].tolist(), key=lambda g: (tier[g], -size[g], g))
    replicas = [g for g in order for _ in range(int(residual[g]))]
    opened: list[OpenBin] = []
    # First fit, resumed per group: a bin that could not take g never can (bins only fill up),
    # so each group's scan starts where its last one ended (thousands of replicas on thousands
    # of bins took seconds when every replica scanned every bin).
    first = [0] * len(cols.groups)
    for g in replicas:
        if time.perf_counter() > deadline or interrupt.requested():
            return None
        k = first[g]
        while k < len(opened) and not fits(opened[k], g):
            k += 1
        first[g] = k
        if k == len(opened):
            bin_ = open_bin(g)
            if bin_ is None:
                if not cols.partial:
                    return None  # the residual does not fit (in partial mode it stays unplaced)
                continue
            opened.append(bin_)
        place(opened[k], g)
    for bin_ in opened:
        c = cols.add(bin_.pool, bin_.config)
        uses[c] = uses.get(c, 0) + 1
    return uses


def dive(master: Master, deadline: float) -> dict[int, int] | None:
    """Price-and-dive: fix the LP's whole bins (or round up its largest fraction), re-solve the
    residual LP with new columns, repeat until everything is covered. None when the time runs
    out or the residual cannot be covered."""
    cols = master.cols
    uses: dict[int, int] = defaultdict(int)
    need, room = cols.count.copy(), cols.sizes.copy()
    try:
        while time.perf_counter() < deadline and not interrupt.requested():
            master.generate(min(deadline, time.perf_counter() + DIVE_STEP_SECONDS))
            z = master.lp_values()
            if not master.lp_ok or z is None:
                return None
            whole = np.floor(z + 1e-6).astype(np.int64)
            if not whole.any():  # round up the largest fraction
                best = int(np.argmax(z)) if len(z) else 0
                if not len(z) or z[best] <= 1e-9:
                    return dict(uses) if cols.partial else None  # the rest stays unplaced
                whole[best] = 1
            for c in np.nonzero(whole)[0].tolist():
                column = cols.columns[c]
                k = min(int(whole[c]), int(room[column.pool]))
                if k <= 0:
                    continue
                uses[c] += k
                room[column.pool] -= k
                need = np.maximum(0, need - k * column.config)
            if not need.any():
                return dict(uses)
            master.set_residual(need, room)
        return None
    finally:
        master.set_residual(cols.count.copy(), cols.sizes.copy())


def rebalance(
    cols: Columns, uses: Mapping[int, int] | None, deadline: float
) -> dict[int, int] | None:
    """Move configurations between sibling pools (the same machine in other domains) so that
    every spread rule sees domains filled evenly: configurations richest in spread items first,
    each to the sibling whose domains hold the fewest of them so far."""
    if uses is None or not cols.spreads:
        return None if uses is None else dict(uses)
    family: dict[Any, list[int]] = defaultdict(list)
    for p, pool in enumerate(cols.pools):
        key = (pool.capacity.tobytes(), pool.cost, pool.upper.tobytes(), repr(pool.rules))
        family[key].append(p)
    sibling_of = {p: tuple(members) for members in family.values() for p in members}
    load: list[defaultdict[str | None, int]] = [
        defaultdict(int) for _ in cols.spreads
    ]  # per rule: domain -> items so far
    room = cols.sizes.copy()
    configs = [
        (c, cols.columns[c].pool, cols.columns[c].config.copy())
        for c, n in uses.items()
        for _ in range(n)
    ]
    # Drop surplus replicas of spread groups first, so the domains are balanced afterwards.
    total = np.sum([a for _, _, a in configs], axis=0) if configs else cols.count * 0
    surplus = np.where(cols.exact_groups, np.maximum(0, total - cols.count), 0)
    for _, _, a in reversed(configs):
        if not surplus.any():
            break
        take = np.minimum(a, surplus)
        a -= take
        surplus -= take
    configs = [item for item in configs if item[2].any()]

    def weight(config: IntArray) -> int:
        return sum(int(config[rule.groups].sum()) for rule in cols.spreads)

    configs.sort(key=lambda item: (-weight(item[2]), item[0]))
    laid: list[Laid] = []
    for _, p, config in configs:
        amounts = [int(config[rule.groups].sum()) for rule in cols.spreads]

        def after(q: int, amounts: list[int] = amounts) -> int:
            return sum(
                load[k][rule.domains[q]] + a
                for k, (rule, a) in enumerate(zip(cols.spreads, amounts, strict=True))
                if a and rule.domains[q] is not None
            )

        options = [q for q in sibling_of[p] if room[q] > 0]
        q = min(options, key=lambda q: (after(q), q))
        room[q] -= 1
        for k, rule in enumerate(cols.spreads):
            if amounts[k] and rule.domains[q] is not None:
                load[k][rule.domains[q]] += amounts[k]
        laid.append(Laid(q, config, np.array(amounts, np.int64)))
    _repair_spread(cols, laid, room, sibling_of, deadline)
    out: dict[int, int] = defaultdict(int)
    for bin_ in laid:
        out[cols.add(bin_.pool, bin_.config)] += 1
    return dict(out)


def _repair_spread(
    cols: Columns,
    laid: list[Laid],
    room: IntArray,
    sibling_of: Mapping[int, tuple[int, ...]],
    deadline: float,
) -> None:
    """Local search: move a configuration to an idle sibling bin, or swap two siblings'
    configurations (same machine, other domain), while that lowers the spread excess."""
    domains = sorted({d for rule in cols.spreads for d in rule.domains if d is not None})
    slot = {d: n for n, d in enumerate(domains)}
    where = [
        [slot.get(d, -1) if (d := rule.domains[q]) is not None else -1 for rule in cols.spreads]
        for q in range(len(cols.pools))
    ]
    load = np.zeros((len(cols.spreads), len(domains)), np.int64)
    for bin_ in laid:
        for k, a in enumerate(bin_.amounts):
            if where[bin_.pool][k] >= 0:
                load[k, where[bin_.pool][k]] += a

    def shift(amounts: IntArray, q_from: int, q_to: int, sign: int) -> None:
        for k, a in enumerate(amounts):
            if a:
                if where[q_from][k] >= 0:
                    load[k, where[q_from][k]] -= sign * a
                if where[q_to][k] >= 0:
                    load[k, where[q_to][k]] += sign * a

    excess = cols.spread_excess(load)
    for _ in range(REPAIR_STEPS):
        if excess == 0 or time.perf_counter() > deadline:
            return
        # Only (pool, spread amounts) matters to the excess: one representative per pattern.
        patterns: dict[tuple[int, bytes], int] = {}
        for i, bin_ in enumerate(laid):
            patterns.setdefault((bin_.pool, bin_.amounts.tobytes()), i)
        by_pool: dict[int, list[int]] = defaultdict(list)
        for (q, _), i in patterns.items():
            by_pool[q].append(i)
        best: tuple[int, str, int, int] | None = None  # (excess, move | swap, bin, target)
        for i in patterns.values():
            q, amounts = laid[i].pool, laid[i].amounts
            if not amounts.any():
                continue
            for q2 in sibling_of[q]:
                if q2 == q:
                    continue
                if room[q2] > 0:  # move to an idle bin of the sibling
                    shift(amounts, q, q2, 1)
                    value = cols.spread_excess(load)
                    shift(amounts, q, q2, -1)
                    if value < excess and (best is None or value < best[0]):
                        best = (value, "move", i, q2)
                for j in by_pool.get(q2, []):
                    other = laid[j].amounts
                    shift(amounts, q, q2, 1)
                    shift(other, q2, q, 1)
                    value = cols.spread_excess(load)
                    shift(other, q2, q, -1)
                    shift(amounts, q, q2, -1)
                    if value < excess and (best is None or value < best[0]):
                        best = (value, "swap", i, j)
        if best is None:
            return
        excess, kind, i, target = best
        q = laid[i].pool
        if kind == "move":
            shift(laid[i].amounts, q, target, 1)
            room[q] += 1
            room[target] -= 1
            laid[i].pool = target
        else:
            q2 = laid[target].pool
            shift(laid[i].amounts, q, q2, 1)
            shift(laid[target].amounts, q2, q, 1)
            laid[i].pool, laid[target].pool = q2, q
