"""The openb reader on a 20-row excerpt of the trace, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.gpu.trace import read_nodes, read_pods

DATA = Path(__file__).parent / "data"


def test_nodes_excerpt() -> None:
    nodes = read_nodes(DATA / "openb_nodes_excerpt.csv")
    assert len(nodes) == 20
    assert nodes.models == ("G2", "T4", "V100M32")
    assert nodes.names[0] == "openb-node-0000"
    assert nodes.model[0] == -1 and nodes.gpus[0] == 0  # CPU-only node
    g2 = nodes.names.index("openb-node-0598")
    assert (nodes.cpu[g2], nodes.memory[g2], nodes.gpus[g2]) == (96000, 393216, 8)
    assert nodes.models[nodes.model[g2]] == "G2"
    assert int(nodes.gpus.sum()) == 8 * 12 + 2 * 2 + 4
    assert int((nodes.gpus == 0).sum()) == 5


def test_pods_excerpt() -> None:
    pods = read_pods(DATA / "openb_pods_excerpt.csv")
    assert len(pods) == 20
    i = pods.names.index("openb-pod-0001")
    assert (pods.cpu[i], pods.memory[i], pods.num_gpu[i], pods.gpu_milli[i]) == (
        6000,
        12288,
        1,
        460,
    )
    assert pods.specs[pods.spec[i]] == ()
    spec = pods.specs[pods.spec[pods.names.index("openb-pod-0009")]]
    assert spec == ("V100M16", "V100M32")
    eight = pods.names.index("openb-pod-0017")
    assert (pods.num_gpu[eight], pods.gpu_milli[eight]) == (8, 1000)
    assert pods.specs[pods.spec[eight]] == ("G2",)
    cpu_only = pods.names.index("openb-pod-0005")
    assert (pods.num_gpu[cpu_only], pods.gpu_milli[cpu_only]) == (0, 0)
    expected = 1000 * (1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 8 + 8 + 2 + 4) + 460 * 2 + 440 + 810 + 320
    assert pods.total_gpu_milli() == expected
    assert pods.cpu.dtype == np.int64


def test_pod_list_without_gpu_spec_column(tmp_path: Path) -> None:
    path = tmp_path / "pods.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,10,2,1000\n")
    pods = read_pods(path)
    assert pods.specs == ((),) and int(pods.num_gpu[0]) == 2


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("p,1000,10,2,500,", "line 2: gpu_milli: a pod with 2 GPUs takes whole GPUs"),
        ("p,1000,10,0,300,", "line 2: gpu_milli: 300 milli-GPU on a pod with num_gpu 0"),
        ("p,1000,10,1,0,", "line 2: gpu_milli: 0 is not a GPU share"),
        ("p,1000,10,1,1200,", "line 2: gpu_milli: 1200 is not a GPU share"),
        ("p,-5,10,1,100,", "line 2: cpu_milli: -5 is negative"),
        ("p,1.5,10,1,100,", "line 2: cpu_milli: '1.5' is not a whole number"),
        ("p,abc,10,1,100,", "line 2: cpu_milli: 'abc' is not a whole number"),
    ],
)
def test_bad_pod_rows(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "pods.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + row + "\n")
    with pytest.raises(InputError) as err:
        read_pods(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_bad_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="cannot read"):
        read_nodes(missing)
    header_only = tmp_path / "nodes.csv"
    header_only.write_text("sn,cpu_milli,memory_mib,gpu,model\n")
    with pytest.raises(InputError, match="no nodes"):
        read_nodes(header_only)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sn,cpu,memory_mib,gpu,model\nn,1,1,0,\n")
    with pytest.raises(InputError, match="missing column\\(s\\) cpu_milli"):
        read_nodes(wrong)
    no_model = tmp_path / "nomodel.csv"
    no_model.write_text("sn,cpu_milli,memory_mib,gpu,model\nn,1,1,2,\n")
    with pytest.raises(InputError, match="line 2: model: a node with 2 GPU"):
        read_nodes(no_model)
    twice = tmp_path / "twice.csv"
    twice.write_text("sn,cpu_milli,memory_mib,gpu,model\nn,1,1,0,\nn,1,1,0,\n")
    with pytest.raises(InputError, match="listed twice"):
        read_nodes(twice)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not a UTF-8"):
        read_nodes(binary)
