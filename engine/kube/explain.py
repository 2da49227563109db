"""Why a pod group stays pending, in kube-scheduler's own words.

Each node is judged as the scheduler would judge the next pod of the group once the plan is
applied: the node's static filters (kept in the group's ``meta["filtered"]``), then resources
(NodeResourcesFit), topology spread, then inter-pod affinity. The first failing filter names the
node's reason, and the reasons are counted into the scheduler's FitError message:
``0/12 nodes are available: 3 Insufficient cpu, 9 node(s) had untolerated taint(s).``
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from ..ir import Affinity, AntiAffinity, Bin, ItemGroup, Problem, Spread
from ..solution import Solution, Unplaced
from .filters import (
    REASON_EXISTING_ANTI_AFFINITY,
    REASON_POD_AFFINITY,
    REASON_POD_ANTI_AFFINITY,
    REASON_PORTS,
    REASON_SPREAD,
    insufficient_reason,
)

# kube-scheduler's DynamicResources filter, when a node cannot satisfy a pod's claims.
REASON_CLAIMS = "cannot allocate all claims"


def fit_error(total_nodes: int, reasons: Mapping[str, int]) -> str:
    """kube-scheduler's FitError text: the histogram entries sorted as strings, as Go does."""
    parts = sorted(f"{n} {reason}" for reason, n in reasons.items())
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."


def _matches(selector: Mapping[str, str], group: ItemGroup) -> bool:
    return all(group.labels.get(k) == v for k, v in selector.items())


class _Plan:
    """Loads and per-domain counts of the plan, for the checks of one more pod."""

    def __init__(self, problem: Problem, solution: Solution) -> None:
        self.problem = problem
        self.counts = solution.counts()
        self.used: dict[str, Counter[str]] = defaultdict(Counter)
        for (item, b), n in self.counts.items():
            group = problem.item_by_name.get(item)
            if group is None:
                continue
            for r, amount in group.demand.items():
                self.used[b][r] += amount * n
        # Per (bin, device): taken whole, or the shares on it.
        self.whole: set[tuple[str, str]] = set()
        self.shared: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for row in solution.placements:
            group = problem.item_by_name.get(row.item)
            if group is None or group.devices is None or not row.devices:
                continue
            for device in row.devices:
                if group.devices.share is None:
                    self.whole.add((row.bin, device))
                else:
                    for r, amount in group.devices.share.items():
                        self.shared[(row.bin, device)][r] += amount * row.count

    def claims_fit(self, group: ItemGroup, bin_: Bin) -> bool:
        """Could one more pod of the group get its devices on this node (after the plan)?"""
        request = group.devices
        if request is None:
            return True
        free = 0
        for device_group in bin_.devices:
            if not request.accepts(device_group):
                continue
            for name in device_group.device_names:
                key = (bin_.name, name)
                if key in self.whole:
                    continue
                used = self.shared.get(key, Counter())
                if request.share is None:
                    fits = not any(used.values())
                else:
                    fits = all(
                        used[r] + amount <= device_group.capacity.get(r, 0)
                        for r, amount in request.share.items()
                    )
                free += fits
        return free >= request.count

    def domain_counts(
        self, selector: Mapping[str, str], topology: str, keep: set[str] | None
    ) -> Counter[str]:
        out: Counter[str] = Counter()
        for (item, b), n in self.counts.items():
            group = self.problem.item_by_name.get(item)
            bin_ = self.problem.bin_by_name.get(b)
            if group is None or bin_ is None or topology not in bin_.labels or n <= 0:
                continue
            if (keep is None or b in keep) and _matches(selector, group):
                out[bin_.labels[topology]] += n
        return out

    def insufficient(self, group: ItemGroup, bin_: Bin) -> list[str]:
        used = self.used[bin_.name]
        return [
            r
            for r, amount in sorted(group.demand.items())
            if amount > 0 and used[r] + amount > bin_.capacity.get(r, 0)
        ]


def _constraint_reason(
    plan: _Plan, group: ItemGroup, bin_: Bin, cache: dict[int, object]
) -> str | None:
    problem = plan.problem
    ordered = sorted(
        enumerate(problem.constraints), key=lambda ic: 0 if isinstance(ic[1], Spread) else 1
    )
    for n, c in ordered:
        if c.soft:
            continue
        if isinstance(c, Spread):
            if not _matches(c.selector, group):
                continue
            keep = set(c.bins) if c.bins is not None else None
            if c.topology not in bin_.labels or (keep is not None and bin_.name not in keep):
                continue
            if n not in cache:
                counts = plan.domain_counts(c.selector, c.topology, keep)
                domains = set(problem.domains(c.topology, c.bins))
                low = min((counts[d] for d in domains), default=0)
                if c.min_domains is not None and len(domains) < c.min_domains:
                    low = 0
                cache[n] = (counts, low)
            counts, low = cache[n]  # type: ignore[misc]
            if counts[bin_.labels[c.topology]] + 1 - low > c.max_skew:
                return REASON_SPREAD
    for n, c in ordered:
        if c.soft or isinstance(c, Spread) or c.topology not in bin_.labels:  # type: ignore[union-attr]
            continue
        domain = bin_.labels[c.topology]  # type: ignore[union-attr]
        if isinstance(c, Affinity) and _matches(c.selector, group):
            if n not in cache:
                cache[n] = plan.domain_counts(c.target, c.topology, None)
            targets: Counter[str] = cache[n]  # type: ignore[assignment]
            if _matches(c.target, group):
                if targets[domain] == 0 and sum(targets.values()) > 0:
                    return REASON_POD_AFFINITY
            elif targets[domain] == 0:
                return REASON_POD_AFFINITY
    for n, c in ordered:
        if not isinstance(c, AntiAffinity) or c.soft or c.topology not in bin_.labels:
            continue
        domain = bin_.labels[c.topology]
        key = -n - 1
        if key not in cache:
            cache[key] = (
                plan.domain_counts(c.selector, c.topology, None),
                plan.domain_counts(c.target, c.topology, None) if c.target is not None else None,
            )
        pair: tuple[Counter[str], Counter[str] | None] = cache[key]  # type: ignore[assignment]
        chosen, others = pair
        is_selected = _matches(c.selector, group)
        if c.target is None:
            if is_selected and chosen[domain] + 1 > c.max_per_domain:
                ports = (c.name or "").startswith("NodePorts")
                return REASON_PORTS if ports else REASON_POD_ANTI_AFFINITY
            continue
        is_target = _matches(c.target, group)
        if is_selected and others is not None and others[domain] >= 1:
            return REASON_POD_ANTI_AFFINITY
        if is_target and chosen[domain] >= 1:
            return REASON_POD_ANTI_AFFINITY if is_selected else REASON_EXISTING_ANTI_AFFINITY
    return None


def explain_group(plan: _Plan, group: ItemGroup) -> str:
    problem = plan.problem
    excluded = {
        node: reason
        for reason, nodes in (group.meta.get("filtered") or {}).items()
        for node in nodes
    }
    reasons: Counter[str] = Counter()
    cache: dict[int, object] = {}
    for b in problem.bins:
        if b.name in excluded:
            reasons[excluded[b.name]] += 1
            continue
        if group.allowed is not None and b.name not in group.allowed:
            reasons["node(s) were excluded by placer"] += 1
            continue
        short = plan.insufficient(group, b)
        if short:
            for r in short:
                reasons[insufficient_reason(r)] += 1
            continue
        reason = _constraint_reason(plan, group, b, cache)
        if reason is None and not plan.claims_fit(group, b):
            reason = REASON_CLAIMS  # DynamicResources filters after InterPodAffinity
        if reason is not None:
            reasons[reason] += 1
    if not reasons:
        return (
            f"{len(problem.bins)} node(s) could take one more of these pods, but not all of the pods "
            "competing for them together; the plan placed others first (priority, then count)"
        )
    return fit_error(len(problem.bins), reasons)


MAX_NOTES = 50


def _with_caveats(problem: Problem, solution: Solution) -> Solution:
    """Carry what placer could not honour into the plan (``info["kubernetes"]``), per pod."""
    caveats = {
        key: problem.meta[key][:MAX_NOTES]
        for key in ("unsupported", "approximations", "notes")
        if problem.meta.get(key)
    }
    if not caveats:
        return solution
    return solution.model_copy(update={"info": {**solution.info, "kubernetes": caveats}})


def explain_unplaced(problem: Problem, solution: Solution) -> Solution:
    """Fill ``Unplaced.reasons`` with kube-scheduler style messages (pending pod groups only)."""
    solution = _with_caveats(problem, solution)
    if not solution.unplaced or not solution.status.has_plan:
        return solution
    plan = _Plan(problem, solution)
    unplaced = []
    for u in solution.unplaced:
        group = problem.item_by_name.get(u.item)
        if group is None or u.count == 0 or group.meta.get("bound"):
            unplaced.append(u)
            continue
        reasons = explain_group(plan, group)
        unsupported = group.meta.get("unsupported")
        if unsupported:
            reasons += " (not modelled: " + "; ".join(unsupported) + ")"
        unplaced.append(Unplaced(item=u.item, count=u.count, reasons=reasons))
    return solution.model_copy(update={"unplaced": tuple(unplaced)})
