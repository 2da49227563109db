"""Importers from edge simulators' formats to an EdgeTopology (and from there to the IR).

- **EdgeSimPy** scenario JSON (one list per component class, each entry ``attributes`` +
  ``relationships``): network switches become ``network`` nodes, edge servers ``edge`` nodes wired
  to their switch, users ``device`` nodes that host nothing, attached to their base station's
  switch by its wireless delay. Each service becomes a task whose data source is its
  application's user and whose bound is that user's delay SLA for the application; CPU and
  memory demands come over as they are (memory in MB); a container registry's demand is taken off
  its server's capacity. EdgeSimPy has no processing times, so a task's latency is the network
  delay, as EdgeSimPy computes it.
- **iFogSim** topology JSON (``{"nodes": [...], "links": [...]}``): FOG_DEVICE nodes at level 0
  are the cloud, at the deepest level devices, in between edge; ``mips`` is the speed and
  ``ram`` (MB) the capacity; sensors and actuators are ``network`` nodes. A link's bandwidth is the
  child's ``upBw`` capped by the parent's ``downBw`` (iFogSim's units, read as MB/s). The topology
  holds no application, so tasks come from an application graph in the format of
  ``app_graphs.csv`` (``--app-graph``), or by default from the two standard iFogSim applications
  (VRGame for EEG sensors, DCNS for CAMERA sensors; parameter values from VRGameFog.java and
  DCNSFog.java): every sensor gets its own copy of its application's modules, each module a task
  whose workload is the CPU length of the tuples it receives and whose input is their size, and
  module-to-module edges become the service graph (volume: KB per tuple).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from ..commands.grammar import Json, announce, output_option
from ..errors import InputError

# ---------------------------------------------------------------- EdgeSimPy


def _ref_id(relation: Any, path: str) -> int:
    if not isinstance(relation, Mapping) or "id" not in relation:
        raise InputError("expected a {class, id} reference", path=path)
    return int(relation["id"])


def _entries(data: Mapping[str, Any], cls: str) -> list[Mapping[str, Any]]:
    value = data.get(cls, [])
    if not isinstance(value, list):
        raise InputError(f"expected a list of {cls} entries", path=cls)
    return value


def edgesimpy_to_topology(data: Any, name: str = "edgesimpy") -> dict[str, Any]:
    """An EdgeSimPy scenario (parsed JSON) as an EdgeTopology document."""
    if not isinstance(data, Mapping) or "EdgeServer" not in data:
        raise InputError("not an EdgeSimPy scenario: no EdgeServer list")
    try:
        return _edgesimpy(data, name)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed EdgeSimPy scenario: {exc!r}") from None


def _edgesimpy(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for sw in _entries(data, "NetworkSwitch"):
        a = sw["attributes"]
        nodes.append(
            {"name": f"switch-{a['id']}", "tier": "network", "coordinates": list(a["coordinates"])}
        )
    for n, link in enumerate(_entries(data, "NetworkLink")):
        a, rel = link["attributes"], link["relationships"]
        ends = [
            f"switch-{_ref_id(r, f'NetworkLink[{n}].relationships.nodes')}" for r in rel["nodes"]
        ]
        if len(ends) != 2:
            raise InputError(
                "a link joins two switches", path=f"NetworkLink[{n}].relationships.nodes"
            )
        links.append(
            {"a": ends[0], "b": ends[1], "latency": a["delay"], "bandwidth": a.get("bandwidth")}
        )
    reserved: dict[int, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    for reg in _entries(data, "ContainerRegistry"):
        server = reg["relationships"].get("server")
        if server:
            cpu, mem = reserved[_ref_id(server, "ContainerRegistry.server")]
            attrs = reg["attributes"]
            reserved[int(server["id"])] = (
                cpu + attrs.get("cpu_demand", 0),
                mem + attrs.get("memory_demand", 0),
            )
    for n, server in enumerate(_entries(data, "EdgeServer")):
        a, rel = server["attributes"], server["relationships"]
        cpu, mem = reserved[int(a["id"])]
        node = f"server-{a['id']}"
        nodes.append(
            {
                "name": node,
                "tier": "edge",
                "capacity": {
                    "cpu": _quantity(a["cpu"] - cpu),
                    "memory": f"{_quantity(a['memory'] - mem)}Mi",
                    "disk": f"{_quantity(a['disk'])}Mi",
                },
                "location": f"base-station-{_ref_id(rel['base_station'], f'EdgeServer[{n}].base_station')}",
                "coordinates": list(a["coordinates"]),
            }
        )
        switch = _ref_id(rel["network_switch"], f"EdgeServer[{n}].relationships.network_switch")
        links.append({"a": node, "b": f"switch-{switch}", "latency": 0})
    stations = {
        int(b["attributes"]["id"]): (
            b["attributes"]["wireless_delay"],
            _ref_id(b["relationships"]["network_switch"], "BaseStation.network_switch"),
        )
        for b in _entries(data, "BaseStation")
    }
    app_user: dict[int, int] = {}
    slas: dict[tuple[int, int], float] = {}
    for n, user_entry in enumerate(_entries(data, "User")):
        a, rel = user_entry["attributes"], user_entry["relationships"]
        uid = int(a["id"])
        station = _ref_id(rel["base_station"], f"User[{n}].relationships.base_station")
        if station not in stations:
            raise InputError(f"unknown base station {station}", path=f"User[{n}].base_station")
        wireless, switch = stations[station]
        nodes.append(
            {
                "name": f"user-{uid}",
                "tier": "device",
                "hosts": "none",
                "location": f"base-station-{station}",
                "coordinates": list(a["coordinates"]),
            }
        )
        links.append({"a": f"user-{uid}", "b": f"switch-{switch}", "latency": wireless})
        for app in rel.get("applications", []):
            app_user.setdefault(_ref_id(app, f"User[{n}].applications"), uid)
        for app_id, sla in (a.get("delay_slas") or {}).items():
            slas[(uid, int(app_id))] = float(sla)
    tasks: list[dict[str, Any]] = []
    for n, service in enumerate(_entries(data, "Service")):
        a, rel = service["attributes"], service["relationships"]
        app = _ref_id(rel["application"], f"Service[{n}].relationships.application")
        if app not in app_user:
            raise InputError(
                f"application {app} has no user to be its data source",
                path=f"Service[{n}].relationships.application",
            )
        user = app_user[app]
        task: dict[str, Any] = {
            "name": f"service-{a['id']}-{a.get('label') or 'svc'}",
            "source": f"user-{user}",
            "demand": {
                "cpu": _quantity(a["cpu_demand"]),
                "memory": f"{_quantity(a['memory_demand'])}Mi",
            },
            "labels": {"app": str(app)},
        }
        sla = slas.get((user, app))
        if sla is not None and math.isfinite(sla) and sla > 0:
            task["max_latency"] = sla
        tasks.append(task)
    initial = {
        f"service-{s['attributes']['id']}-{s['attributes'].get('label') or 'svc'}": (
            f"server-{s['relationships']['server']['id']}"
        )
        for s in _entries(data, "Service")
        if s["relationships"].get("server")
    }
    return {
        "apiVersion": "placer/v1",
        "kind": "EdgeTopology",
        "name": name,
        "nodes": nodes,
        "links": links,
        "tasks": tasks,
        "meta": {"imported_from": "edgesimpy", "initial_placement": initial},
    }


def _quantity(value: float) -> int | str:
    """Whole numbers stay ints; fractions keep their exact decimal text."""
    return int(value) if float(value).is_integer() else repr(float(value))


# ---------------------------------------------------------------- iFogSim

# Standard applications (from app_graphs.csv, transcribed from VRGameFog.java and DCNSFog.java):
# (app, source, destination, tuple cpu length MI, tuple size bytes, edge type).
DEFAULT_APP_GRAPH: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("vrgame", "EEG", "client", 3000, 500, "SENSOR"),
    ("vrgame", "client", "concentration_calculator", 3500, 500, "MODULE"),
    ("vrgame", "concentration_calculator", "connector", 1000, 1000, "MODULE"),
    ("vrgame", "concentration_calculator", "client", 14, 500, "MODULE"),
    ("vrgame", "connector", "client", 28, 1000, "MODULE"),
    ("dcns", "CAMERA", "motion_detector", 1000, 20000, "SENSOR"),
    ("dcns", "motion_detector", "object_detector", 2000, 2000, "MODULE"),
    ("dcns", "object_detector", "user_interface", 500, 2000, "MODULE"),
    ("dcns", "object_detector", "object_tracker", 1000, 100, "MODULE"),
)
MODULE_RAM = "10Mi"  # every module of the standard applications asks for 10 MB of RAM
GENERIC_WORKLOAD = 1000.0  # MI, for sensors of a type no application graph knows
GENERIC_TUPLE_BYTES = 500.0


def read_app_graph(path: Path) -> tuple[tuple[str, str, str, float, float, str], ...]:
    """Rows of an ``app_graphs.csv``-style file (app, source, destination, tuple sizes, type)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read: {exc}", source=str(path)) from None
    needed = (
        "app",
        "source",
        "destination",
        "tuple_cpu_length_MI",
        "tuple_nw_length_bytes",
        "edge_type",
    )
    if missing := [c for c in needed if c not in columns]:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=str(path))
    out = []
    for n, row in enumerate(rows):
        try:
            out.append(
                (
                    row["app"],
                    row["source"],
                    row["destination"],
                    float(row["tuple_cpu_length_MI"]),
                    float(row["tuple_nw_length_bytes"]),
                    row["edge_type"],
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"bad row: {exc!r}", path=f"row {n + 2}", source=str(path)) from None
    return tuple(out)


def ifogsim_to_topology(
    data: Any,
    name: str = "ifogsim",
    app_graph: Sequence[tuple[str, str, str, float, float, str]] = DEFAULT_APP_GRAPH,
) -> dict[str, Any]:
    """An iFogSim topology (parsed JSON) as an EdgeTopology document."""
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise InputError("not an iFogSim topology: no nodes list", path="nodes")
    raw_nodes: list[Mapping[str, Any]] = data["nodes"]
    fog = {
        n["name"]: n for n in raw_nodes if isinstance(n, Mapping) and n.get("type") == "FOG_DEVICE"
    }
    if not fog:
        raise InputError("an iFogSim topology needs FOG_DEVICE nodes", path="nodes")
    deepest = max(int(n.get("level", 0)) for n in fog.values())
    nodes: list[dict[str, Any]] = []
    for i, n in enumerate(raw_nodes):
        if not isinstance(n, Mapping) or "name" not in n:
            raise InputError("a node needs a name", path=f"nodes[{i}]")
        if n.get("type") != "FOG_DEVICE":
            nodes.append({"name": n["name"], "tier": "network"})
            continue
        level = int(n.get("level", 0))
        tier = "cloud" if level == 0 else "device" if level == deepest else "edge"
        mips, ram = n.get("mips", 0), n.get("ram", 0)
        if mips <= 0 or ram < 0:
            raise InputError(
                f"{n['name']}: mips must be positive and ram non-negative", path=f"nodes[{i}]"
            )
        nodes.append(
            {
                "name": n["name"],
                "tier": tier,
                "capacity": {"memory": f"{_quantity(ram)}Mi"},
                "speed": mips,
                "location": f"level-{level}",
                **({"hosts": "any"} if tier == "device" else {}),
            }
        )
    if not isinstance(data.get("links", []), list):
        raise InputError("expected a list of links", path="links")
    links: list[dict[str, Any]] = []
    for i, link in enumerate(data.get("links", [])):
        try:
            a, b, latency = link["source"], link["destination"], float(link["latency"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "a link needs source, destination and latency", path=f"links[{i}]"
            ) from None
        entry: dict[str, Any] = {"a": a, "b": b, "latency": latency}
        if a in fog and b in fog:
            child, parent = sorted((fog[a], fog[b]), key=lambda n: -int(n.get("level", 0)))
            entry["bandwidth"] = min(child.get("upBw", math.inf), parent.get("downBw", math.inf))
        links.append(entry)
    tasks, flows = _ifogsim_tasks(raw_nodes, app_graph)
    return {
        "apiVersion": "placer/v1",
        "kind": "EdgeTopology",
        "name": name,
        "nodes": nodes,
        "links": links,
        "tasks": tasks,
        "service_graph": flows,
        "meta": {"imported_from": "ifogsim"},
    }


def _ifogsim_tasks(
    raw_nodes: Sequence[Mapping[str, Any]],
    app_graph: Sequence[tuple[str, str, str, float, float, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One copy of the sensor's application per sensor: modules as tasks, module edges as flows."""
    by_sensor: dict[str, str] = {}
    incoming: dict[tuple[str, str], tuple[float, float]] = {}  # (app, module) -> (MI, bytes)
    module_edges: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for app, src, dst, mi, size, kind in app_graph:
        if kind == "SENSOR":
            by_sensor.setdefault(src, app)
        if kind in ("SENSOR", "MODULE"):
            incoming.setdefault((app, dst), (mi, size))
        if kind == "MODULE":
            module_edges[app].append((src, dst, size))
    tasks: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    for n in raw_nodes:
        if not isinstance(n, Mapping) or n.get("type") != "SENSOR":
            continue
        sensor, kind = n["name"], str(n.get("sensorType", ""))
        found = by_sensor.get(kind)
        if found is None:
            tasks.append(
                {
                    "name": f"{sensor}/process",
                    "source": sensor,
                    "workload": GENERIC_WORKLOAD,
                    "input": GENERIC_TUPLE_BYTES / 1e6,
                    "demand": {"memory": MODULE_RAM},
                    "labels": {"app": "generic"},
                }
            )
            continue
        app = found
        modules = [m for (a, m) in incoming if a == app]
        for module in modules:
            mi, size = incoming[(app, module)]
            tasks.append(
                {
                    "name": f"{sensor}/{module}",
                    "source": sensor,
                    "workload": mi,
                    "input": size / 1e6,
                    "demand": {"memory": MODULE_RAM},
                    "labels": {"app": app},
                }
            )
        for src, dst, size in module_edges[app]:
            flows.append({"tasks": [f"{sensor}/{src}", f"{sensor}/{dst}"], "volume": size / 1000})
    return tasks, flows


# ---------------------------------------------------------------- CLI


def _read_json(path: Path) -> Any:
    from ..io import read_documents

    docs = read_documents(path)
    if len(docs) != 1:
        raise InputError("expected one JSON document", source=str(path))
    return docs[0]


def _write(
    topology: dict[str, Any], output: Path, *, as_topology: bool, source: str, as_json: bool
) -> None:
    from .topology import build_problem, parse_topology

    try:
        problem = build_problem(parse_topology(topology))
    except InputError as exc:
        raise exc.with_source(source) from None
    if as_topology:
        from .generate import write_document

        write_document(topology, output)
    else:
        from ..io import dump_problem

        dump_problem(problem, output)
    tasks = sum(i.count for i in problem.items)
    announce(
        output,
        f"wrote {output}: {len(problem.bins)} hosting nodes, {tasks} tasks",
        {"hosting_nodes": len(problem.bins), "tasks": tasks},
        as_json,
    )


OutputOption = Annotated[Path, output_option("the IR (the topology with --topology)")]
TopologyFlag = Annotated[
    bool, typer.Option("--topology", help="write the EdgeTopology instead of the IR")
]


def register_import(group: typer.Typer) -> None:
    @group.command("edgesimpy")
    def edgesimpy_command(
        file: Annotated[Path, typer.Argument(help="EdgeSimPy scenario JSON")],
        output: OutputOption,
        topology: TopologyFlag = False,
        as_json: Json = False,
    ) -> None:
        """EdgeSimPy scenario -> placer IR (services onto edge servers under delay SLAs)."""
        try:
            doc = edgesimpy_to_topology(_read_json(file), name=file.stem)
        except InputError as exc:
            raise exc.with_source(str(file)) from None
        _write(doc, output, as_topology=topology, source=str(file), as_json=as_json)

    @group.command("ifogsim")
    def ifogsim_command(
        file: Annotated[Path, typer.Argument(help="iFogSim topology JSON")],
        output: OutputOption,
        app_graph: Annotated[
            Path | None,
            typer.Option("--app-graph", help="application edges (app_graphs.csv format)"),
        ] = None,
        topology: TopologyFlag = False,
        as_json: Json = False,
    ) -> None:
        """iFogSim topology -> placer IR (application modules per sensor, service graph)."""
        graph = read_app_graph(app_graph) if app_graph is not None else DEFAULT_APP_GRAPH
        try:
            doc = ifogsim_to_topology(_read_json(file), name=file.stem, app_graph=graph)
        except InputError as exc:
            raise exc.with_source(str(file)) from None
        _write(doc, output, as_topology=topology, source=str(file), as_json=as_json)
