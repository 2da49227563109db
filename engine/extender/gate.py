"""Batch planning through a scheduling gate (``placer serve --gate NAME``).

kube-scheduler takes pods one at a time as they arrive, faster than any plan of many pods can
be made. A scheduling gate (KEP-3521) holds new pods back: placer's admission webhook (or the
pod template) puts the gate on them, kube-scheduler ignores a gated pod, and this controller

1. collects gated pods for a window (``window`` seconds from the first one, or ``batch`` pods,
   whichever comes first),
2. plans them together with the cluster as it is (bound pods, pending ungated pods, pods it
   released earlier and that are still pending with their narrowed affinity),
3. pins each planned pod to its node through its required node affinity and removes the gate in
   the same write (``narrow.release_patch``, the only changes the API server allows on a gated
   pod, KEP-3838), so kube-scheduler binds it there with all of its own rules;
4. removes the gate of every pod the plan leaves out, unchanged, so nothing stays behind placer.

Nothing waits on placer for long: a planning failure releases the batch unchanged at once; a
pod gated longer than ``deadline`` seconds (from placer's ``placer.dev/gated-at`` annotation,
else its creation time) is released unchanged, which is also the first thing a restarted
placer does. Every write carries the resourceVersion it was computed from; a conflict re-reads
the pod and tries again with backoff.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .narrow import gate_names, release_patch
from .state import ClusterState, PodRecord

log = logging.getLogger("placer.extender.gate")

GATED_AT_ANNOTATION = "placer.dev/gated-at"
MERGE_PATCH = "application/merge-patch+json"
WRITE_TRIES = 6
WRITE_BACKOFF = 0.05  # seconds, doubled per retry (0.05 … 1.6)
IDLE_WAIT = 0.5


# A scheduling gate's name is a qualified name, like a label key (the API server checks it).
_QUALIFIED = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def check_gate_name(name: str) -> None:
    from engine.errors import InputError

    prefix, _, local = name.rpartition("/")
    if not _QUALIFIED.match(name) or len(local) > 63 or len(prefix) > 253:
        raise InputError(
            f"{name!r} is not a qualified name (e.g. placer.dev/plan: an optional DNS prefix "
            "and '/', then at most 63 letters, digits, '-', '_' or '.')",
            path="--gate",
        )


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    name: str
    window: float = 1.0
    batch: int = 500
    time_limit: float = 2.0
    deadline: float = 60.0
    scheduler_name: str = "default-scheduler"
    backend: str = "cpsat"
    writers: int = 8


# ---------------------------------------------------------------------- planning (in the worker)


def solve_batch(
    payload: bytes, scheduler_name: str, backend: str, time_limit: float
) -> dict[str, Any]:
    """Plan the pending pods of Node/Pod JSON; per pod uid, its node or why it has none.

    Runs in the planning process. The objective is kube's (place as many pods as possible,
    higher priority first; then preferences) with one more level: use as few nodes as possible,
    so whole nodes stay free for pods that come later (the fragmentation kube-scheduler's
    spreading leaves behind)."""
    import orjson

    from engine import kube
    from engine.solve import solve

    started = time.monotonic()
    problem = kube.manifests_to_problem(
        orjson.loads(payload), "placer-gate", scheduler_name=scheduler_name
    )
    objective = (*problem.objective, {"bins_used": 1.0})
    problem = problem.model_validate({**problem.model_dump(), "objective": objective})
    left = max(time_limit - (time.monotonic() - started), 0.1 * time_limit)
    solution = kube.explain_unplaced(problem, solve(problem, backend, time_limit=left, threads=1))
    nodes: dict[str, str] = {}
    for binding in kube.plan_to_bindings(problem, solution):
        meta = binding["metadata"]
        nodes[meta.get("uid") or f"{meta['namespace']}/{meta['name']}"] = binding["target"]["name"]
    devices = {a["pod"]: a["results"] for a in kube.claim_allocations(problem, solution)}
    reasons: dict[str, str] = {}
    for u in solution.unplaced:
        group = problem.item_by_name.get(u.item)
        for pod in (group.meta.get("pods") or ()) if group is not None else ():
            uid = pod.get("uid") or f"{pod['namespace']}/{pod['name']}"
            if uid not in nodes and u.reasons:
                reasons[uid] = u.reasons
    return {"status": str(solution.status), "nodes": nodes, "reasons": reasons, "devices": devices}


# ---------------------------------------------------------------------- the controller


def gated_at(record: PodRecord) -> float | None:
    """Wall-clock seconds when the pod was gated: placer's annotation, else its creation."""
    meta = record.obj.get("metadata") or {}
    for value in (
        (meta.get("annotations") or {}).get(GATED_AT_ANNOTATION),
        meta.get("creationTimestamp"),
    ):
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


@dataclass
class Outcome:
    """What became of one gated pod."""

    how: str  # narrowed | released (plan left it out) | overdue | failed (planning failed)
    node: str | None
    writes: int
    result: str  # written | gone (deleted or no longer gated) | refused | error
    gated_for: float | None = None  # seconds from gating to the write that released it


@dataclass
class GateStats:
    """Counts for metrics and the benchmark. The writer threads count under a lock (two unguarded
    ``+=`` at once can lose one: under load 13 five narrowed pods were counted as four); readers
    take no lock (monotonic counters)."""

    batches: int = 0
    plan_failures: int = 0
    released: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    conflicts: int = 0
    last_batch: int = 0
    last_plan_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_write(self, conflict: bool = False) -> None:
        with self.lock:
            if conflict:
                self.conflicts += 1
            else:
                self.writes += 1

    def count_release(self, how: str) -> None:
        with self.lock:
            self.released[how] = self.released.get(how, 0) + 1


class GateController:
    """Collects pods carrying the gate, plans them in batches, narrows and releases them."""

    def __init__(
        self,
        api: Any,
        state: ClusterState,
        settings: GateSettings,
        *,
        solve: Callable[[bytes, str, str, float], dict[str, Any]] | None = None,
        memory_limit_mib: int = 4096,
        isolate: bool = True,
        solve_function: str = "engine.extender.gate:solve_batch",
        on_outcome: Callable[[Outcome], None] | None = None,
        on_batch: Callable[[int, float, str], None] | None = None,
    ) -> None:
        self.api = api
        self.state = state
        self.settings = settings
        self.stats = GateStats()
        self.on_outcome = on_outcome
        self.on_batch = on_batch
        self._solve_here = solve
        self.process = None
        if solve is None and isolate:
            from .worker import PlanningProcess

            self.process = PlanningProcess(memory_limit_mib, solve=solve_function)
        self.waiting: dict[str, float] = {}  # uid -> monotonic time first seen gated
        self.inflight: set[str] = set()
        # Planned pods whose release is not written yet -> their node: the next batch is planned
        # while they are written, with them counted as bound there.
        self.assumed: dict[str, str] = {}
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writers = ThreadPoolExecutor(settings.writers, thread_name_prefix="placer-gate-write")
        state.on_pod.append(self._seen)
        state.on_pod_deleted.append(self._gone)

    # ---- what the watch tells ----
    def carries_gate(self, record: PodRecord) -> bool:
        spec = record.obj.get("spec") or {}
        return record.node is None and self.settings.name in gate_names(spec)

    def _seen(self, record: PodRecord) -> None:
        with self._cv:
            if self.carries_gate(record):
                if record.uid not in self.waiting and record.uid not in self.inflight:
                    self.waiting[record.uid] = time.monotonic()
                    self._cv.notify_all()
            else:
                self.waiting.pop(record.uid, None)
                self.assumed.pop(record.uid, None)

    def _gone(self, uid: str) -> None:
        with self._cv:
            self.waiting.pop(uid, None)
            self.assumed.pop(uid, None)

    # ---- lifecycle ----
    def start(self) -> None:
        if self._thread is None:
            if self.process is not None:
                self.process.start()
            self._thread = threading.Thread(target=self._run, name="placer-gate", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self.process is not None:
            self.process.stop(timeout)
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._writers.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.state.synced:
            self._stop.wait(0.05)
        self._rescan()  # the self-check of a (re)started placer: every gated pod, overdue first
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the controller must never die; pods have their deadline
                log.exception("gate round failed")
                self._stop.wait(1.0)

    def _rescan(self) -> None:
        for record in list(self.state.pods.values()):
            self._seen(record)

    def step(self) -> None:
        """Wait until a batch is due, then plan and release it (one round)."""
        with self._cv:
            while not self._stop.is_set():
                due, wait = self._due()
                if due:
                    break
                self._cv.wait(wait)
            if self._stop.is_set():
                return
        self.release_overdue()
        batch = self._take()
        if batch:
            self.plan_and_release(batch)

    def _due(self) -> tuple[bool, float]:
        if not self.waiting:
            return False, IDLE_WAIT
        if len(self.waiting) >= self.settings.batch:
            return True, 0.0
        first = min(self.waiting.values())
        left = first + self.settings.window - time.monotonic()
        return left <= 0, max(0.005, min(left, IDLE_WAIT))

    def _take(self) -> list[str]:
        with self._cv:
            uids = sorted(self.waiting, key=self.waiting.__getitem__)[: self.settings.batch]
            for uid in uids:
                del self.waiting[uid]
                self.inflight.add(uid)
        return uids

    def _done(self, uid: str, written: bool) -> None:
        with self._cv:
            self.inflight.discard(uid)
            if not written:
                self.assumed.pop(uid, None)  # else until the watch shows it released (_seen)

    # ---- deadlines ----
    def release_overdue(self) -> int:
        """Release, unchanged, every waiting pod gated longer than the deadline."""
        now = time.time()
        overdue = []
        with self._cv:
            for uid in list(self.waiting):
                record = self.state.pods.get(uid)
                at = gated_at(record) if record is not None else None
                if at is not None and now - at > self.settings.deadline:
                    del self.waiting[uid]
                    self.inflight.add(uid)
                    overdue.append(uid)
        if overdue:
            log.warning("releasing %d pod(s) gated over %gs", len(overdue), self.settings.deadline)
            self._release_all({uid: None for uid in overdue}, "overdue")
        return len(overdue)

    # ---- one batch ----
    def plan_and_release(self, uids: list[str]) -> dict[str, str | None]:
        """Plan the batch with the cluster as it is; narrow and release. Returns uid -> node."""
        started = time.monotonic()
        batch = set(uids)
        try:
            answer = self._solve(self._payload(batch))
        except Exception as exc:  # PlannerDied, TimeoutError, SolveFailed, ...: release unchanged
            self.stats.plan_failures += 1
            log.warning(
                "planning %d gated pod(s) failed (%s); releasing them unchanged", len(uids), exc
            )
            self._release_all({uid: None for uid in uids}, "failed", wait=False)
            if self.on_batch is not None:
                self.on_batch(len(uids), time.monotonic() - started, "failed")
            return {uid: None for uid in uids}
        seconds = time.monotonic() - started
        self.stats.batches += 1
        self.stats.last_batch = len(uids)
        self.stats.last_plan_seconds = seconds
        planned: dict[str, str | None] = {uid: answer["nodes"].get(uid) for uid in uids}
        for uid, reason in answer.get("reasons", {}).items():
            if uid in batch:
                log.info("gated pod %s not planned: %s", uid, reason)
        log.info(
            "gate batch of %d: %s in %.2fs, %d pinned",
            len(uids), answer["status"], seconds, sum(1 for n in planned.values() if n),
        )  # fmt: skip
        if self.on_batch is not None:
            self.on_batch(len(uids), seconds, answer["status"])
        with self._cv:
            self.assumed.update({uid: node for uid, node in planned.items() if node})
        self._release_all(planned, None, wait=False)
        return planned

    def _payload(self, batch: set[str]) -> bytes:
        """The cluster's documents with the gate taken off the batch's pods (they are planned as
        pending; pods still gated by anyone are not), and the pods of earlier batches whose
        release is still being written bound to their planned nodes."""
        import orjson

        gate = self.settings.name
        with self._cv:
            assumed = dict(self.assumed)
        with self.state.lock:
            docs: list[Any] = [
                *self.state.extra_docs,
                *self.state.objects.values(),
                *(n.obj for n in self.state.nodes.values()),
            ]
            for record in self.state.pods.values():
                obj = record.obj
                if record.uid in batch:
                    spec = dict(obj["spec"])
                    gates = [g for g in spec.get("schedulingGates") or () if g.get("name") != gate]
                    if gates:
                        spec["schedulingGates"] = gates
                    else:
                        spec.pop("schedulingGates", None)
                    obj = {**obj, "spec": spec}
                elif (
                    record.uid in assumed
                    and record.node is None
                    and gate in gate_names(obj["spec"])
                ):
                    spec = dict(obj["spec"])
                    spec.pop("schedulingGates", None)
                    spec["nodeName"] = assumed[record.uid]
                    obj = {**obj, "spec": spec}
                docs.append(obj)
            return orjson.dumps(docs)

    def _solve(self, payload: bytes) -> dict[str, Any]:
        s = self.settings
        args = (payload, s.scheduler_name, s.backend, s.time_limit)
        if self._solve_here is not None:
            return self._solve_here(*args)
        if self.process is None:
            return solve_batch(*args)
        result: dict[str, Any] = self.process.run(args, 2 * s.time_limit + 30)
        return result

    # ---- writes ----
    def _release_all(
        self, planned: dict[str, str | None], how: str | None, *, wait: bool = True
    ) -> None:
        """Write the releases with the writer threads; ``wait=False``: return at once (planning
        goes on meanwhile)."""
        futures = [
            self._writers.submit(self._release_one, uid, node, how) for uid, node in planned.items()
        ]
        if not wait:
            for future in futures:
                future.add_done_callback(_log_failure)
            return
        for future in futures:
            try:
                future.result()
            except Exception:
                log.exception("releasing a gated pod failed")

    def _release_one(self, uid: str, node: str | None, how: str | None) -> Outcome:
        written = False
        try:
            record = self.state.pods.get(uid)
            at = gated_at(record) if record is not None else None
            outcome = self.release(uid, node)
            written = outcome.result == "written"
            if how is not None:
                outcome.how = how
            if at is not None and outcome.result == "written":
                outcome.gated_for = max(0.0, time.time() - at)
            self.stats.count_release(outcome.how)
            if self.on_outcome is not None:
                self.on_outcome(outcome)
            return outcome
        finally:
            self._done(uid, written)

    def release(self, uid: str, node: str | None) -> Outcome:
        """Remove the gate (pinning the pod to ``node`` if given) in one guarded write."""
        import orjson

        record = self.state.pods.get(uid)
        how = "narrowed" if node else "released"
        if record is None:
            return Outcome(how, node, 0, "gone")
        name, namespace = record.name, record.namespace
        obj: dict[str, Any] = record.obj
        version = record.resource_version
        writes = 0
        delay = WRITE_BACKOFF
        for _ in range(WRITE_TRIES):
            if self.settings.name not in gate_names(obj.get("spec") or {}):
                return Outcome(how, node, writes, "gone")
            patch = release_patch(obj, self.settings.name, node, version)
            writes += 1
            self.stats.count_write()
            try:
                self.api.patch_namespaced_pod(
                    name, namespace, patch, _content_type=MERGE_PATCH, _preload_content=False
                )
                return Outcome(how, node, writes, "written")
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status == 404:
                    return Outcome(how, node, writes, "gone")
                if status == 422 and node is not None:
                    # The API server refused the narrowing (a rule placer does not know):
                    # release the pod unchanged rather than leave it gated.
                    log.warning("narrowing %s/%s refused: %s", namespace, name, _message(exc))
                    node, how = None, "released"
                    continue
                if status == 409:
                    self.stats.count_write(conflict=True)
                elif status is not None and status < 500 and status != 429:
                    log.warning("releasing %s/%s refused: %s", namespace, name, _message(exc))
                    return Outcome(how, node, writes, "refused")
            time.sleep(delay)
            delay *= 2
            try:  # the pod changed (or the write failed): read it again
                fresh = orjson.loads(
                    self.api.read_namespaced_pod(name, namespace, _preload_content=False).data
                )
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    return Outcome(how, node, writes, "gone")
                continue
            if (fresh.get("metadata") or {}).get("uid") not in (uid, None) and "/" not in uid:
                return Outcome(how, node, writes, "gone")  # a new pod of the same name
            obj = fresh
            version = (fresh.get("metadata") or {}).get("resourceVersion")
        return Outcome(how, node, writes, "error")


def _log_failure(future: Future[Outcome]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("releasing a gated pod failed", exc_info=future.exception())


def _message(exc: BaseException) -> str:
    from .kubeapi import _reason

    return _reason(exc)
