"""A neighbourhood's sub-problem is exact: a sub-plan is valid exactly when the merged plan is,
and the objective terms move by the same amounts in both (fairness is equal outright)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.strategies import problems
from engine.ir import Problem
from engine.verify import term_values, verify_counts
from solvers.base import Options
from solvers.greedy.backend import GreedyBackend
from solvers.lns.subproblem import restrict
from solvers.lowering import lower
from tests.profiles import examples

ADDITIVE = ("cost", "bins_used", "soft", "traffic")


@st.composite
def with_traffic(draw: st.DrawFn) -> Problem:
    """Random problems of every constraint kind, some with traffic between groups and delays."""
    p = draw(problems(max_bins=6, max_groups=4, max_count=3))
    if len(p.items) < 2 or not draw(st.booleans()):
        return p
    names = [b.name for b in p.bins]
    delays: dict[str, dict[str, float]] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if draw(st.integers(0, 5)):  # sometimes missing: that pair is forbidden
                delays.setdefault(a, {})[b] = float(draw(st.integers(0, 5)))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(p.items), st.sampled_from(p.items)), min_size=1, max_size=2
        )
    )
    traffic = [
        {"items": [a.name, b.name], "volume": float(draw(st.integers(1, 4)))} for a, b in pairs
    ]
    objective = [*p.model_dump(by_alias=True)["objective"], {"traffic": 1.0}]
    data: dict[str, Any] = {
        **p.model_dump(by_alias=True),
        "traffic": traffic,
        "delays": delays,
        "objective": objective[-3:],
    }
    return Problem.model_validate(data)


def _incumbent(problem: Problem) -> dict[tuple[str, str], int] | None:
    plan = GreedyBackend().solve(problem, Options(time_limit=5))
    if not plan.status.has_plan:
        return None
    counts = plan.counts()
    return counts if verify_counts(problem, counts).ok else None


@settings(
    max_examples=examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(problem=with_traffic(), data=st.data())
def test_sub_plans_are_valid_exactly_when_merged_plans_are(problem: Problem, data: Any) -> None:
    incumbent = _incumbent(problem)
    assume(incumbent is not None)
    assert incumbent is not None
    names = [b.name for b in problem.bins]
    inside = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    lowered = lower(problem)
    sub = restrict(lowered, incumbent, inside)
    hint = sub.hint(incumbent)
    start = verify_counts(sub.problem, hint)
    assert start.ok, start.violations  # the incumbent is a plan of its own neighbourhood
    whole_start = term_values(problem, incumbent)
    sub_start = term_values(sub.problem, hint)
    real = [g for g in sub.problem.items if g.name not in sub.ghosts]
    for _ in range(8):  # random sub-plans, valid or not
        plan = dict(sub.ghost_placements)
        for g in real:
            left = g.count
            for b in sorted(set(g.allowed or ()) | set(g.placed)):
                n = data.draw(st.integers(0, min(left, 2)))
                if n:
                    plan[(g.name, b)] = n
                    left -= n
        merged = sub.merge(plan)
        in_sub, in_whole = verify_counts(sub.problem, plan), verify_counts(problem, merged)
        assert in_sub.ok == in_whole.ok, (in_sub.violations, in_whole.violations)
        if not in_sub.ok:
            continue
        whole, part = term_values(problem, merged), term_values(sub.problem, plan)
        for term in ADDITIVE:
            assert abs((whole[term] - whole_start[term]) - (part[term] - sub_start[term])) < 1e-6
        if any("fairness" in level for level in problem.objective):
            assert abs(whole["fairness"] - part["fairness"]) < 1e-9
        if len({g.priority for g in problem.items}) == 1:
            assert whole["placed"] - whole_start["placed"] == part["placed"] - sub_start["placed"]


@st.composite
def with_devices(draw: st.DrawFn) -> Problem:
    """2–5 bins with 0–3 GPUs (model A or B), 2–4 groups asking whole GPUs, shares of one or two
    GPUs, or none; some items already run on b0 (naming their GPUs), movable or not."""
    bins: list[dict[str, Any]] = []
    for b in range(draw(st.integers(2, 5))):
        gpus = draw(st.integers(0, 3))
        bin_: dict[str, Any] = {"name": f"b{b}", "capacity": {"cpu": "4"}}
        if gpus:
            bin_["devices"] = [
                {
                    "name": "gpu",
                    "count": gpus,
                    "capacity": {"gpu": draw(st.sampled_from([2, 4]))},
                    "attributes": {"model": draw(st.sampled_from(["A", "B"]))},
                }
            ]
        bins.append(bin_)
    items: list[dict[str, Any]] = []
    for i in range(draw(st.integers(2, 4))):
        item: dict[str, Any] = {
            "name": f"g{i}",
            "count": draw(st.integers(1, 3)),
            "demand": {"cpu": draw(st.sampled_from(["0", "1"]))},
        }
        kind = draw(st.sampled_from(["whole", "share", "share", "none"]))
        if kind != "none":
            request: dict[str, Any] = {"count": draw(st.sampled_from([1, 1, 2]))}
            if kind == "share":
                request["share"] = {"gpu": draw(st.integers(1, 2))}
            if draw(st.booleans()):
                request["select"] = {"model": draw(st.sampled_from(["A", "B"]))}
            item["devices"] = request
        items.append(item)
    first, on_b0 = items[0], bins[0].get("devices")
    if "devices" in first and on_b0 and first["devices"]["count"] <= on_b0[0]["count"]:
        if draw(st.booleans()):
            first["placed"] = {"b0": 1}
            first["placed_devices"] = {
                "b0": [[f"gpu-{k}" for k in range(first["devices"]["count"])]]
            }
            first["movable"] = draw(st.booleans())
    objective = draw(st.sampled_from([["placed"], ["value", "placed"]]))
    from engine.io import problem_from_dict

    return problem_from_dict({"name": "gpus", "bins": bins, "items": items, "objective": objective})


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(problem=with_devices(), data=st.data())
def test_device_sub_plans_are_valid_exactly_when_merged_plans_are(
    problem: Problem, data: Any
) -> None:
    """Sub-problems carry devices: items already running keep naming theirs, the incumbent's
    device rows are a valid hint, and a sub-plan's device rows merged with the fixed rest's are
    valid in the whole problem exactly when they are in the sub-problem."""
    plan = GreedyBackend().solve(problem, Options(time_limit=5))
    assume(plan.status.has_plan)
    counts, rows = plan.counts(), plan.device_rows()
    assume(verify_counts(problem, counts, rows).ok)
    names = [b.name for b in problem.bins]
    inside = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    sub = restrict(lower(problem), counts, inside)
    hint, hint_rows = sub.hint(counts), sub.hint_devices(rows)
    start = verify_counts(sub.problem, hint, hint_rows)
    assert start.ok, start.violations
    real = [g for g in sub.problem.items if g.name not in sub.ghosts]
    by_name = {b.name: b for b in sub.problem.bins}
    for _ in range(6):  # random sub-plans with random device choices, valid or not
        plan_counts = dict(sub.ghost_placements)
        plan_rows: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
        for g in real:
            left = g.count
            for b in sorted(set(g.allowed or ()) | set(g.placed)):
                n = data.draw(st.integers(0, min(left, 2)))
                if not n:
                    continue
                plan_counts[(g.name, b)] = n
                left -= n
                if g.devices is not None:
                    devices = [d for dg in by_name[b].devices for d in dg.device_names]
                    if len(devices) < g.devices.count:
                        continue  # names no devices: invalid on both sides
                    plan_rows[(g.name, b)] = [
                        (
                            tuple(
                                data.draw(
                                    st.lists(
                                        st.sampled_from(devices),
                                        min_size=g.devices.count,
                                        max_size=g.devices.count,
                                        unique=True,
                                    )
                                )
                            ),
                            1,
                        )
                        for _ in range(n)
                    ]
        merged = sub.merge(plan_counts)
        merged_rows = sub.merge_devices(rows, plan_rows)
        in_sub = verify_counts(sub.problem, plan_counts, plan_rows)
        in_whole = verify_counts(problem, merged, merged_rows)
        assert in_sub.ok == in_whole.ok, (in_sub.violations, in_whole.violations)


def test_unlabelled_bin_with_a_selected_non_target_is_no_lone_target() -> None:
    """A bin without the rule's topology label is a domain where no target counts: a selected
    non-target fixed there breaks the soft affinity whatever the neighbourhood does, so the
    selected target beside it must not turn into a lone-target ghost (hypothesis found it)."""
    bins = [
        {
            "name": f"b{i}",
            "capacity": {"cpu": 0, "memory": 1 << 30, "pods": 4},
            "labels": {"kubernetes.io/hostname": f"b{i}"},
        }
        for i in range(2)
    ]
    pod = {"cpu": 0, "memory": 0, "pods": 1}
    problem = Problem.model_validate(
        {
            "apiVersion": "placer/v1",
            "kind": "Problem",
            "name": "lone",
            "bins": bins,
            "items": [
                {"name": "g0", "count": 3, "demand": pod, "labels": {"app": "g0", "tier": "b"}},
                {"name": "g1", "count": 1, "demand": pod, "labels": {"app": "g1", "tier": "b"}},
            ],
            "constraints": [
                {
                    "kind": "affinity",
                    "weight": 0.5,
                    "selector": {"tier": "b"},
                    "target": {"app": "g0"},
                    "topology": "topology.kubernetes.io/zone",
                }
            ],
            "objective": [{"placed": 1.0}],
        }
    )
    incumbent = {("g0", "b0"): 2, ("g0", "b1"): 1, ("g1", "b1"): 1}
    sub = restrict(lower(problem), incumbent, ["b0"])
    hint = sub.hint(incumbent)
    emptied = dict(sub.ghost_placements)  # g0 taken off b0
    whole = (
        term_values(problem, sub.merge(emptied))["soft"] - term_values(problem, incumbent)["soft"]
    )
    part = term_values(sub.problem, emptied)["soft"] - term_values(sub.problem, hint)["soft"]
    assert whole == part == -0.5
