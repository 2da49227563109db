"""Problem builders for the family suites (edge, tenants, alibaba), named in suite YAML as
``generate: bench.families:NAME``. Each returns an IR ``Problem``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.ir import Problem

ROOT = Path(__file__).resolve().parent.parent
ALIBABA = ROOT.parent / "shared" / "data" / "traces" / "alibaba_gpu_v2023"


def edge(devices: int, edge: int, cloud: int, **options: Any) -> Problem:
    """``engine.edge.generate.generate_topology``'s topology (same options) as a Problem."""
    from engine.edge.generate import generate_topology
    from engine.edge.topology import build_problem, parse_topology

    data = generate_topology(devices, edge, cloud, **options)
    seed = options.get("seed", 0)
    return build_problem(parse_topology(data, f"generated edge topology seed {seed}"))


def edge_import(path: str, tool: str, seed: int = 0) -> Problem:
    """A shared EdgeSimPy (``tool: edgesimpy``) or iFogSim (``ifogsim``) scenario as a Problem;
    ``path`` is taken from the repository root (``seed``, which suites pass, changes nothing)."""
    from engine.edge.importers import edgesimpy_to_topology, ifogsim_to_topology
    from engine.edge.topology import build_problem, parse_topology
    from engine.io import read_json

    readers = {"edgesimpy": edgesimpy_to_topology, "ifogsim": ifogsim_to_topology}
    file = ROOT / path
    return build_problem(parse_topology(readers[tool](read_json(file), name=file.stem)))


def tenants(
    tenants: int, nodes: int, jobs_per_tenant: int = 2, load: float = 1.5, seed: int = 0
) -> Problem:
    from engine.fair.generate import tenants_problem

    return tenants_problem(tenants, nodes, jobs_per_tenant=jobs_per_tenant, load=load, seed=seed)


def alibaba(
    sample_nodes: int,
    demand_ratio: float | None = None,
    seed: int = 0,
    pods: str = "openb_pod_list_default.csv",
) -> Problem:
    from engine.kube import manifests_to_problem
    from engine.kube.alibaba import import_alibaba

    doc = import_alibaba(
        ALIBABA / "openb_node_list_all_node.csv",
        ALIBABA / pods,
        sample_nodes=sample_nodes,
        demand_ratio=demand_ratio,
        seed=seed,
        aggregate_gpus=True,  # the suite's recorded numbers are for the aggregate relaxation
    )
    return manifests_to_problem(
        [doc],
        f"alibaba sample {sample_nodes} nodes seed {seed}",
        name=f"alibaba-{sample_nodes}-s{seed}",
    )
