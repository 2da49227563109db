"""Hard constraints of the QUBO model: each adds its own penalty to a BQM and measures its own
violation on a 0/1 state vector.

Every penalty is zero exactly when the constraint holds (for slack-encoded inequalities: for the
best slack value) and at least ``weight`` per unit of violation otherwise, because all
coefficients are integers after scaling. That is what lets ``model`` calibrate weights so
that no objective gain pays for a violation. The unbalanced inequality encoding is the one
exception: it is slack-free but also biases feasible states (documented on ``LinearLeq``).

Variables are integer indices into the model's label list; ``z`` is a 0/1 numpy vector over them.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Encoding = Literal["slack", "unbalanced"]

# The unbalanced-penalisation defaults of Montañez-Barrera et al. (2022), "Unbalanced penalization:
# a new approach to encode inequality constraints of combinatorial problems for quantum
# optimization algorithms": penalty = l2·h² − l1·h for h = rhs − lhs ≥ 0.
UNBALANCED_L1 = 0.96
UNBALANCED_L2 = 0.0371


class QuadraticSink:
    """Accumulates linear and quadratic biases over integer variables (cheaper than a BQM).

    A squared sum couples every two of its terms: such blocks are kept as arrays and summed per
    pair only when read (``coo``), since millions of single dictionary updates took seconds."""

    FOLD_AT = 4_000_000  # pending block entries summed into one block past this many

    def __init__(self) -> None:
        self.linear: dict[int, float] = {}
        self._pairs: dict[tuple[int, int], float] = {}
        self._blocks: list[Pairs] = []
        self._pending = 0
        self.offset = 0.0

    @property
    def quadratic(self) -> dict[tuple[int, int], float]:
        """Bias per pair (u < v)."""
        if self._blocks:
            rows, cols, data = self.coo()
            pairs = zip(rows.tolist(), cols.tolist(), strict=True)
            self._pairs = dict(zip(pairs, data.tolist(), strict=True))
            self._blocks, self._pending = [], 0
        return self._pairs

    def coo(self, summed: bool = True) -> Pairs:
        """(rows, cols, biases), rows < cols, one entry per pair (``summed=False``: a pair may
        have several entries, to be added, as dimod does when it builds a BQM from them)."""
        parts = list(self._blocks)
        if self._pairs:
            keys = np.array(list(self._pairs), dtype=np.int64).reshape(-1, 2)
            values = np.fromiter(self._pairs.values(), float, len(self._pairs))
            parts.append((keys[:, 0], keys[:, 1], values))
        return sum_pairs(parts) if summed else concatenated(parts)

    def add_linear(self, v: int, bias: float) -> None:
        if bias:
            self.linear[v] = self.linear.get(v, 0.0) + bias

    def add_quadratic(self, u: int, v: int, bias: float) -> None:
        if not bias:
            return
        if u == v:  # x² = x for binaries
            self.add_linear(u, bias)
            return
        key = (u, v) if u < v else (v, u)
        self._pairs[key] = self._pairs.get(key, 0.0) + bias

    def add_block(self, us: np.ndarray, vs: np.ndarray, biases: np.ndarray) -> None:
        """Many ``add_quadratic`` at once."""
        keep = biases != 0
        us, vs, biases = us[keep], vs[keep], biases[keep]
        same = us == vs
        if same.any():  # x² = x
            for v, b in zip(us[same].tolist(), biases[same].tolist(), strict=True):
                self.add_linear(v, b)
            us, vs, biases = us[~same], vs[~same], biases[~same]
        self._blocks.append((np.minimum(us, vs), np.maximum(us, vs), biases))
        self._pending += len(biases)
        if self._pending > self.FOLD_AT:  # bounded memory: duplicates summed
            self._blocks, self._pending = [sum_pairs(self._blocks)], 0

    def add_all_pairs(self, members: Sequence[int] | np.ndarray, bias: float) -> None:
        """``bias`` on every two of ``members``."""
        vs = np.asarray(members, dtype=np.int64)
        i, j = np.triu_indices(len(vs), 1)
        self.add_block(vs[i], vs[j], np.full(len(i), float(bias)))

    def add_squared(
        self, terms: Sequence[tuple[int, float]], constant: float, weight: float
    ) -> None:
        """weight · (Σ c·v + constant)², expanded with v² = v."""
        vs = np.fromiter((v for v, _ in terms), np.int64, len(terms))
        cs = np.fromiter((c for _, c in terms), float, len(terms))
        for v, b in zip(
            vs.tolist(), (weight * (cs * cs + 2.0 * cs * constant)).tolist(), strict=True
        ):
            self.add_linear(v, b)
        i, j = np.triu_indices(len(vs), 1)
        self.add_block(vs[i], vs[j], 2.0 * weight * cs[i] * cs[j])
        self.offset += weight * constant * constant


Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # rows, cols, biases


def concatenated(parts: Sequence[Pairs]) -> Pairs:
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    rows = np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False)
    cols = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
    return rows, cols, np.concatenate([p[2] for p in parts]).astype(float, copy=False)


def sum_pairs(parts: Sequence[Pairs]) -> Pairs:
    """The parts' entries with the biases of each (row, col) pair summed."""
    rows, cols, data = concatenated(parts)
    if not len(rows):
        return rows, cols, data
    width = int(cols.max()) + 1
    keys, where = np.unique(rows * width + cols, return_inverse=True)
    return keys // width, keys % width, np.bincount(where, weights=data, minlength=len(keys))


@dataclass
class HardConstraint(ABC):
    name: str  # e.g. "capacity[node-a/cpu]", shown in info
    kind: str  # "one_hot", "capacity", "anti_affinity", ... for per-kind reporting
    weight: float = 0.0  # penalty per unit of violation, set by calibration

    @property
    @abstractmethod
    def variables(self) -> np.ndarray:
        """Indices of the decision variables it reads (slack excluded)."""

    @abstractmethod
    def add_penalty(self, sink: QuadraticSink) -> None: ...

    @abstractmethod
    def violation(self, z: np.ndarray) -> float:
        """0 when satisfied; otherwise how much it is broken (items, units)."""


@dataclass
class OneHot(HardConstraint):
    """An item on at most one bin (``exact``: exactly one, for required items)."""

    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    exact: bool = False

    @property
    def variables(self) -> np.ndarray:
        return self.members

    def add_penalty(self, sink: QuadraticSink) -> None:
        if self.exact:
            sink.add_squared([(int(v), 1.0) for v in self.members], -1.0, self.weight)
            return
        sink.add_all_pairs(self.members, self.weight)

    def violation(self, z: np.ndarray) -> float:
        s = int(z[self.members].sum())
        return float(abs(s - 1) if self.exact else max(0, s - 1))


@dataclass
class Conflicts(HardConstraint):
    """Pairs that must not both be 1, and single variables that must be 0 (x·y and x penalties)."""

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    forbidden: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def variables(self) -> np.ndarray:
        return np.unique(np.concatenate([self.pairs.ravel(), self.forbidden]))

    def add_penalty(self, sink: QuadraticSink) -> None:
        sink.add_block(self.pairs[:, 0], self.pairs[:, 1], np.full(len(self.pairs), self.weight))
        for v in self.forbidden.tolist():
            sink.add_linear(v, self.weight)

    def violation(self, z: np.ndarray) -> float:
        both = int((z[self.pairs[:, 0]] & z[self.pairs[:, 1]]).sum()) if len(self.pairs) else 0
        return float(both + int(z[self.forbidden].sum()))


@dataclass
class LinearLeq(HardConstraint):
    """Σ coef·x ≤ rhs over integers (capacity, quota, anti-affinity with max_per_domain > 1).

    ``slack``: weight·(Σ coef·x + Σ 2^i·s_i − rhs)² with ⌈log2(rhs+1)⌉ slack bits whose values
    span exactly 0..rhs; zero iff feasible (at the best slack), ≥ weight per unit over.
    ``unbalanced``: weight·(l2·h² − l1·h) with h = rhs − Σ coef·x, no slack bits; it costs
    about weight·(l1 + l2) for the first unit over, but also rewards (small h) or taxes (large h)
    feasible states, so its ground state need not be the optimum — the decoded plan is verified.
    """

    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    coefs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rhs: int = 0
    encoding: Encoding = "slack"
    slack: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unbalanced: tuple[float, float] = (UNBALANCED_L1, UNBALANCED_L2)

    @property
    def variables(self) -> np.ndarray:
        return self.members

    @staticmethod
    def slack_coefficients(rhs: int) -> list[int]:
        """Binary weights 1, 2, 4, …, last trimmed so that they sum to rhs exactly."""
        out: list[int] = []
        total = 0
        while total < rhs:
            step = min(1 << len(out), rhs - total)
            out.append(step)
            total += step
        return out

    def add_penalty(self, sink: QuadraticSink) -> None:
        terms = [(int(v), float(c)) for v, c in zip(self.members, self.coefs, strict=True)]
        if self.encoding == "slack":
            coefs = self.slack_coefficients(self.rhs)
            terms += [(int(s), float(c)) for s, c in zip(self.slack, coefs, strict=True)]
            sink.add_squared(terms, -float(self.rhs), self.weight)
            return
        l1, l2 = self.unbalanced
        # l2·(rhs − lhs)² − l1·(rhs − lhs)
        sink.add_squared(terms, -float(self.rhs), self.weight * l2)
        for v, c in terms:
            sink.add_linear(v, self.weight * l1 * c)
        sink.offset -= self.weight * l1 * self.rhs

    def lhs(self, z: np.ndarray) -> int:
        return int((z[self.members].astype(np.int64) * self.coefs).sum())

    def violation(self, z: np.ndarray) -> float:
        return float(max(0, self.lhs(z) - self.rhs))

    def best_slack(self, z: np.ndarray) -> dict[int, int]:
        """Slack bit values that zero the penalty when the state is feasible (for hints)."""
        left = max(0, self.rhs - self.lhs(z))
        out: dict[int, int] = {}
        for s, c in sorted(
            zip(self.slack.tolist(), self.slack_coefficients(self.rhs), strict=True),
            key=lambda sc: -sc[1],
        ):
            take = int(c <= left)
            out[s] = take
            left -= c * take
        return out


@dataclass
class AllOrNothing(HardConstraint):
    """Gang: every item placed or none. Items are given by their variable sets (an item is placed
    when one of its variables is 1). ``forced``: some member is pinned, so all must be placed.

    Penalty: a chain of weight·(p_a − p_b)² over consecutive items (p = Σ of an item's variables),
    or weight·(1 − p)² for each item when forced; both expand to quadratics, are ≥ 0, and are
    zero iff the rule holds.
    """

    items: list[np.ndarray] = field(default_factory=list)
    forced: bool = False

    @property
    def variables(self) -> np.ndarray:
        if not self.items:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self.items)

    def add_penalty(self, sink: QuadraticSink) -> None:
        if self.forced:
            for vars_ in self.items:
                sink.add_squared([(int(v), 1.0) for v in vars_], -1.0, self.weight)
            return
        for a, b in itertools.pairwise(self.items):
            terms = [(int(v), 1.0) for v in a] + [(int(v), -1.0) for v in b]
            sink.add_squared(terms, 0.0, self.weight)

    def placed(self, z: np.ndarray) -> list[bool]:
        return [bool(z[vars_].any()) for vars_ in self.items]

    def violation(self, z: np.ndarray) -> float:
        placed = self.placed(z)
        n_on = sum(placed)
        if self.forced:
            return float(len(placed) - n_on)
        return float(min(n_on, len(placed) - n_on))


@dataclass
class Implies(HardConstraint):
    """x → y for (x, y) pairs (an item on a bin makes the bin used): weight·(x − x·y)."""

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def variables(self) -> np.ndarray:
        return np.unique(self.pairs.ravel())

    def add_penalty(self, sink: QuadraticSink) -> None:
        for x, y in self.pairs.tolist():
            sink.add_linear(x, self.weight)
            sink.add_quadratic(x, y, -self.weight)

    def violation(self, z: np.ndarray) -> float:
        return float((z[self.pairs[:, 0]] & (1 - z[self.pairs[:, 1]])).sum())


def describe(constraints: Sequence[HardConstraint]) -> dict[str, Any]:
    """Per-kind count and weight range, for ``info``."""
    out: dict[str, Any] = {}
    for c in constraints:
        row = out.setdefault(c.kind, {"count": 0, "min_weight": c.weight, "max_weight": c.weight})
        row["count"] += 1
        row["min_weight"] = min(row["min_weight"], c.weight)
        row["max_weight"] = max(row["max_weight"], c.weight)
    return out
