"""A copy of an IR model with new fields answers its cached lookups from the new fields."""

from __future__ import annotations

import pytest

from engine.ir import Bin, Problem


def _problem() -> Problem:
    return Problem.model_validate(
        {
            "bins": [{"name": "a", "capacity": {"cpu": "2"}}],
            "items": [{"name": "w", "count": 1, "demand": {"cpu": "1"}, "value": 1.0}],
        }
    )


def test_problem_lookups_follow_the_copy() -> None:
    p = _problem()
    assert p.item_by_name["w"].value == 1.0 and set(p.bin_by_name) == {"a"}  # cached now
    assert p.resources == ("cpu",) and p.total_capacity == {"cpu": 2000}
    items = [p.items[0].model_copy(update={"value": 5.0, "demand": {"gpu": 1}})]
    bins = [Bin.model_validate({"name": "b", "capacity": {"cpu": "4", "gpu": "1"}})]
    q = p.model_copy(update={"items": items, "bins": bins})
    assert q.item_by_name["w"].value == 5.0
    assert set(q.bin_by_name) == {"b"}
    assert q.resources == ("cpu", "gpu")
    assert q.total_capacity == {"cpu": 4000, "gpu": 1}
    # the original keeps its own, and a copy without changes may keep them
    assert p.item_by_name["w"].value == 1.0 and set(p.bin_by_name) == {"a"}
    assert p.model_copy().item_by_name["w"].value == 1.0


def test_bin_device_lookup_follows_the_copy() -> None:
    b = Bin.model_validate(
        {
            "name": "n",
            "capacity": {"cpu": "8"},
            "devices": [{"name": "g", "count": 2, "capacity": {"memory": "16Gi"}}],
        }
    )
    assert set(b.device_group_of) == {"g-0", "g-1"}
    c = b.model_copy(update={"devices": ()})
    assert c.device_group_of == {} and set(b.device_group_of) == {"g-0", "g-1"}


def test_domains_are_built_once_per_label_and_follow_the_copy() -> None:
    p = Problem.model_validate(
        {
            "bins": [
                {"name": "a", "capacity": {"cpu": "2"}, "labels": {"zone": "z1"}},
                {"name": "b", "capacity": {"cpu": "2"}},
            ],
            "items": [{"name": "w", "count": 1, "demand": {"cpu": "1"}}],
        }
    )
    assert dict(p.domain_of("zone")) == {"a": "z1"} and dict(p.domain_of("rack")) == {}
    assert p.domain_of("zone") is p.domain_of("zone")
    with pytest.raises(TypeError):
        p.domain_of("zone")["b"] = "z2"  # type: ignore[index]
    bins = [p.bins[0].model_copy(update={"labels": {"zone": "z9"}}), p.bins[1]]
    assert dict(p.model_copy(update={"bins": bins}).domain_of("zone")) == {"a": "z9"}
