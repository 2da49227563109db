"""Devices through the lowering and the backends.

The exact backends (cpsat, milp) must reach the brute-force optimum on tiny device problems:
every plan is enumerated (each group's new items over every (bin, device set), as multisets)
and judged by the verifier, which shares no code with them. greedy must always give plans the
verifier accepts, allocate devices like a device plugin, and never give a whole device twice.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import UnsupportedProblem
from engine.io import problem_from_dict
from engine.ir import Problem
from engine.solution import Status
from engine.solve import solve
from engine.verify import verify, verify_counts
from solvers.lowering import lower
from solvers.lowering.devices import items_on
from tests.profiles import examples

TINY = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def device_problems(draw: st.DrawFn) -> Problem:
    """1–2 bins with 0–3 GPUs (capacity 2–4 units, model A or B), 2–3 groups of 1–2 items:
    whole devices, shares (1 or 2 devices each) or no device, some restricted to a model, some
    with a value; sometimes one item of g0 already runs on b0 (and may not move)."""
    n_bins = draw(st.integers(1, 2))
    bins = []
    for b in range(n_bins):
        devices = draw(st.integers(0, 3 if n_bins == 1 else 2))
        bin_: dict[str, Any] = {
            "name": f"b{b}",
            "capacity": {"cpu": draw(st.sampled_from(["1", "2"]))},
        }
        if devices:
            bin_["devices"] = [
                {
                    "name": "gpu",
                    "count": devices,
                    "capacity": {"gpu": draw(st.sampled_from([2, 3, 4]))},
                    "attributes": {"model": draw(st.sampled_from(["A", "B"]))},
                }
            ]
        bins.append(bin_)
    items = []
    for i in range(draw(st.integers(2, 3))):
        item: dict[str, Any] = {
            "name": f"g{i}",
            "count": draw(st.integers(1, 2)),
            "demand": {"cpu": draw(st.sampled_from(["0", "500m", "1"]))},
            "value": draw(st.sampled_from([1, 2, 5])),
        }
        kind = draw(st.sampled_from(["whole", "share", "share", "none"]))
        if kind != "none":
            request: dict[str, Any] = {"count": draw(st.sampled_from([1, 1, 2]))}
            if kind == "share":
                request["share"] = {"gpu": draw(st.integers(1, 3))}
            if draw(st.booleans()):
                request["select"] = {"model": draw(st.sampled_from(["A", "B"]))}
            item["devices"] = request
        items.append(item)
    first = items[0]
    on_b0 = bins[0].get("devices")
    if "devices" in first and on_b0 and first["devices"]["count"] <= on_b0[0]["count"]:
        if draw(st.booleans()):
            need = first["devices"]["count"]
            first["placed"] = {"b0": 1}
            first["placed_devices"] = {"b0": [[f"gpu-{k}" for k in range(need)]]}
    objective = draw(st.sampled_from([["placed"], ["value", "placed"]]))
    return problem_from_dict({"name": "tiny", "bins": bins, "items": items, "objective": objective})


def brute_force(p: Problem) -> tuple[float, ...] | None:
    """The best objective over every plan the verifier accepts (None: no valid plan)."""
    per_group = []
    for g in p.items:
        if g.devices is None:
            options: list[tuple[str, tuple[str, ...] | None]] = [(b.name, None) for b in p.bins]
        else:
            options = [
                (b.name, combo)
                for b in p.bins
                for combo in itertools.combinations(
                    [d for group in b.devices for d in group.device_names], g.devices.count
                )
            ]
        new = g.count - g.placed_total
        choices = [
            combo
            for m in range(new + 1)
            for combo in itertools.combinations_with_replacement(options, m)
        ]
        per_group.append(choices)
    best: tuple[float, ...] | None = None
    for pick in itertools.product(*per_group):
        counts: dict[tuple[str, str], int] = defaultdict(int)
        rows: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        for g, chosen in zip(p.items, pick, strict=True):
            for b, n in g.placed.items():
                counts[(g.name, b)] += n
                for names in g.placed_devices.get(b, ()):
                    rows[(g.name, b)].append((tuple(names), 1))
            for b, names in chosen:
                counts[(g.name, b)] += 1
                if names is not None:
                    rows[(g.name, b)].append((names, 1))
        report = verify_counts(p, counts, rows)
        if report.ok and (best is None or report.objective > best):
            best = report.objective
    return best


@pytest.mark.parametrize("backend", ["cpsat", "milp"])
@TINY
@given(p=device_problems())
def test_exact_backends_reach_the_brute_force_optimum(backend: str, p: Problem) -> None:
    best = brute_force(p)
    plan = solve(p, backend, time_limit=20, seed=1)
    if best is None:
        assert plan.status == Status.INFEASIBLE, plan.info
        return
    assert plan.status == Status.OPTIMAL, plan.info
    assert plan.verified
    assert plan.objective == pytest.approx(best)


@TINY
@given(p=device_problems())
def test_greedy_plans_are_valid_device_by_device(p: Problem) -> None:
    plan = solve(p, "greedy", seed=3)
    if plan.status.has_plan:
        assert verify(p, plan).ok
    else:  # only when items that may not move already break the rules
        assert brute_force(p) is None


# ------------------------------------------------------------------ hand-checked cases


def gpu_node(*items: dict[str, Any], gpus: int = 4, nodes: int = 1) -> Problem:
    return problem_from_dict(
        {
            "bins": [
                {
                    "name": f"n{k}",
                    "capacity": {"cpu": "64"},
                    "devices": [{"name": "gpu", "count": gpus, "capacity": {"gpu-milli": 1000}}],
                }
                for k in range(nodes)
            ],
            "items": list(items),
        }
    )


def test_greedy_puts_a_share_on_the_tightest_gpu_that_fits() -> None:
    p = problem_from_dict(
        {
            "bins": [
                {
                    "name": "n0",
                    "capacity": {"cpu": "64"},
                    "devices": [{"name": "gpu", "count": 3, "capacity": {"gpu-milli": 1000}}],
                }
            ],
            "items": [
                {"name": "a", "count": 1, "devices": {"share": {"gpu-milli": 600}}, "priority": 3},
                {"name": "b", "count": 1, "devices": {"share": {"gpu-milli": 300}}, "priority": 2},
                {"name": "c", "count": 1, "devices": {"share": {"gpu-milli": 400}}, "priority": 1},
            ],
        }
    )
    plan = solve(p, "greedy", seed=0)
    rows = {pl.item: pl.devices for pl in plan.placements}
    # a: all free, lowest index; b: tightest is gpu-0 (400 left); c: gpu-0 has 100, gpu-1 1000
    assert rows == {"a": ("gpu-0",), "b": ("gpu-0",), "c": ("gpu-1",)}


def test_greedy_gives_whole_gpus_to_one_item_each() -> None:
    p = gpu_node(
        {"name": "w2", "count": 2, "devices": {"count": 2}, "priority": 1},
        {"name": "s", "count": 2, "devices": {"share": {"gpu-milli": 100}}},
    )
    plan = solve(p, "greedy", seed=0)
    used = [
        d
        for pl in plan.placements
        if pl.item == "w2"
        for _ in range(pl.count)
        for d in pl.devices or ()
    ]
    assert sorted(used) == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert [(pl.item, pl.count) for pl in plan.placements] == [("w2", 1), ("w2", 1)]
    assert plan.unplaced[0].reasons == "0/1 nodes are available: 1 cannot allocate all claims."


def test_a_share_split_over_two_gpus_is_not_a_fit() -> None:
    # 350 free on each of two GPUs: a 700 share fits the node's 700 free in total, no GPU
    p = gpu_node(
        {
            "name": "fill",
            "count": 2,
            "devices": {"share": {"gpu-milli": 650}},
            "placed": {"n0": 2},
            "placed_devices": {"n0": [["gpu-0"], ["gpu-1"]]},
        },
        {"name": "big", "count": 1, "devices": {"share": {"gpu-milli": 700}}},
        gpus=2,
    )
    for backend in ("cpsat", "milp", "greedy"):
        plan = solve(p, backend, time_limit=10)
        assert plan.verified
        assert {pl.item for pl in plan.placements} == {"fill"}, backend


def test_an_item_on_several_shared_gpus_gets_distinct_ones() -> None:
    p = gpu_node(
        {"name": "pair", "count": 3, "devices": {"count": 2, "share": {"gpu-milli": 500}}}, gpus=3
    )
    for backend in ("cpsat", "milp", "greedy"):
        plan = solve(p, backend, time_limit=10)
        assert plan.verified and sum(pl.count for pl in plan.placements) == 3, backend
        for pl in plan.placements:
            assert pl.devices is not None and len(set(pl.devices)) == 2


def test_qubo_refuses_devices_clearly() -> None:
    p = gpu_node({"name": "s", "devices": {"share": {"gpu-milli": 100}}})
    with pytest.raises(UnsupportedProblem, match="does not support: devices"):
        solve(p, "qubo")


def test_identical_bins_and_gpus_form_symmetry_classes() -> None:
    p = gpu_node({"name": "s", "count": 2, "devices": {"share": {"gpu-milli": 100}}}, nodes=3)
    lowered = lower(p)
    assert lowered.classes == (("n0", "n1", "n2"),)
    assert lowered.devices is not None
    assert lowered.devices.bins[0].classes == ((0, 1, 2, 3),)
    assert lowered.high[0].tolist() == [2, 2, 2]


def test_model_restrictions_and_device_fit_bound_eligibility() -> None:
    p = problem_from_dict(
        {
            "bins": [
                {
                    "name": "g2",
                    "devices": [
                        {
                            "name": "gpu",
                            "count": 2,
                            "capacity": {"m": 1000},
                            "attributes": {"model": "G2"},
                        }
                    ],
                },
                {
                    "name": "t4",
                    "devices": [
                        {
                            "name": "gpu",
                            "count": 8,
                            "capacity": {"m": 1000},
                            "attributes": {"model": "T4"},
                        }
                    ],
                },
                {"name": "none"},
            ],
            "items": [
                {"name": "s", "count": 9, "devices": {"share": {"m": 300}}},
                {"name": "g2only", "count": 5, "devices": {"count": 2, "select": {"model": "G2"}}},
                {"name": "pair", "count": 9, "devices": {"count": 3, "share": {"m": 600}}},
            ],
        }
    )
    lowered = lower(p)
    assert lowered.high.tolist() == [[6, 9, 0], [1, 0, 0], [0, 2, 0]]


def test_items_on_counts_items_needing_distinct_devices() -> None:
    assert items_on(np.array([3, 3, 3]), 1) == 9
    assert items_on(np.array([5, 1, 1]), 2) == 2  # the big device can serve each item once
    assert items_on(np.array([2, 2, 2]), 3) == 2
    assert items_on(np.array([1, 0, 0]), 2) == 0


def test_wrap_around_gives_each_item_distinct_devices() -> None:
    p = gpu_node({"name": "pair", "count": 3, "devices": {"count": 2, "share": {"gpu-milli": 100}}})
    devices = lower(p).devices
    assert devices is not None
    rows = dict(devices.rows(0, 0, {0: 3, 1: 1, 2: 2}))
    assert sum(rows.values()) == 3
    assert all(len(set(names)) == 2 for names in rows)
    uses: dict[str, int] = defaultdict(int)
    for names, n in rows.items():
        for d in names:
            uses[d] += n
    assert dict(uses) == {"gpu-0": 3, "gpu-1": 1, "gpu-2": 2}


def test_canonical_device_order_puts_heavier_gpus_first() -> None:
    p = gpu_node({"name": "s", "count": 3, "devices": {"share": {"gpu-milli": 100}}})
    lowered = lower(p)
    counts, rows = lowered.canonical_plan(
        {("s", "n0"): 3}, {("s", "n0"): [(("gpu-3",), 2), (("gpu-1",), 1)]}
    )
    assert counts == {("s", "n0"): 3}
    assert rows == {("s", "n0"): [(("gpu-0",), 2), (("gpu-1",), 1)]}


@pytest.mark.slow
def test_large_device_problems_go_to_the_search_and_name_their_devices() -> None:
    p = gpu_node(
        {"name": "s", "count": 300, "devices": {"share": {"gpu-milli": 500}}}, nodes=210, gpus=1
    )
    plan = solve(p, "cpsat", time_limit=30, lns="auto")
    assert plan.verified, plan.info
    assert plan.info["lns"]["used"]
    assert sum(pl.count for pl in plan.placements) == 300
    assert all(pl.devices is not None and len(pl.devices) == 1 for pl in plan.placements)
