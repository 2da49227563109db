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
- Devices: a bin may hold devices (``Bin.devices``: groups of identical devices, each device
  with its own ``capacity`` and ``attributes``). An item with a ``devices`` request needs, on its
  bin, ``count`` distinct devices whose attributes match ``select``: whole devices (no ``share``),
  each used by that item alone, or a ``share`` of per-device resources on each of them, which
  fits the device together with the other shares on it. Node-level ``demand`` is separate.
  Items already placed name their devices (``placed_devices``); those that may not move keep them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cache, cached_property
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import InputError
from .limits import MAX_DEVICES, check_problem, quantity_out_of_range
from .quantity import QuantityError, parse_quantity

Resources = dict[str, int]
Labels = dict[str, str]

Term = Literal[
    "placed", "value", "bins_used", "cost", "balance", "moves", "fairness", "soft", "traffic"
]
TERMS: tuple[str, ...] = get_args(Term)
MAXIMISED_TERMS = frozenset({"placed", "value", "fairness"})

_LABEL_KEY = re.compile(
    r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def _not_a_bool(value: Any) -> Any:
    """Numbers are numbers: pydantic would read ``true`` as 1 (YAML's ``yes`` too)."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_number", "expected a number, got {value}", {"value": value})
    return value


NoBool = BeforeValidator(_not_a_bool)
Count = Annotated[PositiveInt, NoBool]
Int = Annotated[int, NoBool]


class IRModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's copy, without the lookups cached from the old fields (``cached_property``
        values live in the instance's ``__dict__``, which pydantic copies: a problem copied with
        new items answered ``item_by_name`` with the old ones)."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            for name in _cached_lookups(type(self)):
                copied.__dict__.pop(name, None)
        return copied


@cache
def _cached_lookups(cls: type) -> tuple[str, ...]:
    return tuple(
        name
        for klass in cls.__mro__
        for name, attr in vars(klass).items()
        if isinstance(attr, cached_property)
    )


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
        if why := quantity_out_of_range(resource, number):
            raise PydanticCustomError(
                "quantity",
                "{resource}: {reason}",
                {"resource": resource, "reason": f"{amount!r}: {why}"},
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
    for key, label in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise PydanticCustomError("label_key", "invalid label key {key}", {"key": repr(key)})
        if not isinstance(label, str | int | float | bool):
            raise PydanticCustomError(
                "label_value",
                "label {key}: a label value is a string, got {kind}",
                {"key": key, "kind": type(label).__name__},
            )
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def _check_select(value: Any) -> Any:
    """``{attribute: value or [values]}`` -> ``{attribute: (values...)}``."""
    if not isinstance(value, Mapping):
        return value
    out: dict[str, tuple[str, ...]] = {}
    for key, allowed in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise PydanticCustomError(
                "attribute", "invalid attribute name {key}", {"key": repr(key)}
            )
        values = allowed if isinstance(allowed, list | tuple) else [allowed]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            raise PydanticCustomError(
                "select",
                "{key}: a value or a non-empty list of values, got {value}",
                {"key": key, "value": repr(allowed)},
            )
        out[key] = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
    return out


class DeviceGroup(IRModel):
    """Identical devices of one bin (e.g. 8 GPUs of one model), each with this ``capacity``.

    The devices are named ``<name>-0`` … ``<name>-<count-1>``, or by ``names`` when given (e.g. the
    names a DRA ResourceSlice gives them).
    """

    name: str = Field(min_length=1)
    count: Annotated[Count, Field(le=MAX_DEVICES)] = 1
    capacity: Resources = {}
    attributes: Labels = {}
    names: tuple[str, ...] | None = None

    _resources = field_validator("capacity", mode="before")(parse_resources)
    _attributes = field_validator("attributes", mode="before")(_check_labels)

    @model_validator(mode="after")
    def _names_match_count(self) -> DeviceGroup:
        if self.names is not None and len(self.names) != self.count:
            raise PydanticCustomError(
                "names",
                "{n} names for {count} devices",
                {"n": len(self.names), "count": self.count},
            )
        return self

    @property
    def device_names(self) -> tuple[str, ...]:
        if self.names is not None:
            return self.names
        return tuple(f"{self.name}-{k}" for k in range(self.count))


class DeviceRequest(IRModel):
    """What one item needs from the devices of its bin: ``count`` distinct devices matching
    ``select`` (attribute -> allowed values), each whole (no ``share``: the item uses it alone) or
    with ``share`` of its per-device resources (other shares may use the rest)."""

    count: Annotated[Count, Field(le=MAX_DEVICES)] = 1
    share: Resources | None = None
    select: dict[str, tuple[str, ...]] = {}

    _share = field_validator("share", mode="before")(parse_resources)
    _select = field_validator("select", mode="before")(_check_select)

    @field_validator("share")
    @classmethod
    def _share_not_empty(cls, value: Resources | None) -> Resources | None:
        if value is not None and not any(v > 0 for v in value.values()):
            raise PydanticCustomError(
                "share",
                "a share needs a positive amount of some device resource "
                "(leave share out to request whole devices)",
            )
        return value

    @property
    def whole(self) -> bool:
        return self.share is None

    def accepts(self, device: DeviceGroup) -> bool:
        """Do the device's attributes match ``select``?"""
        return all(device.attributes.get(k) in allowed for k, allowed in self.select.items())


class Bin(IRModel):
    """A node, edge server, device or cloud region."""

    name: str = Field(min_length=1)
    capacity: Resources = {}
    labels: Labels = {}
    cost: Annotated[float, NoBool] = Field(1.0, ge=0, allow_inf_nan=False)
    speed: Annotated[float, NoBool] = Field(1.0, gt=0, allow_inf_nan=False)
    devices: tuple[DeviceGroup, ...] = ()

    _resources = field_validator("capacity", mode="before")(parse_resources)
    _labels = field_validator("labels", mode="before")(_check_labels)

    @model_validator(mode="after")
    def _unique_devices(self) -> Bin:
        groups: set[str] = set()
        names: set[str] = set()
        for n, group in enumerate(self.devices):
            if group.name in groups:
                raise PydanticCustomError(
                    "devices",
                    "devices[{n}]: duplicate device group {name}",
                    {"n": n, "name": repr(group.name)},
                )
            groups.add(group.name)
            for device in group.device_names:
                if device in names:
                    raise PydanticCustomError(
                        "devices",
                        "devices[{n}]: duplicate device name {name}",
                        {"n": n, "name": repr(device)},
                    )
                names.add(device)
        return self

    @cached_property
    def device_group_of(self) -> dict[str, DeviceGroup]:
        """Device name -> its group."""
        return {d: g for g in self.devices for d in g.device_names}


Rate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Sizing(IRModel):
    """A service sized as an M/M/k queue (see ``engine.sizing``): Poisson arrivals at ``arrival``
    per second, exponential service at ``service`` per second and replica, and the targets its
    replica count must meet (the document's rule for ``utilisation``, Erlang C for waits)."""

    arrival: Rate
    service: Rate
    utilisation: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] | None = None
    mean_wait: Rate | None = None  # seconds
    p99_wait: Rate | None = None  # seconds

    @model_validator(mode="after")
    def _a_target(self) -> Sizing:
        if self.utilisation is None and self.mean_wait is None and self.p99_wait is None:
            raise PydanticCustomError("sizing", "give a target: utilisation, mean_wait or p99_wait")
        return self

    @property
    def replicas(self) -> int:
        """The fewest replicas meeting every target."""
        from .sizing.erlang import Queue, size

        rows = size(
            Queue(self.arrival, self.service),
            utilisation=self.utilisation,
            mean_wait=self.mean_wait,
            p99_wait=self.p99_wait,
        )
        return max(r.replicas for r in rows)


class ItemGroup(IRModel):
    """A group of identical items (replicas of one workload)."""

    name: str = Field(min_length=1)
    count: Count = 1
    demand: Resources = {}
    labels: Labels = {}
    priority: Int = 0
    tenant: str | None = None
    allowed: tuple[str, ...] | None = None
    cost: dict[str, Annotated[float, NoBool]] = {}
    placed: dict[str, Count] = {}
    movable: bool = False
    required: bool = False
    devices: DeviceRequest | None = None
    placed_devices: dict[str, tuple[tuple[str, ...], ...]] = {}
    value: Annotated[float, NoBool] = Field(1.0, ge=0, allow_inf_nan=False)
    sizing: Sizing | None = None  # (ext) the count follows from it (replicas meeting its targets)
    meta: dict[str, Any] = {}

    _resources = field_validator("demand", mode="before")(parse_resources)
    _labels = field_validator("labels", mode="before")(_check_labels)

    @model_validator(mode="after")
    def _sized_count(self) -> ItemGroup:
        """A sized group holds as many items as its targets need: ``count`` is derived (a
        ``count`` given too must agree)."""
        if self.sizing is None:
            return self
        needed = self.sizing.replicas
        if "count" in self.model_fields_set and self.count != needed:
            raise PydanticCustomError(
                "sizing",
                "count {count} disagrees with the sizing, which needs {needed} replicas "
                "(leave count out)",
                {"count": self.count, "needed": needed},
            )
        object.__setattr__(self, "count", needed)
        return self

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


Weight = Annotated[float, NoBool, Field(gt=0, allow_inf_nan=False)]


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
    max_per_domain: Count = 1

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
    max_skew: Count = 1
    min_domains: Count | None = None
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
    priority: Int = 0
    quota: Resources | None = None

    _resources = field_validator("quota", mode="before")(parse_resources)


class Traffic(IRModel):
    """Traffic between two item groups: ``volume`` × delay between their bins, averaged over replica pairs."""

    items: tuple[str, str]
    volume: Annotated[float, NoBool] = Field(ge=0, allow_inf_nan=False)


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


ObjectiveLevel = dict[Term, Annotated[float, NoBool, Field(allow_inf_nan=False)]]


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
    delays: dict[str, dict[str, Annotated[float, NoBool, Field(ge=0, allow_inf_nan=False)]]] = {}
    disruption_budgets: tuple[DisruptionBudget, ...] = ()  # (ext) for placer migrate
    meta: dict[str, Any] = {}

    @field_validator("objective", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if not value:
                raise InputError(
                    "needs at least one level (the default is [placed]; omit the key for it)",
                    path="objective",
                )
            levels = [_normalise_level(v) for v in value]
            for i, level in enumerate(levels):
                if isinstance(level, Mapping) and not level:
                    raise InputError(
                        "an objective level needs at least one term", path=f"objective[{i}]"
                    )
            return levels
        return value

    @model_validator(mode="before")
    @classmethod
    def _targets_first(cls, data: Any) -> Any:
        """With sized groups, meeting their targets comes first: a ``placed`` level leads the
        objective (priority tiers decide who misses when capacity runs short)."""
        if not isinstance(data, Mapping):
            return data
        items = data.get("items")
        if not isinstance(items, list | tuple):
            return data  # the field's own validation says what is wrong
        sized = any(
            (i.get("sizing") is not None) if isinstance(i, Mapping) else getattr(i, "sizing", None)
            for i in items
        )
        objective = data.get("objective")
        if not sized or objective is None or not isinstance(objective, list | tuple):
            return data
        first = _normalise_level(objective[0]) if objective else None
        if isinstance(first, Mapping) and set(first) == {"placed"}:
            return data
        return {**data, "objective": ["placed", *objective]}

    @model_validator(mode="after")
    def _references(self) -> Problem:
        _check_references(self)
        check_problem(self)  # counts, priorities and totals every backend can represent
        return self

    # ---- lookups (cached: the model is frozen) ----
    @cached_property
    def bin_by_name(self) -> dict[str, Bin]:
        return {b.name: b for b in self.bins}

    @cached_property
    def item_by_name(self) -> dict[str, ItemGroup]:
        return {i.name: i for i in self.items}

    @cached_property
    def topology_domains(self) -> dict[str, Mapping[str, str]]:
        """Bin -> domain maps by topology label, filled by ``domain_of`` as labels are asked for."""
        return {}

    def domain_of(self, topology: str) -> Mapping[str, str]:
        """Each bin's domain under a topology label (bins without the label left out); built
        once per label (the verifier asked again for every rule: 3,000 bins x 302 rules took
        0.17 of a verification's 0.24 s)."""
        maps = self.topology_domains
        if topology not in maps:
            maps[topology] = MappingProxyType(
                {b.name: b.labels[topology] for b in self.bins if topology in b.labels}
            )
        return maps[topology]

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
        """Could one item fit on this bin if it were empty (its devices included)?"""
        if not all(
            amount <= bin_.capacity.get(r, 0) for r, amount in item.demand.items() if amount > 0
        ):
            return False
        request = item.devices
        if request is None:
            return True
        usable = sum(
            group.count
            for group in bin_.devices
            if request.accepts(group)
            and all(a <= group.capacity.get(r, 0) for r, a in (request.share or {}).items())
        )
        return usable >= request.count

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
        if any(i.devices is not None for i in self.items):
            out.add("devices")
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
        "devices",
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
        _check_placed_devices(p, item, where)
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


def _check_placed_devices(p: Problem, item: ItemGroup, where: str) -> None:
    """Items already placed that request devices name them: one device list per item, of the
    requested length, of distinct devices of that bin."""
    if item.devices is None:
        if item.placed_devices:
            raise InputError(
                "placed_devices given, but the item requests no devices",
                path=f"{where}.placed_devices",
            )
        return
    for b in item.placed_devices:
        if b not in item.placed:
            raise InputError(
                f"bin {b!r} holds no placed item of this group", path=f"{where}.placed_devices"
            )
    for b, n in item.placed.items():
        at = f"{where}.placed_devices.{b}"
        lists = item.placed_devices.get(b)
        if lists is None:
            raise InputError(
                f"{n} item(s) already on {b} request devices: name them in placed_devices",
                path=f"{where}.placed_devices",
            )
        if len(lists) != n:
            raise InputError(f"{len(lists)} device lists for {n} placed item(s)", path=at)
        known = p.bin_by_name[b].device_group_of
        for k, names in enumerate(lists):
            if len(names) != item.devices.count or len(set(names)) != len(names):
                raise InputError(
                    f"{item.devices.count} distinct device(s) per item, got {list(names)}",
                    path=f"{at}[{k}]",
                )
            for name in names:
                if name not in known:
                    raise InputError(f"bin {b!r} has no device {name!r}", path=f"{at}[{k}]")


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
