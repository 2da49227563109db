"""The Alibaba GPU trace import: manifests that plan and verify."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.kube import gpu_metrics
from engine.cli import main
from engine.errors import InputError
from engine.io import load
from engine.kube import manifests_to_problem
from engine.kube.alibaba import (
    GPU,
    GPU_MILLI,
    GPU_MODEL_LABEL,
    TracePod,
    import_alibaba,
    pod_manifest,
)
from engine.solve import solve
from engine.verify import verify

TRACE = "traces/alibaba_gpu_v2023"


def test_gpu_pods_map_to_whole_and_shared_gpu_resources() -> None:
    whole = pod_manifest(TracePod("a", 4000, 8192, 2, 1000, ("V100M32", "G2"), "LS"))
    requests = whole["spec"]["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": "4000m", "memory": "8192Mi", GPU: "2", GPU_MILLI: "2000"}
    term = whole["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0] == {
        "key": GPU_MODEL_LABEL,
        "operator": "In",
        "values": ["V100M32", "G2"],
    }
    shared = pod_manifest(TracePod("b", 1000, 1024, 1, 460, (), "BE"))
    assert shared["spec"]["containers"][0]["resources"]["requests"][GPU_MILLI] == "460"
    assert GPU not in shared["spec"]["containers"][0]["resources"]["requests"]
    assert "affinity" not in shared["spec"]


def test_sample_imports_plans_and_verifies(shared_data: Path) -> None:
    d = shared_data / TRACE
    doc = import_alibaba(
        d / "openb_node_list_gpu_node.csv",
        d / "openb_pod_list_gpuspec33.csv",
        sample_nodes=25,
        demand_ratio=1.05,
        seed=3,
    )
    problem = manifests_to_problem([doc], "alibaba-sample")
    assert len(problem.bins) == 25
    assert all(not i.meta.get("bound") for i in problem.items)
    assert any(i.allowed is not None for i in problem.items)  # gpu_spec -> required node affinity
    demand = sum(i.demand.get(GPU_MILLI, 0) * i.count for i in problem.items)
    capacity = sum(b.capacity.get(GPU_MILLI, 0) for b in problem.bins)
    assert 1.0 <= demand / capacity < 1.2
    solution = solve(problem, "greedy", time_limit=10, threads=1)
    assert solution.verified and verify(problem, solution).ok
    metrics = gpu_metrics(problem, solution)
    assert 0 < metrics["gpus_allocated"] <= metrics["gpus_total"]
    assert metrics["pods_placed"] == sum(p.count for p in solution.placements)


def test_cli_import_writes_manifests_placer_can_load(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / TRACE
    out = tmp_path / "cluster.yaml"
    with pytest.raises(SystemExit) as code:
        main(
            [
                "import", "alibaba-gpu", str(d / "openb_node_list_all_node.csv"),
                str(d / "openb_pod_list_default.csv"), "--sample-nodes", "12", "--seed", "1", "-o", str(out),
            ]
        )  # fmt: skip
    assert code.value.code == 0
    doc = yaml.safe_load(out.read_text())
    assert doc["kind"] == "List"
    problem = load(out)
    assert len(problem.bins) == 12 and problem.meta["family"] == "kubernetes"


def test_bad_csv_names_file_line_and_column(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,32000,1024,x,G2\n")
    pods = tmp_path / "pods.csv"
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\np,1000,1024,0,0,\n")
    with pytest.raises(InputError) as err:
        import_alibaba(nodes, pods)
    assert "nodes.csv" in str(err.value) and "line 2" in str(err.value) and "gpu" in str(err.value)
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,32000,1024,8,G2\n")
    missing = tmp_path / "short.csv"
    missing.write_text("name,cpu_milli\np,1\n")
    with pytest.raises(InputError, match="missing column"):
        import_alibaba(nodes, missing)
