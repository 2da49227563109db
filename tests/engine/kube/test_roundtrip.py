"""Manifests -> IR -> plan -> Bindings, explanations in kube-scheduler style, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.io import load
from engine.kube import explain_unplaced, plan_to_bindings, plan_to_bindings_yaml, replica_plan
from engine.solution import Solution, Status
from engine.solve import solve
from solvers import registry

from .builders import node, pod, problem_of

BACKENDS = [b for b in ("cpsat", "greedy") if b in registry.available()]


def _solve(problem, backend: str) -> Solution:  # type: ignore[no-untyped-def]
    return solve(problem, backend, time_limit=10, threads=1, seed=0)


@pytest.fixture
def small(instances: Path) -> Path:
    return instances / "manifests" / "small-cluster.yaml"


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_cluster_round_trip(small: Path, backend: str) -> None:
    problem = load(small)
    solution = _solve(problem, backend)
    assert solution.verified and solution.status.has_plan
    bindings = plan_to_bindings(problem, solution)
    assert bindings == plan_to_bindings(problem, solution)  # deterministic
    names = {b["metadata"]["name"] for b in bindings}
    assert names == {"api-7d9f-x1", "api-7d9f-x2"}
    counts = solution.counts()
    api = next(i.name for i in problem.items if i.meta.get("pods") and not i.meta.get("bound"))
    for b in bindings:
        assert b["apiVersion"] == "v1" and b["kind"] == "Binding"
        assert b["metadata"]["namespace"] == "shop" and b["metadata"]["uid"].startswith("0d0c1a00")
        node_name = b["target"]["name"]
        assert counts[(api, node_name)] >= 1
    # spread (maxSkew 1 per hostname, cordoned and tainted nodes still count as empty domains)
    assert {b["target"]["name"] for b in bindings} == {"node-a", "node-b"}
    docs = list(yaml.safe_load_all(plan_to_bindings_yaml(problem, solution)))
    assert [d["kind"] for d in docs] == ["Binding", "Binding"]
    plan = replica_plan(problem, solution)
    assert plan["kind"] == "ReplicaPlan"
    by_workload = {w["workload"]: w for w in plan["workloads"]}
    assert by_workload["Job/ml/train"]["nodes"] == {"node-c": 2}  # the only GPU node
    cache = by_workload["Deployment/shop/cache"]["nodes"]
    assert sum(cache.values()) == 2 and max(cache.values()) == 1  # anti-affinity per host


def test_fit_error_message_in_kube_scheduler_style() -> None:
    nodes = [
        node("small-1", cpu="1"),
        node("small-2", cpu="1"),
        node("gpu", cpu="8", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}]),
        node("off", cpu="8", unschedulable=True),
    ]
    p = problem_of(*nodes, pod("big", cpu="2"))
    empty = Solution.from_counts(p, "test", Status.FEASIBLE, {})
    (u,) = explain_unplaced(p, empty).unplaced
    assert u.reasons == (
        "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
        "1 node(s) were unschedulable, 2 Insufficient cpu."
    )


@pytest.mark.skipif(not BACKENDS, reason="no backend available")
def test_unplaced_replicas_explained_after_solving() -> None:
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    pods = [pod(f"web-{i}", labels={"app": "web"}, owner="web-rs", affinity=anti) for i in range(3)]
    nodes = [node("n1"), node("n2"), node("tiny", cpu="50m")]
    p = problem_of(*nodes, *pods)
    solution = explain_unplaced(p, _solve(p, BACKENDS[0]))
    (u,) = solution.unplaced
    assert u.count == 1
    assert (
        u.reasons
        == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match pod anti-affinity rules."
    )
    assert len(plan_to_bindings(p, solution)) == 2


def test_existing_pods_anti_affinity_reason() -> None:
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    p = problem_of(node("n1"), pod("db", on="n1", affinity=anti), pod("web", labels={"app": "web"}))
    bound = next(i.name for i in p.items if i.meta.get("bound"))
    base = {(bound, "n1"): 1}
    (u,) = explain_unplaced(p, Solution.from_counts(p, "t", Status.FEASIBLE, base)).unplaced
    assert (
        u.reasons
        == "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    )


@pytest.mark.skipif(not BACKENDS, reason="no backend available")
def test_cli_solve_bindings_and_verify(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bindings.yaml"
    with pytest.raises(SystemExit) as code:
        main(
            ["solve", str(small), "-b", BACKENDS[-1], "--format", "bindings", "-o", str(out), "-q"]
        )
    assert code.value.code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(out.read_text())]
    assert kinds == ["Binding", "Binding"]  # the ReplicaPlan has a file of its own
    replicas = tmp_path / "bindings.replicaplan.yaml"
    assert [d["kind"] for d in yaml.safe_load_all(replicas.read_text())] == ["ReplicaPlan"]
    plan = tmp_path / "plan.json"
    with pytest.raises(SystemExit) as code:
        main(["solve", str(small), "-b", BACKENDS[-1], "-o", str(plan), "-q"])
    assert code.value.code == 0 and json.loads(plan.read_text())["verified"] is True
    with pytest.raises(SystemExit) as code:
        main(["verify", str(small), str(plan)])
    assert code.value.code == 0


def test_cli_bad_manifest_exits_2_naming_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    docs = [node("n1"), pod("p", ns="shop", tolerations=[{"key": "k", "operator": "Maybe"}])]
    bad.write_text(yaml.safe_dump_all(docs))
    with pytest.raises(SystemExit) as code:
        main(["solve", str(bad), "-q"])
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert "Pod/shop/p" in err and "spec.tolerations[0].operator" in err and str(bad) in err


@pytest.mark.skipif(not BACKENDS, reason="no backend available")
def test_bundled_kubectl_dump_plans_and_binds(instances: Path) -> None:
    problem = load(instances / "manifests" / "kubectl-dump-12x80.json")
    assert sum(i.count for i in problem.items) == 80
    solution = explain_unplaced(problem, _solve(problem, BACKENDS[-1]))
    assert solution.verified
    pending_pods = sum(
        len(i.meta.get("pods", [])) for i in problem.items if not i.meta.get("bound")
    )
    bindings = plan_to_bindings(problem, solution)
    unplaced = sum(u.count for u in solution.unplaced)
    assert len(bindings) == pending_pods - unplaced
    assert all(
        u.reasons and u.reasons.startswith("0/12 nodes are available") for u in solution.unplaced
    )
