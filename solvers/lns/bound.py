"""Global bounds at scale: the LP relaxation of the per-bin model over classes of alike bins.

Bins with the same capacity, cost, eligibility column, items already on them and item costs are
merged into one class with their summed capacity (the LP relaxation does not change: any class
solution splits evenly over its bins). Rules other than capacity, eligibility, counts and
``required`` are dropped, so the optimum bounds the real problem. Solved with HiGHS; a bound is
reported only when HiGHS proves the LP optimal.

Terms with an LP bound: ``placed`` (tier weights; maximised), ``value`` (each item's value;
maximised), ``cost`` and ``bins_used``, with the earlier levels held at the plan's values. That
is valid for the levels the plan meets (the optimum ties there) and for the first one it does
not meet (the optimum is at least as good there), so levels are bounded up to the one after the
first unmet level: e.g. ``[placed, value]`` with fewer pods than the bound still gets a bound on
value among plans placing at least the plan's pods. A ``fairness`` level is bounded by the lowest
share a tenant reaches with all its items placed (and not held for later levels). Other terms
have none here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..lowering import Lowered

LP_TERMS = frozenset({"placed", "value", "cost", "bins_used"})
# (group, class) columns above which bins of different capacity share a class (``bin_classes``)
MAX_COLUMNS = 200_000


@dataclass
class Classes:
    """Bins merged into classes: membership and per-class data."""

    members: list[list[int]]
    capacity: np.ndarray  # [classes, resources], summed
    high: np.ndarray  # [groups, classes], summed
    low: np.ndarray  # [groups, classes], summed
    cost: np.ndarray  # [classes] bin cost (alike in a class)
    item_cost: np.ndarray  # [groups, classes] per-item cost (alike in a class)
    # devices, pooled per class: free room per device resource, summed over the class's devices
    device_room: np.ndarray | None = None  # [classes, device resources]
    device_use: np.ndarray | None = None  # [groups, classes, device resources] per item
    # per-device packing cuts: (class, per-group coefficient, right-hand side)
    device_cuts: list[tuple[int, np.ndarray, float]] = field(default_factory=list)


def _device_key(lowered: Lowered, b: int) -> Any:
    devices = lowered.devices
    if devices is None or b not in devices.bins:
        return None
    info = devices.bins[b]
    return (info.kind, info.capacity.tobytes(), info.free.tobytes(), info.taken.tobytes())


def device_use(lowered: Lowered, g: int, b: int) -> np.ndarray | None:
    """What one item of group g takes from bin b's devices at least, per device resource: a
    whole device's capacity (the smallest it may take) or its share, times the devices it needs
    (None: it requests no devices)."""
    devices = lowered.devices
    if devices is None or devices.need[g] == 0:
        return None
    width = len(devices.resources)
    if not devices.whole[g]:
        return (devices.need[g] * devices.share[g]).astype(np.float64)
    option = devices.options(g, b)
    if option is None:
        return np.zeros(width)
    smallest = devices.bins[b].capacity[option.devices].min(axis=0)
    return (devices.need[g] * smallest).astype(np.float64)


def _members(lowered: Lowered, exact: bool) -> list[list[int]]:
    """Bins by class: alike in every respect (``exact``), or alike in all but capacity and
    the items already on them (pooled: a weaker relaxation, with far fewer columns)."""
    p = lowered.problem
    priced = [g for g, group in enumerate(p.items) if group.cost]
    keys: dict[Any, int] = {}
    members: list[list[int]] = []
    for view in lowered.bins:
        b = view.index
        key = (
            lowered.capacity[b].tobytes() if exact else b"",
            view.cost,
            (lowered.high[:, b] > 0).tobytes(),
            lowered.open[:, b].tobytes(),
            lowered.low[:, b].tobytes() if exact else b"",
            tuple(p.items[g].cost.get(view.name, 0.0) for g in priced),
            _device_key(lowered, b),
        )
        if key not in keys:
            keys[key] = len(members)
            members.append([])
        members[keys[key]].append(b)
    return members


def poolable(lowered: Lowered) -> bool:
    """May bins of different capacity share a class? Summed capacity relaxes ``placed`` and
    ``cost``, but the ``bins_used`` rows charge one bin's capacity per bin of the class, and
    devices are pooled per class from its first bin."""
    return lowered.devices is None and not any(
        "bins_used" in level for level in lowered.problem.objective
    )


def bin_classes(lowered: Lowered, max_columns: int = MAX_COLUMNS) -> Classes:
    """Bins merged into classes; when alike bins are too few (every node with its own running
    pods) for the LP to stay within ``max_columns`` (group, class) columns, bins of different
    capacity are pooled where that stays a relaxation (``poolable``)."""
    p = lowered.problem
    priced = [g for g, group in enumerate(p.items) if group.cost]
    members = _members(lowered, exact=True)
    if len(members) * len(p.items) > max_columns and poolable(lowered):
        members = _members(lowered, exact=False)
    n = len(members)
    groups = len(p.items)
    capacity = np.zeros((n, len(lowered.resources)), np.float64)
    high = np.zeros((groups, n), np.float64)
    low = np.zeros((groups, n), np.float64)
    cost = np.zeros(n)
    item_cost = np.zeros((groups, n))
    for c, bins in enumerate(members):
        idx = np.array(bins)
        capacity[c] = lowered.capacity[idx].sum(axis=0)
        high[:, c] = lowered.high[:, idx].sum(axis=1)
        low[:, c] = lowered.low[:, idx].sum(axis=1)
        cost[c] = lowered.bins[bins[0]].cost
        for g in priced:
            item_cost[g, c] = p.items[g].cost.get(lowered.bins[bins[0]].name, 0.0)
    classes = Classes(members, capacity, high, low, cost, item_cost)
    devices = lowered.devices
    if devices is not None:
        width = len(devices.resources)
        room = np.zeros((n, width))
        use = np.zeros((groups, n, width))
        requests = list(devices.requests())
        for c, bins in enumerate(members):
            first = bins[0]
            if first in devices.bins:  # items that stay are charged through their low counts
                room[c] = devices.bins[first].capacity.sum(axis=0) * len(bins)
            for g in requests:
                if high[g, c] > 0:
                    u = device_use(lowered, g, first)
                    if u is not None:
                        use[g, c] = u
        classes.device_room, classes.device_use = room, use
        classes.device_cuts = device_cuts(lowered, members, high)
    return classes


def _dff(x: np.ndarray, kind: str, k: float) -> np.ndarray:
    """Dual-feasible functions on item sizes ``x`` (fractions of one device): whatever fits
    on one device still sums to at most 1 after them. ``drop``: items under ``k`` count 0,
    over ``1 - k`` count 1 (Carlier–Clautiaux–Moukrim); ``step``: Fekete–Schepers' u^(k)."""
    if kind == "drop":
        return np.where(x > 1 - k + 1e-12, 1.0, np.where(x < k - 1e-12, 0.0, x))
    scaled = (k + 1) * x
    whole = np.isclose(scaled, np.round(scaled))
    return np.where(whole, x, np.floor(scaled + 1e-12) / k)


def device_cuts(
    lowered: Lowered, members: list[list[int]], high: np.ndarray
) -> list[tuple[int, np.ndarray, float]]:
    """Valid rows for classes whose devices are all alike: on each device the items' shares sum
    to at most its capacity, so their dual-feasible images sum to at most 1 per device. The
    pooled capacity row lets an 810-milli share and a 470 share sit on one GPU; these do not.
    Only rows that tighten the pooled one (a function above identity somewhere) are kept."""
    devices = lowered.devices
    assert devices is not None
    out: list[tuple[int, np.ndarray, float]] = []
    requests = np.flatnonzero(devices.need > 0)
    for c, bins in enumerate(members):
        info = devices.bins.get(bins[0])
        if info is None or not len(info.capacity):
            continue
        users = requests[high[requests, c] > 0]
        if not len(users):
            continue
        for r in range(info.capacity.shape[1]):
            capacity = info.capacity[:, r]
            if capacity.min() <= 0 or capacity.min() != capacity.max():
                continue
            size = np.where(devices.whole[users], 1.0, devices.share[users, r] / float(capacity[0]))
            if not (size > 0).any():
                continue
            need = devices.need[users].astype(np.float64)
            count = float(len(capacity) * len(bins))
            small = sorted({float(v) for v in size if 0 < v <= 0.5})
            picks = [("step", float(k)) for k in (1, 2, 3, 4)]
            picks += [("drop", v) for v in small[:: max(1, len(small) // 6)]]
            for kind, k in picks:
                image = _dff(size, kind, k)
                if not (image > size + 1e-9).any():
                    continue  # no tighter than the pooled capacity row
                coefficient = np.zeros(high.shape[0])
                coefficient[users] = need * image
                out.append((c, coefficient, count))
    return out


@dataclass
class LpResult:
    value: float | None  # the LP optimum (None: not proved in time)
    seconds: float
    columns: int
    x: np.ndarray | None = None  # [groups, classes]: items of each group per class (optimal)


def lp_optimum(
    lowered: Lowered,
    classes: Classes,
    objective: Mapping[str, float],
    *,
    maximise: bool,
    fixed: Sequence[tuple[Mapping[str, float], bool, float]] = (),
    weights: np.ndarray | None = None,
    time_limit: float = 30.0,
) -> LpResult:
    """Optimise a weighted sum of LP terms over the relaxation; ``fixed`` holds earlier levels
    (terms, maximised, value) at their values. ``weights`` overrides the per-group weight of
    ``placed`` in the objective only (e.g. GPUs per pod, for a GPU bound with the problem's
    own levels held in ``fixed``)."""
    import highspy

    began = time.perf_counter()
    p = lowered.problem
    groups, n = classes.high.shape
    gi, ci = np.nonzero(classes.high > 0)
    cols = len(gi)
    level_w = np.array([lowered.placed_weight[g.name] for g in p.items], np.float64)
    place_w = np.asarray(weights, np.float64) if weights is not None else level_w
    worth = np.array([g.value for g in p.items], np.float64)
    uses_bins = "bins_used" in objective or any("bins_used" in t for t, _, _ in fixed)
    total = cols + (n if uses_bins else 0)
    if total == 0 and not any(g.required for g in p.items):
        # nothing can go anywhere (HiGHS reports an empty model, not an optimum): every term
        # is 0, which the held levels must allow
        held = all((v <= 1e-9) if maxed else (v >= -1e-9) for _, maxed, v in fixed)
        value = 0.0 if held else None
        return LpResult(value, time.perf_counter() - began, 0, np.zeros((groups, n)))

    def column_costs(terms: Mapping[str, float], placed: np.ndarray = level_w) -> np.ndarray:
        c = np.zeros(total)
        for term, w in terms.items():
            if term == "placed":
                c[:cols] += w * placed[gi]
            elif term == "value":
                c[:cols] += w * worth[gi]
            elif term == "cost":
                c[:cols] += w * classes.item_cost[gi, ci]
            elif term == "bins_used":
                c[cols:] += w * classes.cost
            else:
                raise ValueError(f"no LP bound for {term}")
        return c

    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lower_r: list[np.ndarray] = []
    upper_r: list[np.ndarray] = []
    row = 0
    # group counts (required groups in full)
    counts = np.array([g.count for g in p.items], np.float64)
    required = np.array([g.required for g in p.items])
    rows_i.append(gi.astype(np.int64))
    rows_j.append(np.arange(cols))
    vals.append(np.ones(cols))
    lower_r.append(np.where(required, counts, 0.0))
    upper_r.append(counts)
    row += groups
    # capacity per class and resource (times the bins used in the class, when bins_used counts)
    demand = lowered.demand.astype(np.float64)
    for r in range(len(lowered.resources)):
        d = demand[gi, r]
        on = d > 0
        rows_i.append(row + ci[on])
        rows_j.append(np.arange(cols)[on])
        vals.append(d[on])
        if uses_bins:
            per_bin = np.array([lowered.capacity[m[0], r] for m in classes.members], np.float64)
            rows_i.append(row + np.arange(n))
            rows_j.append(cols + np.arange(n))
            vals.append(-per_bin)
            lower_r.append(np.full(n, -np.inf))
            upper_r.append(np.zeros(n))
        else:
            lower_r.append(np.full(n, -np.inf))
            upper_r.append(classes.capacity[:, r])
        row += n
    if classes.device_room is not None and classes.device_use is not None:
        # devices pooled per class: what the items take within what the devices have free
        for r in range(classes.device_room.shape[1]):
            d = classes.device_use[gi, ci, r]
            on = d > 0
            rows_i.append(row + ci[on])
            rows_j.append(np.arange(cols)[on])
            vals.append(d[on])
            lower_r.append(np.full(n, -np.inf))
            upper_r.append(classes.device_room[:, r])
            row += n
    for k, coefficient, rhs in classes.device_cuts:
        on = np.flatnonzero((ci == k) & (coefficient[gi] > 0))
        rows_i.append(np.full(len(on), row))
        rows_j.append(on)
        vals.append(coefficient[gi[on]])
        lower_r.append(np.array([-np.inf]))
        upper_r.append(np.array([rhs]))
        row += 1
    if uses_bins:  # a class holding items uses at least one bin: x ≤ high·y / size
        sizes = np.array([len(m) for m in classes.members], np.float64)
        rows_i.append(row + np.arange(cols))
        rows_j.append(np.arange(cols))
        vals.append(np.ones(cols))
        rows_i.append(row + np.arange(cols))
        rows_j.append(cols + ci)
        vals.append(-classes.high[gi, ci] / sizes[ci])
        lower_r.append(np.full(cols, -np.inf))
        upper_r.append(np.zeros(cols))
        row += cols
    for terms, maxed, value in fixed:
        c = column_costs(terms)
        nz = np.flatnonzero(c)
        rows_i.append(np.full(len(nz), row))
        rows_j.append(nz)
        vals.append(c[nz])
        slack = 1e-6 * max(1.0, abs(value))
        lower_r.append(np.array([value - slack if maxed else -np.inf]))
        upper_r.append(np.array([np.inf if maxed else value + slack]))
        row += 1

    from scipy.sparse import csc_matrix

    matrix = csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(rows_j))),
        shape=(row, total),
    )
    lp = highspy.HighsLp()
    lp.num_col_ = total
    lp.num_row_ = row
    cost = column_costs(objective, place_w)
    lp.col_cost_ = -cost if maximise else cost
    lp.col_lower_ = np.concatenate([classes.low[gi, ci], np.zeros(n if uses_bins else 0)])
    sizes_all = [len(m) for m in classes.members]
    lp.col_upper_ = np.concatenate(
        [classes.high[gi, ci], np.array(sizes_all, np.float64) if uses_bins else np.zeros(0)]
    )
    lp.row_lower_ = np.concatenate(lower_r)
    lp.row_upper_ = np.concatenate(upper_r)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    from ..quiet import solve_lp

    h = solve_lp(lp, time_limit, least=0.1)
    if h is None:  # stopped (Ctrl-C): no bound rather than a late answer
        return LpResult(None, time.perf_counter() - began, cols)
    seconds = time.perf_counter() - began
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return LpResult(None, seconds, cols)
    value = float(h.getInfo().objective_function_value)
    x = np.zeros((groups, n))
    x[gi, ci] = np.asarray(h.getSolution().col_value, np.float64)[:cols]
    return LpResult(-value if maximise else value, seconds, cols, x)


def class_shares(
    lowered: Lowered,
    classes: Classes,
    volume: np.ndarray,
    time_limit: float,
    price: float | None = None,
) -> np.ndarray | None:
    """[groups, classes]: the LP's items of each group per class, tie-broken by a second
    ``value`` level when the objective has one, then by volume. With ``price`` (the search's
    ``lns_price``, a ``[placed, value]`` objective) the LP maximises price·placed + value."""
    p = lowered.problem
    weight = np.array([lowered.placed_weight[g.name] for g in p.items], np.float64)
    total = sum(g.count for g in p.items)
    # each tie-break is worth less than one lowest-tier item over the whole plan
    unit = 0.5 * float(weight.min(initial=1.0))
    ties = [volume]
    second = len(p.objective) > 1 and set(p.objective[1]) == {"value"}
    if second and p.objective[1]["value"] > 0:
        ties = [np.array([g.value for g in p.items], np.float64), 0.1 * volume]
    weights = weight.copy()
    if price is not None and second:  # the value is a level of its own, volume the tie
        value = np.array([g.value for g in p.items], np.float64) * p.objective[1]["value"]
        weights = price * p.objective[0].get("placed", 1.0) * weight + value
        ties = [1e-3 * volume]
    for tie in ties:
        weights += unit * tie / (float(np.max(tie, initial=0.0) * total) or 1.0)
    result = lp_optimum(
        lowered, classes, {"placed": 1.0}, maximise=True, weights=weights, time_limit=time_limit
    )
    return result.x


def fairness_ceiling(lowered: Lowered) -> float:
    """The lowest weighted dominant share any tenant reaches with every item it may place
    placed (the ``fairness`` term is the minimum over tenants, so it is never above this)."""
    p = lowered.problem
    total = lowered.capacity.sum(axis=0).astype(np.float64)
    most = np.minimum([g.count for g in p.items], lowered.high.sum(axis=1)).astype(np.float64)
    ceiling = math.inf
    for tenant in p.tenants:
        mine = [n for n, g in enumerate(p.items) if g.tenant == tenant.name]
        if not mine:
            continue
        used = most[mine] @ lowered.demand[mine].astype(np.float64)
        share = max((used[r] / total[r] for r in range(len(total)) if total[r] > 0), default=0.0)
        ceiling = min(ceiling, share / tenant.weight)
    return 0.0 if ceiling == math.inf else ceiling


def level_bounds(
    lowered: Lowered,
    values: Sequence[float],
    *,
    time_limit: float,
    classes: Classes | None = None,
) -> tuple[tuple[float | None, ...], dict[str, Any]]:
    """One bound per objective level in reporting form (``engine.ir.level_value``), given the
    plan's level values: each level with the earlier ones held at the plan's values, up to the
    level after the first one the plan does not meet (further ones None)."""
    began = time.perf_counter()
    classes = classes or bin_classes(lowered)
    out: list[float | None] = []
    info: dict[str, Any] = {"classes": len(classes.members)}
    fixed: list[tuple[Mapping[str, float], bool, float]] = []
    unmet = False
    for n, level in enumerate(lowered.levels):
        left = time_limit - (time.perf_counter() - began)
        if set(level.terms) == {"fairness"} and level.maximised:
            # a relaxation: later levels are bounded without holding this one
            ceiling = level.factor("fairness") * fairness_ceiling(lowered)
            out.append(ceiling)
            if values[n] < ceiling - 1e-9:
                break
            continue
        if set(level.terms) - LP_TERMS or left <= 0.05:
            out.append(None)
            break
        # The reported value is Σ factor·term, maximised when every term is maximised.
        terms = {t: level.factor(t) for t in level.terms}
        result = lp_optimum(
            lowered, classes, terms, maximise=level.maximised, fixed=fixed, time_limit=left
        )
        info[f"level{n + 1}"] = {"seconds": round(result.seconds, 3), "columns": result.columns}
        if result.value is None:
            out.append(None)
            break
        bound = result.value
        if set(level.terms) == {"placed"}:  # integral weights: round toward the plan
            unit = abs(level.terms["placed"]) or 1.0
            scaled = bound / unit
            scaled = math.floor(scaled + 1e-6) if level.maximised else math.ceil(scaled - 1e-6)
            bound = scaled * unit
        out.append(bound)
        if unmet:  # held at an unmet level's value: no level further is bounded this way
            break
        met = (values[n] >= bound - 1e-6) if level.maximised else (values[n] <= bound + 1e-6)
        unmet = not met
        # the optimum ties the plan on the levels it meets and is at least as good on the first
        # it does not: holding that level at the plan's value keeps the next bound valid
        fixed.append((terms, level.maximised, values[n]))
    out.extend([None] * (len(lowered.levels) - len(out)))
    return tuple(out), info
