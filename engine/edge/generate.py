"""Seeded edge topologies: ``placer generate edge --devices N --edge N --cloud N ...``.

Layout (a 10 km square): edge servers at random sites, wired to each other along a minimum
spanning tree plus each server's nearest neighbour (fibre latency grows with distance); every
edge server has a backhaul to every cloud region (20–60 ms). Devices attach to the nearest edge
server over a wireless hop (1–5 ms, 10–50 MB/s). Each device runs ``tasks_per_device`` tasks
drawn from a small catalogue (sensing, detection, analytics, archiving) with latency bounds; the
analytics tasks read a model dataset held on the cloud and some edge servers. With
``graph_density`` > 0, consecutive tasks of a device talk to each other, and some devices talk to
a neighbour behind the same edge server, each with that probability.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

import typer

from ..commands.grammar import Json, announce

SQUARE_KM = 10.0
# name: (workload MI, input MB, cpu, memory, max latency ms or None)
CATALOGUE: dict[str, tuple[float, float, str, str, float | None]] = {
    "sense": (50, 0.05, "250m", "128Mi", 25),
    "detect": (400, 1.0, "1", "512Mi", 120),
    "analyse": (2000, 2.0, "2", "2Gi", 400),
    "archive": (500, 5.0, "500m", "256Mi", None),
}


def generate_topology(
    devices: int,
    edge: int,
    cloud: int,
    *,
    tasks_per_device: int = 3,
    graph_density: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """An EdgeTopology document (plain data, ready for YAML/JSON or ``parse_topology``)."""
    # numpy/scipy load here, not at import: this module registers a CLI command
    import numpy as np
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    if min(devices, edge, cloud) < 0 or edge + cloud == 0:
        raise ValueError("need non-negative counts and at least one edge or cloud node")
    if not 0.0 <= graph_density <= 1.0:
        raise ValueError("graph density is a probability in [0, 1]")
    rng = np.random.default_rng(seed)
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    edge_xy = rng.uniform(0, SQUARE_KM, size=(edge, 2))
    clouds = [f"cloud-{c}" for c in range(cloud)]
    for c, name in enumerate(clouds):
        nodes.append(
            {
                "name": name,
                "tier": "cloud",
                "capacity": {"cpu": "2000", "memory": "8Ti"},
                "speed": 20000,
                "location": f"region-{c}",
            }
        )
    edges = [f"edge-{e}" for e in range(edge)]
    for e, name in enumerate(edges):
        nodes.append(
            {
                "name": name,
                "tier": "edge",
                "capacity": {
                    "cpu": str(int(rng.choice([8, 16, 32]))),
                    "memory": f"{int(rng.choice([16, 32, 64]))}Gi",
                },
                "speed": int(rng.integers(4000, 8001)),
                "location": f"site-{e}",
                "coordinates": [round(float(v), 3) for v in edge_xy[e]],
            }
        )
        for c, cloud_name in enumerate(clouds):
            links.append(
                {
                    "a": name,
                    "b": cloud_name,
                    "latency": round(float(rng.uniform(20, 60)), 2),
                    "bandwidth": 125.0 * (1 + c % 2),
                }
            )
    if edge > 1:
        dist = cdist(edge_xy, edge_xy)
        tree = minimum_spanning_tree(dist).tocoo()
        pairs = {(min(i, j), max(i, j)) for i, j in zip(tree.row, tree.col, strict=True)}
        np.fill_diagonal(dist, np.inf)
        pairs |= {(min(i, int(j)), max(i, int(j))) for i, j in enumerate(dist.argmin(axis=1))}
        for i, j in sorted(pairs):
            links.append(
                {
                    "a": edges[i],
                    "b": edges[j],
                    "latency": round(0.5 + 0.5 * float(np.hypot(*(edge_xy[i] - edge_xy[j]))), 2),
                    "bandwidth": 1250.0,
                }
            )
    tasks: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    kinds = list(CATALOGUE)
    firsts: dict[str, list[str]] = {}  # edge server -> first task of each device behind it
    for d in range(devices):
        name = f"dev-{d}"
        xy = rng.uniform(0, SQUARE_KM, size=2)
        nodes.append(
            {
                "name": name,
                "tier": "device",
                "capacity": {"cpu": str(int(rng.choice([1, 2]))), "memory": "2Gi"},
                "speed": int(rng.integers(500, 1501)),
                "coordinates": [round(float(v), 3) for v in xy],
            }
        )
        nearest = int(np.argmin(np.hypot(*(edge_xy - xy).T))) if edge else -1
        home = edges[nearest] if edge else clouds[d % cloud]
        links.append(
            {
                "a": name,
                "b": home,
                "latency": round(float(rng.uniform(1, 5)), 2),
                "bandwidth": round(float(rng.uniform(10, 50)), 1),
            }
        )
        names = []
        for k in range(tasks_per_device):
            kind = kinds[int(rng.integers(len(kinds)))]
            workload, size, cpu, memory, bound = CATALOGUE[kind]
            task: dict[str, Any] = {
                "name": f"{name}-{kind}-{k}",
                "source": name,
                "workload": workload,
                "input": size,
                "demand": {"cpu": cpu, "memory": memory},
            }
            if bound is not None:
                task["max_latency"] = bound
            if kind == "analyse":
                task["datasets"] = ["models"]
            tasks.append(task)
            names.append(task["name"])
        for a, b in itertools.pairwise(names):
            if rng.random() < graph_density:
                flows.append({"tasks": [a, b], "volume": round(float(rng.uniform(0.1, 2)), 2)})
        if names:
            neighbours = firsts.setdefault(home, [])
            if neighbours and rng.random() < graph_density:
                peer = neighbours[int(rng.integers(len(neighbours)))]
                flows.append(
                    {"tasks": [names[0], peer], "volume": round(float(rng.uniform(0.1, 1)), 2)}
                )
            neighbours.append(names[0])
    holders = clouds + [e for e in edges if rng.random() < 0.2]
    return {
        "apiVersion": "placer/v1",
        "kind": "EdgeTopology",
        "name": f"edge-{devices}d-{edge}e-{cloud}c-s{seed}" + ("-graph" if flows else ""),
        "nodes": nodes,
        "links": links,
        "datasets": [{"name": "models", "size": 20.0, "nodes": holders}],
        "tasks": tasks,
        "service_graph": flows,
        "meta": {
            "generator": {
                "devices": devices,
                "edge": edge,
                "cloud": cloud,
                "tasks_per_device": tasks_per_device,
                "graph_density": graph_density,
                "seed": seed,
            }
        },
    }


def write_document(data: dict[str, Any], path: Path) -> None:
    """YAML, or JSON when the name ends in .json."""
    import json

    import yaml

    from ..io import write_text_atomic

    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=1)
    else:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
    write_text_atomic(path, text)


def register_generate(group: typer.Typer) -> None:
    @group.command("edge")
    def edge_command(
        output: Annotated[
            Path, typer.Option("--output", "-o", metavar="FILE", help="file to write ('-': stdout)")
        ],
        devices: Annotated[int, typer.Option(min=0, help="IoT devices")] = 100,
        edge: Annotated[int, typer.Option(min=0, help="edge servers")] = 10,
        cloud: Annotated[int, typer.Option(min=0, help="cloud regions")] = 1,
        tasks_per_device: Annotated[int, typer.Option(min=0, help="tasks per device")] = 3,
        graph_density: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="service-graph edge probability")
        ] = 0.0,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        ir: Annotated[
            bool, typer.Option("--ir", help="write the IR instead of the topology")
        ] = False,
        as_json: Json = False,
    ) -> None:
        """A seeded three-tier topology with tasks (EdgeTopology YAML/JSON, or IR with --ir)."""
        from ..errors import InputError

        if edge + cloud == 0:
            raise InputError("need at least one edge or cloud node (--edge/--cloud)")
        data = generate_topology(
            devices,
            edge,
            cloud,
            tasks_per_device=tasks_per_device,
            graph_density=graph_density,
            seed=seed,
        )
        if ir:
            from ..io import dump_problem
            from .topology import build_problem, parse_topology

            dump_problem(build_problem(parse_topology(data)), output)
        else:
            write_document(data, output)
        announce(
            output,
            f"wrote {output}: {len(data['nodes'])} nodes, {len(data['tasks'])} tasks",
            {"nodes": len(data["nodes"]), "tasks": len(data["tasks"])},
            as_json,
        )
