"""The cluster's DRA devices at device level, and placer's online GPU policy over them.

For a pod its plan does not cover, prioritize can score nodes the way ``placer``'s online policy
places a GPU pod (``engine.gpu.policies.PlacerPolicy``: FGD's fragmentation gradient, ties broken
by keeping each node's CPU in step with its GPUs) instead of by LeastAllocated.

:class:`DeviceView` reads the DRA objects the service holds (ResourceSlices: each node's devices,
their attributes and capacity; ResourceClaims: which devices are allocated, and how much of a
shared device each allocation consumes) into arrays laid out like the node table: row r holds the
devices of the node in the table's row r. It is rebuilt only when nodes or DRA objects change
(``state.nodes_version``); a request reads it with array operations, no loop over nodes.

Units. The policy works in milli-devices: each device's free capacity is 1000 × free / capacity
of the one capacity a share request names (a device taken whole, or without that capacity, is
not free), and a share of ``a`` asks ``⌈1000 · a / capacity⌉`` of the largest capacity among the
devices it may use, so a share never looks smaller than it is. Devices of one node are
told apart by their attributes (a *kind*: all attributes, the driver among them); a node is
measured by the kind the pod asks for (or its first device's).

What it cannot state exactly — several claims or requests per pod, a share over several
capacities, selectors DRA's CEL subset does not cover — is scored by LeastAllocated, counted as a
fallback with its reason.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from engine.errors import InputError
from engine.gpu.cluster import Cluster, ClusterState, Pod
from engine.gpu.policies import PlacerPolicy
from engine.gpu.trace import MILLI
from engine.gpu.trace import NodeTable as DeviceNodes
from engine.gpu.workload import ShapeKey, ShapeShare, distribution_of, median_of, shape_key
from engine.kube.dra import Catalog, PodClaim, Unmodelled, pod_claims, read_catalog
from engine.quantity import QuantityError, parse_quantity

from .state import ClusterState as ServiceState
from .state import PodRecord
from .table import NodeTable

log = logging.getLogger(__name__)

LAYOUT_KINDS = ("DeviceClass", "ResourceSlice", "ResourceClaimTemplate")
LEARNED_PODS = 50_000  # pods remembered for the learned shape distribution (oldest out)
RELEARN_GROWTH = 1.1  # the policy re-learns when the pods seen grew by 10 % (or a new shape)

IntArray = npt.NDArray[np.int64]


class NotScored(Exception):
    """The pod cannot be scored at device level (the reason is the fallback counter's label)."""


ClaimUse = list[tuple[int, int, str | None, int]]  # (row, slot, capacity or None: whole, amount)


@dataclass
class Layout:
    """Where the devices are (ResourceSlices) and what requests mean (DeviceClasses, claim
    templates), on the node table's rows: rebuilt only when one of those or the nodes change."""

    key: tuple[object, ...]
    sources: list[dict[str, Any]]  # held, so the ids in ``key`` stay theirs
    kinds: tuple[str, ...]  # kind names "kind-0", ... (the GPU policy's models)
    kind_attributes: tuple[dict[str, str], ...]
    kind: IntArray  # rows × width, -1 where no device
    capacity: dict[str, IntArray]  # capacity name -> rows × width
    where: dict[tuple[str, str, str], tuple[int, int]]  # (driver, pool, device) -> (row, slot)
    catalog: Catalog
    # parsed requests: (True, request) or (False, the error it raised)
    requests: dict[tuple[str, tuple[PodClaim, ...]], tuple[bool, Any]] = field(default_factory=dict)

    def request(
        self,
        namespace: str,
        claims: tuple[PodClaim, ...],
        claim_objects: Mapping[tuple[str, str, str], dict[str, Any]],
    ) -> dict[str, Any] | None:
        """The catalog's device request of a pod's claims, parsed once per layout (an
        ``Unmodelled`` or ``InputError`` is remembered and raised again). A claim the pod names
        itself is read as it is now, from ``claim_objects`` (the state's, by kind, namespace and
        name), and not remembered."""
        named = [c.claim for c in claims if c.template is None and c.claim is not None]
        if named:
            found_claims = {
                (namespace, n): obj
                for n in named
                if (obj := claim_objects.get(("ResourceClaim", namespace, n))) is not None
            }
            catalog = replace(self.catalog, claims=found_claims)
            catalog.count_users(namespace, claims)
            return catalog.request(namespace, claims)
        key = (namespace, claims)
        found = self.requests.get(key)
        if found is None:
            try:
                found = (True, self.catalog.request(namespace, claims))
            except (Unmodelled, InputError) as exc:
                found = (False, exc)
            if len(self.requests) > 10_000:
                self.requests.clear()
            self.requests[key] = found
        ok, value = found
        if not ok:
            raise cast(Exception, value)
        return cast("dict[str, Any] | None", value)


@dataclass
class DeviceView:
    """Every node's devices: kind, capacity and use per (table row, device slot)."""

    version: int
    layout: Layout
    consumed: dict[str, IntArray]
    taken: npt.NDArray[np.bool_]  # allocated whole (exclusively)
    # free milli-devices by (share, accepted kinds), computed once per view: a view is rebuilt
    # whenever nodes, devices or claims change, and every prioritize reads the whole cluster's
    _usable: dict[tuple[str | None, bytes], IntArray] = field(default_factory=dict, repr=False)

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.layout.kinds

    @property
    def kind(self) -> IntArray:
        return self.layout.kind

    @property
    def capacity(self) -> dict[str, IntArray]:
        return self.layout.capacity

    @property
    def rows(self) -> int:
        return int(self.kind.shape[0])

    @property
    def empty(self) -> bool:
        return not self.kinds

    def accepted_kinds(self, select: Mapping[str, list[str]]) -> npt.NDArray[np.bool_]:
        """Per kind: do its attributes satisfy the request's ``select``."""
        return np.array(
            [
                all(attrs.get(key) in allowed for key, allowed in select.items())
                for attrs in self.layout.kind_attributes
            ],
            dtype=bool,
        )

    def usable_milli(
        self, share: str | None, accepted: npt.NDArray[np.bool_] | None = None
    ) -> IntArray:
        """:meth:`free_milli`, 0 on devices whose kind is not ``accepted`` (None: all are);
        read-only, shared by the requests that see this view."""
        key = (share, b"" if accepted is None else accepted.tobytes())
        found = self._usable.get(key)
        if found is None:
            found = self.free_milli(share)
            if accepted is not None:
                found = _only(found, self, accepted)
            found.setflags(write=False)
            self._usable[key] = found
        return found

    def free_milli(self, share: str | None) -> IntArray:
        """Free milli-devices per device, as a share of capacity ``share`` would see it (whole
        devices: 1000 for a device nothing is allocated on)."""
        absent = self.taken | (self.kind < 0)
        if share is None:
            untouched = ~absent
            for used in self.consumed.values():
                untouched &= used == 0
            return np.where(untouched, MILLI, 0)
        cap = self.capacity.get(share)
        if cap is None:
            return np.zeros_like(self.kind)
        used = self.consumed.get(share, np.zeros_like(cap))
        free = np.where(cap > 0, (MILLI * (cap - used)) // np.maximum(cap, 1), 0)
        return np.where(absent, 0, np.clip(free, 0, MILLI))


def build_layout(
    objects: list[dict[str, Any]], table: NodeTable, key: tuple[object, ...]
) -> Layout:
    """Read slices, classes and templates (one pass over every device)."""
    try:
        catalog = read_catalog(objects, set(table.row_of))
    except InputError as exc:
        log.warning("DRA objects not usable for device scoring: %s", exc)
        catalog = Catalog()
    slot_of: dict[tuple[str, str], int] = {}  # (node, IR device name) -> slot
    per_node: dict[str, list[tuple[str, dict[str, str], dict[str, int]]]] = {}
    for node, groups in catalog.nodes.items():
        for group in groups:
            for name in group.names:
                per_node.setdefault(node, []).append((name, group.attributes, group.capacity))
    width = max((len(v) for v in per_node.values()), default=0)
    rows = table.size
    kind = np.full((rows, width), -1, dtype=np.int64)
    capacity: dict[str, IntArray] = {}
    kinds: dict[tuple[tuple[str, str], ...], int] = {}
    for node, devices in per_node.items():
        row = table.row_of.get(node)
        if row is None:
            continue
        for slot, (name, attributes, cap) in enumerate(devices):
            slot_of[(node, name)] = slot
            kind[row, slot] = kinds.setdefault(tuple(sorted(attributes.items())), len(kinds))
            for cname, amount in cap.items():
                grid = capacity.setdefault(cname, np.zeros((rows, width), dtype=np.int64))
                grid[row, slot] = amount
    where: dict[tuple[str, str, str], tuple[int, int]] = {}
    for ref, name in catalog.device_names.items():
        owner = catalog.device_nodes.get(ref) or ""
        at_row = table.row_of.get(owner)
        at_slot = slot_of.get((owner, name))
        if at_row is not None and at_slot is not None:
            where[ref] = (at_row, at_slot)
    ordered = sorted(kinds.items(), key=lambda kv: kv[1])
    return Layout(
        key=key,
        sources=objects,
        kinds=tuple(f"kind-{i}" for _, i in ordered),
        kind_attributes=tuple(dict(k) for k, _ in ordered),
        kind=kind,
        capacity=capacity,
        where=where,
        catalog=catalog,
    )


def claim_use(claim: Mapping[str, Any], layout: Layout) -> ClaimUse:
    """The devices a ResourceClaim's allocation holds: a consumed capacity, or the whole device
    (an exclusive allocation, or a consumed amount that does not parse)."""
    out: ClaimUse = []
    allocation = ((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}
    for result in allocation.get("results") or ():
        if not isinstance(result, dict):
            continue
        ref = (str(result.get("driver")), str(result.get("pool")), str(result.get("device")))
        at = layout.where.get(ref)
        if at is None:
            continue
        amounts = result.get("consumedCapacity")
        if not isinstance(amounts, dict) or not amounts:
            out.append((*at, None, 0))
            continue
        for cname, raw in amounts.items():
            try:
                out.append((*at, str(cname), parse_quantity(str(cname), raw)))
            except QuantityError:
                out.append((*at, None, 0))
    return out


class LearnedShapes:
    """The pod shapes seen in requests, one count per pod (by uid), least recent out."""

    def __init__(self, limit: int = LEARNED_PODS) -> None:
        self.limit = limit
        self.by_pod: OrderedDict[str, tuple[ShapeKey, int]] = OrderedDict()
        self.counts: Counter[ShapeKey] = Counter()
        self.memory: defaultdict[ShapeKey, Counter[int]] = defaultdict(Counter)  # per shape
        self.changes = 0  # bumped when a new shape appears

    def add(self, uid: str, shape: ShapeKey, memory: int = 0) -> None:
        old = self.by_pod.get(uid)
        if old == (shape, memory):
            return
        if old is not None:
            self._drop(old)
        self.by_pod[uid] = (shape, memory)
        if self.counts[shape] == 0:
            self.changes += 1
        self.counts[shape] += 1
        self.memory[shape][memory] += 1
        while len(self.by_pod) > self.limit:
            _, gone = self.by_pod.popitem(last=False)
            self._drop(gone)

    def _drop(self, entry: tuple[ShapeKey, int]) -> None:
        shape, memory = entry
        self.counts[shape] -= 1
        seen = self.memory[shape]
        seen[memory] -= 1
        if seen[memory] <= 0:
            del seen[memory]

    def distribution(self) -> list[ShapeShare]:
        """The shapes seen, as fractions of the pods, each with its median memory."""
        typical = {k: median_of(m) for k, m in self.memory.items() if m}
        return distribution_of(self.counts, typical)

    @property
    def total(self) -> int:
        return len(self.by_pod)


@dataclass
class _Learned:
    view_version: int
    pods: int
    changes: int
    policy: PlacerPolicy


class DeviceScorer:
    """placer's online GPU policy for prioritize, over the service's DRA devices."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.shapes = LearnedShapes()
        self._view: DeviceView | None = None
        self._layout: Layout | None = None
        self._claims: dict[int, tuple[dict[str, Any], ClaimUse]] = {}  # by id, object held
        self._learned: _Learned | None = None
        self._lock = threading.Lock()  # one rebuild at a time; readers use the last one

    def view(self) -> DeviceView:
        """The devices as of the state's last node or DRA change (rebuilt after one)."""
        view = self._view
        if view is None or view.version != self.state.nodes_version:
            with self._lock:
                view = self._view
                if view is None or view.version != self.state.nodes_version:
                    view = self._view = self._refresh()
        return view

    def _refresh(self) -> DeviceView:
        """A new view: the layout again only if slices, classes, templates or nodes changed;
        each claim's use read again only if that claim changed (objects are replaced, never
        changed in place, when the state takes a new version of them)."""
        state = self.state
        version = state.nodes_version
        table = state.table
        objects = list(state.objects.values())
        claims = [o for o in objects if o.get("kind") == "ResourceClaim"]
        sources = [o for o in objects if o.get("kind") in LAYOUT_KINDS]
        key = (*map(id, sources), *table.name_at)
        layout = self._layout
        if layout is None or layout.key != key:
            layout = self._layout = build_layout(sources, table, key)
            self._claims = {}
        cached = self._claims
        uses: dict[int, tuple[dict[str, Any], ClaimUse]] = {}
        for claim in claims:
            hit = cached.get(id(claim))
            uses[id(claim)] = hit if hit is not None else (claim, claim_use(claim, layout))
        self._claims = uses
        shape = layout.kind.shape
        consumed = {c: np.zeros(shape, dtype=np.int64) for c in layout.capacity}
        taken = np.zeros(shape, dtype=bool)
        for _, use in uses.values():
            for row, slot, cname, amount in use:
                if cname is None:
                    taken[row, slot] = True
                elif cname in consumed:
                    consumed[cname][row, slot] += amount
        return DeviceView(version, layout, consumed, taken)

    def scores(
        self, record: PodRecord, pod: Mapping[str, Any], rows: IntArray, top: int
    ) -> IntArray:
        """Scores 0..top for the nodes in table ``rows``: ``top`` for the node the policy picks,
        the others by their fragmentation gradient (0..top-1), 0 where the pod does not fit.
        Raises :class:`NotScored` for a pod the view cannot state."""
        view = self.view()
        if view.empty:
            raise NotScored("no_devices")
        gpu_pod, free = self.gpu_pod(view, record, pod)
        self.shapes.add(record.uid, shape_key(gpu_pod), gpu_pod.memory)
        policy = self.policy(view)
        state = self._state(view, rows, free, gpu_pod)
        feasible = state.fits(gpu_pod)
        out = np.zeros(len(rows), dtype=np.int64)
        if not feasible.any():
            return out
        nodes = np.flatnonzero(feasible)
        before = policy.measure(
            state, nodes, state.cpu_free[nodes], state.mem_free[nodes], state.gpu_free[nodes]
        )
        gradient, _ = policy.gradient(state, gpu_pod, nodes, before)
        full = np.full(len(rows), -np.inf)
        full[nodes] = gradient
        best = policy.choose_for(gpu_pod, state, full, feasible)
        low, high = float(gradient.min()), float(gradient.max())
        spread = (gradient - low) / (high - low) if high > low else np.ones(nodes.size)
        out[nodes] = np.floor(spread * (top - 1)).astype(np.int64)
        out[best] = top
        return out

    def gpu_pod(
        self, view: DeviceView, record: PodRecord, pod: Mapping[str, Any]
    ) -> tuple[Pod, IntArray]:
        """The pod as the GPU policy states it, and the free milli-devices it would see."""
        cpu = int(record.request.get("cpu", 0))
        memory = int(record.request.get("memory", 0))
        claims = pod_claims(pod)
        if not claims:
            return Pod(cpu, memory, 0, 0), view.usable_milli(None)
        meta = pod.get("metadata") or {}
        try:
            namespace = str(meta.get("namespace") or "default")
            request = view.layout.request(namespace, claims, self.state.objects)
        except (Unmodelled, InputError) as exc:
            log.debug("device scoring: %s", exc)
            raise NotScored("device_request_unmodelled") from None
        if request is None:
            return Pod(cpu, memory, 0, 0), view.usable_milli(None)
        accepted = view.accepted_kinds(request.get("select") or {})
        spec = tuple(name for name, ok in zip(view.kinds, accepted, strict=True) if ok)
        if not spec:
            raise NotScored("no_device_of_its_kind")
        if spec == view.kinds:
            spec = ()
        share = request.get("share") or {}
        if len(share) > 1:
            raise NotScored("device_request_unmodelled")
        count = int(request["count"])
        if not share:
            return Pod(cpu, memory, count, MILLI, spec), view.usable_milli(None, accepted)
        ((name, amount),) = share.items()
        if count != 1:
            raise NotScored("device_request_unmodelled")  # a share of each of several devices
        cap = view.capacity.get(name)
        usable = accepted[np.maximum(view.kind, 0)] & (view.kind >= 0)
        largest = int(cap[usable].max(initial=0)) if cap is not None else 0
        if largest <= 0:
            raise NotScored("no_device_of_its_kind")
        milli = min(MILLI, max(1, math.ceil(MILLI * int(amount) / largest)))
        return Pod(cpu, memory, 1, milli, spec), view.usable_milli(name, accepted)

    def policy(self, view: DeviceView) -> PlacerPolicy:
        """The policy, learned from the shapes seen so far (re-learned as they grow)."""
        learned = self._learned
        shapes = self.shapes
        if (
            learned is None
            or learned.view_version != view.version
            or learned.changes != shapes.changes
            or shapes.total > RELEARN_GROWTH * learned.pods
        ):
            policy = PlacerPolicy()
            policy.learn(self._cluster(view), shapes.distribution())
            learned = self._learned = _Learned(view.version, shapes.total, shapes.changes, policy)
        return learned.policy

    def _cluster(self, view: DeviceView) -> Cluster:
        """The GPU policy's cluster for the whole view (only its device kinds matter)."""
        return Cluster(_device_nodes(view, self.state, np.arange(view.rows)))

    def _state(self, view: DeviceView, rows: IntArray, free: IntArray, pod: Pod) -> ClusterState:
        """The GPU policy's live state of the candidate ``rows`` (rows the view does not know
        have no devices)."""
        state = ClusterState(Cluster(_device_nodes(view, self.state, rows, pod)))
        table = self.state.table
        inside = rows < view.rows
        known = np.where(inside, rows, 0)
        state.cpu_free = _free_column(table, rows, "cpu")
        state.mem_free = _free_column(table, rows, "memory")
        width = state.cluster.width
        gpu_free = np.zeros((len(rows), width), dtype=np.int64)
        have = min(width, free.shape[1])
        gpu_free[:, :have] = np.where(inside[:, None], free[known, :have], 0)
        state.gpu_free = gpu_free
        state.tie_rank = rows.copy()  # a fixed node order, so ties consolidate as FGD's do
        return state


def _only(free: IntArray, view: DeviceView, accepted: npt.NDArray[np.bool_]) -> IntArray:
    """``free`` where the device's kind is accepted, 0 elsewhere."""
    ok = (view.kind >= 0) & accepted[np.maximum(view.kind, 0)]
    return np.where(ok, free, 0)


def _free_column(table: Any, rows: IntArray, resource: str) -> IntArray:
    col = table.columns.get(resource)
    if col is None:
        return np.zeros(len(rows), dtype=np.int64)
    width = table.allocatable.shape[1]
    if col >= width:
        return np.zeros(len(rows), dtype=np.int64)
    return (table.allocatable[rows, col] - table.used[rows, col]).astype(np.int64)


def _device_nodes(
    view: DeviceView, state: ServiceState, rows: IntArray, pod: Pod | None = None
) -> DeviceNodes:
    """The GPU policy's node table for ``rows``: device count and kind per node (a node is
    measured by the first device of a kind the pod accepts, else by its first device)."""
    table = state.table
    inside = rows < view.rows
    kind = np.where(inside[:, None], view.kind[np.where(inside, rows, 0)], -1)
    if kind.shape[1] == 0:
        kind = np.full((len(rows), 1), -1, dtype=np.int64)
    model = kind[:, 0].copy()
    if pod is not None and pod.spec:
        wanted = np.isin(kind, [view.kinds.index(k) for k in pod.spec])
        first = wanted.argmax(axis=1)
        has = wanted.any(axis=1)
        model = np.where(has, kind[np.arange(len(rows)), first], model)
    return DeviceNodes(
        names=("",) * len(rows),  # read only in error messages of placements, never made here
        cpu=_allocatable(table, rows, "cpu"),
        memory=_allocatable(table, rows, "memory"),
        gpus=(kind >= 0).sum(axis=1).astype(np.int64),
        model=model,
        models=view.kinds,
    )


def _allocatable(table: Any, rows: IntArray, resource: str) -> IntArray:
    col = table.columns.get(resource)
    if col is None or col >= table.allocatable.shape[1]:
        return np.zeros(len(rows), dtype=np.int64)
    return table.allocatable[rows, col].astype(np.int64)
