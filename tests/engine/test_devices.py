"""Devices in the IR and the verifier, on hand-checked cases.

A node with two GPUs of 1000 milli-GPU each; every case says in its name what the verifier must
find. The plans are written by hand (no backend involved).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import InputError
from engine.io import load, problem_from_dict
from engine.ir import Problem
from engine.solution import Placement, Solution, Status
from engine.verify import verify, verify_counts

GPU = "gpu-milli"
MODEL = "gpu.example.com/model"


def cluster(*items: dict[str, Any], movable: bool = False) -> Problem:
    return problem_from_dict(
        {
            "name": "gpus",
            "bins": [
                {
                    "name": "n1",
                    "capacity": {"cpu": "8"},
                    "devices": [
                        {
                            "name": "gpu",
                            "count": 2,
                            "capacity": {GPU: 1000},
                            "attributes": {MODEL: "G2"},
                        }
                    ],
                },
                {
                    "name": "n2",
                    "capacity": {"cpu": "8"},
                    "devices": [
                        {
                            "name": "gpu",
                            "count": 1,
                            "capacity": {GPU: 1000},
                            "attributes": {MODEL: "T4"},
                        },
                        {"name": "nic", "count": 1, "capacity": {"vf": 4}},
                    ],
                },
            ],
            "items": list(items),
        }
    )


def plan(problem: Problem, *rows: tuple[str, str, int, tuple[str, ...] | None]) -> Solution:
    return Solution(
        problem=problem.name,
        backend="hand",
        status=Status.FEASIBLE,
        placements=tuple(Placement(item=i, bin=b, count=n, devices=d) for i, b, n, d in rows),
    )


def problems_found(problem: Problem, solution: Solution) -> list[str]:
    return [str(v) for v in verify(problem, solution).violations]


SHARE = {"name": "share", "count": 3, "demand": {"cpu": "1"}, "devices": {"share": {GPU: 350}}}
BIG = {"name": "big", "count": 1, "devices": {"share": {GPU: 700}}}
WHOLE = {"name": "whole", "count": 2, "devices": {"count": 1}}


def test_a_share_that_fits_the_node_total_but_no_single_gpu_is_rejected() -> None:
    # 350 + 350 on gpu-0, 350 on gpu-1: 1300 milli free on the node, 650 on gpu-1 at most
    p = cluster(SHARE, BIG)
    ok = plan(p, ("share", "n1", 2, ("gpu-0",)), ("share", "n1", 1, ("gpu-1",)))
    assert verify(p, ok).ok
    bad = plan(
        p,
        ("share", "n1", 2, ("gpu-0",)),
        ("share", "n1", 1, ("gpu-1",)),
        ("big", "n1", 1, ("gpu-1",)),
    )
    found = problems_found(p, bad)
    assert found == ["devices: n1/gpu-1: gpu-milli 1050 > 1k"]


def test_two_shares_on_one_gpu_may_fill_it_exactly() -> None:
    p = cluster({"name": "half", "count": 2, "devices": {"share": {GPU: 500}}})
    assert verify(p, plan(p, ("half", "n1", 2, ("gpu-1",)))).ok


def test_whole_gpu_items_never_share_a_device() -> None:
    p = cluster(WHOLE, SHARE)
    two_whole = plan(p, ("whole", "n1", 2, ("gpu-0",)))
    assert problems_found(p, two_whole) == ["devices: n1/gpu-0: 2 items each take the whole device"]
    whole_and_share = plan(p, ("whole", "n1", 1, ("gpu-0",)), ("share", "n1", 1, ("gpu-0",)))
    assert problems_found(p, whole_and_share) == [
        "devices: n1/gpu-0: taken whole, yet 1 share(s) use it too"
    ]
    apart = plan(p, ("whole", "n1", 1, ("gpu-0",)), ("whole", "n1", 1, ("gpu-1",)))
    assert verify(p, apart).ok


def test_a_whole_device_of_no_capacity_still_has_one_user() -> None:
    p = problem_from_dict(
        {
            "bins": [{"name": "n", "devices": [{"name": "fpga", "count": 1}]}],
            "items": [{"name": "w", "count": 2, "devices": {}}],
        }
    )
    found = problems_found(p, plan(p, ("w", "n", 2, ("fpga-0",))))
    assert found == ["devices: n/fpga-0: 2 items each take the whole device"]


def test_an_item_on_several_devices_needs_distinct_ones_of_its_bin() -> None:
    p = cluster({"name": "pair", "count": 1, "devices": {"count": 2, "share": {GPU: 100}}})
    assert verify(p, plan(p, ("pair", "n1", 1, ("gpu-0", "gpu-1")))).ok
    same = problems_found(p, plan(p, ("pair", "n1", 1, ("gpu-0", "gpu-0"))))
    assert same == [
        "devices: n1: pair: each item needs 2 distinct device(s), the plan names ['gpu-0', 'gpu-0']"
    ]
    short = problems_found(p, plan(p, ("pair", "n1", 1, ("gpu-0",))))
    assert short == [
        "devices: n1: pair: each item needs 2 distinct device(s), the plan names ['gpu-0']"
    ]
    elsewhere = problems_found(p, plan(p, ("pair", "n2", 1, ("gpu-0", "gpu-1"))))
    assert elsewhere == ["devices: n2: pair: n2 has no device 'gpu-1'"]


def test_attributes_must_match_select() -> None:
    p = cluster({"name": "g2", "count": 1, "devices": {"select": {MODEL: ["G2", "A10"]}}})
    assert verify(p, plan(p, ("g2", "n1", 1, ("gpu-0",)))).ok
    found = problems_found(p, plan(p, ("g2", "n2", 1, ("gpu-0",))))
    assert found == [
        "devices: n2/gpu-0: g2: the device's attributes do not match "
        "{'gpu.example.com/model': ('G2', 'A10')}"
    ]
    # a device without the attribute never matches
    assert problems_found(p, plan(p, ("g2", "n2", 1, ("nic-0",))))


def test_every_placed_item_names_its_devices_and_only_those_that_request_some() -> None:
    p = cluster(SHARE, {"name": "cpu", "count": 1, "demand": {"cpu": "1"}})
    unnamed = problems_found(p, plan(p, ("share", "n1", 2, None)))
    assert unnamed == ["devices: n1: share: 2 item(s) placed, devices named for 0"]
    partly = problems_found(p, plan(p, ("share", "n1", 1, ("gpu-0",)), ("share", "n1", 1, None)))
    assert partly == ["devices: n1: share: 2 item(s) placed, devices named for 1"]
    stray = problems_found(p, plan(p, ("cpu", "n1", 1, ("gpu-0",))))
    assert stray == ["devices: n1: cpu requests no devices, but the plan names devices for 1"]


def test_device_resources_are_per_device_not_node_capacity() -> None:
    # the node has no gpu-milli capacity of its own: devices are separate from node resources
    p = cluster(BIG)
    report = verify(p, plan(p, ("big", "n1", 1, ("gpu-0",))))
    assert report.ok and not any(v.check == "capacity" for v in report.violations)


def running(movable: bool) -> Problem:
    return cluster(
        {
            "name": "run",
            "count": 2,
            "devices": {"share": {GPU: 600}},
            "placed": {"n1": 1},
            "placed_devices": {"n1": [["gpu-1"]]},
            "movable": movable,
        },
        {"name": "new", "count": 1, "devices": {"share": {GPU: 600}}, "placed": {}},
    )


def test_items_that_may_not_move_keep_their_devices() -> None:
    p = running(movable=False)
    kept = plan(p, ("run", "n1", 1, ("gpu-1",)), ("run", "n1", 1, ("gpu-0",)))
    assert verify(p, kept).ok
    moved = plan(p, ("run", "n1", 1, ("gpu-0",)), ("new", "n1", 1, ("gpu-1",)))
    found = problems_found(p, moved)
    assert (
        "pinned: n1: run: 1 item(s) run on ['gpu-1'] and may not move, the plan keeps 0 there"
        in found
    )
    movable = running(movable=True)
    assert verify(
        movable, plan(movable, ("run", "n1", 1, ("gpu-0",)), ("new", "n1", 1, ("gpu-1",)))
    ).ok


def test_running_items_use_their_devices_capacity() -> None:
    p = running(movable=False)
    crowded = plan(p, ("run", "n1", 1, ("gpu-1",)), ("new", "n1", 1, ("gpu-1",)))
    assert problems_found(p, crowded) == ["devices: n1/gpu-1: gpu-milli 1200 > 1k"]


def test_verify_counts_judges_device_rows_too() -> None:
    p = cluster(SHARE)
    assert verify_counts(p, {("share", "n1"): 2}, {("share", "n1"): [(("gpu-0",), 2)]}).ok
    assert not verify_counts(p, {("share", "n1"): 2}).ok  # no devices named


def test_the_value_term_weighs_placed_items() -> None:
    p = problem_from_dict(
        {
            "bins": [{"name": "n", "capacity": {"cpu": "2"}}],
            "items": [
                {"name": "a", "count": 2, "demand": {"cpu": "1"}, "value": 460},
                {"name": "b", "count": 1, "demand": {"cpu": "1"}},
            ],
            "objective": ["value", "placed"],
        }
    )
    report = verify_counts(p, {("a", "n"): 1, ("b", "n"): 1})
    assert report.objective == (461.0, 2.0)
    assert report.terms["value"] == 461.0


# ------------------------------------------------------------------ the IR side


def test_old_ir_files_load_unchanged(instances: Any) -> None:
    for path in sorted(instances.glob("*.yaml")):
        try:
            problem = load(path)
        except InputError:
            continue  # manifests that are not IR files load through the adapter
        assert "devices" not in problem.features()
        assert all(not b.devices for b in problem.bins)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"bins": [{"name": "n", "devices": [{"name": "g", "count": 2}, {"name": "g"}]}]},
            "bins[0]: devices[1]: duplicate device group 'g'",
        ),
        (
            {
                "bins": [
                    {
                        "name": "n",
                        "devices": [{"name": "g", "count": 2}, {"name": "x", "names": ["g-1"]}],
                    }
                ]
            },
            "bins[0]: devices[1]: duplicate device name 'g-1'",
        ),
        (
            {"bins": [{"name": "n", "devices": [{"name": "g", "count": 2, "names": ["a"]}]}]},
            "bins[0].devices[0]: 1 names for 2 devices",
        ),
        (
            {"items": [{"name": "i", "devices": {"share": {GPU: 0}}}]},
            "items[0].devices.share: a share needs a positive amount of some device resource",
        ),
        (
            {"items": [{"name": "i", "devices": {"count": 0}}]},
            "items[0].devices.count: Input should be greater than 0",
        ),
        (
            {"items": [{"name": "i", "devices": {"select": {MODEL: []}}}]},
            "items[0].devices.select: gpu.example.com/model: a value or a non-empty list",
        ),
        (
            {"items": [{"name": "i", "devices": {}, "placed": {"n": 1}}]},
            "items[0].placed_devices: 1 item(s) already on n request devices",
        ),
        (
            {
                "items": [
                    {
                        "name": "i",
                        "devices": {},
                        "placed": {"n": 1},
                        "placed_devices": {"n": [["gpu-7"]]},
                    }
                ]
            },
            "items[0].placed_devices.n[0]: bin 'n' has no device 'gpu-7'",
        ),
        (
            {
                "items": [
                    {
                        "name": "i",
                        "devices": {"count": 2},
                        "placed": {"n": 1},
                        "placed_devices": {"n": [["gpu-0"]]},
                    }
                ]
            },
            "items[0].placed_devices.n[0]: 2 distinct device(s) per item",
        ),
        (
            {"items": [{"name": "i", "placed": {"n": 1}, "placed_devices": {"n": [["gpu-0"]]}}]},
            "items[0].placed_devices: placed_devices given, but the item requests no devices",
        ),
        (
            {"items": [{"name": "i", "value": -1}]},
            "items[0].value: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_device_input_names_the_field(change: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {"bins": [{"name": "n", "devices": [{"name": "gpu", "count": 2}]}]}
    data.update(change)
    with pytest.raises(InputError) as caught:
        problem_from_dict(data, "f.yaml")
    assert str(caught.value).startswith(f"f.yaml: {message}")


def test_schema_shows_the_device_fields() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    defs = schema["$defs"]
    assert {"count", "share", "select"} <= set(defs["DeviceRequest"]["properties"])
    assert {"name", "count", "capacity", "attributes", "names"} <= set(
        defs["DeviceGroup"]["properties"]
    )
    assert "devices" in defs["Bin"]["properties"]
    assert {"devices", "placed_devices", "value"} <= set(defs["ItemGroup"]["properties"])


def test_device_problems_round_trip_through_a_file(tmp_path: Any) -> None:
    from engine.io import dump_problem

    p = running(movable=False)
    path = tmp_path / "p.yaml"
    dump_problem(p, path)
    assert load(path) == p
    solution = plan(p, ("run", "n1", 1, ("gpu-1",)))
    again = Solution.model_validate_json(solution.to_json())
    assert again.placements[0].devices == ("gpu-1",)


def test_the_summary_shows_device_use_per_node() -> None:
    from rich.console import Console

    from engine.summary import print_summary

    p = cluster(SHARE, WHOLE)
    solution = plan(
        p,
        ("share", "n1", 2, ("gpu-0",)),
        ("whole", "n1", 1, ("gpu-1",)),
        ("share", "n2", 1, ("gpu-0",)),
    )
    console = Console(record=True, width=200)
    print_summary(console, p, solution)
    text = console.export_text()
    assert "1,700/2,000 gpu-milli (85%)" in text  # 2 x 350 + a whole GPU of 1000
    assert "350/1,000 gpu-milli (35%); 0/4 vf (0%)" in text
