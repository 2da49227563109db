"""A generator of bad inputs for the ``placer`` CLI, one per (class, field, value).

Each ``Case`` is a command line and the files it needs. Every case must end the same way: exit
code 2, exactly one line on stderr (``placer: error: ...``), no traceback, and no output file
left behind. ``tests/reliability/test_bad_inputs.py`` runs them all in-process;
``python -m tests.reliability.bad_inputs`` runs them as real processes, with a time and memory
guard per case, and prints the table quoted in the README's "Reliability" section.

Classes: ``yaml`` (syntax, alias bombs, recursive aliases), ``depth``, ``integers`` (digits),
``quantities``, ``numbers`` (costs, weights, NaN/inf), ``types`` (a field of the wrong kind),
``references``, ``objective``, ``kubernetes`` (manifests), ``edge`` (topologies), ``plans``
(``placer verify``), ``options`` (command-line values: time limits, seeds, threads, parameters),
``files`` (missing, empty, binary, directories), ``sizes`` (models too large to build).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAN = float("nan")
INF = float("inf")
HUGE_INT = 10**4299  # 4,300 digits: still parses, far beyond int64
TOO_MANY_DIGITS = "1" + "0" * 4300  # 4,301 digits: Python's own integer guard


@dataclass
class Case:
    cls: str
    name: str
    argv: list[str]  # {dir} is the case's folder, {out} its output path
    files: dict[str, str | bytes] = field(default_factory=dict)  # name -> content
    writes_output: bool = True  # argv names {out} as the output

    def materialise(self, folder: Path) -> list[str]:
        for name, content in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        out = str(folder / "out" / "plan.json")
        (folder / "out").mkdir(exist_ok=True)
        return [a.format(dir=str(folder), out=out) for a in self.argv]


# ----------------------------------------------------------------------------- base documents


def base_problem() -> dict[str, Any]:
    return {
        "apiVersion": "placer/v1",
        "kind": "Problem",
        "name": "base",
        "bins": [
            {
                "name": "n1",
                "capacity": {"cpu": "4", "memory": "8Gi"},
                "labels": {"kubernetes.io/hostname": "n1", "zone": "a"},
                "cost": 1.0,
                "speed": 1.0,
            },
            {
                "name": "n2",
                "capacity": {"cpu": "4", "memory": "8Gi"},
                "labels": {"kubernetes.io/hostname": "n2", "zone": "b"},
            },
        ],
        "items": [
            {
                "name": "web",
                "count": 3,
                "demand": {"cpu": "1", "memory": "1Gi"},
                "labels": {"app": "web"},
                "priority": 1,
                "tenant": "t1",
                "allowed": ["n1", "n2"],
                "cost": {"n1": 1.0},
                "placed": {"n1": 1},
                "movable": True,
                "required": False,
            },
            {"name": "db", "count": 1, "demand": {"cpu": "2"}, "labels": {"app": "db"}},
        ],
        "constraints": [
            {"kind": "anti_affinity", "selector": {"app": "web"}, "topology": "zone"},
            {
                "kind": "affinity",
                "selector": {"app": "web"},
                "target": {"app": "db"},
                "topology": "zone",
            },
            {"kind": "spread", "selector": {"app": "web"}, "topology": "zone", "max_skew": 1},
            {"kind": "gang", "items": ["web", "db"]},
            {"kind": "quota", "tenant": "t1", "limits": {"cpu": "8"}},
        ],
        "objective": ["placed", {"bins_used": 1.0, "cost": 0.1}],
        "tenants": [{"name": "t1", "weight": 1.0, "priority": 0, "quota": {"cpu": "16"}}],
        "traffic": [{"items": ["web", "db"], "volume": 1.0}],
        "delays": {"n1": {"n2": 1.0}},
    }


KUBE_BASE = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a, zone: z1}
status:
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec:
  priorityClassName: high
  containers: [{name: c, image: x, resources: {requests: {cpu: "1", memory: 1Gi}}}]
"""


def kube_docs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(KUBE_BASE))


def edge_base() -> dict[str, Any]:
    return {
        "apiVersion": "placer/v1",
        "kind": "EdgeTopology",
        "name": "e",
        "nodes": [
            {"name": "d1", "tier": "device", "capacity": {"cpu": "1"}, "speed": 100},
            {"name": "e1", "tier": "edge", "capacity": {"cpu": "4"}, "speed": 1000},
        ],
        "links": [{"a": "d1", "b": "e1", "latency": 2, "bandwidth": 20}],
        "tasks": [
            {"name": "t", "source": "d1", "workload": 10, "demand": {"cpu": "100m"}},
        ],
    }


def set_path(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def dump_json(doc: Any) -> str:
    """JSON that keeps NaN/Infinity and huge integers (as Python's json writes them)."""
    return json.dumps(doc)


def render(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


# ----------------------------------------------------------------------------- the classes


def solve_case(cls: str, name: str, text: str, suffix: str = "json", *extra: str) -> Case:
    return Case(
        cls, name, ["solve", f"{{dir}}/in.{suffix}", "-o", "{out}", *extra], {f"in.{suffix}": text}
    )


def problem_case(cls: str, path: tuple[Any, ...], value: Any, label: str | None = None) -> Case:
    doc = set_path(base_problem(), path, value)
    return solve_case(cls, f"{render(path)}={label or repr(value)[:40]}", dump_json(doc))


def yaml_cases() -> Iterator[Case]:
    def bomb(levels: int, width: int = 9, where: str = "labels") -> str:
        anchors = ["a0: &a0 [" + ", ".join(['"xxxxxxxx"'] * width) + "]"]
        for i in range(1, levels):
            anchors.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
        if where == "labels":
            body = "{" + ", ".join(anchors) + "}"
            return (
                "apiVersion: placer/v1\nkind: Problem\n"
                f"bins: [{{name: n, capacity: {{cpu: 1}}, labels: {body}}}]\n"
            )
        if where == "meta":
            return "apiVersion: placer/v1\nkind: Problem\nmeta: {" + ", ".join(anchors) + "}\n"
        if where == "node":  # Kubernetes node labels
            lines = "\n    ".join(anchors)
            return (
                "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    "
                + lines
                + "\nstatus: {allocatable: {cpu: '4'}}\n"
            )
        if where == "pod":
            lines = "\n    ".join(anchors)
            return (
                KUBE_BASE
                + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p2\n  labels:\n    "
                + lines
                + "\nspec: {containers: [{name: c, image: x}]}\n"
            )
        if where == "item":  # a bomb as an item's labels value
            return (
                "apiVersion: placer/v1\nkind: Problem\nx: &x {" + ", ".join(anchors) + "}\n"
                "items: [{name: w, labels: *x}]\n"
            )
        raise ValueError(where)

    for where in ("labels", "meta", "node", "pod", "item"):
        for levels in (6, 7, 8, 9, 10):
            yield solve_case(
                "yaml", f"alias bomb {levels} levels in {where}", bomb(levels, 9, where), "yaml"
            )
    for width in (2, 4, 16, 50):
        yield solve_case(
            "yaml", f"alias bomb width {width}", bomb(30 if width < 4 else 12, width), "yaml"
        )
    yield solve_case(
        "yaml",
        "recursive alias",
        "apiVersion: placer/v1\nkind: Problem\nmeta: &a {x: *a}\n",
        "yaml",
    )
    yield solve_case(
        "yaml",
        "recursive list alias",
        "apiVersion: placer/v1\nkind: Problem\nmeta: &a [*a]\n",
        "yaml",
    )
    syntax = {
        "unclosed flow": "apiVersion: placer/v1\nkind: Problem\nbins: [{name: a\n",
        "bad indent": "apiVersion: placer/v1\nkind: Problem\nbins:\n - name: a\n  capacity: x: y\n",
        "tab indent": "apiVersion: placer/v1\nkind: Problem\nbins:\n\t- {name: a}\n",
        "undefined alias": "apiVersion: placer/v1\nkind: Problem\nmeta: *nothing\n",
        "python tag": "apiVersion: placer/v1\nkind: Problem\nmeta: !!python/object/apply:os.system ['true']\n",
        "duplicate anchor use before definition": "a: *b\nb: &b 1\n",
        "bad json": '{"apiVersion": "placer/v1", "kind": "Problem", "bins": [}',
        "json trailing comma": '{"apiVersion": "placer/v1", "kind": "Problem",}',
        "unhashable key": "apiVersion: placer/v1\nkind: Problem\n? [a, b]\n: c\n",
        "scalar document": "just a string\n",
        "list document": "- a\n- b\n",
        "number document": "42\n",
        "binary tag": "apiVersion: placer/v1\nkind: Problem\nmeta: !!binary 'AAAA'\n",
        "second doc bad": "apiVersion: placer/v1\nkind: Problem\n---\napiVersion: placer/v1\nkind: Problem\n",
    }
    for name, text in syntax.items():
        suffix = "json" if text.startswith("{") else "yaml"
        yield solve_case("yaml", name, text, suffix)


def depth_cases() -> Iterator[Case]:
    for levels in (101, 200, 1_000, 5_000, 100_000):
        nested = "[" * levels + "]" * levels
        yield solve_case(
            "depth",
            f"json list {levels} deep",
            '{"apiVersion": "placer/v1", "kind": "Problem", "meta": {"x": ' + nested + "}}",
        )
        obj = '{"a": ' * levels + "1" + "}" * levels
        yield solve_case(
            "depth",
            f"json object {levels} deep",
            '{"apiVersion": "placer/v1", "kind": "Problem", "meta": ' + obj + "}",
        )
        yield solve_case(
            "depth",
            f"yaml flow {levels} deep",
            "apiVersion: placer/v1\nkind: Problem\nmeta: " + nested + "\n",
            "yaml",
        )
    block = "apiVersion: placer/v1\nkind: Problem\nmeta:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(150)
    )
    yield solve_case("depth", "yaml block 150 deep", block, "yaml")


def integer_cases() -> Iterator[Case]:
    fields: list[tuple[Any, ...]] = [
        ("items", 0, "count"),
        ("items", 0, "priority"),
        ("items", 0, "placed", "n1"),
        ("items", 0, "demand", "cpu"),
        ("bins", 0, "capacity", "memory"),
        ("bins", 0, "cost"),
        ("items", 0, "cost", "n1"),
        ("constraints", 0, "max_per_domain"),
        ("constraints", 2, "max_skew"),
        ("constraints", 2, "min_domains"),
        ("constraints", 4, "limits", "cpu"),
        ("tenants", 0, "priority"),
        ("tenants", 0, "weight"),
        ("traffic", 0, "volume"),
        ("delays", "n1", "n2"),
        ("objective", 1, "bins_used"),
        ("meta", "x"),
    ]
    for path in fields:
        for value, label in (
            (HUGE_INT, "4300 digits"),
            (2**63, "2^63"),
            (-(2**63) - 1, "-2^63-1"),
            (10**30, "1e30 int"),
        ):
            doc = base_problem()
            doc.setdefault("meta", {})
            doc = set_path(doc, path, value)
            yield solve_case("integers", f"{render(path)}={label}", dump_json(doc))
        text = dump_json(set_path({**base_problem(), "meta": {}}, path, 7)).replace(
            "7", TOO_MANY_DIGITS, 1
        )
        if TOO_MANY_DIGITS in text:
            yield solve_case("integers", f"{render(path)}=4301 digits (json)", text)
        ytext = yaml.safe_dump(set_path({**base_problem(), "meta": {}}, path, 7))
        ytext = ytext.replace(": 7\n", f": {TOO_MANY_DIGITS}\n", 1)
        if TOO_MANY_DIGITS in ytext:
            yield solve_case("integers", f"{render(path)}=4301 digits (yaml)", ytext, "yaml")
    # counts within int64 but beyond what a group may hold
    for count in (2**31, 10**12, 2**62):
        yield problem_case("integers", ("items", 1, "count"), count)


def quantity_cases() -> Iterator[Case]:
    where = [
        ("bins", 0, "capacity", "cpu"),
        ("bins", 0, "capacity", "memory"),
        ("items", 0, "demand", "cpu"),
        ("items", 0, "demand", "nvidia.com/gpu"),
        ("constraints", 4, "limits", "cpu"),
        ("tenants", 0, "quota", "memory"),
    ]
    values: list[Any] = [
        "1e60",
        "1e64",
        "1e65",
        "1e-70",
        "9Ei",
        "10E",
        "12Qi",
        "",
        ".",
        "1.2.3",
        "--1",
        "-1",
        "-500m",
        "1 Gi",
        "0x10",
        "1" * 70,
        "1e99999999999",
        NAN,
        INF,
        -INF,
        1e300,
        -1,
        True,
        None,
        [],
        {},
        [1, 2],
        2**60,
    ]
    for path in where:
        for value in values:
            yield problem_case("quantities", path, value)
    yield problem_case("quantities", ("bins", 0, "capacity"), {"": "1"}, "empty resource name")
    yield problem_case("quantities", ("bins", 0, "capacity"), "4", "capacity not a map")
    yield problem_case("quantities", ("items", 0, "demand"), ["cpu"], "demand a list")
    # totals: each quantity in range, their sum not
    many = base_problem()
    many["bins"] = [{"name": f"n{i}", "capacity": {"memory": str(2**53)}} for i in range(1, 1100)]
    many["items"] = [{"name": "w", "demand": {"memory": "1"}}]
    many["constraints"], many["tenants"], many["traffic"], many["delays"] = [], [], [], {}
    yield solve_case("quantities", "capacity total beyond 2^62", dump_json(many))
    heavy = base_problem()
    heavy["items"][1] = {"name": "db", "count": 2**31 - 1, "demand": {"memory": "4Pi"}}
    yield solve_case("quantities", "demand total beyond 2^62", dump_json(heavy))


def number_cases() -> Iterator[Case]:
    fields: list[tuple[Any, ...]] = [
        ("bins", 0, "cost"),
        ("bins", 0, "speed"),
        ("items", 0, "cost", "n1"),
        ("constraints", 0, "weight"),
        ("tenants", 0, "weight"),
        ("traffic", 0, "volume"),
        ("delays", "n1", "n2"),
        ("objective", 1, "cost"),
    ]
    for path in fields:
        for value in (NAN, INF, -INF, 1e300, -1e300, 1e13, "x", [1], {"a": 1}, True, None):
            if value is None and path == ("constraints", 0, "weight"):
                continue  # weight: null is a hard constraint
            yield problem_case("numbers", path, value)
    for path in (("bins", 0, "speed"), ("tenants", 0, "weight"), ("constraints", 0, "weight")):
        yield problem_case("numbers", path, 0)
        yield problem_case("numbers", path, -1)
    for path in (("bins", 0, "cost"), ("traffic", 0, "volume"), ("delays", "n1", "n2")):
        yield problem_case("numbers", path, -1)


def type_cases() -> Iterator[Case]:
    wrong: dict[tuple[Any, ...], list[Any]] = {
        ("name",): [[], {}, None],
        ("apiVersion",): ["placer/v2", 1],
        ("kind",): ["Problems"],
        ("bins",): ["n1", {"name": "n1"}, 5],
        ("bins", 0): ["n1", [], None],
        ("bins", 0, "name"): ["", None, [], {}],
        ("bins", 0, "labels"): [
            "a=b",
            ["a"],
            {"zone": ["a", "b"]},
            {"zone": {"x": 1}},
            {"bad key!": "x"},
            {"": "x"},
        ],
        ("bins", 0, "extra"): [1],
        ("items",): ["web", 1],
        ("items", 0, "name"): ["", None, 5.5, []],
        ("items", 0, "count"): [0, -1, "many", 1.5, None, []],
        ("items", 0, "priority"): ["high", 1.5, None, []],
        ("items", 0, "labels"): [["app"], {"app": None}, {"app": ["web"]}, {"app": {"x": "y"}}],
        ("items", 0, "allowed"): ["n1", [1], [None], {"n1": 1}, ["nope"]],
        ("items", 0, "placed"): [
            {"n1": -1},
            {"n1": 0},
            {"n1": 99},
            {"nope": 1},
            ["n1"],
            {"n1": "x"},
        ],
        ("items", 0, "movable"): ["perhaps", [], {}],
        ("items", 0, "required"): ["yes please", [], 2],
        ("items", 0, "tenant"): ["nobody", 5, []],
        ("items", 0, "cost"): [{"nope": 1.0}, [1.0], "x"],
        ("items", 0, "meta"): ["x", [1]],
        ("items", 0, "extra"): [1],
        ("constraints",): ["x", {"kind": "gang"}],
        ("constraints", 0): [{"kind": "nope"}, {}, {"kind": "anti_affinity"}, "x"],
        ("constraints", 0, "kind"): [None, 5, "Anti_Affinity"],
        ("constraints", 0, "selector"): ["app=web", ["app"], {"app": ["web"]}, None],
        ("constraints", 0, "topology"): ["", None, []],
        ("constraints", 0, "max_per_domain"): [0, -1, "one", 1.5],
        ("constraints", 1, "target"): ["db", None, ["db"]],
        ("constraints", 2, "max_skew"): [0, -3, "x"],
        ("constraints", 2, "min_domains"): [0, -1, "x"],
        ("constraints", 2, "bins"): ["n1", ["nope"], [1]],
        ("constraints", 3, "items"): [[], ["nope"], "web", [1]],
        ("constraints", 3, "weight"): [1.0],
        ("constraints", 4, "tenant"): ["nobody", None],
        ("constraints", 4, "weight"): [2.0],
        ("constraints", 4, "limits"): ["8", None],
        ("tenants",): ["t1", {"name": "t1"}],
        ("tenants", 0, "name"): ["", None],
        ("tenants", 0, "priority"): ["high", 1.5],
        ("tenants", 0, "quota"): ["16", [1]],
        ("traffic", 0, "items"): [["web"], ["web", "db", "web"], ["web", "nope"], "web"],
        ("traffic", 0): [{"items": ["web", "db"]}],
        ("delays",): [{"nope": {"n2": 1}}, {"n1": {"nope": 1}}, {"n1": 1}, []],
        ("meta",): ["x", [1]],
        ("extra",): [1, None],
    }
    for path, values in wrong.items():
        for value in values:
            yield problem_case("types", path, value)


def reference_cases() -> Iterator[Case]:
    dup_bins = base_problem()
    dup_bins["bins"][1]["name"] = "n1"
    yield solve_case("references", "duplicate bin", dump_json(dup_bins))
    dup_items = base_problem()
    dup_items["items"][1]["name"] = "web"
    yield solve_case("references", "duplicate item", dump_json(dup_items))
    dup_tenants = base_problem()
    dup_tenants["tenants"].append({"name": "t1"})
    yield solve_case("references", "duplicate tenant", dump_json(dup_tenants))
    for path, value in (
        (("items", 0, "allowed"), ["n1", "n9"]),
        (("items", 0, "placed"), {"n9": 1}),
        (("items", 0, "cost"), {"n9": 1.0}),
        (("items", 0, "tenant"), "t9"),
        (("constraints", 3, "items"), ["web", "nope"]),
        (("constraints", 4, "tenant"), "t9"),
        (("constraints", 2, "bins"), ["n9"]),
        (("traffic", 0, "items"), ["web", "nope"]),
        (("delays",), {"n9": {"n1": 1}}),
        (("delays",), {"n1": {"n9": 1}}),
    ):
        yield problem_case("references", path, value)


def objective_cases() -> Iterator[Case]:
    for value in (
        [],
        {},
        "placed",
        [{}],
        ["nothing"],
        [{"placed": NAN}],
        [{"placed": INF}],
        [{"placed": 1e300}],
        [{"placed": "x"}],
        [None],
        [["placed"]],
        [{"placed": 1, "unknown": 1}],
        [5],
        None,
    ):
        yield problem_case("objective", ("objective",), value)


def kubernetes_cases() -> Iterator[Case]:
    def case(name: str, docs: list[dict[str, Any]], *extra: str) -> Case:
        text = yaml.safe_dump_all(docs)
        return solve_case("kubernetes", name, text, "yaml", *extra)

    pc_values: list[Any] = [
        "high",
        "1000",
        1.5,
        True,
        None,
        [],
        {},
        2**31,
        10**12,
        -(2**31) - 1,
        1_000_000_001,
        HUGE_INT,
    ]
    for value in pc_values:
        docs = kube_docs()
        docs[0]["value"] = value
        yield case(f"PriorityClass value={str(value)[:20]}", docs)
        docs = kube_docs()
        docs[0]["value"] = value
        docs[2]["spec"].pop("priorityClassName")  # unreferenced: still an error
        yield case(f"unused PriorityClass value={str(value)[:20]}", docs)
    docs = kube_docs()
    docs[0]["globalDefault"] = "yes"
    yield case("PriorityClass globalDefault=yes", docs)
    docs = kube_docs()
    docs[0]["metadata"] = {"name": "system-x"}
    docs[0]["value"] = 2_000_000_001
    yield case("system PriorityClass above 2e9", docs)
    node_fields: list[tuple[tuple[Any, ...], Any]] = [
        (("status", "allocatable", "cpu"), "1e60"),
        (("status", "allocatable", "cpu"), "lots"),
        (("status", "allocatable", "memory"), "-1Gi"),
        (("status", "allocatable", "memory"), "9Ei"),
        (("status", "allocatable"), "4"),
        (("metadata", "labels"), {"zone": ["z1"]}),
        (("metadata", "labels"), {"zone": {"a": 1}}),
        (("metadata", "labels"), "zone=z1"),
        (("metadata", "name"), ["x"]),
        (("metadata",), "x"),
        (("spec",), "x"),
        (("spec",), {"taints": "x"}),
        (("spec",), {"taints": [{"key": "a", "effect": "Sometimes"}]}),
        (("status",), "x"),
    ]
    for path, value in node_fields:
        docs = kube_docs()
        docs[1] = set_path(docs[1], path, value)
        yield case(f"Node {render(path)}={str(value)[:20]}", docs)
    pod_fields: list[tuple[tuple[Any, ...], Any]] = [
        (("spec", "containers", 0, "resources", "requests", "cpu"), "1e60"),
        (("spec", "containers", 0, "resources", "requests", "cpu"), 1e60),
        (("spec", "containers", 0, "resources", "requests", "cpu"), "many"),
        (("spec", "containers", 0, "resources", "requests", "memory"), "-1"),
        (("spec", "containers", 0, "resources", "requests"), "x"),
        (("spec", "containers"), "x"),
        (("spec", "priority"), "high"),
        (("spec", "priority"), 10**12),
        (("spec", "priorityClassName"), "nope"),
        (("spec", "tolerations"), "x"),
        (("spec", "nodeSelector"), "x"),
        (("spec", "nodeSelector"), {"zone": ["a"]}),
        (
            ("spec", "affinity"),
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "a", "operator": "Sometimes", "values": ["x"]}
                                ]
                            }
                        ]
                    }
                }
            },
        ),
        (
            ("spec", "topologySpreadConstraints"),
            [
                {
                    "maxSkew": 0,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}},
                }
            ],
        ),
        (("spec", "topologySpreadConstraints"), "x"),
        (("metadata", "labels"), {"app": ["web"]}),
        (("metadata",), "x"),
        (("spec",), "x"),
    ]
    for path, value in pod_fields:
        docs = kube_docs()
        docs[2] = set_path(docs[2], path, value)
        yield case(f"Pod {render(path)}={str(value)[:20]}", docs)
    docs = kube_docs()
    docs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 10**12,
                "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}},
            },
        }
    )
    yield case("Deployment replicas 1e12", docs)
    docs = kube_docs()
    docs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"replicas": "ten"},
        }
    )
    yield case("Deployment replicas ten", docs)
    yield solve_case("kubernetes", "only a PriorityClass", yaml.safe_dump(kube_docs()[0]), "yaml")
    docs = kube_docs()
    yield Case(
        "kubernetes",
        "bindings format on an IR file",
        ["solve", "{dir}/in.json", "--format", "bindings", "-o", "{out}"],
        {"in.json": dump_json(base_problem())},
    )
    yield case("bindings without -o", docs, "--format", "yaml")


def edge_cases() -> Iterator[Case]:
    fields: list[tuple[tuple[Any, ...], Any]] = [
        (("nodes", 0, "tier"), "satellite"),
        (("nodes", 0, "speed"), -1),
        (("nodes", 0, "speed"), NAN),
        (("nodes", 0, "capacity", "cpu"), "1e60"),
        (("links", 0, "latency"), -1),
        (("links", 0, "latency"), INF),
        (("links", 0, "bandwidth"), 0),
        (("links", 0, "b"), "nowhere"),
        (("tasks", 0, "source"), "nowhere"),
        (("tasks", 0, "workload"), -5),
        (("tasks", 0, "workload"), 1e300),
        (("tasks", 0, "count"), 10**12),
        (("tasks", 0, "demand", "cpu"), "1e60"),
        (("tasks",), "x"),
        (("nodes",), {"x": 1}),
    ]
    for path, value in fields:
        doc = set_path(edge_base(), path, value)
        yield solve_case("edge", f"{render(path)}={str(value)[:20]}", dump_json(doc))


def plan_cases() -> Iterator[Case]:
    problem = dump_json(base_problem())
    plans: dict[str, Any] = {
        "not json": "{",
        "a list": "[]",
        "wrong kind": {"kind": "Problem"},
        "placements not a list": {"kind": "Solution", "status": "feasible", "placements": 5},
        "count huge": {
            "kind": "Solution",
            "problem": "base",
            "backend": "x",
            "status": "feasible",
            "placements": [{"item": "web", "bin": "n1", "count": HUGE_INT}],
        },
        "status bogus": {
            "kind": "Solution",
            "problem": "base",
            "backend": "x",
            "status": "great",
            "placements": [],
        },
        "deep": "[" * 5000 + "]" * 5000,
    }
    for name, plan in plans.items():
        text = plan if isinstance(plan, str) else dump_json(plan)
        yield Case(
            "plans",
            name,
            ["verify", "{dir}/in.json", "{dir}/plan.json"],
            {"in.json": problem, "plan.json": text},
            writes_output=False,
        )


def option_cases() -> Iterator[Case]:
    problem = {"in.json": dump_json(base_problem())}
    argvs: list[tuple[str, list[str]]] = [
        ("-t inf", ["-t", "inf"]),
        ("-t nan", ["-t", "nan"]),
        ("-t 0", ["-t", "0"]),
        ("-t -5", ["-t", "-5"]),
        ("-t 1e300", ["-t", "1e300"]),
        ("-t abc", ["-t", "abc"]),
        ("--seed 2^31", ["--seed", "2147483648"]),
        ("--seed -1", ["--seed", "-1"]),
        ("--seed 1e3", ["--seed", "1e3"]),
        ("--seed 2^64", ["--seed", str(2**64)]),
        ("--threads 0", ["--threads", "0"]),
        ("--threads 2^31", ["--threads", str(2**31)]),
        ("--threads -1", ["--threads", "-1"]),
        ("-b nope", ["-b", "nope"]),
        ("--format xml", ["--format", "xml"]),
        ("-p noequals", ["-p", "noequals"]),
        ("-p =1", ["-p", "=1"]),
        ("-p unknown", ["-p", "unknown=1"]),
        ("-p gap=NaN (milp)", ["-b", "milp", "-p", "gap=NaN"]),
        ("-p gap=Infinity (milp)", ["-b", "milp", "-p", "gap=Infinity"]),
        ("-p log=maybe", ["-p", "log=maybe"]),
        ("-p linearization_level=x", ["-p", "linearization_level=x"]),
        ("-p deep", ["-p", "start=" + "[" * 200 + "]" * 200]),
        ("-p huge int", ["-p", "linearization_level=" + "9" * 5000]),
        ("-p greedy scoring", ["-b", "greedy", "-p", "scoring=bogus"]),
        ("-p formulation", ["-p", "formulation=bogus"]),
        ("-p milp solver", ["-b", "milp", "-p", "solver=gurobi"]),
        ("-p qubo sampler", ["-b", "qubo", "-p", "sampler=bogus"]),
        ("-p qubo num_reads=0", ["-b", "qubo", "-p", "num_reads=0"]),
        ("-p qubo num_reads=-1", ["-b", "qubo", "-p", "num_reads=-1"]),
        ("-p qubo num_sweeps=x", ["-b", "qubo", "-p", "num_sweeps=x"]),
    ]
    for name, extra in argvs:
        yield Case(
            "options", name, ["solve", "{dir}/in.json", "-o", "{out}", *extra], dict(problem)
        )
    for name, extra in (
        ("fair -t inf", ["fair", "{dir}/in.json", "-m", "drf-nodes", "-t", "inf"]),
        ("fair --seed -1", ["fair", "{dir}/in.json", "--seed", "-1"]),
        ("fair --random 10^9", ["fair", "{dir}/in.json", "--check", "--random", "1000000000"]),
        ("export --format docx", ["export", "{dir}/in.json", "-f", "docx", "-o", "{out}"]),
    ):
        yield Case("options", name, extra, dict(problem), writes_output="{out}" in extra)


def file_cases() -> Iterator[Case]:
    yield Case("files", "missing file", ["solve", "{dir}/nope.yaml", "-o", "{out}"])
    yield Case("files", "a directory", ["solve", "{dir}/sub", "-o", "{out}"], {"sub/x": "1"})
    yield solve_case("files", "empty file", "", "yaml")
    yield solve_case("files", "only comments", "# nothing\n", "yaml")
    yield Case(
        "files",
        "binary",
        ["solve", "{dir}/in.yaml", "-o", "{out}"],
        {"in.yaml": b"\x00\xff\xfe\x89PNG"},
    )
    yield Case(
        "files",
        "latin-1",
        ["solve", "{dir}/in.yaml", "-o", "{out}"],
        {"in.yaml": "name: caf\xe9\n".encode("latin-1")},
    )
    yield solve_case("files", "unknown kind", "apiVersion: v9\nkind: Spaceship\n", "yaml")
    yield Case(
        "files",
        "output in a missing folder",
        ["solve", "{dir}/in.json", "-o", "{dir}/no/such/plan.json"],
        {"in.json": dump_json(base_problem())},
        writes_output=False,
    )
    yield Case(
        "files",
        "output is a directory",
        ["solve", "{dir}/in.json", "-o", "{dir}"],
        {"in.json": dump_json(base_problem())},
        writes_output=False,
    )


def size_cases() -> Iterator[Case]:
    """Models too large to build: refused up front, in milliseconds."""
    for count in (10**6, 10**8, 2**31 - 1):
        doc = {
            "apiVersion": "placer/v1",
            "kind": "Problem",
            "bins": [{"name": f"n{i}", "capacity": {"cpu": "1000"}} for i in range(4)],
            "items": [{"name": "w", "count": count, "demand": {"cpu": "1m"}}],
        }
        yield solve_case("sizes", f"qubo count {count}", dump_json(doc), "json", "-b", "qubo")
    dense = {
        "apiVersion": "placer/v1",
        "kind": "Problem",
        "bins": [{"name": f"n{i}", "capacity": {"cpu": "8"}} for i in range(4)],
        "items": [{"name": "w", "count": 2_000, "demand": {"cpu": "1"}}],
    }
    yield solve_case("sizes", "qubo 8M interactions", dump_json(dense), "json", "-b", "qubo")
    wide = {
        "apiVersion": "placer/v1",
        "kind": "Problem",
        "bins": [{"name": f"n{i}", "capacity": {"cpu": "4"}} for i in range(4_500)],
        "items": [{"name": f"g{i}", "demand": {"cpu": "1"}} for i in range(4_500)],
    }
    for backend in ("cpsat", "milp"):
        yield solve_case("sizes", f"{backend} 20M pairs", dump_json(wide), "json", "-b", backend)


CLASSES: dict[str, Callable[[], Iterator[Case]]] = {
    "yaml": yaml_cases,
    "depth": depth_cases,
    "integers": integer_cases,
    "quantities": quantity_cases,
    "numbers": number_cases,
    "types": type_cases,
    "references": reference_cases,
    "objective": objective_cases,
    "kubernetes": kubernetes_cases,
    "edge": edge_cases,
    "plans": plan_cases,
    "options": option_cases,
    "files": file_cases,
    "sizes": size_cases,
}


def all_cases() -> list[Case]:
    return [case for make in CLASSES.values() for case in make()]


# ----------------------------------------------------------------------------- checking


def judge(code: int, err: str, folder: Path, case: Case) -> str | None:
    """Why a finished case is not handled well, or None."""
    lines = [line for line in err.splitlines() if line.strip()]
    if "Traceback" in err:
        return "traceback"
    if code != 2:
        return f"exit {code}"
    if len(lines) != 1 or not lines[0].startswith("placer: error:"):
        return f"{len(lines)} lines on stderr"
    left = [p.name for p in (folder / "out").iterdir()] if (folder / "out").is_dir() else []
    if left:
        return f"left {left}"
    return None


def main() -> None:  # pragma: no cover - the README's table
    import tempfile

    cases = all_cases()
    tried: Counter[str] = Counter()
    handled: Counter[str] = Counter()
    slowest: dict[str, float] = {}
    failures: list[str] = []
    env = {**os.environ, "COLUMNS": "200"}
    placer = str(Path(sys.executable).with_name("placer"))
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            argv = case.materialise(folder)
            start = time.monotonic()
            try:
                proc = subprocess.run(
                    ["prlimit", "--as=4000000000", placer, *argv],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=env,
                )
                code, err = proc.returncode, proc.stderr
            except subprocess.TimeoutExpired:
                code, err = -1, "timeout"
            seconds = time.monotonic() - start
            tried[case.cls] += 1
            slowest[case.cls] = max(slowest.get(case.cls, 0.0), seconds)
            why = "timeout" if code == -1 else judge(code, err, folder, case)
            if why is None:
                handled[case.cls] += 1
            else:
                failures.append(f"{case.cls}: {case.name}: {why}: {err.strip()[-300:]}")
    print("| class | tried | handled | slowest (s) |")
    print("|---|---:|---:|---:|")
    for cls in CLASSES:
        print(f"| {cls} | {tried[cls]} | {handled[cls]} | {slowest.get(cls, 0):.2f} |")
    print(
        f"| **all** | {sum(tried.values())} | {sum(handled.values())} | {max(slowest.values()):.2f} |"
    )
    for line in failures:
        print(line)


if __name__ == "__main__":  # pragma: no cover
    main()
