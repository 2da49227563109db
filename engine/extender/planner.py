"""The background planner: solve the whole cluster out of band, publish target nodes per pod group.

kube-scheduler asks about one pod at a time and only on a sample of nodes, so a global plan can
only be computed beside it. A daemon thread waits for the cluster state to change, lets changes
settle for a moment, builds the problem through the Kubernetes adapter, solves it with ``cpsat``
under a time budget, and swaps the new plan in with one reference assignment. Requests read
whatever plan is current and never wait for a solve.

A published plan is consumed as pods are bound: each binding onto a planned node takes one from
that node's remaining count, so the plan keeps steering the rest of the group while the next
solve runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .coverage import Coverage
from .fold import fold, gc_paused
from .incremental import Pinning, merged, pin, uncovered
from .neighbourhood import Neighbourhood, neighbourhood
from .state import ClusterState, PodRecord
from .worker import (
    Backoff,
    PlannerDied,
    PlannerDown,
    PlannerStopped,
    PlanningProcess,
    SolveFailed,
)

log = logging.getLogger("placer.extender.planner")

# A round whose problem took nearly the whole limit to build still gives the solver this share.
MIN_SOLVE_SHARE = 0.1
# The round's greedy start may take this share of the time left after building the problem.
GREEDY_SHARE = 0.9
# After an incremental round, the full round waits for this many seconds without changes.
FULL_QUIET = 2.0
# A full re-solve at least this often while pods keep arriving (seconds).
FULL_EVERY = 60.0
# Statuses whose targets are a plan (engine.solution.Status values).
PLAN_STATUSES = frozenset({"optimal", "feasible"})


@dataclass
class Plan:
    """Target nodes for pending pod groups, computed from one version of the cluster state."""

    version: int
    created: float  # time.monotonic() when published
    solve_seconds: float
    status: str
    targets: dict[str, dict[str, int]]  # group -> node -> pods still to place there
    group_of_uid: dict[str, str]  # pending pod uid -> its group
    demand: dict[str, dict[str, int]]  # group -> one pod's request
    reserved: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> resource -> amount
    consumed: dict[str, int] = field(default_factory=dict)  # group -> planned pods bound since
    kind: str = "full"  # full: the whole cluster re-solved; incremental: new pods around the last
    hinted: bool = False  # solved from the last plan as its start (full rounds)
    neighbourhood: int = 0  # incremental rounds: nodes of the neighbourhood solved (0: all)
    left_out: int = 0  # neighbourhood rounds: new pods it did not place
    prepare_seconds: float = 0.0  # the service's own part of the round, before the solve
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for group, nodes in self.targets.items():
            for node, count in nodes.items():
                self._reserve(node, group, count)

    def _reserve(self, node: str, group: str, count: int) -> None:
        held = self.reserved.setdefault(node, {})
        for resource, amount in self.demand.get(group, {}).items():
            held[resource] = held.get(resource, 0) + count * amount

    def consume(self, uid: str, group: str | None, node: str) -> bool:
        """A pod of ``group`` was bound to ``node``: one fewer to place there, if planned."""
        group = self.group_of_uid.get(uid, group)
        if group is None:
            return False
        with self.lock:
            nodes = self.targets.get(group)
            if not nodes or nodes.get(node, 0) <= 0:
                return False
            nodes[node] -= 1
            if nodes[node] == 0:
                del nodes[node]
            self.consumed[group] = self.consumed.get(group, 0) + 1
            self._reserve(node, group, -1)
            return True

    def age(self) -> float:
        return time.monotonic() - self.created


def _plan(data: dict[str, Any], version: int, started: float, created: float) -> Plan:
    return Plan(
        version=version,
        created=created,
        solve_seconds=created - started,
        status=data["status"],
        targets=data["targets"],
        group_of_uid=data["group_of_uid"],
        demand=data["demand"],
        hinted=bool(data.get("hinted")),
    )


def plan_data(problem: Any, solution: Any) -> dict[str, Any]:
    """The plain-data part of a plan (what a planning process sends back)."""
    targets: dict[str, dict[str, int]] = {}
    group_of_uid: dict[str, str] = {}
    demand: dict[str, dict[str, int]] = {}
    counts = solution.counts() if solution.status.has_plan else {}
    by_group: dict[str, dict[str, int]] = {}
    for (group, node), n in counts.items():  # the plan's pairs only: never groups x nodes
        by_group.setdefault(group, {})[node] = n
    for item in problem.items:
        for pod in item.meta.get("pods") or ():
            uid = pod.get("uid") or f"{pod.get('namespace', 'default')}/{pod.get('name', '')}"
            group_of_uid[str(uid)] = item.name
        demand[item.name] = dict(item.demand)
        nodes = {}
        for node, n in by_group.get(item.name, {}).items():
            new = n - item.placed.get(node, 0)
            if new > 0:
                nodes[node] = new
        if nodes:
            targets[item.name] = nodes
    return {
        "status": str(solution.status),
        "targets": targets,
        "group_of_uid": group_of_uid,
        "demand": demand,
    }


def solve_documents(
    payload: bytes,
    scheduler_name: str,
    backend: str,
    time_limit: float,
    hint_targets: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """Build the problem from Node/Pod JSON and solve it (runs in the planning process).

    ``time_limit`` is for the whole round: building the problem counts against it, so a plan
    is ready about ``time_limit`` after the round starts, however large the cluster.
    ``hint_targets`` (group -> node -> pods, the last plan's) is the solver's start when the
    verifier accepts it as a plan of this problem.
    """
    import orjson

    from engine import kube
    from engine.solution import Solution, Status
    from engine.solve import solve
    from engine.verify import verify

    from .incremental import hint_counts

    started = time.monotonic()
    problem = kube.manifests_to_problem(
        orjson.loads(payload), "placer-serve", scheduler_name=scheduler_name
    )
    hint = None
    if hint_targets:
        start = Solution.from_counts(
            problem, "last-plan", Status.FEASIBLE, hint_counts(problem, hint_targets)
        )
        hint = start if verify(problem, start).ok else None
    hinted = hint is not None
    if hint is None:
        hint = _greedy_start(problem, started, time_limit)
    left = max(time_limit - (time.monotonic() - started), MIN_SOLVE_SHARE * time_limit)
    solution = solve(problem, backend, time_limit=left, threads=1, hint=hint)
    return {**plan_data(problem, solution), "hinted": hinted}


def _greedy_start(problem: Any, started: float, time_limit: float) -> Any:
    """The greedy plan as the solver's start, with most of the round's time when it needs it
    (on thousands of nodes it is the first plan; the solver's own start would get 5 s)."""
    from solvers.base import Options
    from solvers.greedy.backend import GreedyBackend

    left = time_limit - (time.monotonic() - started)
    plan = GreedyBackend().solve(
        problem, Options(time_limit=max(0.1, GREEDY_SHARE * left), threads=1)
    )
    return plan if plan.status.has_plan else None


def limit_memory(mib: int) -> None:
    """Cap the planning process's address space: a model too big fails alone (MemoryError)."""
    import resource

    if mib > 0:
        limit = mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class Planner:
    """Re-plans in a daemon thread whenever the cluster changes; ``current`` is never blocked on.

    Failures never stop planning: a dead planning process is replaced (``worker.py``) and the
    solve retried at once; any other failure is retried with backoff even if nothing changes.
    ``health()`` says whether the planner is up and whether its plan is behind the cluster.
    """

    def __init__(
        self,
        state: ClusterState,
        *,
        scheduler_name: str = "default-scheduler",
        time_limit: float = 10.0,
        settle: float = 0.5,
        max_age: float = 300.0,
        backend: str = "cpsat",
        isolate: bool = False,
        memory_limit_mib: int = 4096,
        on_plan: Callable[[Plan], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
        incremental: bool = True,
        full_every: float = FULL_EVERY,
        full_quiet: float = FULL_QUIET,
        fold: bool = True,
        neighbourhoods: bool = True,
    ) -> None:
        self.state = state
        self.scheduler_name = scheduler_name
        self.time_limit = time_limit
        # Pods arriving after a plan are planned around it (incremental.py) in a round of this
        # budget; a full round follows once arrivals pause, and at least every ``full_every``.
        self.incremental = incremental
        self.incremental_time_limit = min(time_limit, max(0.5, time_limit / 5))
        # New pods that only take capacity are planned on a few candidate nodes, not the whole
        # cluster (neighbourhood.py).
        self.neighbourhoods = neighbourhoods
        # Bound pods that only take capacity are folded into their nodes (fold.py).
        self.fold = fold
        self.last_fold: dict[str, Any] = {}
        self.full_every = full_every
        self.coverage = Coverage(state, scheduler_name)
        self._full_due = False
        self._full_due_at = 0.0
        self.full_quiet = full_quiet
        self._last_full = -float("inf")
        self.settle = settle
        self.max_settle = max(
            5 * settle, 2.0
        )  # a steady stream of changes must not starve planning
        self.max_age = max_age
        self.backend = backend
        # Solve in a separate process: model building is pure Python and would otherwise hold
        # the GIL that the request path needs.
        self.isolate = isolate
        self.memory_limit_mib = memory_limit_mib
        self.process: PlanningProcess | None = None
        if isolate:
            self.process = PlanningProcess(memory_limit_mib)
            self.process.on_death.append(lambda message: self._failed("died", message))
        self.on_plan = on_plan
        self.on_failure = on_failure
        self.current: Plan | None = None
        self.solving = False
        self.last_error: str | None = None
        self.consecutive_failures = 0
        self.planned_version = -1  # the state version of the last successful planning round
        self.behind_since: float | None = None  # first change not covered by a successful round
        self._retry = Backoff(initial=1.0, cap=max(60.0, time_limit))
        self._retry_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # While a full round holds the planning process (seconds on a large cluster), pods that
        # arrive are planned on neighbourhoods in this process by a second thread (the lane).
        self._lane: threading.Thread | None = None
        self._full_running = threading.Event()
        self._lane_seen = -1  # the state version the lane last looked at
        state.on_bound.append(self._consume)

    # ---- lifecycle ----
    def start(self) -> None:
        if self._thread is None:
            if self.process is not None:
                self.process.start()
            self._thread = threading.Thread(target=self._run, name="placer-planner", daemon=True)
            self._thread.start()
            if self.incremental and self.neighbourhoods:
                self._lane = threading.Thread(
                    target=self._run_lane, name="placer-planner-lane", daemon=True
                )
                self._lane.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Abandon the solve in flight and end the planning process; returns within ~timeout."""
        self._stop.set()
        if self.process is not None:
            self.process.stop(timeout)
        with self.state.changed:
            self.state.changed.notify_all()
        for thread in (self._thread, self._lane):
            if thread is not None:
                thread.join(timeout)

    def _due(self) -> bool:
        if not self.state.synced:
            return False
        if self.state.version != self.planned_version:
            return True
        if self._full_due and time.monotonic() >= self._full_due_at:
            return True
        return self._retry_at is not None and time.monotonic() >= self._retry_at

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.state.changed:
                if not self._due():
                    self.state.changed.wait(timeout=self._idle_wait())
                    continue
            if not self._settled():
                return
            try:
                self.plan_once()
            except Exception as exc:  # the planning thread must never die
                log.exception("planning round failed")
                self._failed("error", f"{type(exc).__name__}: {exc}")

    def _settled(self) -> bool:
        """Let a burst of changes (a Deployment scaling up) settle; False: stopping."""
        seen = self.state.version
        settle_until = time.monotonic() + self.max_settle
        while (
            not self._stop.wait(self.settle)
            and self.state.version != seen
            and time.monotonic() < settle_until
        ):
            seen = self.state.version
        return not self._stop.is_set()

    def _run_lane(self) -> None:
        if self.process is not None:  # (in one process the first round has imported the solver)
            self._warm_up()
        while not self._stop.is_set():
            with self.state.changed:
                if not (self._full_running.is_set() and self.state.version != self._lane_seen):
                    self.state.changed.wait(timeout=0.5)
                    continue
            if not self._settled():
                return
            try:
                self.lane_once()
            except Exception:  # the lane must never die; the main rounds plan the pods anyway
                log.exception("neighbourhood round beside a full round failed")
                self._lane_seen = self.state.version

    def _warm_up(self) -> None:
        """One tiny solve, so that the lane's first round does not wait for the solver's
        imports (a second or more on a loaded machine)."""
        import orjson

        node = {
            "kind": "Node",
            "metadata": {"name": "warm-up"},
            "status": {"allocatable": {"cpu": "1", "pods": "1"}},
        }
        pod = {
            "kind": "Pod",
            "metadata": {"name": "warm-up", "namespace": "default"},
            "spec": {
                "schedulerName": self.scheduler_name,
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
            },
        }
        try:
            solve_documents(orjson.dumps([node, pod]), self.scheduler_name, self.backend, 2.0)
        except Exception:  # the lane works without it, only slower the first time
            log.exception("the lane's warm-up solve failed")

    def lane_once(self) -> bool:
        """While a full round is in flight: plan the pods its start did not know on a
        neighbourhood of the current plan, in this process (small problems only); publish the
        merged plan unless a newer plan came meanwhile. True when a plan was published."""
        import orjson

        began = time.monotonic()
        with self.state.lock:
            version = self.state.version
            self._lane_seen = version
            last = self.current
            if (
                last is None
                or last.status not in PLAN_STATUSES
                or self.state.nodes_version > last.version
            ):
                return False
            new = uncovered(self.state, last, self.coverage)
            hood = neighbourhood(self.state, last, new) if new else None
            if hood is None:
                return False
            payload = orjson.dumps(hood.docs)
        started = time.monotonic()
        data = (
            hood.nowhere()
            if not hood.nodes
            else solve_documents(
                payload, self.scheduler_name, self.backend, self.incremental_time_limit
            )
        )
        plan = _plan(data, version, started, time.monotonic())
        with self.state.lock:
            if self.current is not last:
                return False  # a newer plan (the full round's, or the main thread's) took over
            self._consume_since(plan, version)
            plan = self._merge_neighbourhood(last, plan, hood)
            plan.prepare_seconds = started - began
            self.current = plan
        log.info(
            "plan v%d (neighbourhood beside a full round): %s in %.2fs, %d new pod(s)",
            version,
            plan.status,
            plan.solve_seconds,
            len(hood.pods),
        )
        if self.on_plan is not None:
            self.on_plan(plan)
        return True

    def _consume_since(self, plan: Plan, version: int) -> None:
        """Pods bound after ``version``: taken off the new plan before anyone reads it (under
        the state lock)."""
        for logged_version, uid, node in reversed(self.state.bind_log):  # newest first
            if logged_version <= version:
                break
            plan.consume(uid, None, node)

    def _idle_wait(self) -> float:
        wake = [t for t in (self._retry_at, self._full_due_at if self._full_due else None) if t]
        if not wake:
            return 1.0
        return min(1.0, max(0.01, min(wake) - time.monotonic()))

    # ---- one solve ----
    def plan_once(self) -> int:
        """Solve the current state and publish the plan; returns the state version it used."""
        import orjson

        began = time.monotonic()
        self.state.expire_learned()
        last = self.current
        hint: dict[str, dict[str, int]] | None = None
        pinning = None
        hood: Neighbourhood | None = None
        with self.state.lock:
            version = self.state.version
            has_pending = bool(self.state.pending_pods)
            new = uncovered(self.state, last, self.coverage) if has_pending and last else []
            kind = self._kind(last, new) if has_pending else "full"
            if not has_pending:
                payload = b""
            elif kind == "incremental":
                assert last is not None
                if self.neighbourhoods:
                    hood = neighbourhood(self.state, last, new)
                if hood is not None:
                    payload = orjson.dumps(hood.docs)
                else:
                    with gc_paused():
                        pinning = pin(self.state, last, self.scheduler_name)
                        payload = orjson.dumps(self._documents(pinning.docs, pinning.pods))
            else:
                with gc_paused():
                    others = [*self.state.extra_docs, *self.state.objects.values()]
                    pods = [(p.obj, p.request) for p in self.state.pods.values()]
                    payload = orjson.dumps(self._documents(others, pods))
                hint = self._hint(last, new)
        if not has_pending or not self.state.nodes:
            self.current = None
            self._full_done()
            self._succeeded(version)
            return version
        started = time.monotonic()
        self.solving = True
        if kind == "full":
            self._full_running.set()
            with self.state.changed:
                self.state.changed.notify_all()  # the lane: arrivals from now on are its
        try:
            if hood is not None and not hood.nodes:
                data = hood.nowhere()  # no node has room for any of them: nothing to solve
            else:
                data = self._solve(payload, kind, hint)
        except PlannerStopped:
            return version
        except PlannerDown as exc:
            self._behind(version, str(exc))
            self._failed("down", str(exc))
            return version
        except PlannerDied as exc:
            # Counted when the supervisor saw the death; re-plan as soon as a new process is up.
            self._behind(version, f"{exc}", retry_in=0.0)
            return version
        except TimeoutError as exc:
            self._behind(version, str(exc))
            self._failed("timeout", str(exc))
            return version
        except SolveFailed as exc:
            self._behind(version, str(exc))
            self._failed("input" if exc.bad_input else "error", str(exc))
            return version
        except Exception as exc:  # a failed solve must never take the service down
            from engine.errors import InputError

            message = f"{type(exc).__name__}: {exc}"
            self._behind(version, message)
            self._failed("input" if isinstance(exc, InputError) else "error", message)
            return version
        finally:
            self.solving = False
            self._full_running.clear()
        plan = _plan(data, version, started, time.monotonic())
        with self.state.lock:
            self._consume_since(plan, version)  # pods bound while we solved
            if hood is not None and last is not None:
                plan = self._merge_neighbourhood(last, plan, hood)
            elif pinning is not None and last is not None:
                plan = merged(last, plan, pinning)
            plan.prepare_seconds = started - began
            self.current = plan
        if kind == "full":
            self._full_done()
        else:
            # re-solve everything (from this plan) once arrivals have paused for a while: a
            # full round in flight would hold back the next arrivals' incremental round
            self._full_due = True
            retry = hood is not None and hood.retry
            self._full_due_at = time.monotonic() + (0.0 if retry else self.full_quiet)
        self._succeeded(version)
        log.info(
            "plan v%d (%s%s): %s in %.2fs, %d group(s) targeted",
            version,
            kind,
            ", hinted" if plan.hinted else "",
            plan.status,
            plan.solve_seconds,
            len(plan.targets),
        )
        if self.on_plan is not None:
            self.on_plan(plan)
        return version

    def _merge_neighbourhood(self, last: Plan, new: Plan, hood: Neighbourhood) -> Plan:
        """The last plan's places as they stand now (bindings since taken off) and the new pods'
        targets (under the state lock)."""
        with last.lock:
            places = {group: dict(nodes) for group, nodes in last.targets.items() if nodes}
        plan = merged(last, new, Pinning([], places=places))
        plan.neighbourhood = len(hood.nodes)
        placed = sum(sum(nodes.values()) for nodes in new.targets.values())
        plan.left_out = len(hood.pods) - placed
        if not hood.complete:
            # a plan of a restricted problem: never optimal; pods it could not place may fit
            # elsewhere, so the full round comes next at once
            if plan.status == "optimal":
                plan.status = "feasible"
            hood.retry = plan.left_out > 0
        return plan

    def _documents(
        self, others: list[dict[str, Any]], pods: Sequence[tuple[dict[str, Any], Mapping[str, int]]]
    ) -> list[dict[str, Any]]:
        """The round's documents: bound pods that only take capacity folded into their nodes
        (``fold.py``) unless folding is off (under the state lock)."""
        nodes = {n.name: (n.obj, n.allocatable) for n in self.state.nodes.values()}
        if not self.fold:
            return [*others, *(doc for doc, _ in nodes.values()), *(doc for doc, _ in pods)]
        folded = fold(others, nodes, pods)
        self.last_fold = folded.info()
        return folded.docs

    def _kind(self, last: Plan | None, new: list[PodRecord]) -> str:
        """incremental when the last plan still holds and only pods arrived (``new``: the
        pending pods it does not cover); else full (under the state lock)."""
        if (
            not self.incremental
            or last is None
            or last.status not in PLAN_STATUSES
            or self.state.nodes_version > last.version
            or time.monotonic() - self._last_full > self.full_every
        ):
            return "full"
        return "incremental" if new else "full"

    def _hint(self, last: Plan | None, new: list[PodRecord]) -> dict[str, dict[str, int]] | None:
        """The last plan's targets as a full round's start, when it covers every pending pod
        (``new``: those it does not; under the state lock)."""
        if last is None or last.status not in PLAN_STATUSES:
            return None
        if new:
            return None  # the solver's own greedy start places the new pods too
        with last.lock:
            return {group: dict(nodes) for group, nodes in last.targets.items()}

    def _full_done(self) -> None:
        self._full_due = False
        self._last_full = time.monotonic()

    def _succeeded(self, version: int) -> None:
        self.planned_version = version
        self.last_error = None
        self.consecutive_failures = 0
        self._retry.reset()
        self._retry_at = None
        self.behind_since = None if self.state.version == version else time.monotonic()

    def _behind(self, version: int, message: str, retry_in: float | None = None) -> None:
        """A round that produced no plan: try again later even if the cluster stays the same."""
        self.planned_version = version
        self.last_error = message
        if self.behind_since is None:
            self.behind_since = time.monotonic()
        delay = self._retry.next() if retry_in is None else retry_in
        self._retry_at = time.monotonic() + delay

    def _failed(self, reason: str, message: str) -> None:
        self.consecutive_failures += 1
        self.last_error = message
        log.warning("planning failed (%s): %s", reason, message)
        if self.on_failure is not None:
            self.on_failure(reason, message)

    def _solve(
        self, payload: bytes, kind: str = "full", hint: dict[str, dict[str, int]] | None = None
    ) -> dict[str, Any]:
        limit = self.incremental_time_limit if kind == "incremental" else self.time_limit
        args = (payload, self.scheduler_name, self.backend, limit, hint)
        if self.process is None:
            return solve_documents(*args)
        # The backend honours its time limit; the deadline is for a model that takes far longer
        # to build than to solve. A stuck planning process is killed, not waited on.
        result: dict[str, Any] = self.process.run(args, self.hard_deadline)
        return result

    @property
    def hard_deadline(self) -> float:
        return 2 * self.time_limit + 30

    # ---- health ----
    def up(self) -> bool:
        """Is a planner able to solve right now (its process ready, its thread alive)?"""
        thread_ok = self._thread is None or self._thread.is_alive()
        process_ok = self.process is None or self.process.up
        return thread_ok and process_ok

    def behind_seconds(self) -> float:
        """How long the cluster has had changes that no successful plan covers (0: none)."""
        if self.state.version == self.planned_version and self.last_error is None:
            return 0.0
        if self.behind_since is None:
            if self.state.version == self.planned_version:
                return 0.0
            self.behind_since = time.monotonic()
        return time.monotonic() - self.behind_since

    @property
    def stale_after(self) -> float:
        """A change this old without a plan means planning is not keeping up."""
        return 3 * self.time_limit + 4 * self.max_settle + 30

    def health(self) -> dict[str, Any]:
        """What ``/readyz`` reports: problems (empty when healthy) and the planner's numbers."""
        problems = []
        if not self.up():
            down_for = 0.0
            if self.process is not None and self.process.down_since is not None:
                down_for = time.monotonic() - self.process.down_since
            problems.append(f"planner down for {down_for:.1f}s")
        behind = self.behind_seconds()
        plan, why = self.usable()
        if why == "stale_plan" or behind > self.stale_after:
            problems.append(f"plan stale: cluster changes {behind:.0f}s old are not planned")
        return {
            "problems": problems,
            "planner": "up" if self.up() else "down",
            "plan_age_seconds": None if plan is None else round(plan.age(), 3),
            "behind_seconds": round(behind, 3),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "restarts": 0 if self.process is None else self.process.restarts,
        }

    def _consume(self, pod: PodRecord, node: str) -> None:
        plan = self.current
        if plan is not None:
            plan.consume(pod.uid, None, node)

    # ---- what requests ask ----
    def usable(self) -> tuple[Plan | None, str]:
        """The plan to steer by, or None and why not (for the fallback counter)."""
        plan = self.current
        if plan is None:
            return None, "no_plan"
        if plan.version != self.state.version and plan.age() > self.max_age:
            return None, "stale_plan"
        return plan, ""

    def targets_for(
        self, plan: Plan, uid: str, group_key: Callable[[], str | None]
    ) -> tuple[str | None, Mapping[str, int]]:
        """(group, remaining targets) of a pod; the group key is computed only if the uid is new."""
        group = plan.group_of_uid.get(uid)
        if group is None:
            group = group_key()
        if group is None:
            return None, {}
        return group, plan.targets.get(group, {})
