"""The generated kubectl dump: deterministic, loadable, and realistic enough to plan."""

from __future__ import annotations

from engine.kube import manifests_to_problem
from engine.kube.synthetic import cluster_dump
from engine.verify import verify_counts


def test_dump_is_deterministic_and_loads() -> None:
    dump = cluster_dump(40, 300, seed=7)
    assert dump == cluster_dump(40, 300, seed=7)
    kinds = [i["kind"] for i in dump["items"]]
    assert kinds.count("Node") == 40 and kinds.count("Pod") == 300
    problem = manifests_to_problem([dump], "synthetic")
    assert sum(i.count for i in problem.items) == 300
    assert problem.meta["notes"] == []  # bound pods fit their nodes: no capacity raised
    pending = [i for i in problem.items if not i.meta.get("bound")]
    assert pending and any(i.allowed is not None for i in pending)
    # the snapshot itself (bound pods only) is a valid plan
    counts = {(i.name, b): n for i in problem.items for b, n in i.placed.items()}
    assert verify_counts(problem, counts).ok
