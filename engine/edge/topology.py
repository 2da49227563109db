"""Edge–cloud task placement: the ``EdgeTopology`` format and its builder to the IR.

A topology (YAML or JSON, ``kind: EdgeTopology``) describes nodes on three tiers, the links
between them, the tasks to place and, optionally, the datasets tasks read and the service graph
of tasks that talk to each other::

    apiVersion: placer/v1
    kind: EdgeTopology
    name: factory
    nodes:                       # tier: device | edge | cloud | network (routers: host nothing)
      - {name: cam-1, tier: device, capacity: {cpu: "1"}, speed: 500, location: hall-a}
      - {name: mec-1, tier: edge, capacity: {cpu: "8", memory: 16Gi}, speed: 4000}
      - {name: dc, tier: cloud, capacity: {cpu: "256"}, speed: 20000}
    links:                       # undirected; latency in ms, bandwidth in MB/s (absent: unlimited)
      - {a: cam-1, b: mec-1, latency: 2, bandwidth: 12.5}
      - {a: mec-1, b: dc, latency: 40, bandwidth: 125}
    datasets:                    # optional: data held on some nodes (size in MB)
      - {name: maps, size: 50, nodes: [dc], hard: false}
    tasks:
      - name: detect
        source: cam-1            # the node where the task's input data originates
        count: 4                 # identical replicas (one IR group)
        workload: 200            # million instructions; processing ms = 1000·workload/speed
        input: 2                 # MB sent from the source to the chosen node
        output: 0                # MB sent back to the source (adds the return trip when > 0)
        demand: {cpu: 500m}
        datasets: [maps]
        max_latency: 60          # ms, end to end; nodes that cannot meet it are excluded
    service_graph:               # optional: traffic between tasks (volume × path latency)
      - {tasks: [detect, track], volume: 5}
    objective: {latency: 1, traffic: 1}   # weights of the two minimised terms

Which tasks a node may run (``hosts``): ``any`` task (edge and cloud by default), only tasks whose
data originates there (``own``, the default for devices) or ``none`` (routers, switches, sensors:
the ``network`` tier's default; such nodes carry traffic and are not bins).

The latency of a task on a node, its IR ``cost`` there, is
``processing + transfer(source → node, input) [+ transfer(node → source, output)]
+ Σ over soft datasets of transfer(nearest holder → node, size)``, where a transfer is the path
latency plus size / bottleneck bandwidth. A ``hard`` dataset restricts the task to its holders.
Identical tasks from the same source (same workload, data, demand and bound, not in the service
graph) become one item group. A task whose bound no node meets is kept, with no allowed node, and
listed in ``meta.unplaceable`` with the reason, so plans report it as unplaced.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from ..errors import InputError
from ..ir import Bin, ItemGroup, Problem, Traffic, parse_resources, unique_names
from ..quantity import MILLI_RESOURCES
from .network import Network

TIER_LABEL = "placer.edge/tier"
LOCATION_LABEL = "placer.edge/location"
UNITS = {"latency": "ms", "data": "MB", "bandwidth": "MB/s", "workload": "MI", "speed": "MIPS"}
Tier = Literal["device", "edge", "cloud", "network"]
Hosts = Literal["own", "any", "none"]
DEFAULT_HOSTS: dict[str, Hosts] = {
    "device": "own",
    "edge": "any",
    "cloud": "any",
    "network": "none",
}


def _ir_quantities(amounts: Mapping[str, int]) -> dict[str, int | str]:
    """Parsed base units back to quantities the IR parses to the same integers."""
    return {r: f"{n}m" if r in MILLI_RESOURCES else n for r, n in amounts.items()}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EdgeNode(_Model):
    name: str = Field(min_length=1)
    tier: Tier
    capacity: dict[str, int] = {}
    speed: float = Field(1000.0, gt=0, allow_inf_nan=False)  # MIPS
    location: str | None = None
    coordinates: tuple[float, float] | None = None
    hosts: Hosts | None = None
    cost: float = Field(1.0, ge=0, allow_inf_nan=False)

    _capacity = field_validator("capacity", mode="before")(parse_resources)

    @property
    def hosting(self) -> Hosts:
        return self.hosts or DEFAULT_HOSTS[self.tier]


class EdgeLink(_Model):
    a: str
    b: str
    latency: float = Field(ge=0, allow_inf_nan=False)  # ms
    bandwidth: float | None = Field(None, gt=0)  # MB/s; None = unlimited


class Dataset(_Model):
    name: str = Field(min_length=1)
    size: float = Field(0.0, ge=0, allow_inf_nan=False)  # MB
    nodes: tuple[str, ...] = Field(min_length=1)
    hard: bool = False  # True: tasks reading it run only where it is held


class EdgeTask(_Model):
    name: str = Field(min_length=1)
    source: str
    count: PositiveInt = 1
    workload: float = Field(0.0, ge=0, allow_inf_nan=False)  # million instructions
    input: float = Field(0.0, ge=0, allow_inf_nan=False)  # MB
    output: float = Field(0.0, ge=0, allow_inf_nan=False)  # MB
    demand: dict[str, int] = {}
    datasets: tuple[str, ...] = ()
    max_latency: float | None = Field(None, gt=0)  # ms
    priority: int = 0
    required: bool = False
    labels: dict[str, str] = {}

    _demand = field_validator("demand", mode="before")(parse_resources)


class Flow(_Model):
    tasks: tuple[str, str]
    volume: float = Field(ge=0, allow_inf_nan=False)


class EdgeObjective(_Model):
    latency: float = Field(1.0, ge=0, allow_inf_nan=False)
    traffic: float = Field(1.0, ge=0, allow_inf_nan=False)


class EdgeTopology(_Model):
    api_version: Literal["placer/v1"] = Field("placer/v1", alias="apiVersion")
    kind: Literal["EdgeTopology"] = "EdgeTopology"
    name: str = "edge"
    nodes: tuple[EdgeNode, ...] = Field(min_length=1)
    links: tuple[EdgeLink, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    tasks: tuple[EdgeTask, ...] = ()
    service_graph: tuple[Flow, ...] = ()
    objective: EdgeObjective = EdgeObjective(latency=1.0, traffic=1.0)
    meta: dict[str, Any] = {}


# ---------------------------------------------------------------- parsing


def parse_topology(data: Any, source: str | None = None) -> EdgeTopology:
    """Validate a topology document; errors name the path inside it."""
    from ..io import validation_to_input_error

    if not isinstance(data, Mapping):
        raise InputError("expected a mapping with kind: EdgeTopology", source=source)
    try:
        topology = EdgeTopology.model_validate(data)
    except ValidationError as exc:
        raise validation_to_input_error(exc, source) from None
    _check_references(topology)
    return topology


def _check_references(t: EdgeTopology) -> None:
    nodes = unique_names([n.name for n in t.nodes], "nodes")
    datasets = unique_names([d.name for d in t.datasets], "datasets")
    tasks = unique_names([k.name for k in t.tasks], "tasks")
    for n, link in enumerate(t.links):
        for end in ("a", "b"):
            if getattr(link, end) not in nodes:
                raise InputError(f"unknown node {getattr(link, end)!r}", path=f"links[{n}].{end}")
    for n, d in enumerate(t.datasets):
        for name in d.nodes:
            if name not in nodes:
                raise InputError(f"unknown node {name!r}", path=f"datasets[{n}].nodes")
    for n, task in enumerate(t.tasks):
        if task.source not in nodes:
            raise InputError(
                f"data source {task.source!r} is not a node of the topology",
                path=f"tasks[{n}].source",
            )
        for name in task.datasets:
            if name not in datasets:
                raise InputError(f"unknown dataset {name!r}", path=f"tasks[{n}].datasets")
    for n, flow in enumerate(t.service_graph):
        for name in flow.tasks:
            if name not in tasks:
                raise InputError(f"unknown task {name!r}", path=f"service_graph[{n}].tasks")


# ---------------------------------------------------------------- building the IR


def task_latencies(
    network: Network,
    task: EdgeTask,
    nodes: Sequence[EdgeNode],
    datasets: Mapping[str, Dataset],
) -> np.ndarray:
    """End-to-end latency (ms) of one task on each of ``nodes`` (the return trip takes the path
    the request came by)."""
    idx = network.indices([n.name for n in nodes])
    latency = 1000.0 * task.workload / np.array([n.speed for n in nodes], dtype=float)
    latency += network.transfer_row(task.source, task.input)[idx]
    if task.output > 0:
        latency += network.transfer_row(task.source, task.output)[idx]
    for name in task.datasets:
        d = datasets[name]
        if d.hard:
            continue  # hard datasets are local by construction
        # a holder fetches from itself for free: its own entry in its row is 0
        fetches = [network.transfer_row(h, d.size)[idx] for h in d.nodes]
        latency += np.min(fetches, axis=0)
    return latency


class _Hosts:
    """Which hosting nodes may run a task at all: hosting rules and hard data locality."""

    def __init__(self, hosts: Sequence[EdgeNode], datasets: Mapping[str, Dataset]) -> None:
        self.position = {n.name: k for k, n in enumerate(hosts)}
        self.shared = [n for n in hosts if n.hosting == "any"]
        self.own = {n.name: n for n in hosts if n.hosting == "own"}
        self.datasets = datasets

    def candidates(self, task: EdgeTask) -> list[EdgeNode]:
        out = list(self.shared)
        if task.source in self.own:
            out.append(self.own[task.source])
            out.sort(key=lambda n: self.position[n.name])
        for d in (self.datasets[name] for name in task.datasets):
            if d.hard:
                held = set(d.nodes)
                out = [n for n in out if n.name in held]
        return out


def _group_key(task: EdgeTask) -> tuple[Any, ...]:
    return (
        task.source,
        task.workload,
        task.input,
        task.output,
        tuple(sorted(task.demand.items())),
        task.datasets,
        task.max_latency,
        task.priority,
        task.required,
        tuple(sorted(task.labels.items())),
    )


def _groups(t: EdgeTopology) -> list[list[EdgeTask]]:
    """Identical tasks from the same source, in first-seen order; service-graph tasks stay alone."""
    talking = {name for flow in t.service_graph for name in flow.tasks}
    groups: dict[tuple[Any, ...], list[EdgeTask]] = {}
    out: list[list[EdgeTask]] = []
    for task in t.tasks:
        if task.name in talking:
            out.append([task])
            continue
        key = _group_key(task)
        if key in groups:
            groups[key].append(task)
        else:
            groups[key] = [task]
            out.append(groups[key])
    return out


def _round(value: float) -> float:
    return round(value, 6)


def build_problem(topology: EdgeTopology, *, enforce_bounds: bool = True) -> Problem:
    """The IR for a topology. ``enforce_bounds=False`` keeps nodes that break latency bounds
    allowed (how simulators evaluate cloud-only and edge-first); violations are then counted
    by :func:`engine.edge.metrics.edge_metrics`."""
    network = Network(
        [n.name for n in topology.nodes],
        ((k.a, k.b, k.latency, k.bandwidth) for k in topology.links),
    )
    network.check_connected()
    datasets = {d.name: d for d in topology.datasets}
    hosts = [n for n in topology.nodes if n.hosting != "none"]
    bins = tuple(
        Bin.model_validate(
            {
                "name": n.name,
                "capacity": _ir_quantities(n.capacity),
                "labels": {TIER_LABEL: n.tier}
                | ({LOCATION_LABEL: n.location} if n.location else {}),
                "cost": n.cost,
                "speed": n.speed,
            }
        )
        for n in hosts
    )
    items: list[ItemGroup] = []
    position = {t.name: n for n, t in enumerate(topology.tasks)}
    unplaceable: dict[str, str] = {}
    group_of: dict[str, str] = {}
    rules = _Hosts(hosts, datasets)
    for members in _groups(topology):
        task = members[0]
        nodes = rules.candidates(task)
        values = task_latencies(network, task, nodes, datasets) if nodes else np.zeros(0)
        latencies = {
            node.name: float(v) for node, v in zip(nodes, values, strict=True) if math.isfinite(v)
        }
        bound = task.max_latency
        allowed = [
            name
            for name, v in latencies.items()
            if not enforce_bounds or bound is None or v <= bound
        ]
        if not allowed:
            unplaceable[task.name] = _why_unplaceable(task, latencies)
        count = sum(m.count for m in members)
        meta: dict[str, Any] = {"source": task.source, "max_latency": bound}
        if len(members) > 1:
            meta["tasks"] = [m.name for m in members]
        if task.datasets:
            meta["datasets"] = list(task.datasets)
        fields = {
            "name": task.name,
            "count": count,
            "demand": _ir_quantities(task.demand),
            "labels": task.labels,
            "priority": task.priority,
            "required": task.required and bool(allowed),
            "allowed": tuple(allowed),
            "cost": {name: _round(latencies[name]) for name in allowed},
            "meta": meta,
        }
        try:
            items.append(ItemGroup.model_validate(fields))
        except ValidationError as exc:
            raise InputError(exc.errors()[0]["msg"], path=f"tasks[{position[task.name]}]") from None
        for m in members:
            group_of[m.name] = task.name
    traffic, delays = _traffic(topology, network, items, group_of)
    level: dict[str, float] = {"cost": topology.objective.latency}
    if traffic:
        level["traffic"] = topology.objective.traffic
    meta = {
        "family": "edge",
        "units": UNITS,
        "enforce_bounds": enforce_bounds,
        **({"unplaceable": unplaceable} if unplaceable else {}),
        **topology.meta,
    }
    return Problem.model_validate(
        {
            "name": topology.name,
            "bins": bins,
            "items": tuple(items),
            "objective": ({"placed": 1.0}, level),
            "traffic": traffic,
            "delays": delays,
            "meta": meta,
        }
    )


def _why_unplaceable(task: EdgeTask, latencies: Mapping[str, float]) -> str:
    if not latencies:
        if task.datasets:
            return "no node may run it: hard datasets are held only where it may not run"
        return "no node may run it (hosting rules)"
    best = min(latencies, key=latencies.__getitem__)
    return (
        f"latency bound {task.max_latency:g} ms unreachable: "
        f"fastest node {best} takes {latencies[best]:.3g} ms"
    )


def _traffic(
    topology: EdgeTopology,
    network: Network,
    items: Sequence[ItemGroup],
    group_of: Mapping[str, str],
) -> tuple[tuple[Traffic, ...], dict[str, dict[str, float]]]:
    """Service-graph flows between groups, and the delays for every bin pair they may use."""
    if not topology.service_graph:
        return (), {}
    by_name = {i.name: i for i in items}
    volume: dict[tuple[str, str], float] = defaultdict(float)
    for flow in topology.service_graph:
        a, b = sorted((group_of[flow.tasks[0]], group_of[flow.tasks[1]]))
        volume[(a, b)] += flow.volume
    delays: dict[str, dict[str, float]] = defaultdict(dict)
    traffic = []
    for (a, b), v in volume.items():
        if v == 0:
            continue
        traffic.append(Traffic(items=(a, b), volume=v))
        for p in by_name[a].allowed or ():
            row = network.latency_row(p)
            for q in by_name[b].allowed or ():
                if p == q or q in delays.get(p, {}) or p in delays.get(q, {}):
                    continue
                delays[p][q] = _round(float(row[network.index[q]]))
    return tuple(traffic), dict(delays)


def topology_to_problem(docs: list[Any], source: str | None = None) -> Problem:
    """``engine.io.load`` hook: an EdgeTopology document to the IR."""
    if len(docs) != 1:
        raise InputError("an edge topology file holds one EdgeTopology document", source=source)
    return build_problem(parse_topology(docs[0], source))


def print_edge_summary(console: Any, problem: Problem, solution: Any) -> None:
    """``engine.summary`` hook: per-tier load, task latency and bound violations."""
    from .metrics import print_edge_summary as _print

    _print(console, problem, solution)
