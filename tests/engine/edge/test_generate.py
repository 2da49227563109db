"""The seeded edge generator: reproducible, connected, sized as asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.edge.generate import generate_topology
from engine.edge.topology import TIER_LABEL, build_problem, parse_topology
from engine.io import load


def test_same_seed_same_topology_and_sizes() -> None:
    a = generate_topology(30, 4, 2, tasks_per_device=2, graph_density=0.5, seed=7)
    assert a == generate_topology(30, 4, 2, tasks_per_device=2, graph_density=0.5, seed=7)
    assert a != generate_topology(30, 4, 2, tasks_per_device=2, graph_density=0.5, seed=8)
    tiers = [n["tier"] for n in a["nodes"]]
    assert (tiers.count("device"), tiers.count("edge"), tiers.count("cloud")) == (30, 4, 2)
    assert len(a["tasks"]) == 60
    assert a["service_graph"]


def test_builds_connected_with_every_tier() -> None:
    p = build_problem(parse_topology(generate_topology(40, 5, 1, seed=3)))
    assert {b.labels[TIER_LABEL] for b in p.bins} == {"device", "edge", "cloud"}
    assert sum(i.count for i in p.items) == 120
    assert not p.traffic
    # a device only runs its own tasks
    for item in p.items:
        devices = [b for b in item.allowed or () if p.bin_by_name[b].labels[TIER_LABEL] == "device"]
        assert devices in ([], [item.meta["source"]])


@pytest.mark.parametrize("density", [0.0, 1.0])
def test_graph_density_bounds(density: float) -> None:
    doc = generate_topology(10, 2, 1, tasks_per_device=3, graph_density=density, seed=1)
    flows = doc["service_graph"]
    if density == 0:
        assert flows == []
    else:  # every chain link, and every device after the first behind an edge server
        assert len(flows) >= 10 * 2


def test_only_cloud_is_fine() -> None:
    p = build_problem(parse_topology(generate_topology(3, 0, 1, seed=0)))
    assert {b.labels[TIER_LABEL] for b in p.bins} == {"device", "cloud"}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_topology(1, 0, 0)
    with pytest.raises(ValueError):
        generate_topology(1, 1, 1, graph_density=2.0)


def test_cli_generate_topology_and_ir(tmp_path: Path) -> None:
    topo = tmp_path / "edge.yaml"
    args = ["generate", "edge", "--devices", "12", "--edge", "2", "--cloud", "1"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--graph-density", "0.4", "--seed", "5", "-o", str(topo)])
    assert info.value.code == 0
    assert yaml.safe_load(topo.read_text("utf-8"))["kind"] == "EdgeTopology"
    from_topology = load(topo)
    ir = tmp_path / "edge-ir.json"
    with pytest.raises(SystemExit) as info:
        main([*args, "--graph-density", "0.4", "--seed", "5", "--ir", "-o", str(ir)])
    assert info.value.code == 0
    assert load(ir) == from_topology
    with pytest.raises(SystemExit) as info:
        main([*args[:2], "--edge", "0", "--cloud", "0", "-o", str(ir)])
    assert info.value.code == 2
