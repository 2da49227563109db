"""The LP bound with devices: pooled per class of alike bins, tightened per device by
dual-feasible functions, and never below what a plan can place."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from engine.io import problem_from_dict
from engine.ir import Problem
from engine.solution import Status
from engine.solve import solve
from solvers.lns.bound import bin_classes, class_shares, level_bounds, lp_optimum
from solvers.lns.sizes import sizes
from solvers.lowering import lower
from tests.profiles import examples
from tests.solvers.test_devices import brute_force, device_problems


def _shares(nodes: int, gpus: int, milli: list[int], count: int) -> Problem:
    data: dict[str, Any] = {
        "name": "shares",
        "bins": [
            {
                "name": f"n{k:03d}",
                "capacity": {"cpu": "64"},
                "devices": [{"name": "gpu", "count": gpus, "capacity": {"gpu-milli": 1000}}],
            }
            for k in range(nodes)
        ],
        "items": [
            {
                "name": f"s{m}",
                "count": count,
                "demand": {"cpu": "1"},
                "devices": {"share": {"gpu-milli": m}},
            }
            for m in milli
        ],
        "objective": ["placed"],
    }
    return problem_from_dict(data)


def _placed_bound(problem: Problem) -> float | None:
    lowered = lower(problem)
    bounds, _ = level_bounds(lowered, (0.0,), time_limit=10)
    return bounds[0]


def test_shares_over_half_a_gpu_get_one_gpu_each_in_the_bound() -> None:
    """30 shares of 600 milli on 20 GPUs: pooled milli would allow 30 (12,000 of 20,000);
    one per GPU is all that fits, and the bound says 20."""
    problem = _shares(nodes=10, gpus=2, milli=[600], count=30)
    assert _placed_bound(problem) == 20.0
    plan = solve(problem, "cpsat", time_limit=20, threads=1, lns="on", lns_bins=4)
    assert plan.verified and plan.objective == (20.0,)
    assert plan.status == Status.OPTIMAL  # the plan meets the tightened bound


def test_mixed_shares_are_bounded_by_what_pairs_on_one_gpu() -> None:
    """700s pair with nothing here (every other share is 400), 400s pair with each other:
    on 12 GPUs, 12 of 700 leave no room; the best is 12 × two 400s = 24 items."""
    problem = _shares(nodes=6, gpus=2, milli=[700, 400], count=24)
    bound = _placed_bound(problem)
    assert bound is not None and 24.0 <= bound < 24 * 2 * 400 / 400  # valid and below pooled
    assert bound == 24.0


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=device_problems())
def test_the_bound_never_cuts_off_a_plan(problem: Problem) -> None:
    """On tiny device problems, the LP over classes with the per-device cuts places at least
    what the best plan (enumerated, judged by the verifier) places."""
    assume([dict(level) for level in problem.objective] == [{"placed": 1.0}])
    best = brute_force(problem)
    assume(best is not None)
    assert best is not None
    lowered = lower(problem)
    result = lp_optimum(lowered, bin_classes(lowered), {"placed": 1.0}, maximise=True)
    assert result.value is not None
    assert result.value >= best[0] - 1e-6


def test_class_shares_split_the_lp_placement_over_classes() -> None:
    """The LP's items per class add up to the LP optimum and respect each class's devices."""
    problem = _shares(nodes=6, gpus=2, milli=[700, 400], count=24)
    lowered = lower(problem)
    classes = bin_classes(lowered)
    x = class_shares(lowered, classes, sizes(lowered).volume, 10)
    assert x is not None and x.shape == (2, len(classes.members))
    assert abs(x.sum() - 24.0) < 1e-6


def test_class_shares_with_a_price_weigh_placed_and_value_as_one_level() -> None:
    """``lns_price``'s guide: at half a GPU a pod the LP puts one wide pod (2 GPUs) on every
    node, with no price two thin ones (the most pods)."""
    from tests.solvers.lns.test_driver import _few_wide

    lowered = lower(_few_wide(10))
    classes = bin_classes(lowered)
    volume = sizes(lowered).volume
    thin, wide = 0, 1
    pods_first = class_shares(lowered, classes, volume, 10)
    assert pods_first is not None and abs(pods_first[thin].sum() - 20.0) < 1e-6
    priced = class_shares(lowered, classes, volume, 10, price=0.5)
    assert priced is not None and abs(priced[wide].sum() - 10.0) < 1e-6
    assert abs(priced[thin].sum()) < 1e-6


def _tenants(small: int) -> Problem:
    """Tenant ``a`` asks for ``small`` one-cpu items, ``b`` for 30, on 2 nodes of 10 cpu."""
    return problem_from_dict(
        {
            "name": "two-tenants",
            "bins": [{"name": f"n{k}", "capacity": {"cpu": "10"}} for k in range(2)],
            "tenants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}],
            "items": [
                {"name": "a1", "count": small, "demand": {"cpu": "1"}, "tenant": "a"},
                {"name": "b1", "count": 30, "demand": {"cpu": "1"}, "tenant": "b"},
            ],
            "objective": ["fairness", "placed"],
        }
    )


def test_fairness_is_bounded_by_the_tenant_that_runs_everything_it_asks() -> None:
    """``a`` runs both its items whatever happens: the minimum share is at most 2/20 = 0.1
    (``b`` could reach 20/20/2 = 0.5); ``placed`` is then bounded by capacity alone."""
    bounds, _ = level_bounds(lower(_tenants(2)), (0.1, 20.0), time_limit=10)
    assert bounds == (0.1, 20.0)
    # a plan short of the fairness bound gets no bound on later levels
    bounds, _ = level_bounds(lower(_tenants(2)), (0.05, 20.0), time_limit=10)
    assert bounds == (0.1, None)
    # with 12 items, a's ceiling (12/20 = 0.6) is above b's (20/20/2 = 0.5)
    bounds, _ = level_bounds(lower(_tenants(12)), (0.4, 20.0), time_limit=10)
    assert bounds[0] == 0.5


def test_a_weighted_objective_holds_earlier_levels_at_their_own_weights() -> None:
    """GPUs placed among plans placing at least P pods (one node: 6 cpu, 8 GPUs; whole-GPU
    pods take 1 cpu, quarter-GPU pods half a cpu). The held level counts pods, not GPUs."""
    data: dict[str, Any] = {
        "name": "pods-then-gpus",
        "bins": [
            {
                "name": "n",
                "capacity": {"cpu": "6"},
                "devices": [{"name": "gpu", "count": 8, "capacity": {"gpu-milli": 1000}}],
            }
        ],
        "items": [
            {"name": "whole", "count": 6, "demand": {"cpu": "1"}, "devices": {"count": 1}},
            {
                "name": "quarter",
                "count": 8,
                "demand": {"cpu": "500m"},
                "devices": {"share": {"gpu-milli": 250}},
            },
        ],
        "objective": ["placed"],
    }
    lowered = lower(problem_from_dict(data))
    classes = bin_classes(lowered)
    gpus = np.array([1.0 if g.name == "whole" else 0.25 for g in lowered.problem.items])

    def most_gpus(pods: float | None) -> float | None:
        held = [] if pods is None else [({"placed": 1.0}, True, pods)]
        result = lp_optimum(
            lowered, classes, {"placed": 1.0}, maximise=True, weights=gpus, fixed=held
        )
        return result.value

    assert most_gpus(None) == pytest.approx(6.0, rel=1e-5)  # six whole pods, no quarter
    assert most_gpus(8) == pytest.approx(5.0, rel=1e-5)  # 4 whole + 4 quarters
    assert most_gpus(10) == pytest.approx(4.0, rel=1e-5)  # the most pods: 2 whole + 8 quarters
    assert most_gpus(11) is None  # no plan places 11 pods
