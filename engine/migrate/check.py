"""The independent step-by-step checker of a migration plan (shares no code with the search).

A sequence is valid when, starting from the problem's running items (``placed``):

- every eviction takes items that are on that bin when the step starts;
- no step evicts more items selected by a disruption budget than the budget allows at the step's
  start: running selected items minus those that must stay up (Kubernetes' disruption controller:
  ``maxUnavailable`` from the selected groups' total count, ``minAvailable`` as given, percentages
  rounded up);
- the state after every step passes the independent verifier (``engine.verify``): capacity,
  eligibility, pinned items, every hard constraint, quotas, traffic delays — all but
  ``required``, which only the goal must meet;
- the last state is the target plan.

The scheduler binds a step's items after its evictions, so the state after a step is the one
whose rules are judged; a step's evictions alone can only free room.

Each state is judged by the verifier's own checks, but only where the step changed it
(``StateJudge``): every check's verdict on a bin, an item, a rule or a tenant depends only on
the rows it reads, so the verdicts on what no row of the step touches are those of the state
before, and the violations listed per step are the ones the whole verifier lists. A deadline
(``Deadline``-like: ``expired()``) cuts the check short with ``CheckCut``: the caller must then
say the sequence was not checked.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping

from ..errors import InputError
from ..ir import Affinity, AntiAffinity, Gang, Problem, Quota, Spread
from ..verify import (
    CHECKS,
    Violation,
    check_capacity,
    check_constraints,
    check_counts,
    check_eligibility,
    check_pinned,
    check_tenant_quotas,
    check_traffic,
)
from .model import MigrationPlan

Counts = dict[tuple[str, str], int]
Key = tuple[str, str]
STATE_CHECKS = {name: check for name, check in CHECKS.items() if name != "required"}
# the checks ``StateJudge`` splits by what they read; a state check of the verifier not
# listed here is run on the whole state after every step
SPLIT_CHECKS = (
    "counts",
    "eligibility",
    "pinned",
    "capacity",
    "constraints",
    "tenant_quota",
    "traffic",
)


class CheckCut(Exception):
    """The check ran out of time before its last step: the sequence is not checked."""

    def __init__(self, steps_checked: int) -> None:
        super().__init__(f"checked {steps_checked} step(s) before the time ran out")
        self.steps_checked = steps_checked


def start_counts(problem: Problem) -> Counts:
    return {(g.name, b): n for g in problem.items for b, n in g.placed.items()}


def state_violations(problem: Problem, counts: Mapping[tuple[str, str], int]) -> list[str]:
    """What the verifier finds wrong with a state (``required`` aside)."""
    return [str(v) for check in STATE_CHECKS.values() for v in check(problem, counts)]


class _Labels:
    """The items each selector selects (every label of the selector matches), by an index of
    the items per label: budgets and rules on thousands of workloads each select a few."""

    def __init__(self, problem: Problem) -> None:
        self.everyone = frozenset(g.name for g in problem.items)
        self.by_label: dict[tuple[str, str], set[str]] = defaultdict(set)
        for g in problem.items:
            for label in g.labels.items():
                self.by_label[label].add(g.name)

    def select(self, selector: Mapping[str, str]) -> frozenset[str]:
        found = [self.by_label.get(label, set()) for label in selector.items()]
        return frozenset(set.intersection(*found)) if found else self.everyone


def _must_stay_up(
    problem: Problem, n: int, labels: _Labels | None = None
) -> tuple[str, frozenset[str], int]:
    budget = problem.disruption_budgets[n]
    name = budget.name or f"disruption_budgets[{n}]"
    groups = (labels or _Labels(problem)).select(budget.selector)
    scale = sum(problem.item_by_name[g].count for g in groups)

    def of_scale(value: int | str) -> int:
        if isinstance(value, int):
            return value
        return math.ceil(scale * int(value[:-1]) / 100)

    if budget.max_unavailable is not None:
        return name, groups, max(0, scale - of_scale(budget.max_unavailable))
    assert budget.min_available is not None
    return name, groups, of_scale(budget.min_available)


def _known(problem: Problem, plan: MigrationPlan, source: str) -> None:
    for k, step in enumerate(plan.steps):
        for side, rows in (("evict", step.evict), ("bind", step.bind)):
            for m, row in enumerate(rows):
                where = f"steps[{k}].{side}[{m}]"
                if row.item not in problem.item_by_name:
                    raise InputError(
                        f"unknown item {row.item!r}", path=f"{where}.item", source=source
                    )
                if row.bin not in problem.bin_by_name:
                    raise InputError(f"unknown bin {row.bin!r}", path=f"{where}.bin", source=source)


def check_plan(
    problem: Problem,
    target: Mapping[tuple[str, str], int],
    plan: MigrationPlan,
    source: str = "<plan>",
    deadline: float | None = None,
) -> list[str]:
    """Every violation of the sequence, each naming its step; [] when the sequence is valid.

    Unknown item or bin names are malformed input (InputError), not violations. ``deadline``
    (a ``time.monotonic()`` value): ``CheckCut`` when a step is reached after it."""
    if plan.problem != problem.name:
        raise InputError(
            f"the plan is for problem {plan.problem!r}, not {problem.name!r}",
            path="problem",
            source=source,
        )
    _known(problem, plan, source)
    return list(_violations(problem, target, plan, deadline))


def _violations(
    problem: Problem,
    target: Mapping[tuple[str, str], int],
    plan: MigrationPlan,
    deadline: float | None = None,
) -> Iterator[str]:
    labels = _Labels(problem)
    budgets = [_must_stay_up(problem, n, labels) for n in range(len(problem.disruption_budgets))]
    counts: Counts = defaultdict(int, start_counts(problem))
    judge = StateJudge(problem, counts)
    for why in judge.violations():
        yield f"current placement: {why}"
    for k, step in enumerate(plan.steps, start=1):
        if deadline is not None and time.monotonic() > deadline:
            raise CheckCut(k - 1)
        running: dict[str, int] = defaultdict(int)
        for (item, _), n in counts.items():
            running[item] += n
        evicted: dict[str, int] = defaultdict(int)
        for row in step.evict:
            here = counts[(row.item, row.bin)]
            if row.count > here:
                yield f"step {k}: evicts {row.count} {row.item} from {row.bin}, which holds {here}"
            counts[(row.item, row.bin)] = max(0, here - row.count)
            evicted[row.item] += min(row.count, here)
        for name, groups, stay_up in budgets:
            down = sum(evicted[g] for g in groups)
            allowed = max(0, sum(running[g] for g in groups) - stay_up)
            if down > allowed:
                yield (
                    f"step {k}: evicts {down} item(s) of disruption budget {name}, which allows "
                    f"{allowed} ({sum(running[g] for g in groups)} running, {stay_up} must stay up)"
                )
        for row in step.bind:
            counts[(row.item, row.bin)] += row.count
        touched = {(row.item, row.bin) for row in (*step.evict, *step.bind)}
        for why in judge.after(counts, touched):
            yield f"step {k}: {why}"
    final = {key: n for key, n in counts.items() if n > 0}
    wanted = {key: n for key, n in target.items() if n > 0}
    if final != wanted:
        diff = sorted(set(final.items()) ^ set(wanted.items()))
        (item, b), _ = diff[0]
        yield (
            f"after the last step {item} has {final.get((item, b), 0)} on {b}, "
            f"the target plan {wanted.get((item, b), 0)}"
        )


class StateJudge:
    """The verifier's state checks (``STATE_CHECKS``), re-run after a change only on what the
    change touched: a bin's capacity, an item's counts, eligibility and pinned rows, every rule
    and tenant quota selecting a touched item, traffic when one of its items moved. Verdicts
    are kept per bin, item, rule and tenant; ``violations()`` lists them all."""

    def __init__(self, problem: Problem, counts: Mapping[Key, int]) -> None:
        self.problem = problem
        self.by_item: dict[str, dict[Key, int]] = defaultdict(dict)
        self.by_bin: dict[str, dict[Key, int]] = defaultdict(dict)
        for key, n in counts.items():
            self._set(key, n)
        # which items each rule and tenant reads (the verifier's own selection, done once)
        self.readers: dict[str, list[int]] = defaultdict(list)  # item -> rule indices
        self.members: dict[int, frozenset[str]] = {}
        labels = _Labels(problem)
        for n, c in enumerate(problem.constraints):
            if c.soft:
                continue
            self.members[n] = _members(problem, c, labels)
            for name in self.members[n]:
                self.readers[name].append(n)
        self.tenant_of = {g.name: g.tenant for g in problem.items if g.tenant}
        self.of_tenant: dict[str, set[str]] = defaultdict(set)
        for name, tenant in self.tenant_of.items():
            self.of_tenant[tenant].add(name)
        self.traffic_items = {name for tr in problem.traffic for name in tr.items}
        self.pinned_items = {g.name for g in problem.items if not g.movable and g.placed}
        self.on_item: dict[str, list[Violation]] = {}
        self.on_bin: dict[str, list[Violation]] = {}
        self.on_rule: dict[int, list[Violation]] = {}
        self.on_tenant: dict[str, list[Violation]] = {}
        self.pinned: list[Violation] = []
        self.traffic: list[Violation] = []
        self.unsplit = [c for name, c in STATE_CHECKS.items() if name not in SPLIT_CHECKS]
        self.whole: list[Violation] = []
        self._judge(set(self.by_item), set(self.by_bin), everything=True)

    def _set(self, key: Key, n: int) -> None:
        item, b = key
        if n > 0:
            self.by_item[item][key] = n
            self.by_bin[b][key] = n
        else:
            self.by_item[item].pop(key, None)
            self.by_bin[b].pop(key, None)

    def _rows(self, items: set[str]) -> dict[Key, int]:
        return {key: n for name in items for key, n in self.by_item.get(name, {}).items()}

    def after(self, counts: Mapping[Key, int], touched: set[Key]) -> list[str]:
        """The state's violations once the rows ``touched`` took their values in ``counts``."""
        for key in touched:
            self._set(key, counts.get(key, 0))
        self._judge({item for item, _ in touched}, {b for _, b in touched})
        return self.violations()

    def _judge(self, items: set[str], bins: set[str], everything: bool = False) -> None:
        problem = self.problem
        for name in items:
            rows = self.by_item.get(name, {})
            self.on_item[name] = [*check_counts(problem, rows), *check_eligibility(problem, rows)]
        for b in bins:
            self.on_bin[b] = list(check_capacity(problem, self.by_bin.get(b, {})))
        if everything or items & self.pinned_items:
            self.pinned = list(check_pinned(problem, self._rows(self.pinned_items)))
        if everything or items & self.traffic_items:
            self.traffic = list(check_traffic(problem, self._rows(self.traffic_items)))
        if self.unsplit:
            live = self._rows(set(self.by_item))
            self.whole = [v for check in self.unsplit for v in check(problem, live)]
        rules = sorted({n for name in items for n in self.readers.get(name, ())})
        if rules:
            self._judge_rules(rules)
        tenants = {self.tenant_of[name] for name in items if name in self.tenant_of}
        for tenant in tenants:
            found = check_tenant_quotas(problem, self._rows(self.of_tenant[tenant]))
            self.on_tenant[tenant] = [v for v in found if v.subject == tenant]

    def _judge_rules(self, rules: list[int]) -> None:
        """Each rule alone, on the rows of the items it reads, in a view of the problem with
        only those items (the verifier indexes every item's labels per call) and, but for a
        spread (it counts every domain, empty ones too), only the bins holding those rows
        (affinity and anti-affinity look up no other bin's domain; the verifier maps every
        bin's domain per rule: 3,000 bins x 269 rules x 24 states was most of a 3,000-node
        check). Every row read is of an item in the view, on a bin in it."""
        problem = self.problem
        for n in rules:
            rule = problem.constraints[n]
            rows = self._rows(set(self.members[n]))
            view: dict[str, object] = {
                "constraints": (rule,),
                "items": tuple(problem.item_by_name[name] for name in sorted(self.members[n])),
            }
            if not isinstance(rule, Spread):
                view["bins"] = tuple(problem.bin_by_name[b] for b in sorted({b for _, b in rows}))
            only = problem.model_copy(update=view)
            self.on_rule[n] = [
                v.model_copy(update={"constraint": n}) for v in check_constraints(only, rows)
            ]

    def violations(self) -> list[str]:
        """Every violation of the current state (``state_violations``'s, in check order)."""
        found: list[Violation] = []
        for name in self.on_item:
            found += [v for v in self.on_item[name] if v.check == "counts"]
        for name in self.on_item:
            found += [v for v in self.on_item[name] if v.check == "eligibility"]
        found += self.pinned
        for b in self.on_bin:
            found += self.on_bin[b]
        for n in sorted(self.on_rule):
            found += self.on_rule[n]
        for tenant in self.on_tenant:
            found += self.on_tenant[tenant]
        found += self.traffic
        found += self.whole
        return [str(v) for v in found]


def _members(problem: Problem, rule: object, labels: _Labels) -> frozenset[str]:
    """The items a rule's verdict reads: those its selectors (and target) match, a gang's
    items, a quota's tenant's items."""
    if isinstance(rule, Gang):
        return frozenset(rule.items)
    if isinstance(rule, Quota):
        return frozenset(g.name for g in problem.items if g.tenant == rule.tenant)
    if isinstance(rule, AntiAffinity | Affinity | Spread):
        target = getattr(rule, "target", None)
        chosen = labels.select(rule.selector)
        return chosen if target is None else chosen | labels.select(target)
    raise TypeError(f"no reader set for rule {rule!r}")  # a new rule kind must say what it reads
