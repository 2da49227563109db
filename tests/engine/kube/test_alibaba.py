"""The Alibaba GPU trace import: GPUs as DRA devices, manifests that plan and verify device by device."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench.kube import gpu_metrics
from engine.cli import main
from engine.errors import InputError
from engine.io import load
from engine.kube import manifests_to_problem
from engine.kube.alibaba import (
    DRIVER,
    GPU,
    GPU_MILLI,
    QOS_LABEL,
    TracePod,
    claim_template,
    import_alibaba,
    pod_manifest,
)
from engine.solve import solve
from engine.verify import verify

TRACE = "traces/alibaba_gpu_v2023"
SAMPLE = Path(__file__).resolve().parents[3] / "instances" / "alibaba"
MODEL = f"{DRIVER}/model"


def test_gpu_pods_claim_whole_gpus_or_a_share_of_one() -> None:
    whole = TracePod("a", 4000, 8192, 2, 1000, ("V100M32", "G2"), "LS")
    manifest = pod_manifest(whole)
    container = manifest["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "4000m", "memory": "8192Mi"}
    assert container["resources"]["claims"] == [{"name": "gpu"}]
    template = claim_template(whole)
    assert template is not None
    assert manifest["spec"]["resourceClaims"] == [
        {"name": "gpu", "resourceClaimTemplateName": template["metadata"]["name"]}
    ]
    request = template["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    assert request["count"] == 2 and "capacity" not in request
    assert request["selectors"] == [
        {"cel": {"expression": f'device.attributes["{DRIVER}"].model in ["G2", "V100M32"]'}}
    ]
    assert "affinity" not in manifest["spec"]
    shared = claim_template(TracePod("b", 1000, 1024, 1, 460, (), "BE"))
    assert shared is not None
    request = shared["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    assert request["count"] == 1 and request["capacity"] == {"requests": {"gpu-milli": "460"}}
    assert claim_template(TracePod("c", 1000, 1024, 0, 0, (), "BE")) is None


def excerpt(tmp_path: Path, rows: int = 20) -> Path:
    lines = (SAMPLE / "openb_pod_list_sample.csv").read_text().splitlines()
    path = tmp_path / "pods20.csv"
    path.write_text("\n".join(lines[: rows + 1]) + "\n")
    return path


def test_a_20_row_excerpt_imports_as_devices_and_plans_exactly(tmp_path: Path) -> None:
    doc = import_alibaba(SAMPLE / "openb_node_list_sample.csv", excerpt(tmp_path))
    kinds = Counter(item["kind"] for item in doc["items"])
    assert kinds["Pod"] == 20 and kinds["DeviceClass"] == 1
    assert kinds["Node"] == 24 and kinds["ResourceSlice"] == 20  # 4 sample nodes have no GPU
    problem = manifests_to_problem([doc], "pods20")
    assert problem.meta["unsupported"] == [] and "devices" in problem.features()
    # every GPU is its own device: 8 G2 GPUs of 1000 milli on the first node
    (gpus,) = problem.bins[0].devices
    assert gpus.count == 8 and gpus.capacity == {"gpu-milli": 1000}
    assert gpus.attributes[MODEL] == "G2" and gpus.names == tuple(f"gpu-{k}" for k in range(8))
    assert all(not b.capacity.get(GPU_MILLI) and not b.capacity.get(GPU) for b in problem.bins)
    # the 20 rows (checked by hand): 1 CPU-only pod; 4 x 1 whole GPU (1 of them T4 only);
    # 12 shares (250 x7, 500 x5; T4 or G2|V100M32 for 5 of them); 2, 4 (G2) and 8 whole GPUs
    shapes: Counter[tuple[object, ...]] = Counter()
    for item in problem.items:
        request = item.devices
        if request is None:
            shapes[("cpu",)] += item.count
            continue
        models = tuple(request.select.get(MODEL, ()))
        share = request.share["gpu-milli"] if request.share else None
        shapes[(request.count, share, models)] += item.count
    assert shapes == {
        ("cpu",): 1,
        (1, None, ()): 3,
        (1, None, ("T4",)): 1,
        (1, 250, ()): 5,
        (1, 250, ("G2", "V100M32")): 1,
        (1, 250, ("T4",)): 1,
        (1, 500, ()): 1,
        (1, 500, ("G2", "V100M32")): 2,
        (1, 500, ("T4",)): 2,
        (2, None, ()): 1,
        (4, None, ("G2",)): 1,
        (8, None, ()): 1,
    }
    for backend in ("greedy", "cpsat", "milp"):
        plan = solve(problem, backend, time_limit=20, seed=1)
        assert plan.verified and verify(problem, plan).ok, backend
        assert sum(p.count for p in plan.placements) == 20, backend
        for p in plan.placements:
            item = problem.item_by_name[p.item]
            assert (p.devices is None) == (item.devices is None)


def test_the_aggregate_relaxation_only_behind_its_flag(tmp_path: Path) -> None:
    doc = import_alibaba(
        SAMPLE / "openb_node_list_sample.csv", excerpt(tmp_path), aggregate_gpus=True
    )
    assert not any(item["kind"] in ("ResourceSlice", "DeviceClass") for item in doc["items"])
    problem = manifests_to_problem([doc], "pods20")
    assert "devices" not in problem.features()
    assert problem.bins[0].capacity[GPU_MILLI] == 8000
    shares = [i for i in problem.items if i.demand.get(GPU_MILLI) in (250, 500)]
    assert shares and all(GPU not in i.demand for i in shares)


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
    assert any(i.devices is not None and MODEL in i.devices.select for i in problem.items)
    demand = sum(
        (i.devices.share or {}).get("gpu-milli", 1000) * i.devices.count * i.count
        for i in problem.items
        if i.devices is not None
    )
    capacity = sum(g.count * g.capacity["gpu-milli"] for b in problem.bins for g in b.devices)
    assert 1.0 <= demand / capacity < 1.2
    solution = solve(problem, "greedy", time_limit=10, threads=1)
    assert solution.verified and verify(problem, solution).ok


def test_relaxed_sample_keeps_the_gpu_metrics(shared_data: Path) -> None:
    d = shared_data / TRACE
    doc = import_alibaba(
        d / "openb_node_list_gpu_node.csv",
        d / "openb_pod_list_gpuspec33.csv",
        sample_nodes=25,
        demand_ratio=1.05,
        seed=3,
        aggregate_gpus=True,
    )
    problem = manifests_to_problem([doc], "alibaba-sample")
    assert any(i.allowed is not None for i in problem.items)  # gpu_spec -> node affinity
    solution = solve(problem, "greedy", time_limit=10, threads=1)
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


def test_every_openb_pod_list_imports(shared_data: Path, tmp_path: Path) -> None:
    """All the trace's pod lists (the multigpu ones have no gpu_spec nor qos column), each as
    its header and first 30 rows, import as devices."""
    d = shared_data / TRACE
    lists = sorted(d.glob("openb_pod_list_*.csv"))
    assert len(lists) >= 17
    headers = set()
    for path in lists:
        lines = path.read_text().splitlines()
        headers.add(lines[0])
        cut = tmp_path / path.name
        cut.write_text("\n".join(lines[:31]) + "\n")
        doc = import_alibaba(SAMPLE / "openb_node_list_sample.csv", cut)
        pods = [item for item in doc["items"] if item["kind"] == "Pod"]
        assert len(pods) == 30, path.name
        if ",qos," in lines[0]:  # the qos column becomes a label
            assert all(QOS_LABEL in pod["metadata"]["labels"] for pod in pods), path.name
        problem = manifests_to_problem([doc], path.stem)
        assert problem.meta["unsupported"] == [], path.name
    assert len(headers) >= 2  # both header layouts were read


def test_a_list_without_gpu_spec_and_qos_columns(tmp_path: Path) -> None:
    pods = tmp_path / "multigpu.csv"
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
        "a,12000,16384,1,1000\nb,4000,8192,2,1000\nc,2000,4096,1,300\nd,1000,1024,0,0\n"
    )
    doc = import_alibaba(SAMPLE / "openb_node_list_sample.csv", pods)
    by_name = {i["metadata"]["name"]: i for i in doc["items"] if i["kind"] == "Pod"}
    assert set(by_name) == {"a", "b", "c", "d"}
    assert "resourceClaims" not in by_name["d"]["spec"]
    assert all(QOS_LABEL not in pod["metadata"]["labels"] for pod in by_name.values())
    templates = {
        i["metadata"]["name"]: i["spec"]["spec"]["devices"]["requests"][0]["exactly"]
        for i in doc["items"]
        if i["kind"] == "ResourceClaimTemplate"
    }
    assert sorted(r["count"] for r in templates.values()) == [1, 1, 2]
    assert not any("selectors" in r for r in templates.values())
    assert [r["capacity"] for r in templates.values() if "capacity" in r] == [
        {"requests": {"gpu-milli": "300"}}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,cpu_milli,memory_mib,gpu_milli\na,1,1,0\n", "missing column(s) num_gpu"),
        ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,2,500\n", "line 2: gpu_milli"),
        ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,1,1500\n", "line 2: gpu_milli"),
        ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1\n", "line 2: row ends before"),
        ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,x,0,0\n", "line 2: memory_mib"),
        ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n", "no pods"),
    ],
)
def test_a_malformed_pod_list_is_one_line_naming_file_and_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    pods = tmp_path / "pods.csv"
    pods.write_text(text)
    out = tmp_path / "c.yaml"
    args = ["import", "alibaba-gpu", str(SAMPLE / "openb_node_list_sample.csv"), str(pods)]
    with pytest.raises(SystemExit) as code:
        main([*args, "-o", str(out)])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pods.csv" in err and message in err, err
    assert not out.exists()
