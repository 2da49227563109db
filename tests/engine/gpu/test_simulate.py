"""Arrival lists of the FGD experiment and the allocation-ratio curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.gpu.cluster import Cluster
from engine.gpu.policies import make_policy
from engine.gpu.simulate import allocation_curve, run_online
from engine.gpu.trace import PodTable, read_nodes, read_pods
from engine.gpu.workload import (
    arrival_order,
    median_of,
    shape_distribution,
    typical_of,
    typical_shapes,
)

DATA = Path(__file__).parent / "data"


def test_arrivals_are_the_list_then_draws_up_to_the_target() -> None:
    pods = read_pods(DATA / "openb_pods_excerpt.csv")
    capacity = 40_000  # the excerpt asks 32,490 milli-GPU; 1.3 × capacity = 52,000
    order = arrival_order(pods, capacity, ratio=1.3, seed=42)
    request = pods.num_gpu * pods.gpu_milli
    assert sorted(order[: len(pods)].tolist()) == list(range(len(pods)))  # every pod once first
    total = int(request[order].sum())
    assert total <= 1.3 * capacity
    assert len(order) > len(pods)
    assert np.array_equal(order, arrival_order(pods, capacity, ratio=1.3, seed=42))
    assert not np.array_equal(order, arrival_order(pods, capacity, ratio=1.3, seed=43))


def test_a_list_above_the_target_loses_random_pods() -> None:
    pods = read_pods(DATA / "openb_pods_excerpt.csv")
    order = arrival_order(pods, 20_000, ratio=1.0, seed=1)
    assert len(set(order.tolist())) == len(order) < len(pods)
    assert int((pods.num_gpu * pods.gpu_milli)[order].sum()) <= 20_000


def test_allocation_curve_by_hand() -> None:
    capacity = 1000
    arrived = np.array([0, 4, 10, 16, 20, 26])  # 0, 0.4, 1, 1.6, 2, 2.6 % → 0, 0, 1, 2, 2, 3
    allocated = np.array([0, 4, 10, 10, 12, 18])  # 0, 0.4, 1.0, 1.0, 1.2, 1.8 %
    curve = allocation_curve(arrived, allocated, capacity, top=5)
    assert curve[0] == 0.2  # mean of 0 and 0.4
    assert curve[1] == 1.0
    assert curve[2] == 1.1  # mean of 1.0 and 1.2
    assert curve[3] == 1.8
    assert curve[4] == 1.8  # nothing rounds to 4: the arrivals at 3..5
    assert np.isnan(curve[5]) is np.False_ or np.isnan(curve[5])


def test_typical_shapes_cover_95_percent() -> None:
    pods = read_pods(DATA / "openb_pods_excerpt.csv")
    shares = shape_distribution(pods)
    assert abs(sum(s.weight for s in shares) - 1) < 1e-12
    assert shares[0].num_gpu == 1 and shares[0].gpu_milli == 1000 and shares[0].cpu == 12000
    typical = typical_shapes(pods, 0.5)
    assert abs(sum(s.weight for s in typical) - 1) < 1e-12
    assert len(typical) < len(shares)


def test_run_on_the_excerpt() -> None:
    nodes = read_nodes(DATA / "openb_nodes_excerpt.csv")
    pods = read_pods(DATA / "openb_pods_excerpt.csv")
    cluster = Cluster(nodes)
    order = arrival_order(pods, cluster.capacity_milli, seed=42)
    result = run_online(cluster, pods, order, make_policy("fgd"), seed=42)
    assert result.allocated_milli[-1] == result.state.allocated_milli
    assert (np.diff(result.allocated_milli) >= 0).all()
    assert result.pending == int((result.node < 0).sum())
    curve = result.curve()
    seen = curve[~np.isnan(curve)]
    assert seen.size > 50 and (seen <= 100).all() and (np.diff(seen) >= -1e-9).all()


def test_shapes_carry_their_median_memory() -> None:
    """Memory is not part of a shape; each shape carries the (lower) median of its pods'."""
    table = PodTable(
        names=tuple("abcdef"),
        cpu=np.array([2000, 2000, 2000, 2000, 4000, 4000]),
        memory=np.array([300, 100, 200, 900, 50, 70]),
        num_gpu=np.array([1, 1, 1, 1, 0, 0]),
        gpu_milli=np.array([500, 500, 500, 500, 0, 0]),
        spec=np.zeros(6, dtype=np.int64),
        specs=((),),
    )
    shares = shape_distribution(table)
    assert [(s.cpu, s.weight, s.memory) for s in shares] == [(2000, 4 / 6, 200), (4000, 2 / 6, 50)]
    typical = typical_of(shares, 0.5)  # the first shape alone, re-weighted, memory kept
    assert [(s.weight, s.memory) for s in typical] == [(1.0, 200)]
    assert median_of({7: 1}) == 7 and median_of({}) == 0
