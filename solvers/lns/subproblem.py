"""A neighbourhood as a sub-problem: the same IR restricted to a few bins, everything else fixed.

``restrict(problem, incumbent, bins)`` builds a ``Problem`` over the neighbourhood's bins (copied
whole, so anything a bin holds comes along) whose items are the incumbent's items on those bins
plus the unplaced items that may go there. Whatever the fixed rest of the cluster contributes to
a rule that crosses the boundary is folded in exactly, as *ghosts*: zero-capacity bins (cost 0)
holding pinned zero-demand items that no real item may join.

- Label rules (anti-affinity, affinity, spread) are rewritten one by one: each sub-rule selects
  by a label of its own (``lns.placer/r<k>-s`` / ``-t``) that the sub-problem puts on the real
  groups it selected and on its own ghosts only, so no rule sees another rule's ghosts. A domain
  shared with the neighbourhood gets a ghost bin in that domain carrying the fixed items there;
  a spread keeps its fixed minimum and the fullest fixed domain that received new items (every
  such domain, when soft), so ``min + max_skew`` is judged as in the whole cluster; an affinity
  keeps the targets outside (they decide its "only target anywhere" exemption).
- Gangs: a gang with items outside is on, so its groups inside become ``required``; a gang with
  a group that cannot be completed inside stays off (its groups are left out).
- Quotas and ``fairness``: one ghost bin holding every fixed bin's capacity and one pinned item
  per tenant carrying what the tenant uses outside, so quotas and dominant shares are the whole
  cluster's.
- Traffic: pairs inside keep their volume (scaled to the sub-problem's counts); traffic between
  an item inside and fixed items outside becomes traffic to one ghost item whose delay to each
  bin inside is the mean over those fixed items (absent when one of them has no delay: the pair
  stays forbidden).

So a sub-plan merged with the fixed part (``merge``) is valid in the whole problem exactly when it
is valid in the sub-problem, and every objective term except ``balance`` differs between the two
by a constant. The driver still verifies every plan it accepts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.ir import (
    Affinity,
    AntiAffinity,
    Bin,
    Gang,
    ItemGroup,
    Problem,
    Quota,
    Spread,
    Tenant,
    Traffic,
)

from ..lowering import Key, Lowered

DeviceRowList = list[tuple[tuple[str, ...], int]]
DevicePlan = dict[Key, DeviceRowList]  # per (group, bin): (device names, items) rows
GHOST = "~"  # prefix of every ghost bin and group name
RULE_LABEL = "lns.placer/r{k}-{side}"


@dataclass
class SubProblem:
    problem: Problem
    bins: frozenset[str]  # the neighbourhood (real bins)
    fixed: dict[Key, int]  # the incumbent outside the neighbourhood
    ghosts: frozenset[str] = field(default_factory=frozenset)  # ghost group names
    ghost_placements: dict[Key, int] = field(default_factory=dict)

    def hint(self, incumbent: Mapping[Key, int]) -> dict[Key, int]:
        """The incumbent as a plan of the sub-problem (ghosts where they are pinned)."""
        names = {g.name for g in self.problem.items}
        out = {k: n for k, n in incumbent.items() if k[1] in self.bins and k[0] in names and n > 0}
        out.update(self.ghost_placements)
        return out

    def hint_devices(self, incumbent: Mapping[Key, DeviceRowList] | None) -> DevicePlan | None:
        """The devices the incumbent's items inside use (None: the plan names no devices)."""
        if incumbent is None:
            return None
        names = {g.name for g in self.problem.items}
        return {
            k: list(rows) for k, rows in incumbent.items() if k[1] in self.bins and k[0] in names
        }

    def merge(self, sub_counts: Mapping[Key, int]) -> dict[Key, int]:
        """The whole problem's plan: the fixed part and the sub-plan's real items."""
        out = dict(self.fixed)
        for (g, b), n in sub_counts.items():
            if n > 0 and g not in self.ghosts:
                out[(g, b)] = out.get((g, b), 0) + n
        return out

    def merge_devices(
        self,
        incumbent: Mapping[Key, DeviceRowList] | None,
        sub_rows: Mapping[Key, DeviceRowList] | None,
    ) -> DevicePlan | None:
        """The whole plan's device rows: the incumbent's outside, the sub-plan's inside (real
        items only; ghosts request no devices)."""
        if incumbent is None and sub_rows is None:
            return None
        out = {k: list(r) for k, r in (incumbent or {}).items() if k[1] not in self.bins}
        for (g, b), rows in (sub_rows or {}).items():
            if g not in self.ghosts and b in self.bins:
                out[(g, b)] = list(rows)
        return out


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class Selections:
    """Which groups of the whole problem each selector picks, found once per selector: a
    neighbourhood's rules then visit only the placements of the groups they select, not the
    whole incumbent once per rule (2.2 s per neighbourhood on 1,000 nodes and 180 rules).
    Kept by the driver across neighbourhoods of the same problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._picked: dict[frozenset[tuple[str, str]], frozenset[str]] = {}

    def __call__(self, selector: Mapping[str, str]) -> frozenset[str]:
        key = frozenset(selector.items())
        picked = self._picked.get(key)
        if picked is None:
            picked = frozenset(g.name for g in self.problem.items if _matches(selector, g.labels))
            self._picked[key] = picked
        return picked


class _Builder:
    def __init__(
        self,
        lowered: Lowered,
        incumbent: Mapping[Key, int],
        bins: Iterable[str],
        admit: Callable[[list[int]], set[int]] | None = None,
        claimed: set[str] | None = None,
        selections: Selections | None = None,
    ) -> None:
        self.admit = admit
        self.selected = selections or Selections(lowered.problem)
        self.claimed = claimed
        self.lowered = lowered
        self.lowest = min((g.priority for g in lowered.problem.items), default=0)
        self.p = lowered.problem
        self.inside = frozenset(bins)
        self.incumbent = {k: n for k, n in incumbent.items() if n > 0}
        self.fixed = {k: n for k, n in self.incumbent.items() if k[1] not in self.inside}
        self.ghost_bins: list[Bin] = []
        self.ghost_groups: list[ItemGroup] = []
        self.ghost_placements: dict[Key, int] = {}
        self.extra_labels: dict[str, dict[str, str]] = defaultdict(dict)
        self.fixed_by_group: dict[str, dict[str, int]] = defaultdict(dict)
        self.inside_by_group: dict[str, int] = defaultdict(int)
        for (g, b), n in self.incumbent.items():
            if b in self.inside:
                self.inside_by_group[g] += n
            else:
                self.fixed_by_group[g][b] = n

    # ------------------------------------------------------------------ ghosts

    def ghost_bin(self, name: str, labels: Mapping[str, str], capacity: Mapping[str, int]) -> str:
        # quantities are already exact integers in base units: set them, never parse them again
        ghost = Bin(name=name, labels=dict(labels), cost=0.0)
        self.ghost_bins.append(ghost.model_copy(update={"capacity": dict(capacity)}))
        return name

    def ghost_items(
        self,
        name: str,
        bin_: str,
        count: int,
        labels: Mapping[str, str] | None = None,
        *,
        new: bool = False,
        demand: Mapping[str, int] | None = None,
        tenant: str | None = None,
    ) -> str:
        """``count`` zero-demand items pinned on a ghost bin (``new``: counted as newly placed,
        for a spread domain that received items; they are required there instead of pinned)."""
        group = ItemGroup(
            name=name,
            count=count,
            labels=dict(labels or {}),
            allowed=(bin_,),
            placed={} if new else {bin_: count},
            required=new,
            tenant=tenant,
            priority=self.lowest,  # in the lowest tier: no tier above changes weight
        ).model_copy(update={"demand": dict(demand or {})})
        self.ghost_groups.append(group)
        self.ghost_placements[(name, bin_)] = count
        return name

    # ------------------------------------------------------------------ groups

    def groups(self) -> dict[str, ItemGroup]:
        lw, p = self.lowered, self.p
        inside_idx = np.array(sorted(lw.bin_index[b] for b in self.inside), dtype=np.int64)
        names = [b.name for b in lw.bins]
        out: dict[str, ItemGroup] = {}
        waiting = []  # groups with nothing inside, only unplaced items that could come in
        for g, group in enumerate(p.items):
            if self.inside_by_group[group.name] == 0 and not group.placed:
                fixed = sum(self.fixed_by_group[group.name].values())
                if group.count > fixed and lw.open[g, inside_idx].any():
                    waiting.append(g)
        admitted = set(waiting) if self.admit is None else self.admit(waiting)
        for g, group in enumerate(p.items):
            fixed = sum(self.fixed_by_group[group.name].values())
            inside = self.inside_by_group[group.name]
            unplaced = group.count - fixed - inside
            where = inside_idx[lw.high[g, inside_idx] > 0] if len(inside_idx) else inside_idx
            if not len(where):
                continue
            keep_unplaced = group.required or any(group.name in m for m in lw.gangs)
            if inside == 0 and not group.placed and g not in admitted and not keep_unplaced:
                unplaced = 0  # waits for another neighbourhood
            if self.claimed is not None and unplaced > 0 and not keep_unplaced:
                if group.name in self.claimed:
                    unplaced = 0  # a neighbourhood solved at the same time places them
                else:
                    self.claimed.add(group.name)
            count = inside + unplaced
            if count <= 0:
                continue
            open_ = [names[i] for i in where.tolist() if lw.open[g, i]]
            placed = {b: n for b, n in group.placed.items() if b in self.inside}
            if sum(placed.values()) > count:  # movable items moved outside: keep what fits
                left, kept = count, {}
                for b, n in sorted(placed.items()):
                    if left > 0:
                        kept[b] = min(n, left)
                        left -= kept[b]
                placed = {b: n for b, n in kept.items() if n > 0}
            placed_devices = {
                b: tuple(group.placed_devices[b][: placed[b]])
                for b in placed
                if b in group.placed_devices
            }
            out[group.name] = group.model_copy(
                update={
                    "count": count,
                    "allowed": tuple(open_),
                    "placed": placed,
                    "placed_devices": placed_devices,
                    "cost": {b: c for b, c in group.cost.items() if b in self.inside},
                    "meta": {},
                }
            )
        return out

    # ------------------------------------------------------------------ rules

    def fixed_per_domain(
        self, topology: str, selector: Mapping[str, str], keep: frozenset[str] | None = None
    ) -> tuple[dict[str, int], set[str]]:
        """Fixed selected items per domain of ``topology``, and the domains that received new
        ones (more than were already placed on a bin)."""
        counts: dict[str, int] = defaultdict(int)
        received: set[str] = set()
        for g in self.selected(selector):
            group = self.p.item_by_name[g]
            for b, n in self.fixed_by_group.get(g, {}).items():
                if keep is not None and b not in keep:
                    continue
                d = self.p.bin_by_name[b].labels.get(topology)
                if d is None:
                    continue
                counts[d] += n
                if n > group.placed.get(b, 0):
                    received.add(d)
        return counts, received

    def shared_domains(self, topology: str) -> set[str]:
        return {
            self.p.bin_by_name[b].labels[topology]
            for b in self.inside
            if topology in self.p.bin_by_name[b].labels
        }

    def label_groups(self, groups: Mapping[str, ItemGroup], k: int, side: str, sel: Any) -> None:
        key = RULE_LABEL.format(k=k, side=side)
        for name in self.selected(sel):
            if name in groups:
                self.extra_labels[name][key] = "1"

    def anti_affinity(self, k: int, c: AntiAffinity, groups: Mapping[str, ItemGroup]) -> Any:
        s_key, t_key = RULE_LABEL.format(k=k, side="s"), RULE_LABEL.format(k=k, side="t")
        self.label_groups(groups, k, "s", c.selector)
        shared = self.shared_domains(c.topology)
        if c.target is None:
            per, _ = self.fixed_per_domain(c.topology, c.selector)
            for d in sorted(shared):
                if per.get(d, 0) > 0:
                    where = self.ghost_bin(f"{GHOST}r{k}:{d}", {c.topology: d}, {})
                    self.ghost_items(f"{GHOST}r{k}:{d}:s", where, per[d], {s_key: "1"})
            return c.model_copy(update={"selector": {s_key: "1"}})
        self.label_groups(groups, k, "t", c.target)
        self._ghost_sides(k, c.topology, c.selector, c.target, shared)
        return c.model_copy(update={"selector": {s_key: "1"}, "target": {t_key: "1"}})

    def _ghost_sides(
        self,
        k: int,
        topology: str,
        selector: Mapping[str, str],
        target: Mapping[str, str],
        shared: set[str],
    ) -> None:
        """Per shared domain, the fixed items that are selected, targets, or both."""
        s_key, t_key = RULE_LABEL.format(k=k, side="s"), RULE_LABEL.format(k=k, side="t")
        kinds: dict[str, dict[tuple[bool, bool], int]] = defaultdict(lambda: defaultdict(int))
        selected, targets = self.selected(selector), self.selected(target)
        for g in selected | targets:
            in_s, in_t = g in selected, g in targets
            for b, n in self.fixed_by_group.get(g, {}).items():
                d = self.p.bin_by_name[b].labels.get(topology)
                if d is not None and d in shared:
                    kinds[d][(in_s, in_t)] += n
        for d in sorted(kinds):
            where = self.ghost_bin(f"{GHOST}r{k}:{d}", {topology: d}, {})
            for (in_s, in_t), n in sorted(kinds[d].items()):
                labels = {**({s_key: "1"} if in_s else {}), **({t_key: "1"} if in_t else {})}
                tag = ("s" if in_s else "") + ("t" if in_t else "")
                self.ghost_items(f"{GHOST}r{k}:{d}:{tag}", where, n, labels)

    def affinity(self, k: int, c: Affinity, groups: Mapping[str, ItemGroup]) -> Any:
        s_key, t_key = RULE_LABEL.format(k=k, side="s"), RULE_LABEL.format(k=k, side="t")
        self.label_groups(groups, k, "s", c.selector)
        self.label_groups(groups, k, "t", c.target)
        shared = self.shared_domains(c.topology)
        self._ghost_sides(k, c.topology, c.selector, c.target, shared)
        # Targets outside the shared domains count toward "other targets exist"; a selected
        # target alone in its domain outside is valid only while it is the only target, so it
        # stays alone (in a domain of its own) for the sub-problem to judge.
        outside_targets, lone = 0, 0
        per_domain: dict[str, list[tuple[bool, int]]] = defaultdict(list)
        selected = self.selected(c.selector)
        for g in sorted(self.selected(c.target)):
            for b, n in self.fixed_by_group.get(g, {}).items():
                d = self.p.bin_by_name[b].labels.get(c.topology)
                if d is not None and d in shared:
                    continue
                per_domain[d if d is not None else f"<{b}>"].append((g in selected, n))
        # A bin without the topology label is a domain of its own where no target counts: a
        # selected non-target fixed there breaks the rule whatever the sub-problem does, so a
        # selected target beside it is no lone target (its domain is broken either way).
        targets_of = self.selected(c.target)
        broken = {
            f"<{b}>"
            for g in sorted(selected - targets_of)
            for b, n in self.fixed_by_group.get(g, {}).items()
            if n > 0 and c.topology not in self.p.bin_by_name[b].labels
        }
        for where_key, entries in per_domain.items():
            targets = sum(n for _, n in entries)
            if targets == 1 and entries[0][0] and where_key not in broken:
                lone += 1
            else:
                outside_targets += targets
        if outside_targets:
            where = self.ghost_bin(f"{GHOST}r{k}:rest", {c.topology: f"{GHOST}rest-{k}"}, {})
            self.ghost_items(f"{GHOST}r{k}:rest:t", where, outside_targets, {t_key: "1"})
        for n in range(lone):
            where = self.ghost_bin(f"{GHOST}r{k}:lone{n}", {c.topology: f"{GHOST}lone-{k}-{n}"}, {})
            self.ghost_items(f"{GHOST}r{k}:lone{n}:st", where, 1, {s_key: "1", t_key: "1"})
        return c.model_copy(update={"selector": {s_key: "1"}, "target": {t_key: "1"}})

    def spread(self, k: int, c: Spread, groups: Mapping[str, ItemGroup]) -> Any:
        s_key = RULE_LABEL.format(k=k, side="s")
        self.label_groups(groups, k, "s", c.selector)
        keep = frozenset(c.bins) if c.bins is not None else None
        domains = self.lowered.domains(c.topology, c.bins)
        shared = {d for d, members in domains.items() if any(b in self.inside for b in members)}
        per, received = self.fixed_per_domain(c.topology, c.selector, keep)
        ghost_names: list[str] = []
        for d in sorted(shared):
            if per.get(d, 0) > 0:
                where = self.ghost_bin(f"{GHOST}r{k}:{d}", {c.topology: d}, {})
                ghost_names.append(where)
                self.ghost_items(
                    f"{GHOST}r{k}:{d}:s", where, per[d], {s_key: "1"}, new=d in received
                )
        outside = [d for d in domains if d not in shared]
        if outside:
            low = min(per.get(d, 0) for d in outside)
            where = self.ghost_bin(f"{GHOST}r{k}:min", {c.topology: f"{GHOST}min-{k}"}, {})
            ghost_names.append(where)
            if low > 0:
                self.ghost_items(f"{GHOST}r{k}:min:s", where, low, {s_key: "1"})
            judged = sorted(
                (per[d] for d in outside if d in received and per[d] > c.max_skew), reverse=True
            )
            if c.weight is None:
                judged = judged[:1]
            for n, count in enumerate(judged):
                where = self.ghost_bin(
                    f"{GHOST}r{k}:max{n}", {c.topology: f"{GHOST}max-{k}-{n}"}, {}
                )
                ghost_names.append(where)
                self.ghost_items(f"{GHOST}r{k}:max{n}:s", where, count, {s_key: "1"}, new=True)
        inside = [b for b in sorted(self.inside) if keep is None or b in keep]
        min_domains = c.min_domains
        if min_domains is not None and len(domains) >= min_domains:
            min_domains = None  # the whole cluster has enough domains; the ghosts stand for them
        return c.model_copy(
            update={
                "selector": {s_key: "1"},
                "bins": tuple(inside + ghost_names),
                "min_domains": min_domains,
            }
        )

    # ------------------------------------------------------------------ tenants

    def tenant_ghosts(self, groups: Mapping[str, ItemGroup]) -> None:
        """What each tenant uses outside, on one ghost bin with the outside's capacity."""
        p = self.p
        uses_tenants = any(t.quota for t in p.tenants) or any(
            isinstance(c, Quota) for c in p.constraints
        )
        uses_tenants |= any("fairness" in level for level in p.objective)
        if not p.tenants or not uses_tenants:
            return
        capacity: dict[str, int] = defaultdict(int)
        for b in p.bins:
            if b.name not in self.inside:
                for r, v in b.capacity.items():
                    capacity[r] += v
        usage: dict[str, dict[str, int]] = {t.name: defaultdict(int) for t in p.tenants}
        for (g, _), n in self.fixed.items():
            group = p.item_by_name[g]
            if group.tenant is not None:
                for r, a in group.demand.items():
                    usage[group.tenant][r] += a * n
        where = self.ghost_bin(f"{GHOST}outside", {}, capacity)
        with_items = {g.tenant for g in p.items if g.tenant is not None}
        for t in p.tenants:
            if t.name in with_items:
                self.ghost_items(
                    f"{GHOST}tenant:{t.name}",
                    where,
                    1,
                    demand={r: v for r, v in usage[t.name].items() if v > 0},
                    tenant=t.name,
                )

    # ------------------------------------------------------------------ traffic

    def traffic(
        self, groups: Mapping[str, ItemGroup]
    ) -> tuple[list[Traffic], dict[str, dict[str, float]]]:
        p = self.p
        inside = sorted(self.inside)
        delays: dict[str, dict[str, float]] = defaultdict(dict)
        if p.delays:
            for a in inside:
                for b in inside:
                    if a < b:
                        d = p.delay(a, b)
                        if d is not None:
                            delays[a][b] = d
        out: list[Traffic] = []
        for n, tr in enumerate(p.traffic):
            a, b = tr.items
            na, nb = p.item_by_name[a].count, p.item_by_name[b].count
            pairs = na * nb if a != b else na * (na - 1)
            if pairs == 0 or tr.volume == 0:
                continue
            sa = groups[a].count if a in groups else 0
            sb = groups[b].count if b in groups else 0
            sub_pairs = sa * sb if a != b else sa * (sa - 1)
            if sub_pairs > 0:
                out.append(Traffic(items=(a, b), volume=tr.volume * sub_pairs / pairs))
            sides = [(a, b, sa)] if a == b else [(a, b, sa), (b, a, sb)]
            for mine, other, count in sides:
                fixed_other = self.fixed_by_group.get(other, {})
                m = sum(fixed_other.values())
                if count == 0 or m == 0:
                    continue
                where = self.ghost_bin(f"{GHOST}t{n}:{mine}", {}, {})
                ghost = self.ghost_items(f"{GHOST}t{n}:{mine}:{other}", where, m)
                # the bins its items may take and those they run on: the mean delay to the
                # fixed side, where every delay is known
                for bin_ in dict.fromkeys([*(groups[mine].allowed or ()), *groups[mine].placed]):
                    total, known = 0.0, True
                    for q, k in fixed_other.items():
                        d = p.delay(bin_, q)
                        if d is None:
                            known = False
                            break
                        total += k * d
                    if known:
                        delays[bin_][where] = total / m
                both = 2.0 if a == b else 1.0
                out.append(
                    Traffic(items=(mine, ghost), volume=both * tr.volume * count * m / pairs)
                )
        return out, {k: dict(v) for k, v in delays.items()}

    # ------------------------------------------------------------------ gangs

    def gangs(self, groups: dict[str, ItemGroup]) -> list[Gang]:
        out = []
        for members in self.lowered.gangs:
            on = any(self.fixed_by_group.get(g) for g in members)
            if on:
                for g in members:
                    if g in groups:
                        groups[g] = groups[g].model_copy(update={"required": True})
                continue
            if all(g in groups for g in members):
                out.append(Gang(kind="gang", items=members))
            else:
                for g in members:
                    groups.pop(g, None)
        return out

    # ------------------------------------------------------------------ the whole

    def build(self, name: str) -> SubProblem:
        p = self.p
        groups = self.groups()
        constraints: list[Any] = self.gangs(groups)
        for k, c in enumerate(p.constraints):
            if isinstance(c, AntiAffinity):
                constraints.append(self.anti_affinity(k, c, groups))
            elif isinstance(c, Affinity):
                constraints.append(self.affinity(k, c, groups))
            elif isinstance(c, Spread):
                constraints.append(self.spread(k, c, groups))
            elif isinstance(c, Quota):
                constraints.append(c)
            elif not isinstance(c, Gang):
                raise TypeError(f"no neighbourhood rule for {c.kind} constraints")
        self.tenant_ghosts(groups)
        traffic, delays = self.traffic(groups)
        items = [
            g.model_copy(update={"labels": {**g.labels, **self.extra_labels[n]}})
            if n in self.extra_labels
            else g
            for n, g in groups.items()
        ]
        bins = [b for b in p.bins if b.name in self.inside]
        tenants: list[Tenant] = list(p.tenants)
        sub = Problem(
            name=f"{p.name}/{name}",
            bins=tuple(bins + self.ghost_bins),
            items=tuple(items + self.ghost_groups),
            constraints=tuple(constraints),
            objective=p.objective,
            tenants=tuple(tenants),
            traffic=tuple(traffic),
            delays=delays,
        )
        return SubProblem(
            problem=sub,
            bins=self.inside,
            fixed=self.fixed,
            ghosts=frozenset(g.name for g in self.ghost_groups),
            ghost_placements=self.ghost_placements,
        )


def restrict(
    lowered: Lowered,
    incumbent: Mapping[Key, int],
    bins: Iterable[str],
    name: str = "lns",
    admit: Callable[[list[int]], set[int]] | None = None,
    claimed: set[str] | None = None,
    selections: Selections | None = None,
) -> SubProblem:
    """The sub-problem of ``bins`` around ``incumbent`` (see the module docstring).

    ``admit`` chooses which groups with only unplaced items (by index) may come in (default:
    all); the others stay unplaced for this neighbourhood. ``claimed`` names groups whose
    unplaced items a neighbourhood solved at the same time already offers (this one adds its
    own), so that two sub-plans never place the same items. ``selections`` (optional) keeps
    which groups each rule selects across calls on the same problem."""
    return _Builder(lowered, incumbent, bins, admit, claimed, selections).build(name)
