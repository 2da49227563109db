"""Importers on the shared EdgeSimPy and iFogSim samples, checked against the derived CSVs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.edge.importers import (
    edgesimpy_to_topology,
    ifogsim_to_topology,
    read_app_graph,
)
from engine.edge.topology import TIER_LABEL, build_problem, parse_topology
from engine.errors import InputError
from engine.io import load


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("dataset", ["sample_dataset1", "sample_dataset2"])
def test_edgesimpy_latency_is_wireless_plus_switch_path(shared_data: Path, dataset: str) -> None:
    folder = shared_data / "edge" / "edgesimpy"
    data = json.loads((folder / f"{dataset}.json").read_text(encoding="utf-8"))
    p = build_problem(parse_topology(edgesimpy_to_topology(data, name=dataset)))
    servers = _rows(folder / f"{dataset}_edge_servers.csv")
    users = _rows(folder / f"{dataset}_users.csv")
    services = _rows(folder / f"{dataset}_services.csv")
    matrix_rows = _rows(folder / f"{dataset}_switch_delay_matrix.csv")
    key = next(iter(matrix_rows[0]))  # the row-label column
    matrix = {r[key]: {k: float(v) for k, v in r.items() if k != key} for r in matrix_rows}
    assert len(p.bins) == len(servers) == 6
    assert all(b.labels[TIER_LABEL] == "edge" for b in p.bins)
    assert len(p.items) == len(services) == 6
    user_of_app = {u["application_ids"]: u for u in users}
    for service, item in zip(services, p.items, strict=True):
        user = user_of_app[service["application_id"]]
        sla = float(user["delay_sla"].split(":")[1])
        assert item.meta["max_latency"] == sla
        assert item.demand == {
            "cpu": 1000 * int(service["cpu_demand"]),
            "memory": int(service["memory_demand"]) * 2**20,
        }
        for server in servers:
            expected = (
                float(user["wireless_delay"])
                + matrix[user["access_switch_id"]][server["switch_id"]]
            )
            name = f"server-{server['server_id']}"
            if expected <= sla:
                assert item.cost[name] == pytest.approx(expected), (item.name, name)
            else:
                assert name not in (item.allowed or ())


def test_edgesimpy_registry_takes_server_capacity(shared_data: Path) -> None:
    data = json.loads((shared_data / "edge/edgesimpy/sample_dataset1.json").read_text("utf-8"))
    p = build_problem(parse_topology(edgesimpy_to_topology(data)))
    # server 5 (12 cores, 16384 MB) also runs the container registry (1 core, 1024 MB)
    assert p.bin_by_name["server-5"].capacity["cpu"] == 11000
    assert p.bin_by_name["server-5"].capacity["memory"] == (16384 - 1024) * 2**20
    assert p.bin_by_name["server-1"].capacity["cpu"] == 8000


def test_ifogsim_vr_game(shared_data: Path) -> None:
    data = json.loads((shared_data / "edge/ifogsim/vr_game_topo.json").read_text("utf-8"))
    graph = read_app_graph(shared_data / "edge/ifogsim/app_graphs.csv")
    p = build_problem(parse_topology(ifogsim_to_topology(data, app_graph=graph)))
    tiers = {b.name: b.labels[TIER_LABEL] for b in p.bins}
    assert tiers["cloud"] == "cloud"
    assert {n for n, t in tiers.items() if t == "edge"} == {"proxy-server", "d1", "d2"}
    assert {n for n, t in tiers.items() if t == "device"} == {"m-0-0", "m-0-1", "m-1-0", "m-1-1"}
    # 4 EEG sensors x 3 VRGame modules; client<->concentration edges merge into one pair
    assert len(p.items) == 12
    assert len(p.traffic) == 12
    client = p.item_by_name["s-0-0/client"]
    # 3000 MI / 20000 MIPS = 150 ms; path s-0-0 -> m-0-0 -> d1 -> proxy -> cloud = 210 ms;
    # 500 B over the 10000 MB/s bottleneck adds 0.00005 ms
    assert client.cost["cloud"] == pytest.approx(360.00005)
    # on its own phone (1400 MIPS in this JSON): 3000 / 1400 s plus the 6 ms sensor link
    assert client.cost["m-0-0"] == pytest.approx(1000 * 3000 / 1400 + 6, rel=1e-6)


def test_default_app_graph_matches_the_shared_csv(shared_data: Path) -> None:
    from engine.edge.importers import DEFAULT_APP_GRAPH

    csv_graph = read_app_graph(shared_data / "edge/ifogsim/app_graphs.csv")
    kept = tuple(r for r in csv_graph if r[5] in ("SENSOR", "MODULE"))
    assert kept == DEFAULT_APP_GRAPH


def test_ifogsim_unknown_sensor_types_get_a_generic_task(shared_data: Path) -> None:
    data = json.loads((shared_data / "edge/ifogsim/routerTopology.json").read_text("utf-8"))
    p = build_problem(parse_topology(ifogsim_to_topology(data)))
    assert sorted(i.name for i in p.items) == ["temp-0/process", "temp-1/process"]
    assert {b.labels[TIER_LABEL] for b in p.bins} == {"cloud", "edge", "device"}
    assert not p.traffic


def test_importers_refuse_other_json() -> None:
    with pytest.raises(InputError):
        edgesimpy_to_topology({"nodes": []})
    with pytest.raises(InputError):
        ifogsim_to_topology({"EdgeServer": []})
    with pytest.raises(InputError, match="needs FOG_DEVICE"):
        ifogsim_to_topology({"nodes": [{"name": "s", "type": "SENSOR"}], "links": []})


def test_cli_imports_write_ir(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "es.yaml"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "import",
                "edgesimpy",
                str(shared_data / "edge/edgesimpy/sample_dataset2.json"),
                "-o",
                str(out),
            ]
        )
    assert info.value.code == 0
    p = load(out)
    assert p.kind == "Problem" and p.meta["family"] == "edge" and len(p.items) == 6
    out2 = tmp_path / "vr.json"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "import",
                "ifogsim",
                str(shared_data / "edge/ifogsim/dcns_game_topo.json"),
                "-o",
                str(out2),
            ]
        )
    assert info.value.code == 0
    assert len(load(out2).traffic) == 12


def test_cli_import_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"EdgeServer": [], "User": [{"attributes": {}}]}', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["import", "edgesimpy", str(bad), "-o", str(tmp_path / "o.yaml")])
    assert info.value.code == 2
