"""Each scorer on the three-node example of ``example.py``, scores worked out by hand.

State: a has 12 CPUs free and GPUs [500, 1000] free (one share pod on GPU 0), b is empty (32 CPUs,
4 × 1000), c is empty (8 CPUs, 1 × 1000). The arriving pod: 2 CPUs, a 300-milli share.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.gpu.cluster import Cluster, ClusterState, Placement, Pod
from engine.gpu.policies import POLICIES, make_policy
from engine.gpu.trace import NodeTable, PodTable

from .example import NODES, SHARE, WORKLOAD, example_state


def scores(name: str, pod: Pod = SHARE) -> tuple[list[float], Placement | None]:
    state = example_state()
    policy = make_policy(name)
    policy.prepare(state.cluster, WORKLOAD)
    feasible = state.fits(pod)
    s = policy.score(state, pod, feasible)
    return [float(x) for x in s], policy.place(state, pod, np.random.default_rng(0))


def test_dotprod() -> None:
    # 100·(1 − ½(cpu_free/128 CPUs · 2/128 + gpu_free/8 GPUs · 0.3/8)), truncated
    # a: 1 − ½(0.09375·0.015625 + 0.1875·0.0375) = 0.99575 → 99; b: 0.98867 → 98; c: 0.99717 → 99
    s, placed = scores("dotprod")
    assert s == [99, 98, 99]
    assert placed == Placement(0, (0,))  # a and c tie: the first in tie order; tightest GPU


def test_dotprod_tie_follows_the_tie_order() -> None:
    state = example_state()
    state.tie_rank = np.array([2, 1, 0])
    policy = make_policy("dotprod")
    policy.prepare(state.cluster, WORKLOAD)
    assert policy.place(state, SHARE, np.random.default_rng(0)) == Placement(2, (0,))


def test_bestfit() -> None:
    # 100·(1 − ½(cpu_left/128 CPUs) − ½(gpu_left/8 GPUs)) after placing, truncated
    # a: ½·10/128 + ½·1.2/8 = 0.11406 → 88; b: ½·30/128 + ½·3.7/8 = 0.34844 → 65; c: → 93
    s, placed = scores("bestfit")
    assert s == [88, 65, 93]
    assert placed == Placement(2, (0,))


def test_gpu_clustering() -> None:
    # a holds only GPU-sharing pods: 75 + ⌊25·(8000 − 1500)/8000⌋ = 95
    # b, c hold no GPU pod: 25 + ⌊25·(8000 − 4000)/8000⌋ = 37 and 25 + ⌊25·7000/8000⌋ = 46
    s, placed = scores("gpu-clustering")
    assert s == [95, 37, 46]
    assert placed == Placement(0, (0,))


def test_gpu_packing() -> None:
    # a: the share fits a shared GPU (500 free): 100 − ⌊⌊500·100/1000⌋/10⌋ = 95
    # b, c are idle: max(33 − idle GPUs, idle GPUs) = 29 and 32
    s, placed = scores("gpu-packing")
    assert s == [95, 29, 32]
    assert placed == Placement(0, (0,))
    whole = Pod(cpu=2000, memory=1024, num_gpu=1, gpu_milli=1000)
    s, placed = scores("gpu-packing", whole)
    assert s == [49, 29, 32]  # a free GPU of a used node: 50 − 1
    assert placed == Placement(0, (1,))


def test_fgd() -> None:
    # typical shapes: 300-share 2 CPUs (½), whole GPU 4 CPUs (¼), CPU-only (¼)
    # F = G − ½·(free on GPUs ≥ 300 if hosted) − ¼·(free on GPUs ≥ 1000 if hosted)
    # a: F = 1500 − 750 − 250 = 500; share on GPU 0 → [200, 1000]: 1200 − 500 − 250 = 450,
    #    Δ = 50 → ⌊100·σ(0.05)⌋ = 51; on GPU 1 → [500, 700]: 1200 − 600 = 600, Δ = −100 → 47
    # b: 4000 − 2000 − 1000 = 1000 → 3700 − 1850 − 750 = 1100: Δ = −100 → 47
    # c: 1000 − 500 − 250 = 250 → 700 − 350 = 350: Δ = −100 → 47
    s, placed = scores("fgd")
    assert s == [51, 47, 47]
    assert placed == Placement(0, (0,))


def test_fgd_whole_gpu_and_cpu_only() -> None:
    whole = Pod(cpu=4000, memory=1024, num_gpu=1, gpu_milli=1000)
    # a → [500, 0], 8 CPUs: 500 − 250 = 250, Δ = 250 → ⌊100·σ(0.25)⌋ = 56
    # b → 3 free: 3000 − 1500 − 750 = 750, Δ = 250 → 56; c → nothing free: 0, Δ = 250 → 56
    s, placed = scores("fgd", whole)
    assert s == [56, 56, 56]
    assert placed == Placement(0, (1,))
    cpu_only = Pod(cpu=7000, memory=1024, num_gpu=0, gpu_milli=0)
    # c keeps 1 CPU: neither GPU shape fits any more, F 250 → 1000, Δ = −750 → 32;
    # a keeps 5 CPUs, b 25: nothing changes, Δ = 0 → 50
    s, placed = scores("fgd", cpu_only)
    assert s == [50, 50, 32]
    assert placed == Placement(0, ())


def test_random_reaches_every_node_and_gpu() -> None:
    seen = set()
    for seed in range(60):
        state = example_state()
        policy = make_policy("random")
        policy.prepare(state.cluster, WORKLOAD)
        placed = policy.place(state, SHARE, np.random.default_rng(seed))
        assert placed is not None
        seen.add(placed)
    # any node that fits, and a share on any GPU that fits
    everywhere = {Placement(0, (0,)), Placement(0, (1,)), Placement(2, (0,))}
    assert seen == everywhere | {Placement(1, (i,)) for i in range(4)}


def test_nothing_fits() -> None:
    huge = Pod(cpu=64000, memory=1024, num_gpu=1, gpu_milli=300)
    for name in POLICIES:
        state = example_state()
        policy = make_policy(name)
        policy.prepare(state.cluster, WORKLOAD)
        assert policy.place(state, huge, np.random.default_rng(0)) is None


def test_model_restriction_is_a_filter() -> None:
    g2_only = Pod(cpu=2000, memory=1024, num_gpu=1, gpu_milli=300, spec=("G2",))
    for name in POLICIES:
        state = example_state()
        policy = make_policy(name)
        policy.prepare(state.cluster, WORKLOAD)
        placed = policy.place(state, g2_only, np.random.default_rng(0))
        assert placed is not None and NODES.names[placed.node] == "b", name


def test_unknown_policy() -> None:
    with pytest.raises(InputError, match="unknown policy 'tetris'; known: random, dotprod"):
        make_policy("tetris")


def test_placer() -> None:
    # the primary score is FGD's: the share goes to a, GPU 0, as there
    s, placed = scores("placer")
    assert s == [51, 47, 47]
    assert placed == Placement(0, (0,))
    # r = CPU per milli-GPU of the workload's GPU pods = (2000 + 2000 + 4000) / (300 + 300 + 1000) = 5
    # a whole GPU with 4 CPUs: FGD ties a, b, c at 56; |cpu_left − 5·gpu_left| after placing:
    # a |8000 − 2500| = 5500, b |28000 − 15000| = 13000, c |4000 − 0| = 4000 → c
    _, placed = scores("placer", Pod(cpu=4000, memory=1024, num_gpu=1, gpu_milli=1000))
    assert placed == Placement(2, (0,))
    # 7 CPUs without GPU: FGD ties a and b at 50; CPU left over what the free GPUs need,
    # cpu_free − 7000 − 5·gpu_free: a 12000 − 7000 − 7500 < 0, b 32000 − 7000 − 20000 ≥ 0 → b
    _, placed = scores("placer", Pod(cpu=7000, memory=1024, num_gpu=0, gpu_milli=0))
    assert placed == Placement(1, ())
    # two whole GPUs: only b fits
    _, placed = scores("placer", Pod(cpu=4000, memory=1024, num_gpu=2, gpu_milli=1000))
    assert placed == Placement(1, (0, 1))


def test_placer_keeps_large_nodes_whole_for_multi_gpu_shapes() -> None:
    """y: 4 GPUs, 17.5 CPUs; x: 1 GPU, 16 CPUs (both T4). The workload: 50 one-GPU pods of
    4 CPUs, 44 shares of 300 milli with 2 CPUs, 3 two-GPU pods of 8 CPUs (typical: the first
    95 %, so all three shapes, the two-GPU one at 3/97) and 3 CPU-only pods (left out).

    A one-GPU pod of 4 CPUs: on x FGD's fragmentation falls by 1000 · 3/97 = 31 (x's lone GPU
    was useless to two-GPU pods), on y it stays (y still hosts every shape): ⌊100·σ(0.031)⌋ =
    ⌊100·σ(0)⌋ = 50, a tie. r = (50·4000 + 44·2000 + 3·8000) / (50·1000 + 44·300 + 3·2000) =
    4.509 CPU-milli per milli-GPU; |cpu_left − r·gpu_left| is |13500 − 4.509·3000| = 27 on y and
    |12000 − 0| on x, so balance alone picks y. But y could host a two-GPU pod and x could not:
    the pod goes to x. Without the two-GPU pods in the workload it goes to y."""
    nodes = NodeTable(
        names=("y", "x"),
        cpu=np.array([17500, 16000]),
        memory=np.array([1 << 20, 1 << 20]),
        gpus=np.array([4, 1]),
        model=np.array([0, 0]),
        models=("T4",),
    )

    def workload(two_gpu: int) -> PodTable:
        shapes = [(4000, 1, 1000)] * 50 + [(2000, 1, 300)] * 44
        shapes += [(8000, 2, 1000)] * two_gpu + [(1000, 0, 0)] * 3
        cpu, num_gpu, milli = (np.array(c) for c in zip(*shapes, strict=True))
        return PodTable(
            names=tuple(f"p{i}" for i in range(len(shapes))),
            cpu=cpu,
            memory=np.full(len(shapes), 1024),
            num_gpu=num_gpu,
            gpu_milli=milli,
            spec=np.zeros(len(shapes), dtype=np.int64),
            specs=((),),
        )

    one_gpu = Pod(cpu=4000, memory=1024, num_gpu=1, gpu_milli=1000)
    picks = {}
    for two_gpu in (3, 0):
        state = ClusterState(Cluster(nodes))
        policy = make_policy("placer")
        policy.prepare(state.cluster, workload(two_gpu))
        assert policy.score(state, one_gpu, state.fits(one_gpu)).tolist() == [50, 50]
        placed = policy.place(state, one_gpu, np.random.default_rng(0))
        assert placed is not None
        picks[two_gpu] = nodes.names[placed.node]
    assert picks == {3: "x", 0: "y"}


def test_placer_counts_memory_in_the_measure() -> None:
    """q and p: T4 nodes with 2 idle GPUs and 32 CPUs; q has 64 GiB of memory free, p 4 GiB.
    The workload: a whole GPU with 4 CPUs and 8 GiB, a 300-milli share with 2 CPUs and 1 GiB
    (weights ½, ½). The arriving pod: such a share.

    FGD (memory left out): on either node the share leaves GPU 0 at 700 free, which the whole
    shape cannot use: F grows by ½·700 = 350, ⌊100·σ(−0.35)⌋ = 41 on both; the tie goes to q,
    the first node. placer: p never hosted the whole shape (8 GiB > 4 GiB), so all its 2000
    free milli were fragment to it, ½·2000, and 1700 are after: F falls by 150,
    ⌊100·σ(0.15)⌋ = 53; q as FGD, 41. The share goes to p and q stays whole."""
    nodes = NodeTable(
        names=("q", "p"),
        cpu=np.array([32000, 32000]),
        memory=np.array([65536, 4096]),
        gpus=np.array([2, 2]),
        model=np.array([0, 0]),
        models=("T4",),
    )
    workload = PodTable(
        names=("w", "s"),
        cpu=np.array([4000, 2000]),
        memory=np.array([8192, 1024]),
        num_gpu=np.array([1, 1]),
        gpu_milli=np.array([1000, 300]),
        spec=np.array([0, 0]),
        specs=((),),
    )
    share = Pod(cpu=2000, memory=1024, num_gpu=1, gpu_milli=300)
    expected = {"fgd": ([41, 41], "q"), "placer": ([41, 53], "p")}
    for name, (want, node) in expected.items():
        state = ClusterState(Cluster(nodes))
        policy = make_policy(name)
        policy.prepare(state.cluster, workload)
        assert policy.score(state, share, state.fits(share)).tolist() == want, name
        placed = policy.place(state, share, np.random.default_rng(0))
        assert placed is not None and nodes.names[placed.node] == node, name
