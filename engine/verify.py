"""The independent verifier: judges any plan against its problem, sharing no code with a backend.

Each check is a small function over the plan's counts {(item, bin): n} that yields violations,
named after what it checks (as Timefold's constraint verifier does). ``evaluate`` recomputes every
objective level from the counts, so every backend reports the same numbers for the same plan.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from .ir import (
    Affinity,
    AntiAffinity,
    Gang,
    ItemGroup,
    Problem,
    Quota,
    Spread,
    level_value,
    minimised_terms,
)
from .quantity import format_quantity
from .solution import DeviceRows, Solution, Status, Unplaced

Counts = Mapping[tuple[str, str], int]


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    check: str  # which check: capacity, anti_affinity, ...
    subject: str  # the bin, domain, item or tenant concerned
    reason: str  # human text, e.g. "cpu 4500m > 4000m"
    excess: float = 0.0  # by how much (in the resource's base unit, items, or domains)
    constraint: int | None = None  # index in problem.constraints, when one is concerned

    def __str__(self) -> str:
        where = f"constraints[{self.constraint}] " if self.constraint is not None else ""
        return f"{self.check}: {where}{self.subject}: {self.reason}"


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    violations: tuple[Violation, ...]
    objective: tuple[float, ...]
    terms: dict[str, float]


# ---------------------------------------------------------------- helpers (verifier-only)


def _matches(selector: Mapping[str, str], item: ItemGroup) -> bool:
    return all(item.labels.get(k) == v for k, v in selector.items())


def _per_item(counts: Counts) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for (item, _), n in counts.items():
        out[item] += n
    return out


def _chosen(problem: Problem, counts: Counts, selector: Mapping[str, str]) -> set[str]:
    """The items of the plan's rows that the selector matches (once per item, not per row)."""
    present = {item for item, _ in counts}
    return {
        name
        for name in present
        if (group := problem.item_by_name.get(name)) is not None and _matches(selector, group)
    }


def _group_domain_counts(
    problem: Problem, counts: Counts, selector: Mapping[str, str], topology: str
) -> dict[str, int]:
    domain = problem.domain_of(topology)
    chosen = _chosen(problem, counts, selector)
    out: dict[str, int] = defaultdict(int)
    for (item, b), n in counts.items():
        if item in chosen and b in domain and n > 0:
            out[domain[b]] += n
    return out


def _fmt(resource: str, amount: int) -> str:
    return f"{resource} {format_quantity(resource, amount)}"


# ---------------------------------------------------------------- checks

Check = Callable[[Problem, Counts], Iterator[Violation]]


def check_counts(problem: Problem, counts: Counts) -> Iterator[Violation]:
    for (item, b), n in counts.items():
        if item not in problem.item_by_name:
            yield Violation(check="counts", subject=item, reason="unknown item in plan", excess=n)
        if b not in problem.bin_by_name:
            yield Violation(check="counts", subject=b, reason="unknown bin in plan", excess=n)
        if n < 0:
            yield Violation(check="counts", subject=f"{item}@{b}", reason=f"negative count {n}")
    for item, total in _per_item(counts).items():
        group = problem.item_by_name.get(item)
        if group is not None and total > group.count:
            yield Violation(
                check="counts",
                subject=item,
                reason=f"{total} placed but the group has {group.count}",
                excess=total - group.count,
            )


def check_eligibility(problem: Problem, counts: Counts) -> Iterator[Violation]:
    for (item, b), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is None or group.allowed is None or b in group.allowed:
            continue
        new = n - group.placed.get(b, 0)  # items already running there are not re-judged
        if new > 0:
            yield Violation(
                check="eligibility", subject=b, reason=f"{item} is not allowed on {b}", excess=new
            )


def check_pinned(problem: Problem, counts: Counts) -> Iterator[Violation]:
    for group in problem.items:
        if group.movable:
            continue
        for b, n in group.placed.items():
            have = counts.get((group.name, b), 0)
            if have < n:
                yield Violation(
                    check="pinned",
                    subject=b,
                    reason=f"{group.name}: {n} already placed and not movable, plan keeps {have}",
                    excess=n - have,
                )


def check_capacity(problem: Problem, counts: Counts) -> Iterator[Violation]:
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (item, b), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is None:
            continue
        for r, amount in group.demand.items():
            used[b][r] += amount * n
    for b, per_resource in used.items():
        bin_ = problem.bin_by_name.get(b)
        if bin_ is None:
            continue
        for r, amount in sorted(per_resource.items()):
            cap = bin_.capacity.get(r, 0)
            if amount > cap:
                yield Violation(
                    check="capacity",
                    subject=b,
                    reason=f"{_fmt(r, amount)} > {format_quantity(r, cap)}",
                    excess=amount - cap,
                )


def check_required(problem: Problem, counts: Counts) -> Iterator[Violation]:
    placed = _per_item(counts)
    for group in problem.items:
        if group.required and placed.get(group.name, 0) < group.count:
            missing = group.count - placed.get(group.name, 0)
            yield Violation(
                check="required",
                subject=group.name,
                reason=f"required group has {missing} of {group.count} unplaced",
                excess=missing,
            )


def _anti_affinity(
    problem: Problem, counts: Counts, c: AntiAffinity
) -> Iterator[tuple[str, float, str]]:
    """(domain, violations, reason) for one anti-affinity rule."""
    if c.target is None:
        per_domain = _group_domain_counts(problem, counts, c.selector, c.topology)
        for d, n in sorted(per_domain.items()):
            if n > c.max_per_domain:
                yield d, n - c.max_per_domain, f"{n} selected items > {c.max_per_domain} per domain"
        return
    domain = problem.domain_of(c.topology)
    s: dict[str, int] = defaultdict(int)
    t: dict[str, int] = defaultdict(int)
    union: dict[str, int] = defaultdict(int)
    for (item, b), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is None or b not in domain or n <= 0:
            continue
        in_s, in_t = _matches(c.selector, group), _matches(c.target, group)
        d = domain[b]
        s[d] += n if in_s else 0
        t[d] += n if in_t else 0
        union[d] += n if (in_s or in_t) else 0
    for d in sorted(s):
        if s[d] >= 1 and t[d] >= 1 and union[d] >= 2:
            yield d, 1.0, f"{s[d]} selected item(s) share the domain with {t[d]} target item(s)"


def _affinity(problem: Problem, counts: Counts, c: Affinity) -> Iterator[tuple[str, float, str]]:
    domain = problem.domain_of(c.topology)
    only_s: dict[str, int] = defaultdict(int)
    both: dict[str, int] = defaultdict(int)
    t: dict[str, int] = defaultdict(int)
    total_t = 0
    for (item, b), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is None or n <= 0:
            continue
        in_s, in_t = _matches(c.selector, group), _matches(c.target, group)
        d = domain.get(b, f"<{b} has no {c.topology}>")
        if in_t:
            t[d] += n if b in domain else 0
            total_t += n
        if in_s and in_t:
            both[d] += n
        elif in_s:
            only_s[d] += n
    for d in sorted(set(only_s) | set(both)):
        if only_s[d] >= 1 and t[d] == 0:
            yield d, 1.0, f"{only_s[d]} selected item(s) with no target item in the domain"
        elif both[d] >= 1 and t[d] < 2 and total_t > 1:
            yield d, 1.0, "a selected item is its own only target here, and others exist elsewhere"


def _spread(problem: Problem, counts: Counts, c: Spread) -> Iterator[tuple[str, float, str]]:
    keep = set(c.bins) if c.bins is not None else None
    domain = {
        b.name: b.labels[c.topology]
        for b in problem.bins
        if c.topology in b.labels and (keep is None or b.name in keep)
    }
    domains = set(domain.values())
    if not domains:
        return
    count = dict.fromkeys(domains, 0)
    receives: set[str] = set()
    chosen = _chosen(problem, counts, c.selector)
    for (item, b), n in counts.items():
        if item not in chosen or b not in domain or n <= 0:
            continue
        group = problem.item_by_name[item]
        count[domain[b]] += n
        if n > group.placed.get(b, 0):
            receives.add(domain[b])
    low = min(count.values())
    if c.min_domains is not None and len(domains) < c.min_domains:
        low = 0
    for d in sorted(receives):
        excess = count[d] - low - c.max_skew
        if excess > 0:
            yield d, float(excess), f"{count[d]} selected items, min {low} + max_skew {c.max_skew}"


def _gang(problem: Problem, counts: Counts, c: Gang) -> Iterator[tuple[str, float, str]]:
    placed = _per_item(counts)
    full = [i for i in c.items if placed.get(i, 0) == problem.item_by_name[i].count]
    none = [i for i in c.items if placed.get(i, 0) == 0]
    if len(full) != len(c.items) and len(none) != len(c.items):
        partial = [f"{i} {placed.get(i, 0)}/{problem.item_by_name[i].count}" for i in c.items]
        yield (
            ",".join(c.items),
            float(len(c.items) - len(none)),
            "not all-or-nothing: " + ", ".join(partial),
        )


def _tenant_usage(problem: Problem, counts: Counts, tenant: str) -> dict[str, int]:
    used: dict[str, int] = defaultdict(int)
    for (item, _), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is not None and group.tenant == tenant:
            for r, amount in group.demand.items():
                used[r] += amount * n
    return used


def _quota(
    tenant: str, limits: Mapping[str, int], used: Mapping[str, int]
) -> Iterator[tuple[str, float, str]]:
    for r, limit in sorted(limits.items()):
        if used.get(r, 0) > limit:
            yield (
                tenant,
                float(used[r] - limit),
                f"{_fmt(r, used[r])} > quota {format_quantity(r, limit)}",
            )


RULES: dict[type, Callable[..., Iterator[tuple[str, float, str]]]] = {
    AntiAffinity: _anti_affinity,
    Affinity: _affinity,
    Spread: _spread,
    Gang: _gang,
}


class _Selected:
    """The plan's rows by item and the items by label, so that a rule with selectors reads only
    the rows of the items they match (every rule scanning every row is quadratic on large
    plans). Rows of unknown items are left out: the rules skip them anyway."""

    def __init__(self, problem: Problem, counts: Counts) -> None:
        self.rows: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        for (item, b), n in counts.items():
            self.rows[item][item, b] = n
        self.by_label: dict[tuple[str, str], set[str]] = defaultdict(set)
        for i in problem.items:
            for label in i.labels.items():
                self.by_label[label].add(i.name)
        self.everyone = {i.name for i in problem.items}

    def items(self, selector: Mapping[str, str]) -> set[str]:
        """The items ``_matches(selector, item)`` holds for."""
        found = [self.by_label.get(label, set()) for label in selector.items()]
        return set.intersection(*found) if found else self.everyone

    def counts(self, *selectors: Mapping[str, str] | None) -> Counts:
        names = set().union(*(self.items(s) for s in selectors if s is not None))
        return {key: n for name in names for key, n in self.rows.get(name, {}).items()}


def check_constraints(problem: Problem, counts: Counts) -> Iterator[Violation]:
    """Hard constraints of every kind (soft ones are priced by the ``soft`` term instead)."""
    selected = _Selected(problem, counts)
    for n, c in enumerate(problem.constraints):
        if c.soft:
            continue
        if isinstance(c, Quota):
            found = _quota(c.tenant, c.limits, _tenant_usage(problem, counts, c.tenant))
        elif isinstance(c, AntiAffinity | Affinity | Spread):
            rows = selected.counts(c.selector, getattr(c, "target", None))
            found = RULES[type(c)](problem, rows, c)
        else:
            found = RULES[type(c)](problem, counts, c)
        for subject, excess, reason in found:
            yield Violation(
                check=c.kind, subject=subject, reason=reason, excess=excess, constraint=n
            )


def check_tenant_quotas(problem: Problem, counts: Counts) -> Iterator[Violation]:
    for t in problem.tenants:
        if t.quota:
            for subject, excess, reason in _quota(
                t.name, t.quota, _tenant_usage(problem, counts, t.name)
            ):
                yield Violation(check="quota", subject=subject, reason=reason, excess=excess)


def check_traffic(problem: Problem, counts: Counts) -> Iterator[Violation]:
    for n, tr in enumerate(problem.traffic):
        if tr.volume == 0:
            continue
        a, b = tr.items
        bins_a = [bn for (i, bn), k in counts.items() if i == a and k > 0]
        bins_b = [bn for (i, bn), k in counts.items() if i == b and k > 0]
        for p in bins_a:
            for q in bins_b:
                if problem.delay(p, q) is None:
                    yield Violation(
                        check="traffic",
                        subject=f"{p}-{q}",
                        reason=f"traffic[{n}] {a}<->{b}: no delay given between {p} and {q}",
                    )


def check_devices(problem: Problem, counts: Counts, rows: DeviceRows) -> Iterator[Violation]:
    """Device by device: every placed item of a group that requests devices names ``count``
    distinct devices of its bin that match ``select`` (items already running there are not
    re-judged on attributes); a whole device has one user and no share; the shares on a device
    fit its capacity; items that may not move keep the devices they run on."""
    for (item, b), n in sorted(counts.items()):
        group = problem.item_by_name.get(item)
        if group is None or b not in problem.bin_by_name or n <= 0:
            continue
        named = sum(k for _, k in rows.get((item, b), ()))
        if group.devices is None:
            if named:
                yield Violation(
                    check="devices",
                    subject=b,
                    reason=f"{item} requests no devices, but the plan names devices for {named}",
                    excess=named,
                )
        elif named != n:
            yield Violation(
                check="devices",
                subject=b,
                reason=f"{item}: {n} item(s) placed, devices named for {named}",
                excess=abs(n - named),
            )
    whole: dict[tuple[str, str], int] = defaultdict(int)
    shared: dict[tuple[str, str], int] = defaultdict(int)
    load: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (item, b), listed in sorted(rows.items()):
        group = problem.item_by_name.get(item)
        bin_ = problem.bin_by_name.get(b)
        if group is None or bin_ is None or group.devices is None:
            continue
        request = group.devices
        running: dict[frozenset[str], int] = defaultdict(int)
        for names in group.placed_devices.get(b, ()):
            running[frozenset(names)] += 1
        kept: dict[frozenset[str], int] = defaultdict(int)
        for names, k in listed:
            if k <= 0:
                continue
            if len(names) != request.count or len(set(names)) != len(names):
                yield Violation(
                    check="devices",
                    subject=b,
                    reason=f"{item}: each item needs {request.count} distinct device(s), "
                    f"the plan names {list(names)}",
                    excess=k,
                )
                continue
            unknown = [d for d in names if d not in bin_.device_group_of]
            if unknown:
                yield Violation(
                    check="devices",
                    subject=b,
                    reason=f"{item}: {b} has no device {unknown[0]!r}",
                    excess=k,
                )
                continue
            key = frozenset(names)
            already = min(k, running[key] - kept[key])
            kept[key] += k
            if k > already:
                wrong = [d for d in names if not _device_matches(request.select, bin_, d)]
                if wrong:
                    yield Violation(
                        check="devices",
                        subject=f"{b}/{wrong[0]}",
                        reason=f"{item}: the device's attributes do not match {dict(request.select)}",
                        excess=k - already,
                    )
            for d in names:
                if request.share is None:
                    whole[(b, d)] += k
                else:
                    shared[(b, d)] += k
                    for r, amount in request.share.items():
                        load[(b, d)][r] += amount * k
        if not group.movable:
            for key, n in sorted(running.items(), key=lambda kv: sorted(kv[0])):
                if kept[key] < n:
                    yield Violation(
                        check="pinned",
                        subject=b,
                        reason=f"{item}: {n} item(s) run on {sorted(key)} and may not move, "
                        f"the plan keeps {kept[key]} there",
                        excess=n - kept[key],
                    )
    for (b, d), n in sorted(whole.items()):
        if n > 1:
            yield Violation(
                check="devices",
                subject=f"{b}/{d}",
                reason=f"{n} items each take the whole device",
                excess=n - 1,
            )
        if shared.get((b, d), 0):
            yield Violation(
                check="devices",
                subject=f"{b}/{d}",
                reason=f"taken whole, yet {shared[(b, d)]} share(s) use it too",
                excess=shared[(b, d)],
            )
    for (b, d), per_resource in sorted(load.items()):
        capacity = problem.bin_by_name[b].device_group_of[d].capacity
        for r, amount in sorted(per_resource.items()):
            cap = capacity.get(r, 0)
            if amount > cap:
                yield Violation(
                    check="devices",
                    subject=f"{b}/{d}",
                    reason=f"{_fmt(r, amount)} > {format_quantity(r, cap)}",
                    excess=amount - cap,
                )


def _device_matches(select: Mapping[str, tuple[str, ...]], bin_: Any, device: str) -> bool:
    attributes = bin_.device_group_of[device].attributes
    return all(attributes.get(k) in allowed for k, allowed in select.items())


CHECKS: dict[str, Check] = {
    "counts": check_counts,
    "eligibility": check_eligibility,
    "pinned": check_pinned,
    "capacity": check_capacity,
    "required": check_required,
    "constraints": check_constraints,
    "tenant_quota": check_tenant_quotas,
    "traffic": check_traffic,
}


# ---------------------------------------------------------------- objective


def term_values(problem: Problem, counts: Counts) -> dict[str, float]:
    """The value of every objective term for a plan (whether or not the objective uses it)."""
    placed = _per_item(counts)
    # placed: priority tiers, each item of a tier outweighing all lower tiers together
    per_priority: dict[int, int] = defaultdict(int)
    for g in problem.items:
        per_priority[g.priority] += g.count
    tier_weight: dict[int, int] = {}
    below = 0
    for p in sorted(per_priority):
        tier_weight[p] = below + 1
        below += per_priority[p] * tier_weight[p]
    placed_value = sum(tier_weight[g.priority] * placed.get(g.name, 0) for g in problem.items)
    value = math.fsum(g.value * placed.get(g.name, 0) for g in problem.items)

    used_bins = {b for (_, b), n in counts.items() if n > 0}
    bins_used = sum(problem.bin_by_name[b].cost for b in used_bins if b in problem.bin_by_name)

    cost = 0.0
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (item, b), n in counts.items():
        group = problem.item_by_name.get(item)
        if group is None or n <= 0:
            continue
        cost += n * group.cost.get(b, 0.0)
        for r, amount in group.demand.items():
            load[b][r] += amount * n

    balance = 0.0
    for bin_ in problem.bins:
        for r, cap in bin_.capacity.items():
            if cap > 0:
                balance = max(balance, load[bin_.name].get(r, 0) / cap)

    moves = 0
    for g in problem.items:
        if g.movable:
            moves += sum(max(0, n - counts.get((g.name, b), 0)) for b, n in g.placed.items())

    fairness = 0.0
    total_cap: dict[str, int] = defaultdict(int)
    for bin_ in problem.bins:
        for r, cap in bin_.capacity.items():
            total_cap[r] += cap
    shares = []
    for t in problem.tenants:
        if not any(g.tenant == t.name for g in problem.items):
            continue
        used = _tenant_usage(problem, counts, t.name)
        dominant = max(
            (used[r] / total_cap[r] for r in used if total_cap.get(r, 0) > 0), default=0.0
        )
        shares.append(dominant / t.weight)
    if shares:
        fairness = min(shares)

    soft = 0.0
    for c in problem.constraints:
        if not c.soft or c.weight is None:
            continue
        if isinstance(c, Quota):  # quotas are always hard (the IR refuses soft ones)
            continue
        soft += c.weight * sum(v for _, v, _ in RULES[type(c)](problem, counts, c))

    traffic = 0.0
    for tr in problem.traffic:
        a, b = tr.items
        na, nb = problem.item_by_name[a].count, problem.item_by_name[b].count
        pairs = na * nb if a != b else na * (na - 1)
        if pairs == 0 or tr.volume == 0:
            continue
        xa = {bn: k for (i, bn), k in counts.items() if i == a and k > 0}
        xb = {bn: k for (i, bn), k in counts.items() if i == b and k > 0}
        total = 0.0
        for bin_a, kp in xa.items():
            for bin_b, kq in xb.items():
                d = problem.delay(bin_a, bin_b)
                if d is not None:
                    total += kp * kq * d
        traffic += tr.volume * total / pairs

    return {
        "placed": float(placed_value),
        "value": value,
        "bins_used": float(bins_used),
        "cost": cost,
        "balance": balance,
        "moves": float(moves),
        "fairness": fairness,
        "soft": soft,
        "traffic": traffic,
    }


def evaluate(problem: Problem, counts: Counts) -> tuple[float, ...]:
    """Recomputed objective, one value per level."""
    terms = term_values(problem, counts)
    return tuple(level_value(level, terms) for level in problem.objective)


def verify_counts(problem: Problem, counts: Counts, devices: DeviceRows | None = None) -> Report:
    """Judge a plan given as counts (and, for items that request devices, the devices each
    (item, bin)'s items use; without them such items are reported as naming no devices)."""
    violations = tuple(v for check in CHECKS.values() for v in check(problem, counts))
    violations += tuple(check_devices(problem, counts, devices or {}))
    terms = term_values(problem, counts) if not any(v.check == "counts" for v in violations) else {}
    objective = tuple(level_value(level, terms) for level in problem.objective) if terms else ()
    return Report(ok=not violations, violations=violations, objective=objective, terms=terms)


def verify(problem: Problem, solution: Solution) -> Report:
    """Judge a plan. Every violation names its check, subject and excess."""
    if solution.problem != problem.name:
        bad = Violation(
            check="counts",
            subject=solution.problem,
            reason=f"plan is for problem {solution.problem!r}, not {problem.name!r}",
        )
        return Report(ok=False, violations=(bad,), objective=(), terms={})
    report = verify_counts(problem, solution.counts(), solution.device_rows())
    bookkeeping = tuple(_check_unplaced(problem, solution))
    if bookkeeping:
        return report.model_copy(
            update={"ok": False, "violations": report.violations + bookkeeping}
        )
    return report


def _check_unplaced(problem: Problem, solution: Solution) -> Iterator[Violation]:
    """The plan's ``unplaced`` rows must name real groups and agree with its placements."""
    placed = _per_item(solution.counts())
    for u in solution.unplaced:
        group = problem.item_by_name.get(u.item)
        if group is None:
            yield Violation(check="counts", subject=u.item, reason="unknown item in unplaced")
        elif u.count != group.count - placed.get(u.item, 0):
            yield Violation(
                check="counts",
                subject=u.item,
                reason=f"unplaced says {u.count}, placements leave {group.count - placed.get(u.item, 0)}",
                excess=abs(u.count - (group.count - placed.get(u.item, 0))),
            )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


# Seconds per unit of verification work (see ``seconds_to_certify``), measured at 1-2 us on the
# 2-core machine at load average 7-8, with room for a busier machine.
SECONDS_PER_UNIT = 3e-6


def seconds_to_certify(problem: Problem) -> float:
    """About how long ``certify`` (and writing the plan) takes on a plan for ``problem``, known
    before solving: callers with a time limit keep this back from the backend's share. Work:
    each selector rule reads every bin and item once, the plan's rows (at most one per pod and
    per eligible pair) a few times."""
    rules = sum(1 for c in problem.constraints if isinstance(c, AntiAffinity | Affinity | Spread))
    pods = sum(g.count for g in problem.items)
    rows = min(pods, len(problem.items) * len(problem.bins))
    work = rules * (len(problem.bins) + len(problem.items)) + 5 * rows
    return SECONDS_PER_UNIT * (work + len(problem.bins) + len(problem.items))


def certify(problem: Problem, solution: Solution, *, max_listed: int = 50) -> Solution:
    """Pass a backend's answer through the verifier and make its claims honest.

    A valid plan gets ``verified=True`` and the verifier's objective values; an invalid one is
    downgraded to ``unknown`` with its violations listed in ``info``. An ``optimal`` claim whose
    objective disagrees with the recomputed one is downgraded to ``feasible``.
    """
    info: dict[str, Any] = dict(solution.info)
    if not solution.status.has_plan:
        return solution.model_copy(update={"verified": False, "info": info})
    report = verify(problem, solution)
    if not report.ok:
        info["violations"] = [str(v) for v in report.violations[:max_listed]]
        info["violation_count"] = len(report.violations)
        info["claimed_status"] = str(solution.status)
        return solution.model_copy(
            update={"status": Status.UNKNOWN, "verified": False, "info": info}
        )
    status = solution.status
    claimed = solution.objective
    if claimed and len(claimed) == len(report.objective):
        if not all(_close(a, b) for a, b in zip(claimed, report.objective, strict=True)):
            info["backend_objective"] = list(claimed)
            if status == Status.OPTIMAL:
                status = Status.FEASIBLE
                info["downgraded"] = "backend objective disagrees with the verifier's"
    bound = solution.bound
    if bound is not None:
        bound, broken = _honest_bounds(problem, report.objective, bound)
        if broken:
            info["invalid_bound"] = broken
            if status == Status.OPTIMAL:
                status = Status.FEASIBLE
    reasons = {u.item: u.reasons for u in solution.unplaced if u.reasons}
    placed = _per_item(solution.counts())
    unplaced = tuple(
        Unplaced(item=g.name, count=g.count - placed.get(g.name, 0), reasons=reasons.get(g.name))
        for g in problem.items
        if placed.get(g.name, 0) < g.count
    )
    return solution.model_copy(
        update={
            "status": status,
            "verified": True,
            "objective": report.objective,
            "unplaced": unplaced,
            "bound": bound,
            "info": info,
        }
    )


def _honest_bounds(
    problem: Problem, objective: tuple[float, ...], bound: tuple[float | None, ...]
) -> tuple[tuple[float | None, ...] | None, str | None]:
    """Drop a claimed bound that the plan itself beats (and every later level's, which was
    conditional on it). Returns the kept bounds and a note when one was wrong."""
    kept: list[float | None] = []
    broken: str | None = None
    for n, level in enumerate(problem.objective):
        b = bound[n] if n < len(bound) else None
        v = objective[n] if n < len(objective) else None
        if broken is None and b is not None and v is not None:
            beaten = (
                b < v and not _close(b, v)
                if not minimised_terms(level)
                else b > v and not _close(b, v)
            )
            if beaten:
                broken = f"level {n + 1}: the backend's bound {b:.10g} is beaten by its own plan ({v:.10g})"
        kept.append(None if broken is not None else b)
    return tuple(kept), broken
