"""The per-device state never over-allocates a node or a GPU, whatever is asked of it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.gpu.check import check_placements
from engine.gpu.cluster import Cluster, ClusterState, OverAllocation, Placement, Pod
from engine.gpu.policies import POLICIES, make_policy
from engine.gpu.simulate import run_online
from engine.gpu.trace import NodeTable, PodTable
from tests.profiles import examples

from .example import SHARE, example_state

MODELS = ("G2", "T4")


@st.composite
def clusters(draw: st.DrawFn) -> NodeTable:
    n = draw(st.integers(1, 5))
    gpus = draw(st.lists(st.sampled_from([0, 1, 2, 4, 8]), min_size=n, max_size=n))
    return NodeTable(
        names=tuple(f"n{i}" for i in range(n)),
        cpu=np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))) * 1000,
        memory=np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))) * 1024,
        gpus=np.array(gpus),
        model=np.array([draw(st.sampled_from([0, 1])) if g else -1 for g in gpus]),
        models=MODELS,
    )


pods = st.builds(
    lambda cpu, mem, kind, milli, spec: Pod(
        cpu=cpu * 500,
        memory=mem * 512,
        num_gpu=kind,
        gpu_milli=0 if kind == 0 else (milli if kind == 1 else 1000),
        spec=spec if kind else (),
    ),
    st.integers(0, 8),
    st.integers(0, 4),
    st.sampled_from([0, 1, 1, 1, 2, 4]),
    st.sampled_from([50, 300, 470, 810, 1000]),
    st.sampled_from([(), ("G2",), ("T4",), ("G2", "T4")]),
)


@settings(max_examples=examples(150), deadline=None)
@given(
    nodes=clusters(),
    asks=st.lists(
        st.tuples(pods, st.integers(0, 5), st.lists(st.integers(-1, 8), max_size=5)), max_size=40
    ),
)
def test_state_refuses_every_over_allocation(
    nodes: NodeTable, asks: list[tuple[Pod, int, list[int]]]
) -> None:
    state = ClusterState(Cluster(nodes))
    accepted: list[tuple[Pod, Placement]] = []
    for pod, node, gpus in asks:
        placement = Placement(node, tuple(gpus))
        before = (state.cpu_free.copy(), state.mem_free.copy(), state.gpu_free.copy())
        try:
            state.place(pod, placement)
        except OverAllocation:
            # a refused placement leaves the state as it was
            assert all(
                np.array_equal(a, b)
                for a, b in zip(
                    before, (state.cpu_free, state.mem_free, state.gpu_free), strict=True
                )
            )
            continue
        accepted.append((pod, placement))
    assert (state.cpu_free >= 0).all() and (state.mem_free >= 0).all()
    assert (state.gpu_free >= 0).all() and (state.gpu_free <= 1000).all()
    assert (state.gpu_free[~state.cluster.gpu_exists] == 0).all()
    table = _table([p for p, _ in accepted])
    order = np.arange(len(accepted))
    node = np.array([pl.node for _, pl in accepted], dtype=np.int64)
    assert check_placements(nodes, table, order, node, [pl.gpus for _, pl in accepted]) == []
    assert state.allocated_milli == sum(p.gpu_request for p, _ in accepted)


@settings(max_examples=examples(40), deadline=None)
@given(
    nodes=clusters(),
    arrivals=st.lists(pods, min_size=1, max_size=30),
    policy=st.sampled_from(sorted(POLICIES)),
)
def test_policies_place_only_what_fits(nodes: NodeTable, arrivals: list[Pod], policy: str) -> None:
    table = _table(arrivals)
    result = run_online(
        Cluster(nodes), table, np.arange(len(arrivals)), make_policy(policy), seed=1
    )
    assert check_placements(nodes, table, result.order, result.node, result.gpus) == []
    # a pod stays pending only when no node could take it at its arrival
    replay = ClusterState(Cluster(nodes))
    for k, pod in enumerate(arrivals):
        if result.node[k] < 0:
            assert not replay.fits(pod).any()
        else:
            replay.place(pod, Placement(int(result.node[k]), result.gpus[k]))


def _table(arrivals: list[Pod]) -> PodTable:
    specs = sorted({p.spec for p in arrivals} | {()})
    return PodTable(
        names=tuple(f"p{i}" for i in range(len(arrivals))),
        cpu=np.array([p.cpu for p in arrivals], dtype=np.int64),
        memory=np.array([p.memory for p in arrivals], dtype=np.int64),
        num_gpu=np.array([p.num_gpu for p in arrivals], dtype=np.int64),
        gpu_milli=np.array([p.gpu_milli for p in arrivals], dtype=np.int64),
        spec=np.array([specs.index(p.spec) for p in arrivals], dtype=np.int64),
        specs=tuple(specs),
    )


@pytest.mark.parametrize(
    ("placement", "why"),
    [
        (Placement(0, (0,)), "lack 300"),  # GPU 0 of a has 500 free: fits; then asked twice below
        (Placement(5, (0,)), "out of range"),
        (Placement(1, ()), "distinct GPU"),
        (Placement(1, (0, 1)), "distinct GPU"),
        (Placement(2, (3,)), "no GPU"),
        (Placement(1, (-1,)), "no GPU"),
    ],
)
def test_place_refuses(placement: Placement, why: str) -> None:
    state = example_state()
    if why == "lack 300":
        state.place(SHARE, placement)  # 500 → 200 free
        with pytest.raises(OverAllocation, match="lack 300"):
            state.place(SHARE, placement)
        return
    with pytest.raises(OverAllocation, match=why):
        state.place(SHARE, placement)


def test_place_refuses_a_model_the_pod_does_not_accept() -> None:
    state = example_state()
    with pytest.raises(OverAllocation, match="GPU model not in"):
        state.place(SHARE._replace(spec=("G2",)), Placement(0, (1,)))
    with pytest.raises(OverAllocation, match="not enough CPU"):
        state.place(SHARE._replace(cpu=9000), Placement(2, (0,)))
