"""The cluster as the extender sees it: nodes, pods, and what each node has left.

Writers (the Kubernetes watch, snapshot loading, the bind verb, nodes and pods arriving in
requests) take one lock; the request path reads plain dicts without it (each read is atomic under
the GIL, and a score computed from a value one event old is as good as kube-scheduler's own
cache). Objects are kept slimmed to the fields scheduling reads, so 50,000 pods stay small.
Every change that can alter a plan bumps ``version``; the planner watches that number.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .table import NodeTable

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
INTER_POD_KEYS = ("podAffinity", "podAntiAffinity")

# What scheduling reads of a Pod (the adapter in engine/kube, the handlers' filters, the
# planner's folding and pinning); every other field is dropped. tests/engine/extender/
# test_state_fields.py checks that the adapter reads a slimmed pod as it reads the whole one.
_POD_SPEC_KEYS = (
    "nodeName",
    "schedulerName",
    "priority",
    "priorityClassName",
    "preemptionPolicy",
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "overhead",
    "resources",  # pod-level requests (PodLevelResources) replace the containers' sum
    "resourceClaims",  # DRA: the pod's devices
    "schedulingGates",
)
_CONTAINER_KEYS = ("name", "resources", "restartPolicy")
# deletionTimestamp: a terminating pod still holds its node's capacity but is never planned
# and does not count for spreading.
_POD_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "labels",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
)
# status.resourceClaimStatuses names the claims made from a pod's ResourceClaimTemplates.
_POD_STATUS_KEYS = ("phase", "resourceClaimStatuses")
# Volumes that tie a pod to storage topology (reported as not modelled, never ignored).
_CLAIMED_VOLUME_KEYS = ("persistentVolumeClaim", "ephemeral")
# Annotations placer writes itself (the scheduling gate's time); all others are dropped.
PLACER_ANNOTATION_PREFIX = "placer.dev/"
_NODE_META_KEYS = ("name", "uid", "labels", "resourceVersion")


def _slim_container(container: Any) -> Any:
    """A container's resources and restart policy, and its host ports (NodePorts)."""
    if not isinstance(container, dict):
        return container  # the adapter reports the bad entry
    out = {k: container[k] for k in _CONTAINER_KEYS if container.get(k) is not None}
    ports = container.get("ports")
    if isinstance(ports, list):
        host = [p for p in ports if not isinstance(p, dict) or p.get("hostPort") not in (None, 0)]
        if host:
            out["ports"] = host
    elif ports is not None:
        out["ports"] = ports  # not a list: the adapter reports it
    return out


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a Pod that scheduling reads (drops env, images, probes, status noise)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    slim_spec: dict[str, Any] = {k: spec[k] for k in _POD_SPEC_KEYS if spec.get(k) is not None}
    for key in ("containers", "initContainers"):
        containers = spec.get(key)
        if containers:
            slim_spec[key] = (
                [_slim_container(c) for c in containers]
                if isinstance(containers, list)
                else containers
            )
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        claimed = [
            v for v in volumes if isinstance(v, dict) and any(k in v for k in _CLAIMED_VOLUME_KEYS)
        ]
        if claimed:
            slim_spec["volumes"] = claimed
    status = pod.get("status") or {}
    slim_status = (
        {k: status[k] for k in _POD_STATUS_KEYS if status.get(k) is not None}
        if isinstance(status, dict)
        else {}
    )
    slim_meta = {k: meta[k] for k in _POD_META_KEYS if meta.get(k) is not None}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        ours = {
            k: v
            for k, v in annotations.items()
            if isinstance(k, str) and k.startswith(PLACER_ANNOTATION_PREFIX)
        }
        if ours:
            slim_meta["annotations"] = ours
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": slim_meta,
        "spec": slim_spec,
        "status": slim_status,
    }


def slim_node(node: Mapping[str, Any]) -> dict[str, Any]:
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    conditions = [
        c
        for c in status.get("conditions") or ()
        if isinstance(c, dict) and c.get("type") == "Ready"
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {k: meta[k] for k in _NODE_META_KEYS if meta.get(k) is not None},
        "spec": {k: spec[k] for k in ("unschedulable", "taints") if spec.get(k) is not None},
        "status": {
            k: v
            for k, v in (
                ("allocatable", status.get("allocatable")),
                ("capacity", status.get("capacity")),
                ("conditions", conditions or None),
            )
            if v is not None
        },
    }


@dataclass(slots=True)
class NodeRecord:
    name: str
    obj: dict[str, Any]
    allocatable: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)
    unusable: str | None = None
    resource_version: str | None = None
    generation: int = 0

    def free(self, resource: str) -> int:
        return self.allocatable.get(resource, 0) - self.used.get(resource, 0)


@dataclass(slots=True)
class PodRecord:
    uid: str
    namespace: str
    name: str
    obj: dict[str, Any]
    request: dict[str, int]
    priority: int
    node: str | None = None
    group: str | None = None  # the adapter's group key, computed once (see group_key())
    group_known: bool = False
    # The apiserver's version of the pod, for writes that must not overwrite a newer one (kept
    # beside ``obj``: a status-only change must not count as a change for planning).
    resource_version: str | None = None

    def group_key(self) -> str | None:
        """The IR group this pod belongs to (None if the adapter cannot group it); cached."""
        if not self.group_known:
            try:
                self.group = _kube().pod_group_key(self.obj)
            except Exception:  # a pod the adapter cannot group is simply not planned for
                self.group = None
            self.group_known = True
        return self.group

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def terminating(self) -> bool:
        """Marked for deletion: it holds its node's capacity until gone, is never scheduled."""
        return (self.obj.get("metadata") or {}).get("deletionTimestamp") is not None


def pod_identity(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    """(namespace, name, uid); the uid falls back to namespace/name for hand-written manifests."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    uid = str(meta.get("uid") or f"{namespace}/{name}")
    return namespace, name, uid


def pod_priority(pod: Mapping[str, Any]) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def has_inter_pod_rules(spec: Mapping[str, Any]) -> bool:
    """Pod (anti-)affinity or topology spread: rules that count other pods."""
    affinity = spec.get("affinity")
    return bool(
        (isinstance(affinity, dict) and any(affinity.get(k) for k in INTER_POD_KEYS))
        or spec.get("topologySpreadConstraints")
    )


def pod_record(
    slim: dict[str, Any], node: str | None = None, resource_version: str | None = None
) -> PodRecord:
    """The record of a slim pod (``slim_pod``), its request and priority read once."""
    namespace, name, uid = pod_identity(slim)
    return PodRecord(
        uid=uid,
        namespace=namespace,
        name=name,
        obj=slim,
        request=_kube().pod_request(slim),
        priority=pod_priority(slim),
        node=node,
        resource_version=resource_version,
    )


Admit = Callable[[Mapping[str, Any]], dict[str, Any]]


def _kube() -> Any:
    from engine import kube

    return kube


@dataclass(frozen=True)
class LearnLimits:
    """Bounds on what requests alone may teach the service (the watch and snapshot are not bounded).

    Least recently seen first out: beyond ``nodes`` or ``pods`` objects, beyond ``bytes`` of
    memory (``footprint``), or unseen for ``ttl`` seconds (a pod the scheduler stopped asking about has been
    bound or deleted; a node no NodeList carries any more is gone).
    """

    nodes: int = 10_000
    pods: int = 50_000
    bytes: int = 256 * 2**20
    ttl: float = 900.0


RECORD_OVERHEAD = 1024  # a record, its request map and its index entries, besides its object


def footprint(obj: Any) -> int:
    """Bytes the Python objects of ``obj`` hold (shared strings counted each time: an upper
    bound). Learned objects are capped by this, so the cap bounds memory, not JSON size."""
    total = RECORD_OVERHEAD
    stack = [obj]
    while stack:
        item = stack.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


class Learned:
    """Keys of request-learned objects, least recently seen first, with their sizes."""

    def __init__(self) -> None:
        self.seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self.bytes = 0
        self.evicted = 0

    def __contains__(self, key: str) -> bool:
        return key in self.seen

    def __len__(self) -> int:
        return len(self.seen)

    def touch(self, key: str, now: float) -> None:
        entry = self.seen.get(key)
        if entry is not None:
            self.seen[key] = (now, entry[1])
            self.seen.move_to_end(key)

    def add(self, key: str, size: int, now: float) -> None:
        self.discard(key)
        self.seen[key] = (now, size)
        self.bytes += size

    def discard(self, key: str) -> None:
        entry = self.seen.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def clear(self) -> None:
        self.seen.clear()
        self.bytes = 0

    def oldest(self) -> tuple[str, float] | None:
        for key, (seen, _) in self.seen.items():
            return key, seen
        return None


class ClusterState:
    """Nodes and pods with per-node usage; safe for one writer lock and lock-free readers."""

    def __init__(self, limits: LearnLimits | None = None) -> None:
        self.limits = limits or LearnLimits()
        self.learned_nodes = Learned()
        self.learned_pods = Learned()
        self.lock = threading.RLock()
        self.nodes: dict[str, NodeRecord] = {}
        self.table = NodeTable()
        self._orphan_usage: dict[str, dict[str, int]] = {}
        self._node_epoch = 0  # source of node generations: never reused, even for a new row
        self.pods: dict[str, PodRecord] = {}
        self.pod_uid_by_key: dict[tuple[str, str], str] = {}
        # Indexes over ``pods`` (kept by _store/_forget/bind), so a planning round walks the
        # pending pods and the pods with inter-pod rules, not every pod of the cluster.
        self.pending_pods: dict[str, PodRecord] = {}
        self.ruled_pods: dict[str, PodRecord] = {}
        self.version = 0
        # The version of the last change to nodes or DRA objects (an incremental plan assumes
        # none since the plan it builds on: incremental.py).
        self.nodes_version = 0
        self.synced = False
        # PriorityClasses and Namespaces, passed through to the planner's adapter call.
        self.extra_docs: list[dict[str, Any]] = []
        # Other watched objects the adapter reads (DRA: DeviceClasses, ResourceSlices,
        # ResourceClaims, ResourceClaimTemplates), by (kind, namespace, name).
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.changed = threading.Condition(self.lock)
        # Called (under the lock) with (pod, node) whenever a pending pod becomes bound.
        self.on_bound: list[Callable[[PodRecord, str], None]] = []
        # Called (under the lock) with the record of every pod added or changed by the source
        # of truth, and with the uid of every pod deleted (the scheduling-gate controller).
        self.on_pod: list[Callable[[PodRecord], None]] = []
        self.on_pod_deleted: list[Callable[[str], None]] = []
        # (version, pod uid, node) of recent bindings, so a plan computed from an older
        # version can account for pods bound while it was being solved.
        self.bind_log: deque[tuple[int, str, str]] = deque(maxlen=100_000)
        # (version, pod uid) of pending pods as they arrive or change, so the handlers can tell
        # which pending pods a plan of an older version does not know (coverage.py).
        self.pending_log: deque[tuple[int, str]] = deque(maxlen=100_000)

    # ---- bookkeeping ----
    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def _bump_nodes(self) -> None:
        self._bump()
        self.nodes_version = self.version

    def _store(self, record: PodRecord) -> None:
        """``record`` in ``pods`` and the indexes (under the lock)."""
        uid = record.uid
        self.pods[uid] = record
        self.pod_uid_by_key[record.key] = uid
        if record.node is None:
            self.pending_pods[uid] = record
        else:
            self.pending_pods.pop(uid, None)
        if has_inter_pod_rules(record.obj.get("spec") or {}):
            self.ruled_pods[uid] = record
        else:
            self.ruled_pods.pop(uid, None)

    def _charge(self, pod: PodRecord, sign: int) -> None:
        if pod.node is None:
            return
        node = self.nodes.get(pod.node)
        # Pods can be listed before their node: keep their usage until the node shows up.
        used = node.used if node is not None else self._orphan_usage.setdefault(pod.node, {})
        for resource, amount in pod.request.items():
            used[resource] = used.get(resource, 0) + sign * amount
        if node is None and not any(used.values()):
            del self._orphan_usage[pod.node]  # the last pod of an unknown node is gone
        self.table.charge(pod.node, pod.request, sign)

    def _bound(self, pod: PodRecord, node: str) -> None:
        self.bind_log.append((self.version + 1, pod.uid, node))
        for hook in self.on_bound:
            hook(pod, node)

    # ---- nodes ----
    def upsert_node(self, obj: Mapping[str, Any]) -> bool:
        """Add or update a node from the source of truth (watch or snapshot); False: unchanged."""
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            return False
        if name in self.learned_nodes:
            with self.lock:
                self.learned_nodes.discard(name)  # the watch now vouches for it
        rv = meta.get("resourceVersion")
        current = self.nodes.get(name)
        if current is not None and rv is not None and current.resource_version == rv:
            return False
        slim = slim_node(obj)
        allocatable = _kube().node_allocatable(slim)
        with self.lock:
            current = self.nodes.get(name)
            self._node_epoch += 1
            record = NodeRecord(
                name=name,
                obj=slim,
                allocatable=allocatable,
                unusable=_kube().node_unusable_reason(slim),
                resource_version=rv,
                generation=self._node_epoch,
            )
            if current is not None:
                record.used = current.used
            else:
                record.used = self._orphan_usage.pop(name, {})
            if current is not None and (
                current.allocatable == record.allocatable
                and current.unusable == record.unusable
                and current.obj["metadata"].get("labels") == slim["metadata"].get("labels")
                and current.obj["spec"] == slim["spec"]
            ):
                record.generation = current.generation  # nothing scheduling reads has changed
                self.nodes[name] = record
                return False
            self.nodes[name] = record
            self.table.set_node(
                name, allocatable, record.used, record.unusable is None, record.generation
            )
            self._bump_nodes()
            return True

    def delete_node(self, name: str) -> None:
        with self.lock:
            self.learned_nodes.discard(name)
            record = self.nodes.pop(name, None)
            if record is not None:
                self._orphan_usage[name] = record.used  # its pods still exist until deleted
                self.table.remove_node(name)
                self._bump_nodes()

    # ---- pods ----
    def upsert_pod(self, obj: Mapping[str, Any]) -> PodRecord | None:
        """Add or update a pod; terminal pods are dropped (they hold no capacity)."""
        _, name, uid = pod_identity(obj)
        if not name:
            return None
        phase = (obj.get("status") or {}).get("phase")
        if phase in TERMINAL_PHASES:
            self.delete_pod(uid)
            return None
        if uid in self.learned_pods:
            with self.lock:
                self.learned_pods.discard(uid)  # the watch now vouches for it
        slim = slim_pod(obj)
        node = (slim["spec"].get("nodeName") or None) if isinstance(slim["spec"], dict) else None
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        record = pod_record(slim, node, str(rv) if rv is not None else None)
        with self.lock:
            current = self.pods.get(uid)
            if current is not None and current.obj == record.obj:
                current.resource_version = record.resource_version or current.resource_version
                return current
            if current is not None:
                self._charge(current, -1)
            namesake = self.pod_uid_by_key.get(record.key)
            if namesake is not None and namesake != uid:
                # Names are unique among live pods: a new pod of this name replaced the old one
                # (its deletion not seen yet, or a request's guess).
                self.delete_pod(namesake)
            self._store(record)
            self._charge(record, +1)
            if node is not None and (current is None or current.node is None):
                self._bound(record, node)
            if node is None:
                self.pending_log.append((self.version + 1, uid))
            for hook in self.on_pod:
                hook(record)
            self._bump()
            return record

    # ---- objects learned from requests (bounded; never override the source of truth) ----
    def admit_nodes(self, objs: Iterable[Mapping[str, Any]], admit: Admit) -> list[dict[str, Any]]:
        """Nodes from a request's NodeList that would be stored, checked (nothing stored yet).

        A node the watch or snapshot knows is never overruled by a request; a learned node seen
        again with the same resourceVersion only counts as seen. ``admit`` checks the others
        (raising on anything the planner could not build) and returns the slim object to store.
        """
        out = []
        now = time.monotonic()
        for obj in objs:
            meta = obj.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            current = self.nodes.get(name) if isinstance(name, str) else None
            if current is not None and isinstance(meta, dict):
                if current.name not in self.learned_nodes:
                    continue
                rv = meta.get("resourceVersion")
                if rv is not None and current.resource_version == rv:
                    with self.lock:
                        self.learned_nodes.touch(current.name, now)
                    continue
            out.append(admit(obj))
        return out

    def store_learned_nodes(self, slims: Iterable[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self.lock:
            for slim in slims:
                name = slim["metadata"]["name"]
                if name in self.nodes and name not in self.learned_nodes:
                    continue  # the watch got there first
                self.upsert_node(slim)
                self.learned_nodes.add(name, footprint(slim), now)
            self._evict(now)

    def learn_pod(self, obj: Mapping[str, Any], admit: Admit) -> PodRecord:
        """The record of a pod a request asks about: placer's own if it knows the pod, else a
        new pending record (stored, bounded) — or a transient one, never stored, when the pod
        claims a node: only the watch, the snapshot or placer's bind say where a pod runs."""
        meta = obj.get("metadata")
        uid = None
        if isinstance(meta, dict):
            uid = meta.get("uid") or f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        current = self.pods.get(uid) if isinstance(uid, str) else None
        now = time.monotonic()
        if current is not None:
            if current.uid in self.learned_pods:
                with self.lock:
                    self.learned_pods.touch(current.uid, now)
            return current
        slim = admit(obj)
        record = pod_record(slim)
        uid = record.uid
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("nodeName"):
            return record  # transient: answered, not stored
        with self.lock:
            current = self.pods.get(uid)
            if current is not None:
                return current
            namesake = self.pod_uid_by_key.get(record.key)
            if namesake is not None and namesake != uid:
                if namesake not in self.learned_pods:
                    return record  # the watch knows this name under another uid: transient
                self.delete_pod(namesake)  # a newer pod of the same name
            self._store(record)
            self.pending_log.append((self.version + 1, uid))
            self.learned_pods.add(uid, footprint(slim), now)
            self._evict(now)
            self._bump()
        return record

    def expire_learned(self) -> None:
        """Drop learned objects unseen for the TTL (also done whenever something is learned)."""
        with self.lock:
            self._evict(time.monotonic())

    def _evict(self, now: float) -> None:
        """Least recently seen learned objects out until within the limits (under the lock)."""
        limits = self.limits
        cutoff = now - limits.ttl
        while True:
            over_bytes = self.learned_nodes.bytes + self.learned_pods.bytes > limits.bytes
            victim = None
            for learned, cap, drop in (
                (self.learned_pods, limits.pods, self.delete_pod),
                (self.learned_nodes, limits.nodes, self.delete_node),
            ):
                oldest = learned.oldest()
                if oldest is None:
                    continue
                if len(learned) > cap or oldest[1] < cutoff or over_bytes:
                    victim = (learned, oldest[0], drop)
                    break
            if victim is None:
                return
            learned, key, drop = victim
            learned.discard(key)
            learned.evicted += 1
            drop(key)

    def delete_pod(self, uid: str) -> None:
        with self.lock:
            self.learned_pods.discard(uid)
            record = self.pods.pop(uid, None)
            if record is None:
                return
            self._charge(record, -1)
            if self.pod_uid_by_key.get(record.key) == uid:
                del self.pod_uid_by_key[record.key]
            self.pending_pods.pop(uid, None)
            self.ruled_pods.pop(uid, None)
            for hook in self.on_pod_deleted:
                hook(uid)
            self._bump()

    def bind(
        self, namespace: str, name: str, uid: str, node: str, *, known_only: bool = False
    ) -> str | None:
        """Record a binding; None on success (also when already bound there), else the error.

        ``known_only``: placer is the only judge (no apiserver behind it), so a pod it does not
        know cannot be bound.
        """
        with self.lock:
            record = self.pods.get(uid) if uid else None
            if record is None:
                found = self.pod_uid_by_key.get((namespace, name))
                record = self.pods.get(found) if found else None
                if record is not None and uid and record.uid != uid and known_only:
                    return f"pod {namespace}/{name} has uid {record.uid}, not {uid}"
            if record is None:
                if known_only:
                    return f"pod {namespace}/{name} is not known to placer"
                return None  # not tracked here: the apiserver is the judge
            if record.node == node:
                return None
            if record.node is not None:
                return f"pod {namespace}/{name} is already bound to node {record.node}"
            spec = dict(record.obj["spec"])
            spec["nodeName"] = node
            record.obj = {**record.obj, "spec": spec}
            record.node = node
            self.pending_pods.pop(record.uid, None)
            self._charge(record, +1)
            self._bound(record, node)
            self._bump()
            return None

    # ---- bulk ----
    def replace(
        self, nodes: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
    ) -> None:
        """Start over from a full listing (snapshot load or a watch re-list)."""
        with self.lock:
            self.nodes.clear()
            self.table = NodeTable()
            self._orphan_usage.clear()
            self.pods.clear()
            self.pod_uid_by_key.clear()
            self.pending_pods.clear()
            self.ruled_pods.clear()
            self.learned_nodes.clear()
            self.learned_pods.clear()
            for node in nodes:
                self.upsert_node(node)
            for pod in pods:
                self.upsert_pod(pod)
            self.synced = True
            self._bump()

    def replace_nodes(self, nodes: Iterable[Mapping[str, Any]]) -> None:
        """A fresh node listing: upsert each, drop the ones no longer listed."""
        with self.lock:
            seen = set()
            for node in nodes:
                self.upsert_node(node)
                seen.add((node.get("metadata") or {}).get("name"))
            for name in [n for n in self.nodes if n not in seen]:
                self.delete_node(name)

    def replace_pods(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """A fresh pod listing: upsert each, drop the ones no longer listed."""
        with self.lock:
            seen = set()
            for pod in pods:
                seen.add(pod_identity(pod)[2])
                self.upsert_pod(pod)
            for uid in [u for u in self.pods if u not in seen]:
                self.delete_pod(uid)

    # ---- other objects (DRA) ----
    @staticmethod
    def _object_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return (
            str(obj.get("kind") or ""),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )

    def upsert_object(self, obj: Mapping[str, Any]) -> None:
        slim = {k: v for k, v in obj.items() if k != "status" or obj.get("kind") == "ResourceClaim"}
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
        slim["metadata"] = meta
        key = self._object_key(slim)
        with self.lock:
            current = self.objects.get(key)
            if current is not None and {**current, "metadata": None} == {**slim, "metadata": None}:
                self.objects[key] = slim
                return
            self.objects[key] = slim
            self._bump_nodes()

    def delete_object(self, obj: Mapping[str, Any]) -> None:
        with self.lock:
            if self.objects.pop(self._object_key(obj), None) is not None:
                self._bump_nodes()

    def replace_objects(self, kind: str, objs: Iterable[Mapping[str, Any]]) -> None:
        with self.lock:
            seen = set()
            for obj in objs:
                obj = {"kind": kind, **obj}
                seen.add(self._object_key(obj))
                self.upsert_object(obj)
            for key in [k for k in self.objects if k[0] == kind and k not in seen]:
                del self.objects[key]
                self._bump_nodes()

    def mark_synced(self) -> None:
        with self.lock:
            self.synced = True
            self._bump()

    def priority_class_names(self) -> set[str]:
        return {
            str((d.get("metadata") or {}).get("name"))
            for d in self.extra_docs
            if d.get("kind") == "PriorityClass"
        }

    def pending(self) -> list[PodRecord]:
        return list(self.pending_pods.values())

    def documents(self) -> list[dict[str, Any]]:
        """Slim Node and Pod objects, the input of the Kubernetes adapter (for the planner)."""
        with self.lock:
            return [
                *self.extra_docs,
                *self.objects.values(),
                *(n.obj for n in self.nodes.values()),
                *(p.obj for p in self.pods.values()),
            ]

    def check_usage(self) -> list[str]:
        """Mismatches between per-node usage and the pods bound there, and between the pod
        indexes and the pods (empty = consistent)."""
        with self.lock:
            index_problems = [
                f"{name} index holds {sorted(set(index) ^ set(want))} wrongly"
                for name, index, want in (
                    (
                        "pending",
                        self.pending_pods,
                        [u for u, p in self.pods.items() if p.node is None],
                    ),
                    (
                        "rules",
                        self.ruled_pods,
                        [
                            u
                            for u, p in self.pods.items()
                            if has_inter_pod_rules(p.obj.get("spec") or {})
                        ],
                    ),
                )
                if set(index) != set(want)
                or any(index[u] is not self.pods[u] for u in want if u in index)
            ]
            expected: dict[str, dict[str, int]] = {name: {} for name in self.nodes}
            for pod in self.pods.values():
                if pod.node in expected:
                    used = expected[pod.node]
                    for r, amount in pod.request.items():
                        used[r] = used.get(r, 0) + amount
            problems = []
            for name, record in self.nodes.items():
                actual = {r: v for r, v in record.used.items() if v}
                want = {r: v for r, v in expected[name].items() if v}
                if actual != want:
                    problems.append(f"{name}: used {actual} but pods sum to {want}")
                row = self.table.row_of[name]
                in_table = {
                    r: int(self.table.used[row, c])
                    for r, c in self.table.columns.items()
                    if self.table.used[row, c]
                }
                if in_table != want:
                    problems.append(f"{name}: table says {in_table} but pods sum to {want}")
            return index_problems + problems
