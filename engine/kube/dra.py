"""Dynamic Resource Allocation (``resource.k8s.io/v1``) -> IR devices, as kube-scheduler's DRA
plugin reads it.

- ResourceSlice (``spec.nodeName``): the node's devices. Identical devices (same attributes and
  capacity) form one IR device group, named by the devices' own names. Attribute names are
  domain-qualified (a short name takes the driver's domain, as DRA does), and every device
  carries its driver as the attribute ``driver``. A device that does not allow multiple
  allocations can only be taken whole (its ``placer.kube/shared`` attribute is "false", which
  every share request excludes).
- A pod's claim from a ResourceClaimTemplate: one request (``exactly``: a device class, CEL
  selectors, ``allocationMode: ExactCount`` with ``count``, and consumable ``capacity.requests``)
  becomes the item's device request: whole devices without capacity requests (a device with
  several allocations allowed gives its whole capacity to such a request), a share with them.
  The class's and the request's selectors become ``select``.
- CEL: the subset selectors use to pick devices — ``device.driver == "d"``,
  ``device.attributes["domain"].name == value`` (or ``["name"]``) and ``... in [values]``, joined
  by ``&&``, with ``||`` over values of one attribute. Anything else is reported, not guessed.
- Running pods keep the devices their claim's ``status.allocation`` names.

What this does not model is reported per pod (shared claims, several requests, ``All``,
``firstAvailable``, ``matchAttribute`` constraints, network-attached slices).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..quantity import QuantityError, parse_quantity
from .objects import name_of, namespace_of, ref

DRIVER_ATTRIBUTE = "driver"
SHARED_ATTRIBUTE = "placer.kube/shared"


class Unmodelled(Exception):
    """A DRA input placer cannot state exactly (reported per pod, never guessed)."""


@dataclass
class DeviceGroupSpec:
    names: list[str]
    capacity: dict[str, int]
    attributes: dict[str, str]

    def as_ir(self, n: int) -> dict[str, Any]:
        return {
            "name": f"dra-{n}",
            "count": len(self.names),
            "capacity": dict(self.capacity),
            "attributes": dict(self.attributes),
            "names": list(self.names),
        }


@dataclass(frozen=True)
class PodClaim:
    """One entry of a pod's ``spec.resourceClaims`` (with the claim it resolved to, if any)."""

    name: str
    template: str | None
    claim: str | None


@dataclass
class Catalog:
    """The DRA objects of a snapshot, read once."""

    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    claims: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, list[DeviceGroupSpec]] = field(default_factory=dict)
    # (driver, pool, device) -> the IR device name on its node
    device_names: dict[tuple[str, str, str], str] = field(default_factory=dict)
    device_nodes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # (namespace, claim name) -> pods naming it (resourceClaimName or a resolved template claim)
    claim_users: dict[tuple[str, str], int] = field(default_factory=dict)

    def count_users(self, namespace: str, claims: tuple[PodClaim, ...]) -> None:
        for claim in claims:
            if claim.claim is not None:
                key = (namespace, claim.claim)
                self.claim_users[key] = self.claim_users.get(key, 0) + 1

    def node_devices(self, node: str) -> list[dict[str, Any]]:
        return [g.as_ir(n) for n, g in enumerate(self.nodes.get(node, []))]

    def request(self, namespace: str, claims: tuple[PodClaim, ...]) -> dict[str, Any] | None:
        """The IR device request of a pending pod (None: it claims no devices). Raises
        ``Unmodelled`` with the reason when the claim cannot be stated exactly."""
        if not claims:
            return None
        if len(claims) > 1:
            raise Unmodelled("spec.resourceClaims: several claims per pod are not modelled")
        claim = claims[0]
        if claim.template is None:
            return self._named_claim(namespace, str(claim.claim))
        template = self.templates.get((namespace, claim.template))
        if template is None:
            raise Unmodelled(
                f"ResourceClaimTemplate {namespace}/{claim.template} is not in the input"
            )
        spec = _map(_map(template.get("spec")).get("spec"))
        return self._request(spec, f"ResourceClaimTemplate/{namespace}/{claim.template}")

    def _named_claim(self, namespace: str, name: str) -> dict[str, Any]:
        """A ResourceClaim the pod names (resourceClaimName): modelled when this pod alone uses
        it and it is not allocated yet (then it is the pod's own request, like a template's)."""
        where = f"ResourceClaim/{namespace}/{name}"
        obj = self.claims.get((namespace, name))
        if obj is None:
            raise Unmodelled(f"{where} is not in the input")
        if self.claim_users.get((namespace, name), 0) > 1:
            raise Unmodelled(f"{where} is shared by several pods; shared claims are not modelled")
        if _map(_map(obj.get("status")).get("allocation")):
            raise Unmodelled(
                f"{where} is already allocated; a pending pod with an allocated claim is not modelled"
            )
        return self._request(_map(obj.get("spec")), where)

    def _request(self, spec: Mapping[str, Any], where: str) -> dict[str, Any]:
        devices = _map(spec.get("devices"))
        requests = _list(devices.get("requests"))
        if len(requests) != 1:
            raise Unmodelled(f"{where}: {len(requests)} device requests (one is modelled)")
        if _list(devices.get("constraints")):
            raise Unmodelled(f"{where}: device constraints (matchAttribute) are not modelled")
        raw = _map(requests[0])
        if raw.get("firstAvailable"):
            raise Unmodelled(f"{where}: firstAvailable requests are not modelled")
        exact = _map(raw.get("exactly")) or raw  # v1 nests the request; v1beta1 did not
        mode = exact.get("allocationMode") or "ExactCount"
        if mode != "ExactCount":
            raise Unmodelled(f"{where}: allocationMode {mode} is not modelled")
        count = exact.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InputError(f"count must be a positive integer, got {count!r}", path=where)
        class_name = exact.get("deviceClassName")
        device_class = self.classes.get(str(class_name))
        if device_class is None:
            raise Unmodelled(f"{where}: DeviceClass {class_name!r} is not in the input")
        select: dict[str, set[str]] = {}
        expressions = _selectors(_map(device_class.get("spec")).get("selectors"))
        expressions += _selectors(exact.get("selectors"))
        for expression in expressions:
            for key, allowed in parse_cel(expression).items():
                select[key] = select[key] & allowed if key in select else set(allowed)
        request: dict[str, Any] = {"count": count}
        requested = _map(_map(exact.get("capacity")).get("requests"))
        if requested:
            share: dict[str, int] = {}
            for name, amount in requested.items():
                try:
                    share[str(name)] = parse_quantity(str(name), amount)
                except QuantityError as exc:
                    raise InputError(str(exc), path=f"{where}: capacity.requests.{name}") from None
            request["share"] = share
            select[SHARED_ATTRIBUTE] = select.get(SHARED_ATTRIBUTE, {"true"}) & {"true"}
        if any(not allowed for allowed in select.values()):
            raise Unmodelled(f"{where}: the selectors exclude every device")
        request["select"] = {k: sorted(v) for k, v in sorted(select.items())}
        return request

    def request_name(self, namespace: str, claims: tuple[PodClaim, ...]) -> str | None:
        """The name of the (single, modelled) request of a pod's claim (template or named)."""
        if len(claims) != 1:
            return None
        claim = claims[0]
        if claim.template is not None:
            template = self.templates.get((namespace, claim.template)) or {}
            spec = _map(_map(template.get("spec")).get("spec"))
        else:
            spec = _map((self.claims.get((namespace, str(claim.claim))) or {}).get("spec"))
        requests = _list(_map(spec.get("devices")).get("requests"))
        return str(_map(requests[0]).get("name") or "") if len(requests) == 1 else None

    def device_refs(self) -> dict[str, dict[str, list[str]]]:
        """node -> IR device name -> [driver, pool, device] (how a claim allocation names it)."""
        out: dict[str, dict[str, list[str]]] = {}
        for (driver, pool, device), ir_name in self.device_names.items():
            node = self.device_nodes.get((driver, pool, device))
            if node is not None:
                out.setdefault(node, {})[ir_name] = [driver, pool, device]
        return out

    def allocated(self, namespace: str, claims: tuple[PodClaim, ...]) -> list[str] | None:
        """The IR names of the devices a running pod's claim was given (None: not known)."""
        if len(claims) != 1 or claims[0].claim is None:
            return None
        claim = self.claims.get((namespace, claims[0].claim))
        if claim is None:
            return None
        allocation = _map(_map(claim.get("status")).get("allocation"))
        results = _list(_map(allocation.get("devices")).get("results"))
        names = []
        for r in results:
            entry = _map(r)
            key = (str(entry.get("driver")), str(entry.get("pool")), str(entry.get("device")))
            if key not in self.device_names:
                return None
            names.append(self.device_names[key])
        return names or None


def read_catalog(objects: list[dict[str, Any]], node_names: set[str]) -> Catalog:
    """Sort the DRA objects of a snapshot; slices of unknown nodes and network-attached slices
    are noted and skipped."""
    out = Catalog()
    per_node: dict[str, list[tuple[str, str, str, dict[str, str], dict[str, int]]]] = defaultdict(
        list
    )
    for obj in objects:
        kind = obj.get("kind")
        name = name_of(obj)
        if kind == "DeviceClass":
            out.classes[name] = obj
        elif kind == "ResourceClaimTemplate":
            out.templates[(namespace_of(obj), name)] = obj
        elif kind == "ResourceClaim":
            out.claims[(namespace_of(obj), name)] = obj
        elif kind == "ResourceSlice":
            spec = _map(obj.get("spec"))
            node = spec.get("nodeName")
            if not node:
                out.notes.append(f"{ref(obj)}: devices not attached to one node are not modelled")
                continue
            if node not in node_names:
                out.notes.append(f"{ref(obj)}: node {node!r} is not in the input; skipped")
                continue
            driver = str(spec.get("driver") or "")
            pool = str(_map(spec.get("pool")).get("name") or node)
            for n, raw in enumerate(_list(spec.get("devices"))):
                device = _map(raw)
                body = _map(device.get("basic")) or device  # v1beta1 wrapped it in "basic"
                where = f"{ref(obj)}: spec.devices[{n}]"
                per_node[str(node)].append(
                    (
                        driver,
                        pool,
                        str(device.get("name") or ""),
                        _attributes(body.get("attributes"), driver, device, where),
                        _capacity(body.get("capacity"), where),
                    )
                )
    for node, found in per_node.items():
        seen: dict[str, int] = defaultdict(int)
        for _, _, name, _, _ in found:
            seen[name] += 1
        groups: dict[tuple[Any, ...], DeviceGroupSpec] = {}
        for driver, pool, name, attributes, capacity in found:
            ir_name = name if seen[name] == 1 else f"{driver}/{pool}/{name}"
            out.device_names[(driver, pool, name)] = ir_name
            out.device_nodes[(driver, pool, name)] = node
            key = (tuple(sorted(attributes.items())), tuple(sorted(capacity.items())))
            if key not in groups:
                groups[key] = DeviceGroupSpec([], capacity, attributes)
            groups[key].names.append(ir_name)
        out.nodes[node] = list(groups.values())
    return out


def pod_claims(pod: Mapping[str, Any]) -> tuple[PodClaim, ...]:
    """The pod's ``spec.resourceClaims``, each with the claim it resolved to (from
    ``status.resourceClaimStatuses`` for claims made from a template)."""
    spec = _map(pod.get("spec"))
    status = _map(pod.get("status"))
    resolved = {
        str(_map(s).get("name")): _map(s).get("resourceClaimName")
        for s in _list(status.get("resourceClaimStatuses"))
    }
    out = []
    for raw in _list(spec.get("resourceClaims")):
        entry = _map(raw)
        name = str(entry.get("name") or "")
        template = entry.get("resourceClaimTemplateName")
        claim = entry.get("resourceClaimName") or resolved.get(name)
        out.append(
            PodClaim(name, str(template) if template else None, str(claim) if claim else None)
        )
    return tuple(out)


# ---------------------------------------------------------------------- CEL (the selector subset)

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<number>-?\d+)"""
    r"""|(?P<op>==|&&|\|\||\bin\b|[\[\]().,])|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"""
)


def _tokens(expression: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unmodelled(f"CEL selector {expression!r}: cannot read {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "string":
            value = bytes(value[1:-1], "utf-8").decode("unicode_escape")
        out.append((kind, value))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Cel:
    """A recursive-descent reader of the selector subset: a conjunction of attribute tests."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.pos = 0

    def fail(self, why: str) -> Unmodelled:
        return Unmodelled(f"CEL selector {self.expression!r}: {why} (a subset is modelled)")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        token = self.peek()
        if (
            token is None
            or (value is not None and token[1] != value)
            or (kind is not None and token[0] != kind)
        ):
            raise self.fail(f"expected {value or kind}")
        self.pos += 1
        return token[1]

    def parse(self) -> dict[str, set[str]]:
        out = self.conjunction()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return out

    def conjunction(self) -> dict[str, set[str]]:
        out = self.disjunction()
        while self.peek() == ("op", "&&"):
            self.take("&&")
            for key, allowed in self.disjunction().items():
                out[key] = out[key] & allowed if key in out else allowed
        return out

    def disjunction(self) -> dict[str, set[str]]:
        out = self.test()
        while self.peek() == ("op", "||"):
            self.take("||")
            more = self.test()
            if set(more) != set(out) or len(out) != 1:
                raise self.fail("|| over different attributes")
            key = next(iter(out))
            out[key] = out[key] | more[key]
        return out

    def test(self) -> dict[str, set[str]]:
        if self.peek() == ("op", "("):
            self.take("(")
            inner = self.conjunction()
            self.take(")")
            return inner
        key = self.attribute()
        op = self.take()
        if op == "==":
            return {key: {self.literal()}}
        if op == "in":
            self.take("[")
            values = {self.literal()}
            while self.peek() == ("op", ","):
                self.take(",")
                values.add(self.literal())
            self.take("]")
            return {key: values}
        raise self.fail(f"operator {op!r}")

    def attribute(self) -> str:
        if self.take(kind="name") != "device":
            raise self.fail("a test must start with device.")
        self.take(".")
        what = self.take(kind="name")
        if what == "driver":
            return DRIVER_ATTRIBUTE
        if what != "attributes":
            raise self.fail(f"device.{what}")
        self.take("[")
        domain = self.take(kind="string")
        self.take("]")
        if self.peek() == ("op", "."):
            self.take(".")
            name = self.take(kind="name")
        else:
            self.take("[")
            name = self.take(kind="string")
            self.take("]")
        return f"{domain}/{name}"

    def literal(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("a value is missing")
        self.pos += 1
        kind, value = token
        if kind in ("string", "number"):
            return value
        if kind == "name" and value in ("true", "false"):
            return value
        raise self.fail(f"value {value!r}")


def parse_cel(expression: str) -> dict[str, set[str]]:
    """attribute -> allowed values, for a selector of the subset (see the module docstring)."""
    return _Cel(expression).parse()


# ---------------------------------------------------------------------- helpers


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _selectors(value: Any) -> list[str]:
    out = []
    for raw in _list(value):
        cel = _map(_map(raw).get("cel"))
        expression = cel.get("expression")
        if isinstance(expression, str) and expression.strip():
            out.append(expression)
    return out


def _attributes(value: Any, driver: str, device: Mapping[str, Any], where: str) -> dict[str, str]:
    out = {DRIVER_ATTRIBUTE: driver}
    for name, raw in _map(value).items():
        typed = _map(raw)
        v = next((typed[k] for k in ("string", "int", "bool", "version") if k in typed), None)
        if v is None:
            raise InputError(f"attribute {name!r} has no string/int/bool/version value", path=where)
        key = str(name) if "/" in str(name) else f"{driver}/{name}"
        out[key] = str(v).lower() if isinstance(v, bool) else str(v)
    shared = device.get("allowMultipleAllocations") is True
    out[SHARED_ATTRIBUTE] = "true" if shared else "false"
    return out


def _capacity(value: Any, where: str) -> dict[str, int]:
    out = {}
    for name, raw in _map(value).items():
        amount = _map(raw).get("value", raw)
        try:
            out[str(name)] = parse_quantity(str(name), amount)
        except QuantityError as exc:
            raise InputError(str(exc), path=f"{where}.capacity.{name}") from None
    return out


__all__ = ["Catalog", "PodClaim", "Unmodelled", "parse_cel", "pod_claims", "read_catalog"]
