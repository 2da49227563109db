"""Readers for public bin-packing benchmark formats, each producing a placer ``Problem``.

- BPPLIB "BPP format" (1-D bin packing): ``n``, capacity ``c``, then ``n`` item weights.
- VPSolver ``.vbp`` (vector bin packing): ``d``, the ``d`` capacities, ``m`` item types, then
  ``m`` rows ``w_1 … w_d q`` (sizes and multiplicity).

Both give identical bins ``bin-000``… with one resource per dimension (``r0`` … ``r{d-1}``),
equal-size items grouped into one required group with a count, and the objective
``[{bins_used: 1}]``. The number of bins is first-fit-decreasing's count, a safe upper bound, so
the optimum of the IR equals the benchmark's known optimum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import InputError
from .ir import Bin, ItemGroup, Problem

__all__ = ["bins_by_first_fit", "read_bpplib", "read_vbp"]


class _Tokens:
    """Whitespace-separated integers of a file, each remembering its line for error messages."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", source=self.source) from None
        self._tokens: Iterator[tuple[int, str]] = (
            (number, token)
            for number, line in enumerate(text.splitlines(), start=1)
            for token in line.split()
        )
        self.line = 0

    def error(self, reason: str) -> InputError:
        return InputError(reason, path=f"line {self.line}" if self.line else "", source=self.source)

    def integer(self, what: str, *, minimum: int = 0) -> int:
        try:
            self.line, token = next(self._tokens)
        except StopIteration:
            raise self.error(f"file ends before {what}") from None
        try:
            value = int(token)
        except ValueError:
            raise self.error(f"{what}: expected an integer, got {token!r}") from None
        if value < minimum:
            raise self.error(f"{what}: must be at least {minimum}, got {value}")
        return value

    def expect_end(self) -> None:
        rest = next(self._tokens, None)
        if rest is not None:
            self.line = rest[0]
            raise self.error(f"unexpected extra data {rest[1]!r}")


def bins_by_first_fit(sizes: np.ndarray, capacity: np.ndarray) -> int:
    """Bins used by first-fit-decreasing (items sorted by their largest capacity fraction), the
    packing library's own. ``sizes`` is (n, d), ``capacity`` is (d,); every item must fit."""
    from solvers.packing.heuristics import first_fit_decreasing

    rows = [tuple(int(a) for a in row) for row in sizes]
    return len(first_fit_decreasing(rows, [1] * len(rows), [int(c) for c in capacity]))


def packing_problem(
    name: str, capacity: list[int], items: Counter[tuple[int, ...]], meta: dict[str, object]
) -> Problem:
    """Identical bins (as many as first-fit decreasing uses), equal items grouped, objective
    fewest bins: how a packing file (or a generated packing) becomes a Problem."""
    resources = [f"r{k}" for k in range(len(capacity))]
    # Largest items first, so item-000 is the hardest to place (nice for reading plans).
    kinds = sorted(items, key=lambda s: (-max(a / c for a, c in zip(s, capacity, strict=True)), s))
    sizes = np.array([s for s in kinds for _ in range(items[s])], dtype=np.int64).reshape(
        -1, len(capacity)
    )
    n_bins = max(1, bins_by_first_fit(sizes, np.array(capacity, dtype=np.int64)))
    width = max(3, len(str(n_bins - 1)))
    bins = tuple(
        Bin(name=f"bin-{b:0{width}d}", capacity=dict(zip(resources, capacity, strict=True)))
        for b in range(n_bins)
    )
    groups = tuple(
        ItemGroup(
            name=f"item-{k:0{max(3, len(str(len(kinds) - 1)))}d}",
            count=items[size],
            demand={r: a for r, a in zip(resources, size, strict=True) if a > 0},
            required=True,
        )
        for k, size in enumerate(kinds)
    )
    return Problem(
        name=name,
        bins=bins,
        items=groups,
        objective=({"bins_used": 1.0},),
        meta={**meta, "ffd_bins": n_bins},
    )


def read_bpplib(path: str | Path) -> Problem:
    """A BPPLIB 1-D instance (``n``, ``c``, ``n`` weights) as a Problem; bad files raise InputError."""
    path = Path(path)
    tokens = _Tokens(path)
    n = tokens.integer("the number of items n", minimum=1)
    capacity = tokens.integer("the bin capacity c", minimum=1)
    weights: Counter[tuple[int, ...]] = Counter()
    for j in range(n):
        w = tokens.integer(f"weight of item {j + 1} of {n}", minimum=0)
        if w > capacity:
            raise tokens.error(f"item {j + 1} weight {w} exceeds the bin capacity {capacity}")
        weights[(w,)] += 1
    tokens.expect_end()
    return packing_problem(
        path.stem, [capacity], weights, {"format": "bpplib", "source": str(path), "n": n}
    )


def read_vbp(path: str | Path) -> Problem:
    """A VPSolver ``.vbp`` vector bin-packing instance as a Problem; bad files raise InputError."""
    path = Path(path)
    tokens = _Tokens(path)
    d = tokens.integer("the number of dimensions d", minimum=1)
    capacity = [tokens.integer(f"capacity of dimension {k + 1}", minimum=1) for k in range(d)]
    m = tokens.integer("the number of item types m", minimum=1)
    items: Counter[tuple[int, ...]] = Counter()
    for j in range(m):
        size = tuple(
            tokens.integer(f"size {k + 1} of item type {j + 1}", minimum=0) for k in range(d)
        )
        q = tokens.integer(f"multiplicity of item type {j + 1}", minimum=0)
        for k, (a, c) in enumerate(zip(size, capacity, strict=True)):
            if a > c:
                raise tokens.error(
                    f"item type {j + 1} size {a} exceeds capacity {c} in dimension {k + 1}"
                )
        if q > 0:
            items[size] += q
    tokens.expect_end()
    if not items:
        raise InputError("no items (every multiplicity is 0)", source=str(path))
    return packing_problem(
        path.stem,
        capacity,
        items,
        {"format": "vbp", "source": str(path), "n": sum(items.values())},
    )
