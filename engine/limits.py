"""Input limits, in one place: what placer accepts before any model is built.

Every reader (IR files, Kubernetes manifests, edge topologies, plans, extender requests) goes
through these checks, so that no input can crash a backend or exhaust the machine; each refusal
is one ``InputError`` line naming the source, the path inside it and the limit.

Stable API (the extender's request validation imports it; keep these names):

- ``check_document(doc, source=None)`` — a parsed YAML/JSON document: nesting depth
  (``MAX_DEPTH``), alias expansion (YAML anchors reused so often that the expanded document is
  mostly copies, the rule go-yaml v3 applies for kube-apiserver; recursive aliases are refused),
  integers beyond int64 (``INT64_MAX``). Linear in the document as stored, however large its
  expansion: shared sub-documents are measured once.
- ``check_problem(problem)`` — a built ``Problem``: counts, priorities and per-resource totals
  within what every backend represents exactly (int64 after their scalings; doubles for milp).
  ``Problem`` runs it on validation, so every problem passes it, whatever built it.
- ``quantity_out_of_range(resource, amount)`` — why one parsed quantity (base units) exceeds
  ``MAX_QUANTITY``, or None. The IR applies it to every resource map (capacity, demand, quota
  limits); code holding quantities outside a ``Problem`` (request caches) should call it too.
- ``check_time_limit(seconds, option)``, ``check_seed(seed, option)``,
  ``check_threads(threads, option)`` — command-line and request numbers.
- ``ModelSize.of(problem)`` — the sizes a backend's model grows with (grouped variables,
  item-expanded variables), computed in O(groups + constraints) before anything is built;
  ``require_size(actual, limit, what, hint)`` refuses a model over a limit with one line.
- ``require_int64(value, what)`` — a backend's scaled integer coefficient or bound, refused with
  one line when int64 cannot hold it.

Limits are plain module constants so that tests and services can read them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputError, PlacerError

if TYPE_CHECKING:
    from .ir import Problem

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

MAX_FILE_BYTES = 1 << 30  # an input file larger than 1 GiB is refused before it is read
MAX_DEPTH = 100  # nesting of mappings and lists (Kubernetes objects need about 20)
# Alias expansion (go-yaml v3's rule, which kube-apiserver applies to YAML): a document whose
# expanded size comes mostly from aliases is refused; the allowed share falls from 99 % for up to
# 400k nodes to 10 % from 4M nodes on.
ALIAS_RATIO_LOW = (400_000, 0.99)
ALIAS_RATIO_HIGH = (4_000_000, 0.10)
ALIAS_FREE_NODES = 1_000  # small documents may alias freely

# One quantity in base units (millicores, bytes): exact in a double, so milp (HiGHS, CBC) and
# numpy compute with it exactly. 2^53 bytes is 8 PiB, 2^53 millicores 9 billion cores.
MAX_QUANTITY = 2**53
# Per resource, the capacity of all bins and the demand of all items together: int64 sums for
# greedy's arrays and CP-SAT's linear expressions, with room for a factor 2.
MAX_TOTAL = 2**62
MAX_DEVICES = 1024  # devices in one device group of a bin (nodes hold a few, DRA slices 128)
MAX_COUNT = INT32_MAX  # items in one group (Kubernetes replicas are int32)
MAX_PRIORITY = INT32_MAX  # |priority| (Kubernetes PriorityClass values are int32)
MAX_VALUE = 1e12  # |cost|, weights, traffic volumes, delays: CP-SAT scales them to 1e-6 steps
MAX_TIME_LIMIT = 1e7  # seconds (about 116 days): deadlines stay representable timestamps
MAX_THREADS = 1024
MAX_SEED = INT32_MAX  # CP-SAT's random_seed is int32

# Model sizes before building (grouped models: one variable per eligible (group, bin) pair).
MAX_PAIRS = 20_000_000


def _allowed_alias_share(nodes: int) -> float:
    (low_n, low_share), (high_n, high_share) = ALIAS_RATIO_LOW, ALIAS_RATIO_HIGH
    if nodes <= low_n:
        return low_share
    if nodes >= high_n:
        return high_share
    return low_share - (low_share - high_share) * (nodes - low_n) / (high_n - low_n)


def _children(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, key  # keys are nodes too (a key may itself be a long aliased list)
            yield key, value
    else:
        yield from enumerate(node)


def _render(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _check_scalar(value: Any, path: tuple[Any, ...], source: str | None) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
        digits = int(abs(value).bit_length() * math.log10(2)) + 1
        raise InputError(
            f"an integer of about {digits:,} digits is out of range (placer reads integers up "
            "to 2^63)",
            path=_render(path),
            source=source,
        )


def check_document(doc: Any, source: str | None = None) -> None:
    """Refuse documents nested deeper than MAX_DEPTH, expanded mostly by aliases, holding a
    recursive alias, or holding an integer beyond int64. Iterative and memoised: a shared node
    (a YAML alias) is measured once, so a billion-node alias bomb is refused in microseconds."""
    if not isinstance(doc, dict | list):
        _check_scalar(doc, (), source)
        return
    size: dict[int, int] = {}  # id(container) -> nodes in its expansion
    height: dict[int, int] = {}
    on_path: set[int] = set()
    distinct = 0
    stack: list[tuple[Any, tuple[Any, ...], bool]] = [(doc, (), False)]
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total, tallest = 1, 0
            for _, child in _children(node):
                if isinstance(child, dict | list):
                    total += size[id(child)]
                    tallest = max(tallest, height[id(child)])
                else:
                    total += 1
            size[key] = total
            height[key] = tallest + 1
            continue
        if key in size:  # shared (an alias): measured already, but it may sit deeper here
            if len(path) + height[key] > MAX_DEPTH:
                raise InputError(
                    f"nested deeper than {MAX_DEPTH} levels", path=_render(path), source=source
                )
            continue
        if key in on_path:
            raise InputError("recursive YAML alias", path=_render(path), source=source)
        if len(path) >= MAX_DEPTH:
            raise InputError(
                f"nested deeper than {MAX_DEPTH} levels", path=_render(path), source=source
            )
        on_path.add(key)
        stack.append((node, path, True))
        for step, child in _children(node):
            distinct += 1
            if isinstance(child, dict | list):
                stack.append((child, (*path, step), False))
            else:
                _check_scalar(child, (*path, step), source)
    expanded = size[id(doc)]
    if expanded > ALIAS_FREE_NODES and (expanded - distinct) / expanded > _allowed_alias_share(
        expanded
    ):
        raise InputError(
            f"excessive aliasing: the document expands to {expanded:,} nodes from "
            f"{distinct:,} written ones (YAML anchors reused too often)",
            source=source,
        )


def check_file_size(size: int, source: str | None = None) -> None:
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"file of {size / 2**30:.1f} GiB is larger than placer reads "
            f"({MAX_FILE_BYTES // 2**30} GiB)",
            source=source,
        )


def magnitude(value: int | float) -> str:
    """``value`` in three significant digits, however large (an int beyond a double included)."""
    try:
        return f"{value:.3g}"
    except OverflowError:
        digits = int(abs(int(value)).bit_length() * math.log10(2))
        return f"{'-' if value < 0 else ''}about 1e{digits}"


def quantity_out_of_range(resource: str, amount: int) -> str | None:
    """Why one quantity in base units is out of range (above MAX_QUANTITY), or None."""
    if abs(amount) <= MAX_QUANTITY:
        return None
    unit = "millicores" if resource == "cpu" else "base units"
    return f"{magnitude(amount)} {unit} is out of range (placer reads quantities up to 2^53 {unit})"


def check_finite_value(value: float, what: str, limit: float = MAX_VALUE) -> str | None:
    """Why a cost/weight/volume is out of range, or None."""
    if not math.isfinite(value):
        return f"{what} must be finite, got {value!r}"
    if abs(value) > limit:
        return f"{what} {value:.6g} is out of range (placer reads values up to {limit:.0e})"
    return None


def check_problem(problem: Problem) -> None:
    """Counts, priorities, costs and per-resource totals within what every backend represents."""
    for n, item in enumerate(problem.items):
        where = f"items[{n}]"
        if item.count > MAX_COUNT:
            raise InputError(
                f"{item.count} is out of range (at most {MAX_COUNT:,} items per group, "
                "as Kubernetes replicas)",
                path=f"{where}.count",
            )
        if abs(item.priority) > MAX_PRIORITY:
            raise InputError(
                f"{item.priority} is out of range (priorities are int32, as Kubernetes')",
                path=f"{where}.priority",
            )
        if why := check_finite_value(item.value, "value"):
            raise InputError(why, path=f"{where}.value")
        for bin_name, cost in item.cost.items():
            if why := check_finite_value(cost, "cost"):
                raise InputError(why, path=f"{where}.cost.{bin_name}")
    for n, bin_ in enumerate(problem.bins):
        if why := check_finite_value(bin_.cost, "cost"):
            raise InputError(why, path=f"bins[{n}].cost")
        if why := check_finite_value(bin_.speed, "speed"):
            raise InputError(why, path=f"bins[{n}].speed")
    for n, c in enumerate(problem.constraints):
        if c.weight is not None and (why := check_finite_value(c.weight, "weight")):
            raise InputError(why, path=f"constraints[{n}].weight")
    for n, t in enumerate(problem.tenants):
        if why := check_finite_value(t.weight, "weight"):
            raise InputError(why, path=f"tenants[{n}].weight")
        if abs(t.priority) > MAX_PRIORITY:
            raise InputError(f"{t.priority} is out of range (int32)", path=f"tenants[{n}].priority")
    for n, tr in enumerate(problem.traffic):
        if why := check_finite_value(tr.volume, "volume"):
            raise InputError(why, path=f"traffic[{n}].volume")
    for a, row in problem.delays.items():
        for b, d in row.items():
            if why := check_finite_value(d, "delay"):
                raise InputError(why, path=f"delays.{a}.{b}")
    for n, level in enumerate(problem.objective):
        for term, w in level.items():
            if why := check_finite_value(w, "weight"):
                raise InputError(why, path=f"objective[{n}].{term}")
    _check_totals(problem)


def _check_totals(problem: Problem) -> None:
    capacity: dict[str, int] = {}
    for b in problem.bins:
        for r, amount in b.capacity.items():
            capacity[r] = capacity.get(r, 0) + amount
    demand: dict[str, int] = {}
    for g in problem.items:
        for r, amount in g.demand.items():
            demand[r] = demand.get(r, 0) + amount * g.count
    for where, what, totals in (
        ("bins", "capacity of all bins", capacity),
        ("items", "demand of all items (count × demand)", demand),
    ):
        for r, total in totals.items():
            if total > MAX_TOTAL:
                unit = "millicores" if r == "cpu" else "units"
                raise InputError(
                    f"the {what} together, {magnitude(total)} {unit} of {r}, is out of range "
                    "(at most 2^62: the backends sum in int64)",
                    path=where,
                )


@dataclass(frozen=True)
class ModelSize:
    """What a model's size grows with, estimated without building anything."""

    groups: int
    bins: int
    items: int  # Σ count
    pairs: int  # Σ over groups of the bins it may use (variables of a grouped model)
    item_pairs: int  # Σ count × bins it may use (variables of an item-expanded model)

    @classmethod
    def of(cls, problem: Problem) -> ModelSize:
        n_bins = len(problem.bins)
        pairs = items = item_pairs = 0
        for g in problem.items:
            allowed = n_bins if g.allowed is None else len(set(g.allowed) | set(g.placed))
            pairs += allowed
            items += g.count
            item_pairs += g.count * allowed
        return cls(len(problem.items), n_bins, items, pairs, item_pairs)


def require_size(actual: int, limit: int, what: str, hint: str = "") -> None:
    """Refuse a model larger than ``limit`` before building it."""
    if actual > limit:
        raise PlacerError(
            f"the model would need {actual:,} {what}, more than the limit of {limit:,}"
            + (f"; {hint}" if hint else "")
        )


def require_int64(
    value: int | float,
    what: str,
    hint: str = "use smaller units or fewer priority levels, or the milp backend",
) -> int:
    """A backend's scaled integer (coefficient, bound, weight) that must fit int64 (with a
    factor 4 of room for the solver's own sums)."""
    if not math.isfinite(value) or abs(value) > INT64_MAX // 4:
        raise PlacerError(
            f"{what} needs an integer of {float(value):.3g}, beyond the solver's 64-bit range; "
            + hint
        )
    return int(value)


def check_time_limit(seconds: float | None, option: str = "--time-limit") -> None:
    """A time limit is a finite positive number of seconds up to MAX_TIME_LIMIT."""
    if seconds is None:
        return
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIME_LIMIT):
        raise InputError(
            f"must be a positive finite number of seconds up to {MAX_TIME_LIMIT:.0e}, got {seconds:g}",
            path=option,
        )


def check_seed(seed: int, option: str = "--seed") -> None:
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"must be between 0 and {MAX_SEED} (int32), got {seed}", path=option)


def check_threads(threads: int | None, option: str = "--threads") -> None:
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise InputError(f"must be between 1 and {MAX_THREADS}, got {threads}", path=option)
