"""The device-pattern LP: a relaxation of filling the nodes, solved by column generation.

Per node class ``c`` (``n_c`` alike nodes) and device kind ``k`` (identical slots, ``m_ck`` per
node; ``D_ck = n_c·m_ck`` devices in all):

- ``y[c, k, p]``: devices of kind k holding pattern p (``patterns``; its uses are shares);
- ``w[c, g]``: items of a whole-device group, ``u[c, g, k]`` the kind-k devices they take
  (``Σ_k u = need_g·w``, only untouched kinds);
- ``x[c, g]``: items of a group without devices.

Rows: every group's items at most its items left; per class and node resource the items'
demand at most ``n_c·room`` (summed over the class: the relaxation); per kind at most ``D_ck``
devices. Every plan gives a solution, so the LP optimum bounds level 1; for ANY duals
(``π, ρ >= 0``, links free) ``Σπ·left + Σρ·n·room + Σ_ck D_ck·max(0, best reduced profit of a
device of kind k) + Σ ub·max(0, reduced profit)`` over the ``w`` and ``x`` columns bounds it too
(the kind rows kept, the rest relaxed), and the best pattern is found exactly, so the bound is
honest whenever generation stops.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...deadline import Deadline, highs_run
from ...quiet import quiet_stdout
from .classes import IntArray, NodeClass
from .patterns import FloatArray, Pattern, best_pattern
from .pricing import Pricer, kinds_of

REDUCED_EPS = 1e-7


@dataclass
class Kind:
    cls: int
    slot: int  # a representative slot
    slots: list[int]  # the class's slots of this kind
    devices: int  # n_c · slots per node
    untouched: bool


@dataclass
class Column:
    kind: str  # pattern | whole | use | plain
    cls: int
    group: int = -1  # whole, use, plain
    device_kind: int = -1  # pattern, use
    pattern: Pattern | None = None


@dataclass
class Relaxation:
    bound: float
    lp: float | None
    rounds: int
    converged: bool
    values: FloatArray  # per column
    columns: list[Column] = field(default_factory=list)
    kinds: list[Kind] = field(default_factory=list)


class PatternMaster:
    def __init__(
        self, pricer: Pricer, classes: list[NodeClass], profit: FloatArray, left: IntArray
    ) -> None:
        import highspy

        self.hs = highspy
        self.pricer, self.classes, self.profit, self.left = pricer, classes, profit, left
        self.groups = len(left)
        self.kinds: list[Kind] = []
        self.kind_of_slot: list[list[int]] = []
        for c, cls in enumerate(classes):
            index: dict[int, int] = {}
            mine = []
            for s, k in enumerate(kinds_of(cls)):
                if k not in index:
                    index[k] = len(self.kinds)
                    slot = cls.slots[s]
                    self.kinds.append(Kind(c, s, [], 0, slot.untouched))
                kind = self.kinds[index[k]]
                kind.slots.append(s)
                kind.devices += cls.size
                mine.append(index[k])
            self.kind_of_slot.append(mine)
        # rows: groups, class resources, kinds, links (one per (class, whole group))
        self.rows_upper: list[float] = list(left.astype(np.float64))
        self.resource_row: dict[tuple[int, int], int] = {}
        for c, cls in enumerate(classes):
            room = cls.room // pricer.div
            for r in range(len(room)):
                self.resource_row[(c, r)] = self._row(float(cls.size * room[r]))
        self.kind_row = [self._row(float(k.devices)) for k in self.kinds]
        self.link_row: dict[tuple[int, int], int] = {}
        self.columns: list[Column] = []
        self.col_profit: list[float] = []
        self.col_upper: list[float] = []
        self.col_rows: list[tuple[list[int], list[float]]] = []
        self._seen: set[Any] = set()
        self._fixed_columns()
        self._fixed = self._fixed_matrix()
        self._share_groups: dict[int, list[int]] = {}
        with quiet_stdout():
            lp = highspy.Highs()
        lp.setOptionValue("output_flag", False)
        lp.setOptionValue("threads", 1)
        lower = np.full(len(self.rows_upper), -highspy.kHighsInf)
        for row in self.link_row.values():
            lower[row] = 0.0
        lp.addRows(
            len(self.rows_upper),
            lower,
            np.array(self.rows_upper, np.float64),
            0,
            np.array([], np.int32),
            np.array([], np.int32),
            np.array([], np.float64),
        )
        self.lp: Any = lp
        self._in_lp = 0
        self._push()

    def _row(self, upper: float) -> int:
        self.rows_upper.append(upper)
        return len(self.rows_upper) - 1

    # ------------------------------------------------------------------ columns

    def _item_rows(self, c: int, g: int, amount: float) -> tuple[list[int], list[float]]:
        rows, values = [g], [amount]
        for r in range(self.pricer.demand.shape[1]):
            d = float(self.pricer.demand[g, r])
            if d > 0:
                rows.append(self.resource_row[(c, r)])
                values.append(amount * d)
        return rows, values

    def _add(
        self, column: Column, profit: float, upper: float, rows: list[int], values: list[float]
    ) -> bool:
        key = (
            column.kind,
            column.cls,
            column.group,
            column.device_kind,
            column.pattern.key() if column.pattern is not None else None,
        )
        if key in self._seen:
            return False
        self._seen.add(key)
        self.columns.append(column)
        self.col_profit.append(profit)
        self.col_upper.append(upper)
        self.col_rows.append((rows, values))
        return True

    def _fixed_columns(self) -> None:
        """Whole-device items, their device uses, and items without devices: enumerated."""
        pricer = self.pricer
        for c, cls in enumerate(self.classes):
            for g in cls.groups.tolist():
                if self.left[g] <= 0 or self.profit[g] <= 0:
                    continue
                most = pricer.fits(c, g)
                if most <= 0:
                    continue
                upper = float(cls.size * min(most, int(self.left[g])))
                need = int(pricer.need[g])
                if need and pricer.whole[g]:
                    link = self.link_row[(c, g)] = self._row(0.0)
                    rows, values = self._item_rows(c, g, 1.0)
                    self._add(
                        Column("whole", c, g),
                        float(self.profit[g]),
                        upper,
                        [*rows, link],
                        [*values, -float(need)],
                    )
                    kinds = {self.kind_of_slot[c][s] for s, _ in pricer.matches(c, g)}
                    for k in sorted(kinds):
                        self._add(
                            Column("use", c, g, k),
                            0.0,
                            float(self.kinds[k].devices),
                            [link, self.kind_row[k]],
                            [1.0, 1.0],
                        )
                elif not need:
                    rows, values = self._item_rows(c, g, 1.0)
                    self._add(Column("plain", c, g), float(self.profit[g]), upper, rows, values)

    def _fixed_matrix(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        """The whole and plain columns (all made at the start) as flat (column, row, value)
        entries with their profits and upper bounds, for their reduced profits in one go."""
        fixed = [j for j, c in enumerate(self.columns) if c.kind in ("whole", "plain")]
        cols: list[int] = []
        rows: list[int] = []
        values: list[float] = []
        for n, j in enumerate(fixed):
            r, v = self.col_rows[j]
            cols += [n] * len(r)
            rows += r
            values += v
        return (
            np.array(cols, np.int64),
            np.array(rows, np.int64),
            np.array(values, np.float64),
            np.array([self.col_profit[j] for j in fixed], np.float64),
            np.array([self.col_upper[j] for j in fixed], np.float64),
        )

    def _add_pattern(self, k: int, pattern: Pattern) -> bool:
        kind = self.kinds[k]
        c = kind.cls
        rows: dict[int, float] = defaultdict(float)
        profit = 0.0
        for g, n in pattern.uses:
            items = n / float(self.pricer.need[g])
            profit += items * float(self.profit[g])
            item_rows, values = self._item_rows(c, g, items)
            for row, v in zip(item_rows, values, strict=True):
                rows[row] += v
        rows[self.kind_row[k]] += 1.0
        return self._add(
            Column("pattern", c, device_kind=k, pattern=pattern),
            profit,
            float(kind.devices),
            list(rows),
            list(rows.values()),
        )

    def _push(self) -> None:
        for j in range(self._in_lp, len(self.columns)):
            rows, values = self.col_rows[j]
            self.lp.addCol(
                -self.col_profit[j],
                0.0,
                self.col_upper[j],
                len(rows),
                np.array(rows, np.int32),
                np.array(values, np.float64),
            )
        self._in_lp = len(self.columns)

    def tighten(self, c: int, r: int, upper: float) -> None:
        """Hold class c's resource r to ``upper`` in total (a guide for the layout: the LP's
        bound is then no longer a bound of the problem)."""
        row = self.resource_row[(c, r)]
        self.rows_upper[row] = upper
        self.lp.changeRowBounds(row, -self.hs.kHighsInf, upper)

    # ------------------------------------------------------------------ generation

    def _per_use(self, c: int, duals: FloatArray) -> FloatArray:
        """Reduced profit of one device use of each group in class c (kind rows excluded)."""
        pricer = self.pricer
        rc = self.profit - duals[: self.groups]
        room_duals = np.array(
            [duals[self.resource_row[(c, r)]] for r in range(pricer.demand.shape[1])]
        )
        rc = rc - pricer.demand @ room_duals
        need = np.maximum(pricer.need, 1)
        return rc / need

    def _price(
        self, k: int, per_use: FloatArray, deadline: Deadline
    ) -> tuple[Pattern, float, bool]:
        kind = self.kinds[k]
        c = kind.cls
        slot = self.classes[c].slots[kind.slot]
        pricer = self.pricer
        share_groups = self._share_groups.get(k)
        if share_groups is None:  # the class, its slots and the items left never change
            share_groups = self._share_groups[k] = [
                g
                for g in self.classes[c].groups.tolist()
                if pricer.need[g]
                and not pricer.whole[g]
                and self.left[g] > 0
                and any(s == kind.slot for s, _ in pricer.matches(c, g))
            ]
        most = np.zeros(self.groups, np.int64)
        for g in share_groups:
            most[g] = int(self.left[g]) * int(pricer.need[g])
        return best_pattern(
            np.array(slot.room, np.int64), share_groups, pricer.share, per_use, most, deadline
        )

    def generate(self, until: Deadline, final: Deadline | None = None) -> Relaxation:
        """Column generation until no pattern improves or ``until``; the best bound found.
        The LP is solved once more (within ``final``) when columns came after its last solve."""
        best = math.inf
        rounds = 0
        converged = False
        duals = np.zeros(len(self.rows_upper))
        lp_value: float | None = None
        values = np.zeros(0)
        while True:
            solved = self._solve(until)
            if solved is None:
                break
            lp_value, duals, values = solved
            link = list(self.link_row.values())
            free = duals[link].copy()
            duals = np.maximum(duals, 0.0)
            duals[link] = free
            rounds += 1
            bound, improving = self._round(duals, until)
            best = min(best, bound)
            if not improving:
                converged = not until.expired()
                break
            if until.expired():
                break
        if len(values) < len(self.columns):  # columns added after the last solve
            solved = self._solve(final or until)
            if solved is not None:
                lp_value, _, values = solved
        return Relaxation(best, lp_value, rounds, converged, values, self.columns, self.kinds)

    def _solve(self, deadline: Deadline) -> tuple[float, FloatArray, FloatArray] | None:
        """The restricted LP: (value, duals, column values); None when HiGHS fails or has no
        time left."""
        self._push()
        if not self.columns:  # nothing to choose: value 0, every dual 0
            return 0.0, np.zeros(len(self.rows_upper)), np.zeros(0)
        if not highs_run(self.lp, deadline):
            return None
        if self.lp.getModelStatus() != self.hs.HighsModelStatus.kOptimal:
            return None
        solution = self.lp.getSolution()
        return (
            -float(self.lp.getInfo().objective_function_value),
            -np.asarray(solution.row_dual, dtype=np.float64),
            np.asarray(solution.col_value, dtype=np.float64),
        )

    def _round(self, duals: FloatArray, until: Deadline) -> tuple[float, bool]:
        """Price every kind once: (the Lagrangian bound of these duals, any column added)."""
        bound = float(duals[: self.groups] @ self.left)
        bound += sum(float(duals[row]) * self.rows_upper[row] for row in self.resource_row.values())
        kind_duals = duals[self.kind_row]
        cols, rows, values, profit, upper = self._fixed  # w and x: their own bounds
        if len(profit):
            priced = np.bincount(cols, weights=duals[rows] * values, minlength=len(profit))
            bound += float(upper @ np.maximum(0.0, profit - priced))
        improving = False
        per_use = {c: self._per_use(c, duals) for c in range(len(self.classes))}
        best_use: dict[int, float] = defaultdict(float)
        for column in self.columns:  # a device taken whole: its link dual
            if column.kind == "use":
                row = self.link_row[(column.cls, column.group)]
                best_use[column.device_kind] = max(best_use[column.device_kind], -float(duals[row]))
        for k, kind in enumerate(self.kinds):
            # an unproven pricing still gives an upper bound: the bound stays honest
            pattern, value, _ = self._price(k, per_use[kind.cls], until.part(1.0, at_most=1.0))
            bound += kind.devices * max(0.0, value, best_use[k])
            if (
                pattern.uses
                and value - kind_duals[k] > REDUCED_EPS
                and self._add_pattern(k, pattern)
            ):
                improving = True
        return bound, improving


def master_profit(column: Column, profit: FloatArray, pricer: Pricer) -> float:
    """The level-1 profit of one unit of an LP column."""
    if column.kind == "pattern" and column.pattern is not None:
        return sum(n / float(pricer.need[g]) * float(profit[g]) for g, n in column.pattern.uses)
    if column.kind in ("whole", "plain"):
        return float(profit[column.group])
    return 0.0
