"""Prometheus metrics of one service instance (its own registry, so tests can run several)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from .gate import GateController
    from .planner import Plan, Planner
    from .state import ClusterState

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SOLVE_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "placer_extender_requests", "Extender requests by verb and HTTP status.",
            ["verb", "code"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "placer_extender_request_seconds", "Time to answer an extender request.",
            ["verb"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "placer_extender_fallbacks",
            "Requests answered by greedy scoring instead of the plan, by reason "
            "(no_plan, stale_plan, uncovered_pod: the plan was made without this pod, "
            "planner_off), and requests steered by a plan that does not know every pending pod "
            "the service knows (plan_ignores_pending).",
            ["verb", "reason"], registry=r,
        )  # fmt: skip
        self.device_scores = Counter(
            "placer_extender_device_scores",
            "Prioritize requests of pods the plan does not cover, with device scoring on: scored "
            "by placer's online GPU policy (scored), or by LeastAllocated and why (no_devices, "
            "device_request_unmodelled, no_device_of_its_kind).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.planned_requests = Counter(
            "placer_extender_planned_requests", "Requests steered by the plan.", ["verb"],
            registry=r,
        )  # fmt: skip
        self.solve_seconds = Histogram(
            "placer_extender_plan_solve_seconds", "Wall time of each background plan (build + solve).",
            buckets=SOLVE_BUCKETS, registry=r,
        )  # fmt: skip
        self.plans = Counter(
            "placer_extender_plans",
            "Background plans published, by kind (full: the whole cluster re-solved; full_hinted: "
            "starting from the last plan; incremental: arriving pods planned around the last "
            "plan).",
            ["kind"], registry=r,
        )  # fmt: skip
        self.plan_failures = Counter(
            "placer_extender_plan_failures",
            "Background planning failures by reason (died: the planning process died; timeout: "
            "abandoned at the hard deadline; down: no planning process came up; input: the "
            "cluster state did not build; error: anything else).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.planner_restarts = Counter(
            "placer_extender_planner_restarts",
            "Planning processes started again after one died or failed to start.",
            registry=r,
        )
        self.planner_up = Gauge(
            "placer_extender_planner_up",
            "1 when the planner can solve (its process ready), 0 when it is down, -1: no planner.",
            registry=r,
        )
        self.plan_behind = Gauge(
            "placer_extender_plan_behind_seconds",
            "Age of the oldest cluster change no successful plan covers (0: up to date).",
            registry=r,
        )
        self.plan_solving = Gauge(
            "placer_extender_plan_solving", "1 while a background plan is being solved.",
            registry=r,
        )  # fmt: skip
        self.plan_stale = Gauge(
            "placer_extender_plan_stale",
            "1 when the plan is stale (too old for a changed cluster, or planning is not "
            "keeping up), else 0.",
            registry=r,
        )
        self.plan_age = Gauge(
            "placer_extender_plan_age_seconds",
            "Seconds since the current plan was published (-1: no plan).",
            registry=r,
        )
        self.plan_groups = Gauge(
            "placer_extender_plan_groups", "Pending pod groups the current plan targets.",
            registry=r,
        )  # fmt: skip
        self.nodes = Gauge("placer_extender_nodes", "Nodes in the service's state.", registry=r)
        self.pending = Gauge(
            "placer_extender_pending_pods", "Pending pods in the service's state.", registry=r
        )

    def watch_gate(self, gate: GateController) -> None:
        """Scheduling-gate metrics (``placer serve --gate``), read from the controller."""
        r = self.registry
        released = Counter(
            "placer_gate_pods_released",
            "Gated pods whose gate placer removed, by how: narrowed (pinned to the planned "
            "node), released (the plan left them out), overdue (gated past --gate-deadline), "
            "failed (planning failed).",
            ["how"], registry=r,
        )  # fmt: skip
        writes = Counter(
            "placer_gate_api_writes", "Pod writes by the gate controller, by result.", ["result"],
            registry=r,
        )  # fmt: skip
        wait = Histogram(
            "placer_gate_wait_seconds", "Time from a pod's gating to the removal of its gate.",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0), registry=r,
        )  # fmt: skip
        batch = Histogram(
            "placer_gate_batch_pods", "Pods per planned batch.",
            buckets=(1, 5, 10, 50, 100, 500, 1000, 5000), registry=r,
        )  # fmt: skip
        plan = Histogram(
            "placer_gate_plan_seconds", "Time to plan one batch (build + solve).",
            buckets=SOLVE_BUCKETS, registry=r,
        )  # fmt: skip
        waiting = Gauge("placer_gate_waiting_pods", "Gated pods waiting for a batch.", registry=r)
        waiting.set_function(lambda: len(gate.waiting))
        conflicts = Gauge(
            "placer_gate_write_conflicts", "Writes refused for a newer pod version (retried).",
            registry=r,
        )  # fmt: skip
        conflicts.set_function(lambda: gate.stats.conflicts)

        def outcome(o: Any) -> None:
            released.labels(o.how).inc()
            writes.labels(o.result).inc(o.writes)
            if o.gated_for is not None:
                wait.observe(o.gated_for)

        def planned(pods: int, seconds: float, status: str) -> None:
            batch.observe(pods)
            plan.observe(seconds)
            if status == "failed":
                self.plan_failures.labels("gate").inc()

        gate.on_outcome = outcome
        gate.on_batch = planned

    def plan_published(self, plan: Plan) -> None:
        self.solve_seconds.observe(plan.solve_seconds)
        kind = "full_hinted" if plan.kind == "full" and plan.hinted else plan.kind
        self.plans.labels(kind).inc()

    # Counters protocol used by the handlers
    def fallback(self, verb: str, reason: str) -> None:
        self.fallbacks.labels(verb, reason).inc()

    def planned(self, verb: str) -> None:
        self.planned_requests.labels(verb).inc()

    def device_scored(self, outcome: str) -> None:
        self.device_scores.labels(outcome).inc()

    def watch(self, state: ClusterState, planner: Planner | None) -> None:
        """Gauges computed when scraped, from the live state and plan."""
        self.registry.register(LearnedCollector(state))
        self.nodes.set_function(lambda: len(state.nodes))
        self.pending.set_function(
            lambda: sum(1 for p in list(state.pods.values()) if p.node is None)
        )

        def age() -> float:
            plan = planner.current if planner is not None else None
            return -1.0 if plan is None else plan.age()

        def groups() -> float:
            plan = planner.current if planner is not None else None
            return 0.0 if plan is None else float(sum(1 for t in plan.targets.values() if t))

        def up() -> float:
            return -1.0 if planner is None else float(planner.up())

        def behind() -> float:
            return 0.0 if planner is None else planner.behind_seconds()

        def stale() -> float:
            if planner is None:
                return 0.0
            return float(any(p.startswith("plan stale") for p in planner.health()["problems"]))

        self.plan_solving.set_function(lambda: float(planner is not None and planner.solving))
        self.planner_up.set_function(up)
        self.plan_behind.set_function(behind)
        self.plan_stale.set_function(stale)
        self.plan_age.set_function(age)
        self.plan_groups.set_function(groups)


class LearnedCollector:
    """Objects learned from requests (bounded by ``LearnLimits``), read from the state on scrape."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        learned = {"nodes": self.state.learned_nodes, "pods": self.state.learned_pods}
        objects = GaugeMetricFamily(
            "placer_extender_learned_objects",
            "Nodes and pods known only from requests (the watch and snapshot are not counted).",
            labels=["kind"],
        )
        size = GaugeMetricFamily(
            "placer_extender_learned_bytes",
            "Memory held by the objects known only from requests (capped by --learned-mib).",
            labels=["kind"],
        )
        evicted = CounterMetricFamily(
            "placer_extender_learned_evictions",
            "Request-learned objects dropped: least recently seen beyond a cap, or unseen for "
            "the TTL.",
            labels=["kind"],
        )
        for kind, index in learned.items():
            objects.add_metric([kind], len(index))
            size.add_metric([kind], index.bytes)
            evicted.add_metric([kind], index.evicted)
        yield from (objects, size, evicted)
