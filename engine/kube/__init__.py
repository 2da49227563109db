"""Kubernetes adapter: cluster manifests -> placer IR (kube-scheduler semantics) -> Bindings.

Public API (stable; the scheduler extender builds on it):

- ``manifests_to_problem(docs, source, *, scheduler_name, name) -> Problem``
- ``load_cluster(docs, source) -> Cluster``
- ``pod_request(pod)``, ``node_allocatable(node)``: kube-scheduler resource arithmetic
- ``pod_group_key(pod)``: the IR item-group name a pending pod belongs to
- ``static_filter(pod, node)``: None if the node passes the node-level filters, else the reason
- ``node_unusable_reason(node)``: why no ordinary pod can use a node (cordoned, not Ready), or None
- ``plan_to_bindings(problem, solution)``, ``plan_to_bindings_yaml(problem, solution)``: v1 Bindings
- ``replica_plan(problem, solution)``, ``binding_files(problem, solution, path)``: the ReplicaPlan
  and the two files ``--format bindings`` writes
- ``claim_allocations(problem, solution)``: the DRA devices the plan assumes per bound pod
- ``explain_unplaced(problem, solution)``: kube-scheduler style reasons for pending groups
"""

from __future__ import annotations

from .bindings import (
    binding_files,
    claim_allocations,
    plan_to_bindings,
    plan_to_bindings_yaml,
    replica_plan,
)
from .explain import explain_unplaced, fit_error
from .filters import node_unusable_reason, static_filter
from .objects import Cluster, load_cluster
from .resources import node_allocatable, pod_request
from .to_ir import cluster_to_problem, manifests_to_problem, pod_group_key

__all__ = [
    "Cluster",
    "binding_files",
    "claim_allocations",
    "cluster_to_problem",
    "explain_unplaced",
    "fit_error",
    "load_cluster",
    "manifests_to_problem",
    "node_allocatable",
    "node_unusable_reason",
    "plan_to_bindings",
    "plan_to_bindings_yaml",
    "pod_group_key",
    "pod_request",
    "replica_plan",
    "static_filter",
]
