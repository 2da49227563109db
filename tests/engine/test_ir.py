"""Bad input: every malformed problem gives one line naming the file, the path and the reason.

Each case runs twice: through ``engine.io.load`` on a temp file, and through the real CLI entry
point (``placer solve FILE``), which must exit 2 with that line on stderr and no traceback.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.errors import InputError
from engine.io import dump_problem, load
from engine.ir import Problem

from ..cases import bins, group, problem
from ..cli import run_placer

Mutation = Callable[[dict[str, Any]], None]

BASE: dict[str, Any] = {
    "apiVersion": "placer/v1",
    "kind": "Problem",
    "name": "bad",
    "bins": [
        {"name": "n0", "capacity": {"cpu": "4", "memory": "8Gi"}},
        {"name": "n1", "capacity": {"cpu": "4", "memory": "8Gi"}},
    ],
    "items": [
        {"name": f"g{k}", "count": 2, "demand": {"cpu": "1", "memory": "1Gi"}} for k in range(4)
    ],
    "tenants": [{"name": "team"}],
}


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting one key, addressed like 'items.3.demand.memory'."""

    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return apply


def _constraint(c: dict[str, Any]) -> Mutation:
    return _set("constraints", [c])


# (case id, mutation, expected path, expected reason fragment)
BAD_CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown top-level key", _set("colour", "red"), "colour", "unknown key"),
    ("unknown item key", _set("items.1.colour", "red"), "items[1].colour", "unknown key"),
    ("unknown bin key", _set("bins.0.size", 3), "bins[0].size", "unknown key"),
    (
        "negative quantity",
        _set("items.3.demand.memory", "-1Gi"),
        "items[3].demand.memory",
        "negative quantity",
    ),
    (
        "unparseable quantity",
        _set("bins.0.capacity.cpu", "lots"),
        "bins[0].capacity.cpu",
        "not a Kubernetes quantity",
    ),
    (
        "bad quantity suffix",
        _set("items.0.demand.memory", "1Gb"),
        "items[0].demand.memory",
        "'1Gb'",
    ),
    ("duplicate bin name", _set("bins.1.name", "n0"), "bins[1].name", "duplicate name 'n0'"),
    ("duplicate item name", _set("items.2.name", "g0"), "items[2].name", "duplicate name 'g0'"),
    (
        "unknown bin in allowed",
        _set("items.0.allowed", ["n9"]),
        "items[0].allowed",
        "unknown bin 'n9'",
    ),
    (
        "unknown bin in placed",
        _set("items.1.placed", {"n9": 1}),
        "items[1].placed",
        "unknown bin 'n9'",
    ),
    ("unknown bin in cost", _set("items.2.cost", {"n9": 1.0}), "items[2].cost", "unknown bin 'n9'"),
    (
        "unknown tenant",
        _set("items.0.tenant", "ghost"),
        "items[0].tenant",
        "unknown tenant 'ghost'",
    ),
    (
        "quota for unknown tenant",
        _constraint({"kind": "quota", "tenant": "ghost", "limits": {"cpu": "1"}}),
        "constraints[0].tenant",
        "unknown tenant 'ghost'",
    ),
    (
        "selector not a label map",
        _constraint({"kind": "anti_affinity", "selector": ["app"], "topology": "zone"}),
        "constraints[0].selector",
        "a selector is a label map",
    ),
    (
        "max_skew below 1",
        _constraint({"kind": "spread", "selector": {}, "topology": "zone", "max_skew": 0}),
        "constraints[0].max_skew",
        "max_skew must be at least 1",
    ),
    (
        "unknown constraint kind",
        _constraint({"kind": "colocate", "selector": {}}),
        "constraints[0]",
        "colocate",
    ),
    (
        "gang with unknown item",
        _constraint({"kind": "gang", "items": ["g0", "nope"]}),
        "constraints[0].items",
        "unknown item 'nope'",
    ),
    (
        "soft gang",
        _constraint({"kind": "gang", "items": ["g0"], "weight": 1}),
        "constraints[0]",
        "cannot be soft",
    ),
    (
        "spread over unknown bin",
        _constraint({"kind": "spread", "selector": {}, "topology": "zone", "bins": ["n7"]}),
        "constraints[0].bins",
        "unknown bin 'n7'",
    ),
    ("placed exceeds count", _set("items.0.placed", {"n0": 3}), "items[0]", "exceed count"),
    ("zero count", _set("items.0.count", 0), "items[0].count", "greater than 0"),
    ("negative bin cost", _set("bins.1.cost", -1), "bins[1].cost", "greater than or equal to 0"),
    ("invalid label key", _set("bins.1.labels", {"bad key!": "x"}), "bins[1].labels", "'bad key!'"),
    (
        "unknown objective term",
        _set("objective", ["placed", {"speed": 1}]),
        "objective[1].speed",
        "Input should be",
    ),
    (
        "empty objective level",
        _set("objective", ["placed", {}]),
        "objective[1]",
        "at least one term",
    ),
    ("wrong apiVersion", _set("apiVersion", "placer/v2"), "apiVersion", "placer/v1"),
]


def _write(tmp_path: Path, mutate: Mutation, name: str = "bad.yaml") -> Path:
    data = copy.deepcopy(BASE)
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_base_problem_is_valid(tmp_path: Path) -> None:
    assert len(load(_write(tmp_path, lambda d: None)).items) == 4


@pytest.mark.parametrize(
    ("mutate", "path", "reason"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_through_load(tmp_path: Path, mutate: Mutation, path: str, reason: str) -> None:
    file = _write(tmp_path, mutate)
    with pytest.raises(InputError) as info:
        load(file)
    assert info.value.source == str(file)
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{file}: {path}: ")


@pytest.mark.parametrize(
    ("mutate", "path", "reason"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_through_cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Mutation,
    path: str,
    reason: str,
) -> None:
    file = _write(tmp_path, mutate)
    code, _, err = run_placer(["solve", str(file), "--backend", "greedy"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one clear line, never a traceback
    assert str(file) in lines[0] and path in lines[0] and reason in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("broken.yaml", "bins: [\n  - {name: a", "invalid YAML at line 2"),
        ("broken.json", '{"kind": "Problem", ', "invalid JSON at line 1"),
        ("list.yaml", "- 1\n- 2\n", "unrecognised document kind"),
        ("empty.yaml", "", "holds no document"),
        ("two.yaml", "kind: Problem\n---\nkind: Problem\n", "one Problem document"),
    ],
)
def test_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, reason: str
) -> None:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=reason) as info:
        load(file)
    assert info.value.source == str(file)
    code, _, err = run_placer(["solve", str(file), "-b", "greedy"], capsys)
    assert code == 2 and reason in err and str(file) in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError, match="file not found"):
        load(missing)
    code, _, err = run_placer(["solve", str(missing), "-b", "greedy"], capsys)
    assert code == 2 and f"{missing}: file not found" in err


def test_first_error_is_reported_with_a_count_of_the_rest(tmp_path: Path) -> None:
    def two_errors(d: dict[str, Any]) -> None:
        d["items"][0]["colour"] = "red"
        d["items"][1]["flavour"] = "sweet"

    with pytest.raises(InputError, match=r"unknown key \(and 1 more error\)"):
        load(_write(tmp_path, two_errors))


@pytest.mark.parametrize(
    "data",
    [
        {"apiVersion": "placer/v1", "kind": "Problem"},
        {"apiVersion": "placer/v1", "kind": "Problem", "bins": [{"name": "n0"}]},
        {"apiVersion": "placer/v1", "kind": "Problem", "items": [{"name": "web", "count": 3}]},
    ],
    ids=["nothing", "no items", "no bins"],
)
def test_empty_problems_are_valid_and_solve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]
) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text(yaml.safe_dump(data), encoding="utf-8")
    p = load(file)
    assert isinstance(p, Problem)
    code, out, _ = run_placer(
        ["solve", str(file), "-b", "greedy", "-o", str(tmp_path / "plan.json")], capsys
    )
    assert code == 0
    assert "verified=yes" in out


def test_json_and_yaml_load_the_same(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    (tmp_path / "p.json").write_text(
        yaml.safe_dump(data), encoding="utf-8"
    )  # YAML is JSON's superset
    import json

    (tmp_path / "q.json").write_text(json.dumps(data), encoding="utf-8")
    assert load(tmp_path / "p.json") == load(tmp_path / "q.json")


def test_quantities_are_exact_integers_in_base_units(tmp_path: Path) -> None:
    p = load(_write(tmp_path, _set("items.0.demand", {"cpu": "250m", "memory": "1.5Gi"})))
    assert p.items[0].demand == {"cpu": 250, "memory": 3 * 2**29}
    assert p.bins[0].capacity == {"cpu": 4000, "memory": 8 * 2**30}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_dump_problem_round_trips(tmp_path: Path, suffix: str) -> None:
    p = problem(
        bins(2, cpu="1500m", memory="3Gi", zones=2),
        [group("web", 3, cpu="250m", memory="100Mi", placed={"n0": 1}, tenant="team")],
        constraints=[{"kind": "quota", "tenant": "team", "limits": {"cpu": "750m"}}],
        tenants=[{"name": "team", "quota": {"memory": "1Gi"}}],
    )
    dump_problem(p, tmp_path / f"p{suffix}")
    assert load(tmp_path / f"p{suffix}") == p


def test_features_reflect_what_the_problem_uses() -> None:
    p = problem(
        bins(2, zones=2),
        [group("web", 2, placed={"n0": 1}, movable=True, required=True), group("db", priority=5)],
        constraints=[
            {
                "kind": "anti_affinity",
                "selector": {"app": "web"},
                "target": {"app": "db"},
                "topology": "zone",
            },
            {"kind": "spread", "selector": {"app": "web"}, "topology": "zone", "weight": 2},
        ],
        objective=["placed", {"bins_used": 1, "balance": 1}],
    )
    assert p.features() == {
        "anti_affinity",
        "anti_affinity:target",
        "spread",
        "soft",
        "movable",
        "required",
        "priority",
        "objective:placed",
        "objective:bins_used",
        "objective:balance",
    }
