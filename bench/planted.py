"""Packings generated with a known optimum: every bin of a planted packing is filled exactly, so
the volume bound proves that the planted number of bins is the optimum.

The generators are the packing tests' and the bench's (suite kind ``planted``, e.g.
``bench/suites/binpack-planted.yaml``): ``draw`` picks the size of an instance from ranges for a
seed, builds its items and keeps the planted bin count as the best known value (optimal).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import InputError
from engine.formats import packing_problem
from engine.ir import Problem


def planted(bins: int, capacity: int, pieces: tuple[int, int], seed: int) -> list[int]:
    """Items that fill ``bins`` bins exactly: each bin cut at random into ``pieces`` (2..5, say)
    pieces (the optimum is ``bins``)."""
    rng = random.Random(seed)
    out: list[int] = []
    for _ in range(bins):
        k = rng.randint(*pieces)
        cuts = sorted(rng.sample(range(1, capacity), k - 1))
        out += [b - a for a, b in zip([0, *cuts], [*cuts, capacity], strict=True)]
    return out


def triplets(bins: int, capacity: int, seed: int) -> list[int]:
    """Falkenauer-style triplets: each bin is one item in (C/3, C/2) and two in (C/4, C/3+)
    adding up to C exactly (optimum = bins). Needs a capacity of at least 66."""
    rng = random.Random(seed)
    out: list[int] = []
    for _ in range(bins):
        a = rng.randint(capacity // 3 + 1, capacity // 2 - 10)
        b = rng.randint(capacity // 4 + 1, (capacity - a) // 2)
        out += [a, b, capacity - a - b]
    return out


def planted_vectors(
    bins: int,
    capacity: int,
    d: int,
    seed: int,
    fill: tuple[float, float] | None = None,
    shuffle: bool = False,
) -> list[list[int]]:
    """Each bin cut at random into 2–4 items in every dimension (optimum = bins); with
    ``fill``, each dimension of a bin filled to a random share in that range, not exactly
    (then at most ``bins`` bins are needed)."""
    rng = random.Random(seed)
    items: list[list[int]] = []
    for _ in range(bins):
        k = rng.randint(2, 4)
        rows = []
        for _ in range(d):
            full = capacity if fill is None else int(capacity * rng.uniform(*fill))
            cuts = sorted(rng.sample(range(1, full), k - 1))
            rows.append([b - a for a, b in zip([0, *cuts], [*cuts, full], strict=True)])
        items += [[rows[j][i] for j in range(d)] for i in range(k)]
    if shuffle:
        rng.shuffle(items)
    return items


def vector_triplets(bins: int, capacity: int, d: int, seed: int) -> list[list[int]]:
    """Each bin: three items adding up to the capacity in every dimension (optimum = bins)."""
    rng = random.Random(seed)
    items: list[list[int]] = []
    for _ in range(bins):
        rows = []
        for _ in range(d):
            a = rng.randint(capacity // 3 + 1, capacity // 2 - 10)
            b = rng.randint(capacity // 4 + 1, (capacity - a) // 2)
            parts = [a, b, capacity - a - b]
            rng.shuffle(parts)
            rows.append(parts)
        items += [[rows[k][i] for k in range(d)] for i in range(3)]
    rng.shuffle(items)
    return items


# ---------------------------------------------------------------------- suite instances


@dataclass(frozen=True)
class Planted:
    """One generated instance: its items (one row each), the capacity and the planted optimum."""

    name: str
    capacity: tuple[int, ...]
    sizes: tuple[tuple[int, ...], ...]
    optimum: int

    def problem(self) -> Problem:
        """The instance as a bin-packing Problem (identical bins, objective fewest bins)."""
        return packing_problem(
            self.name,
            list(self.capacity),
            Counter(self.sizes),
            {"format": "planted", "n": len(self.sizes), "planted_bins": self.optimum},
        )


def _perfect(rng: random.Random, bins: int, capacity: int, params: dict[str, Any]) -> list[Any]:
    low, high = params.get("pieces", (2, 5))
    return [(w,) for w in planted(bins, capacity, (int(low), int(high)), rng.randrange(2**32))]


def _triplets(rng: random.Random, bins: int, capacity: int, params: dict[str, Any]) -> list[Any]:
    return [(w,) for w in triplets(bins, capacity, rng.randrange(2**32))]


def _vectors(rng: random.Random, bins: int, capacity: int, params: dict[str, Any]) -> list[Any]:
    return planted_vectors(bins, capacity, int(params["d"]), rng.randrange(2**32), shuffle=True)


def _vector_triplets(
    rng: random.Random, bins: int, capacity: int, params: dict[str, Any]
) -> list[Any]:
    return vector_triplets(bins, capacity, int(params["d"]), rng.randrange(2**32))


# kind -> (items of a draw, parameters it takes besides bins and capacity, smallest capacity)
KINDS: dict[str, tuple[Callable[..., list[Any]], frozenset[str], int]] = {
    "perfect": (_perfect, frozenset({"pieces"}), 6),
    "triplets": (_triplets, frozenset(), 66),
    "vectors": (_vectors, frozenset({"d"}), 4),
    "vector_triplets": (_vector_triplets, frozenset({"d"}), 66),
}


def _draw_int(rng: random.Random, value: Any, log: bool = False) -> int:
    """A fixed integer, or one drawn from ``[low, high]`` (log-uniform with ``log``)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        low, high = int(value[0]), int(value[1])
        if log:
            return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))
        return rng.randint(low, high)
    return int(value)


def check_params(kind: str, params: dict[str, Any]) -> None:
    """Raise InputError for an unknown kind or parameter, or a capacity the kind cannot cut."""
    if kind not in KINDS:
        raise InputError(f"unknown planted kind {kind!r}; known kinds: {', '.join(KINDS)}")
    _, extra, smallest = KINDS[kind]
    unknown = set(params) - {"bins", "capacity", "seed"} - extra
    missing = ({"bins", "capacity"} | extra - {"pieces"}) - set(params)
    if unknown or missing:
        raise InputError(
            f"planted kind {kind!r} takes bins, capacity"
            + "".join(f", {p}" for p in sorted(extra))
            + f" (unknown: {sorted(unknown)}, missing: {sorted(missing)})"
        )
    capacity = params["capacity"]
    low = min(capacity) if isinstance(capacity, Sequence) else capacity
    if int(low) < smallest:
        raise InputError(f"planted kind {kind!r} needs a capacity of at least {smallest}")


def draw(kind: str, seed: int, **params: Any) -> Planted:
    """The instance of ``kind`` for ``seed``: ``bins`` and ``capacity`` are fixed integers or
    ``[low, high]`` ranges (capacity drawn log-uniformly); vector kinds take ``d``, ``perfect``
    the range of ``pieces`` a bin is cut into (default 2..5)."""
    check_params(kind, {**params, "seed": seed})
    make = KINDS[kind][0]
    rng = random.Random(f"{kind}-{seed}")
    bins = _draw_int(rng, params["bins"])
    capacity = _draw_int(rng, params["capacity"], log=True)
    sizes = tuple(tuple(int(a) for a in row) for row in make(rng, bins, capacity, params))
    d = len(sizes[0])
    return Planted(
        name=f"planted-{kind}-s{seed}-{bins}x{capacity}",
        capacity=(capacity,) * d,
        sizes=sizes,
        optimum=bins,
    )
