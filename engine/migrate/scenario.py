"""Generated consolidation scenarios: a packed target plan and a current placement in which a
given fraction of the running pods sit elsewhere (on nodes the target empties or in the target's
slack), with a disruption budget per workload."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..ir import Problem
from ..solution import Solution, Status

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
BUDGETS: tuple[dict[str, int | str], ...] = (
    {"max_unavailable": 1},
    {"max_unavailable": "10%"},
    {"max_unavailable": "25%"},
    {"min_available": "80%"},
)


def _budget(g: int, spec: dict[str, Any]) -> dict[str, int | str]:
    """Budgets in turn; ``minAvailable: 80%`` only where it leaves room for one eviction."""
    budget = BUDGETS[g % len(BUDGETS)]
    if "min_available" in budget and spec["count"] < 10:
        return {"max_unavailable": 1}
    return budget


def _counts(on_node: np.ndarray) -> dict[tuple[int, int], int]:
    """(group, node) -> pods, where there are any."""
    return {(int(g), int(b)): int(on_node[g, b]) for g, b in zip(*np.nonzero(on_node), strict=True)}


def consolidation(
    nodes: int = 200, moved: float = 0.3, *, seed: int = 0, fill: float = 0.9
) -> tuple[Problem, Solution]:
    """(problem with the current placement as ``placed``, target plan)."""
    rng = np.random.default_rng(seed)
    cpu, memory = 16_000, 64 * 2**30
    groups: list[dict[str, Any]] = []
    pods = 0
    target_nodes = int(nodes * 0.75)
    size = 0.0  # in nodes: each pod counts its larger share of a node's cpu or memory
    while size < target_nodes * fill * 0.85:
        n = len(groups)
        g_cpu = int(rng.choice([250, 500, 1000, 1500, 2000]))
        groups.append(
            {
                "name": f"app-{n}",
                "count": int(rng.integers(4, 40)),
                "cpu": g_cpu,
                "memory": int(g_cpu * 4 * 2**20 * rng.choice([0.5, 1.0, 2.0])),
                "spread": bool(rng.random() < 0.3),  # at most 2 per node
            }
        )
        pods += groups[-1]["count"]
        size += groups[-1]["count"] * max(g_cpu / cpu, groups[-1]["memory"] / memory)
    names = [f"node-{k:03d}" for k in range(nodes)]
    # every node's fit tested at once (one numpy call per pod, not one per pod and node: the
    # 3,000-node scenario took 9 minutes); the same nodes in the same order as one by one
    load = np.zeros((nodes, 2), dtype=np.int64)
    demand = np.array([(spec["cpu"], spec["memory"]) for spec in groups], dtype=np.int64)
    spread = [bool(spec["spread"]) for spec in groups]
    on_node = np.zeros((len(groups), nodes), dtype=np.int32)  # pods of a group per node
    cap = np.array([cpu, memory], dtype=np.int64)
    limit = (cap * fill).astype(np.int64)

    def fitting(g: int, room: np.ndarray) -> np.ndarray:
        """Which nodes take one more pod of ``g`` within ``room`` (at most 2 a node if spread)."""
        ok = np.all(load + demand[g] <= room, axis=1)
        return ok & (on_node[g] < 2) if spread[g] else ok

    def put(g: int, b: int, sign: int = 1) -> None:
        load[b] += sign * demand[g]
        on_node[g, b] += sign

    # target: first fit decreasing on the first 75 % of the nodes, filled to ``fill``
    order = sorted(
        [g for g in range(len(groups)) for _ in range(groups[g]["count"])],
        key=lambda g: -groups[g]["cpu"],
    )
    where = []
    for g in order:
        first = np.flatnonzero(fitting(g, limit))
        if not first.size:
            raise ValueError("the generated workloads do not fit; use more nodes")
        put(g, int(first[0]))
        where.append((g, int(first[0])))
    target = _counts(on_node)
    # current: a fraction of the pods displaced to random nodes with room (full capacity)
    chosen = rng.choice(len(where), size=round(moved * len(where)), replace=False)
    for k in chosen:
        g, b = where[k]
        put(g, b, -1)
        order_tried = rng.permutation(nodes)
        ok = fitting(g, cap)
        ok[b] = False
        candidates = order_tried[ok[order_tried]]
        if not candidates.size:
            put(g, b)
            continue
        put(g, int(candidates[0]))
    current = _counts(on_node)
    placed: dict[int, dict[str, int]] = defaultdict(dict)
    for (g, b), n in current.items():
        placed[g][names[b]] = n
    problem = Problem.model_validate(
        {
            "name": f"consolidation-{nodes}-s{seed}",
            "bins": [
                {
                    "name": name,
                    "capacity": {"cpu": f"{cpu}m", "memory": memory, "pods": 110},
                    "labels": {HOSTNAME: name, ZONE: f"z{k % 4}"},
                }
                for k, name in enumerate(names)
            ],
            "items": [
                {
                    "name": spec["name"],
                    "count": spec["count"],
                    "demand": {"cpu": f"{spec['cpu']}m", "memory": spec["memory"], "pods": 1},
                    "labels": {
                        "app": spec["name"],
                        **({"spread": "host"} if spec["spread"] else {}),
                    },
                    "placed": placed[g],
                    "movable": True,
                }
                for g, spec in enumerate(groups)
            ],
            "constraints": [
                {
                    "kind": "anti_affinity",
                    "selector": {"app": spec["name"]},
                    "topology": HOSTNAME,
                    "max_per_domain": 2,
                }
                for spec in groups
                if spec["spread"]
            ],
            "disruption_budgets": [
                {
                    "name": f"pdb-{spec['name']}",
                    "selector": {"app": spec["name"]},
                    **_budget(g, spec),
                }
                for g, spec in enumerate(groups)
            ],
            "objective": ["placed", {"bins_used": 1.0}, {"moves": 1.0}],
        }
    )
    plan = Solution.from_counts(
        problem,
        "generated",
        Status.FEASIBLE,
        {(groups[g]["name"], names[b]): n for (g, b), n in target.items()},
    )
    return problem, plan
