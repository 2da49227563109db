"""The problem IR (``apiVersion: placer/v1``, ``kind: Problem``): one model for every placement family.

Semantics that every backend and the verifier implement (see README "IR semantics"):

- Items come in GROUPS of identical replicas; a plan gives a count per (group, bin).
- ``placed`` items are already on bins and part of ``count``. Unless the group is ``movable`` they
  stay where they are (their bins keep at least that many); movable ones may move, each replica
  taken off its bin counts one ``moves``.
- A selector is a label map that must match all of an item's labels (``{}`` matches every item).
  A topology is a bin label key; its values are the domains; a bin without the key is in none.
- ``anti_affinity`` without ``target``: at most ``max_per_domain`` selected items per domain.
  With ``target``: no domain holds a selected item together with a *different* target item.
- ``affinity``: every selected item lies in a domain holding a target item other than itself;
  an item that is itself a target is exempt when it is the only target item placed anywhere
  (kube-scheduler's "first pod of its own affinity group" rule).
- ``spread``: every domain that receives a newly placed selected item ends with at most
  ``min + max_skew`` selected items, where ``min`` is the smallest count over the domains
  (0 when there are fewer than ``min_domains`` domains). ``bins`` restricts the domains to those
  of the listed bins (kube's nodeAffinityPolicy: Honor).
- ``gang``: all items of the listed groups are placed, or none.
- ``quota`` (and ``Tenant.quota``): the tenant's placed items use at most ``limits``.
- A constraint with a ``weight`` is soft: breaking it costs ``weight`` per violation, counted as
  excess items (anti_affinity per domain, spread per domain above min+max_skew) or as broken
  domains (anti_affinity with target, affinity: domains where the rule fails).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import InputError
from .quantity import QuantityError, parse_quantity

Resources = dict[str, int]
Labels = dict[str, str]

Term = Literal["placed", "bins_used", "cost", "balance", "moves", "fairness", "soft", "traffic"]
TERMS: tuple[str, ...] = get_args(Term)
MAXIMISED_TERMS = frozenset({"placed", "fairness"})

_LABEL_KEY = re.compile(
    r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class IRModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def parse_resources(value: Any) -> Any:
    """Parse a {resource: quantity} map into exact integers; errors name the resource."""
    if not isinstance(value, Mapping):
        return value  # pydantic reports the type error
    parsed: dict[str, int] = {}
    for resource, amount in value.items():
        if not isinstance(resource, str) or not resource:
            raise PydanticCustomError("resource_name", "resource names must be non-empty strings")
        try:
            number = parse_quantity(resource, amount)
        except QuantityError as exc:
            raise PydanticCustomError(
                "quantity", "{resource}: {reason}", {"resource": resource, "reason": str(exc)}
            ) from None
        if number < 0:
            raise PydanticCustomError(
                "quantity",
                "{resource}: negative quantity {value}",
                {"resource": resource, "reason": "negative", "value": repr(amount)},
            )
        parsed[resource] = number
    return parsed


def _check_selector(value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        raise PydanticCustomError(
            "selector",
            "a selector is a label map of key: value strings, got {value}",
            {"value": repr(value)},
        )
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _check_labels(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    for key in value:
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise PydanticCustomError("label_key", "invalid label key {key}", {"key": repr(key)})
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


class Bin(IRModel):
    """A node, edge server, device or cloud region."""

    name: str = Field(min_length=1)
    capacity: Resources = {}
    labels: Labels = {}
    cost: float = Field(1.0, ge=0, allow_inf_nan=False)
    speed: float = Field(1.0, gt=0, allow_inf_nan=False)

    _resources = field_validator("capacity", mode="before")(parse_resources)
    _labels = field_validator("labels", mode="before")(_check_labels)


class ItemGroup(IRModel):
    """A group of identical items (replicas of one workload)."""

    name: str = Field(min_length=1)
    count: PositiveInt = 1
    demand: Resources = {}
    labels: Labels = {}
    priority: int = 0
    tenant: str | None = None
    allowed: tuple[str, ...] | None = None
    cost: dict[str, float] = {}
    placed: dict[str, PositiveInt] = {}
    movable: bool = False
    required: bool = False
    meta: dict[str, Any] = {}

    _resources = field_validator("demand", mode="before")(parse_resources)
    _labels = field_validator("labels", mode="before")(_check_labels)

    @field_validator("cost")
    @classmethod
    def _finite_costs(cls, value: dict[str, float]) -> dict[str, float]:
        for name, cost in value.items():
            if cost != cost or cost in (float("inf"), float("-inf")):
                raise PydanticCustomError("cost", "{bin}: cost must be finite", {"bin": name})
        return value

    @model_validator(mode="after")
    def _placed_within_count(self) -> ItemGroup:
        total = sum(self.placed.values())
        if total > self.count:
            raise PydanticCustomError(
                "placed",
                "placed items ({total}) exceed count ({count})",
                {"total": total, "count": self.count},
            )
        return self

    @property
    def placed_total(self) -> int:
        return sum(self.placed.values())


Weight = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ConstraintBase(IRModel):
    name: str | None = None
    weight: Weight | None = None  # set: soft constraint, this cost per violation

    @property
    def soft(self) -> bool:
        return self.weight is not None


class AntiAffinity(ConstraintBase):
    kind: Literal["anti_affinity"]
    selector: Labels
    target: Labels | None = None
    topology: str = Field(min_length=1)
    max_per_domain: PositiveInt = 1

    _selectors = field_validator("selector", "target", mode="before")(_check_selector)


class Affinity(ConstraintBase):
    kind: Literal["affinity"]
    selector: Labels
    target: Labels
    topology: str = Field(min_length=1)

    _selectors = field_validator("selector", "target", mode="before")(_check_selector)


class Spread(ConstraintBase):
    kind: Literal["spread"]
    selector: Labels
    topology: str = Field(min_length=1)
    max_skew: PositiveInt = 1
    min_domains: PositiveInt | None = None
    bins: tuple[str, ...] | None = None

    _selectors = field_validator("selector", mode="before")(_check_selector)

    @field_validator("max_skew", mode="before")
    @classmethod
    def _skew_at_least_one(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise PydanticCustomError(
                "max_skew", "max_skew must be at least 1, got {v}", {"v": value}
            )
        return value


class Gang(ConstraintBase):
    kind: Literal["gang"]
    items: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _hard_only(self) -> Gang:
        if self.weight is not None:
            raise PydanticCustomError("gang", "a gang is all-or-nothing and cannot be soft")
        return self


class Quota(ConstraintBase):
    kind: Literal["quota"]
    tenant: str
    limits: Resources

    _resources = field_validator("limits", mode="before")(parse_resources)

    @model_validator(mode="after")
    def _hard_only(self) -> Quota:
        if self.weight is not None:
            raise PydanticCustomError("quota", "a quota is a hard limit and cannot be soft")
        return self


Constraint = Annotated[AntiAffinity | Affinity | Spread | Gang | Quota, Field(discriminator="kind")]
# The constraint classes and their kind names, read from the union above (one place to add one).
CONSTRAINT_TYPES: tuple[type[ConstraintBase], ...] = get_args(get_args(Constraint)[0])
CONSTRAINT_KINDS: dict[str, type[ConstraintBase]] = {
    get_args(c.model_fields["kind"].annotation)[0]: c for c in CONSTRAINT_TYPES
}


class Tenant(IRModel):
    name: str = Field(min_length=1)
    weight: Weight = 1.0
    priority: int = 0
    quota: Resources | None = None

    _resources = field_validator("quota", mode="before")(parse_resources)


class Traffic(IRModel):
    """Traffic between two item groups: ``volume`` × delay between their bins, averaged over replica pairs."""

    items: tuple[str, str]
    volume: float = Field(ge=0, allow_inf_nan=False)


_PERCENT = re.compile(r"^(\d{1,3})%$")


def _int_or_percent(value: Any) -> Any:
    """A disruption budget's number: a non-negative integer or a percentage string "0%".."100%"."""
    if value is None:
        return value
    if isinstance(value, bool):
        raise PydanticCustomError(
            "budget", "expected an integer or a percentage, got {v}", {"v": value}
        )
    if isinstance(value, int):
        if value < 0:
            raise PydanticCustomError("budget", "must not be negative, got {v}", {"v": value})
        return value
    if isinstance(value, str):
        m = _PERCENT.match(value.strip())
        if m and int(m[1]) <= 100:
            return f"{int(m[1])}%"
    raise PydanticCustomError(
        "budget",
        "expected a non-negative integer or a percentage such as '25%', got {v}",
        {"v": repr(value)},
    )


class DisruptionBudget(IRModel):
    """How many selected items may be down at once while running items are moved (a Kubernetes
    PodDisruptionBudget). Exactly one of ``min_available`` / ``max_unavailable``; a percentage is
    of the selected groups' total count, rounded up as the disruption controller does. Placement
    ignores budgets; ``placer migrate`` honours them in every step."""

    name: str | None = None
    selector: Labels
    min_available: int | str | None = None
    max_unavailable: int | str | None = None

    _selectors = field_validator("selector", mode="before")(_check_selector)
    _numbers = field_validator("min_available", "max_unavailable", mode="before")(_int_or_percent)

    @model_validator(mode="after")
    def _exactly_one(self) -> DisruptionBudget:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise PydanticCustomError(
                "budget", "give exactly one of min_available and max_unavailable"
            )
        return self


def _normalise_level(value: Any) -> Any:
    if isinstance(value, str):
        return {value: 1.0}
    return value


ObjectiveLevel = dict[Term, Annotated[float, Field(allow_inf_nan=False)]]


class Problem(IRModel):
    api_version: Literal["placer/v1"] = Field("placer/v1", alias="apiVersion")
    kind: Literal["Problem"] = "Problem"
    name: str = "problem"
    bins: tuple[Bin, ...] = ()
    items: tuple[ItemGroup, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    objective: tuple[ObjectiveLevel, ...] = ({"placed": 1.0},)
    tenants: tuple[Tenant, ...] = ()
    traffic: tuple[Traffic, ...] = ()
    delays: dict[str, dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]]] = {}
    disruption_budgets: tuple[DisruptionBudget, ...] = ()  # (ext) for placer migrate
    meta: dict[str, Any] = {}

    @field_validator("objective", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            levels = [_normalise_level(v) for v in value]
            for i, level in enumerate(levels):
                if isinstance(level, Mapping) and not level:
                    raise InputError(
                        "an objective level needs at least one term", path=f"objective[{i}]"
                    )
            return levels
        return value

    @model_validator(mode="after")
    def _references(self) -> Problem:
        _check_references(self)
        return self

    # ---- lookups (cached: the model is frozen) ----
    @cached_property
    def bin_by_name(self) -> dict[str, Bin]:
        return {b.name: b for b in self.bins}

    @cached_property
    def item_by_name(self) -> dict[str, ItemGroup]:
        return {i.name: i for i in self.items}

    @cached_property
    def resources(self) -> tuple[str, ...]:
        names: set[str] = set()
        for b in self.bins:
            names.update(b.capacity)
        for i in self.items:
            names.update(i.demand)
        return tuple(sorted(names))

    @cached_property
    def total_capacity(self) -> dict[str, int]:
        """Capacity of all bins together, per resource (the base of dominant shares)."""
        total: dict[str, int] = defaultdict(int)
        for b in self.bins:
            for r, cap in b.capacity.items():
                total[r] += cap
        return dict(total)

    def fits_empty(self, item: ItemGroup, bin_: Bin) -> bool:
        """Could one item fit on this bin if it were empty?"""
        return all(
            amount <= bin_.capacity.get(r, 0) for r, amount in item.demand.items() if amount > 0
        )

    def eligible(self, item: str) -> tuple[str, ...]:
        """Bins an item may use: its ``allowed`` list (or every bin) that an empty bin could hold.

        Bins where the item is already placed are always included (running pods stay valid).
        """
        group = self.item_by_name[item]
        allowed = set(group.allowed) if group.allowed is not None else None
        out = []
        for b in self.bins:
            if b.name in group.placed or (
                (allowed is None or b.name in allowed) and self.fits_empty(group, b)
            ):
                out.append(b.name)
        return tuple(out)

    def selected(self, selector: Mapping[str, str]) -> tuple[str, ...]:
        """Names of the groups whose labels match every key of the selector."""
        return tuple(
            i.name for i in self.items if all(i.labels.get(k) == v for k, v in selector.items())
        )

    def domains(
        self, topology: str, bins: tuple[str, ...] | None = None
    ) -> dict[str, tuple[str, ...]]:
        """Domain value -> bins in it (bins without the key are in no domain)."""
        keep = set(bins) if bins is not None else None
        out: dict[str, list[str]] = defaultdict(list)
        for b in self.bins:
            if topology in b.labels and (keep is None or b.name in keep):
                out[b.labels[topology]].append(b.name)
        return {d: tuple(v) for d, v in out.items()}

    def priority_weights(self) -> dict[str, int]:
        """Exact weight per group for the ``placed`` term: one item of a higher priority outweighs
        every item of all lower priorities together (all weights are 1 when priorities are equal)."""
        by_priority: dict[int, int] = defaultdict(int)
        for i in self.items:
            by_priority[i.priority] += i.count
        weight: dict[int, int] = {}
        below = 0
        for p in sorted(by_priority):
            weight[p] = below + 1
            below += by_priority[p] * weight[p]
        return {i.name: weight[i.priority] for i in self.items}

    def delay(self, a: str, b: str) -> float | None:
        """Delay between two bins (0 on the same bin); None when the IR gives no delay for the pair."""
        if a == b:
            return 0.0
        row = self.delays.get(a)
        if row is not None and b in row:
            return row[b]
        row = self.delays.get(b)
        if row is not None and a in row:
            return row[a]
        return None

    def features(self) -> frozenset[str]:
        """What this problem uses (a subset of ``FEATURES``): constraint kinds, ``soft``,
        ``movable``, ``objective:<term>``…"""
        out: set[str] = set()
        for c in self.constraints:
            out.add(c.kind)
            if c.soft:
                out.add("soft")
            if isinstance(c, AntiAffinity) and c.target is not None:
                out.add("anti_affinity:target")
        for level in self.objective:
            out.update(f"objective:{t}" for t in level)
        if any(t.quota for t in self.tenants):
            out.add("quota")
        if any(i.movable and i.placed for i in self.items):
            out.add("movable")
        if any(i.required for i in self.items):
            out.add("required")
        if len({i.priority for i in self.items}) > 1:
            out.add("priority")
        if self.traffic:
            out.add("traffic")
        return frozenset(out)


# Every name ``Problem.features`` can give: what a backend's ``supports`` is drawn from.
FEATURES: frozenset[str] = frozenset(
    {
        *CONSTRAINT_KINDS,
        "anti_affinity:target",
        "soft",
        "movable",
        "required",
        "priority",
        "traffic",
        *(f"objective:{t}" for t in TERMS),
    }
)


def _check_references(p: Problem) -> None:
    """Cross-references: duplicate names, unknown bins/items/tenants. Raises InputError with a path."""
    bins = unique_names([b.name for b in p.bins], "bins")
    items = unique_names([i.name for i in p.items], "items")
    tenants = unique_names([t.name for t in p.tenants], "tenants")
    for n, item in enumerate(p.items):
        where = f"items[{n}]"
        for field in ("allowed", "placed", "cost"):
            names = getattr(item, field) or ()
            for name in names:
                if name not in bins:
                    raise InputError(f"unknown bin {name!r}", path=f"{where}.{field}")
        if item.tenant is not None and item.tenant not in tenants:
            raise InputError(
                f"unknown tenant {item.tenant!r} (declare it under tenants:)",
                path=f"{where}.tenant",
            )
    for n, c in enumerate(p.constraints):
        where = f"constraints[{n}]"
        if isinstance(c, Gang):
            for name in c.items:
                if name not in items:
                    raise InputError(f"unknown item {name!r}", path=f"{where}.items")
        elif isinstance(c, Quota):
            if c.tenant not in tenants:
                raise InputError(f"unknown tenant {c.tenant!r}", path=f"{where}.tenant")
        elif isinstance(c, Spread) and c.bins is not None:
            for name in c.bins:
                if name not in bins:
                    raise InputError(f"unknown bin {name!r}", path=f"{where}.bins")
    for n, t in enumerate(p.traffic):
        for name in t.items:
            if name not in items:
                raise InputError(f"unknown item {name!r}", path=f"traffic[{n}].items")
    for a, row in p.delays.items():
        if a not in bins:
            raise InputError(f"unknown bin {a!r}", path="delays")
        for b in row:
            if b not in bins:
                raise InputError(f"unknown bin {b!r}", path=f"delays.{a}")


def unique_names(names: Sequence[str], where: str) -> set[str]:
    seen: set[str] = set()
    for n, name in enumerate(names):
        if name in seen:
            raise InputError(f"duplicate name {name!r}", path=f"{where}[{n}].name")
        seen.add(name)
    return seen


def minimised_terms(level: Mapping[Any, float]) -> bool:
    """A level is minimised unless every term in it is maximised (placed, fairness)."""
    return not all(t in MAXIMISED_TERMS for t in level)


def level_value(level: Mapping[Any, float], terms: Mapping[str, float]) -> float:
    """Value of one objective level from the values of its terms.

    All-maximised levels report Σ w·v (to be maximised); mixed or minimised levels report
    Σ w·v over minimised terms minus Σ w·v over maximised terms (to be minimised).
    """
    if not minimised_terms(level):
        return sum(w * terms[t] for t, w in level.items())
    return sum((-w if t in MAXIMISED_TERMS else w) * terms[t] for t, w in level.items())


NonNegInt = NonNegativeInt
