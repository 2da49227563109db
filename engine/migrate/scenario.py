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
    load = np.zeros((nodes, 2), dtype=np.int64)
    per_node: dict[tuple[int, int], int] = defaultdict(int)
    cap = np.array([cpu, memory], dtype=np.int64)
    limit = (cap * fill).astype(np.int64)

    def fits(g: int, b: int, room: np.ndarray) -> bool:
        spec = groups[g]
        if spec["spread"] and per_node[(g, b)] >= 2:
            return False
        return bool(np.all(load[b] + (spec["cpu"], spec["memory"]) <= room))

    def put(g: int, b: int, sign: int = 1) -> None:
        load[b] += sign * np.array((groups[g]["cpu"], groups[g]["memory"]))
        per_node[(g, b)] += sign

    # target: first fit decreasing on the first 75 % of the nodes, filled to ``fill``
    order = sorted(
        [g for g in range(len(groups)) for _ in range(groups[g]["count"])],
        key=lambda g: -groups[g]["cpu"],
    )
    where = []
    for g in order:
        b = next((b for b in range(nodes) if fits(g, b, limit)), None)
        if b is None:
            raise ValueError("the generated workloads do not fit; use more nodes")
        put(g, b)
        where.append((g, b))
    target = dict(per_node)
    # current: a fraction of the pods displaced to random nodes with room (full capacity)
    chosen = rng.choice(len(where), size=round(moved * len(where)), replace=False)
    for k in chosen:
        g, b = where[k]
        put(g, b, -1)
        candidates = [c for c in rng.permutation(nodes) if c != b and fits(g, int(c), cap)]
        if not candidates:
            put(g, b)
            continue
        put(g, int(candidates[0]))
    current = {k: v for k, v in per_node.items() if v}
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
                    "placed": {names[b]: n for (h, b), n in current.items() if h == g},
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
        {(groups[g]["name"], names[b]): n for (g, b), n in target.items() if n},
    )
    return problem, plan
