"""A generated ``kubectl get nodes,pods -A -o json`` dump, for load-time benchmarks and demos.

Seeded and pure: the same arguments give the same dump. Nodes sit in three zones and three pools
(general, highmem, tainted gpu), with a few cordoned and not-Ready nodes; pods belong to
Deployments (through ReplicaSets) across namespaces and use the rules real clusters use: pool
nodeSelectors, GPU tolerations, per-host anti-affinity, zone spread, preferred node affinity. A
share of each Deployment's pods is pending; the rest run on nodes with room.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from ..quantity import parse_quantity

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
POOLS = (("general", 0.6), ("highmem", 0.3), ("gpu", 0.1))
SHAPES = {
    "general": ("16", "64Gi", 0),
    "highmem": ("16", "128Gi", 0),
    "gpu": ("32", "256Gi", 8),
}
POD_SHAPES = (
    ("100m", "128Mi"),
    ("250m", "512Mi"),
    ("500m", "1Gi"),
    ("1", "2Gi"),
    ("2", "8Gi"),
    ("4", "16Gi"),
)


def _node(rng: random.Random, n: int) -> dict[str, Any]:
    name = f"ip-10-0-{n // 250}-{n % 250}.ec2.internal"
    pool = rng.choices([p for p, _ in POOLS], [w for _, w in POOLS])[0]
    cpu, memory, gpus = SHAPES[pool]
    zone = ZONES[n % len(ZONES)]
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": {
            "general": "m6i.4xlarge",
            "highmem": "r6i.4xlarge",
            "gpu": "p4d.8xlarge",
        }[pool],
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": "us-east-1",
        "pool": pool,
    }
    spec: dict[str, Any] = {"providerID": f"aws:///{zone}/i-{n:017x}"}
    if pool == "gpu":
        spec["taints"] = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    if rng.random() < 0.02:
        spec["unschedulable"] = True
    ready = "False" if rng.random() < 0.01 else "True"
    allocatable = {
        "cpu": f"{int(cpu) * 1000 - 190}m",
        "memory": memory,
        "pods": "110",
        "ephemeral-storage": "95Gi",
    }
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    if gpus:
        allocatable["nvidia.com/gpu"] = capacity["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.UUID(int=rng.getrandbits(128))),
            "resourceVersion": str(rng.randrange(10**8)),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "allocatable": allocatable,
            "capacity": capacity,
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.2",
                "osImage": "Amazon Linux 2023",
                "architecture": "amd64",
            },
        },
    }


def _template(rng: random.Random, app: str, pool: str) -> dict[str, Any]:
    cpu, memory = rng.choice(POD_SHAPES)
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    spec: dict[str, Any] = {"nodeSelector": {"pool": pool}} if rng.random() < 0.5 else {}
    if pool == "gpu":
        requests["nvidia.com/gpu"] = str(rng.choice((1, 1, 2, 4)))
        spec = {
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        }
    affinity: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.2:
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": app}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    elif roll < 0.4:
        affinity["podAntiAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": {"app": app}},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    if rng.random() < 0.2:
        affinity["nodeAffinity"] = {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/zone",
                                "operator": "In",
                                "values": [rng.choice(ZONES)],
                            }
                        ]
                    },
                }
            ]
        }
    if affinity:
        spec["affinity"] = affinity
    if rng.random() < 0.3:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": rng.choice(("DoNotSchedule", "ScheduleAnyway")),
                "labelSelector": {"matchLabels": {"app": app}},
            }
        ]
    spec["containers"] = [
        {
            "name": app,
            "image": f"registry.example.com/{app}:1.{rng.randrange(40)}",
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP", "value": app}],
            "resources": {"requests": requests, "limits": {"memory": memory}},
            "volumeMounts": [
                {
                    "name": "kube-api-access",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": True,
                }
            ],
        }
    ]
    spec["volumes"] = [
        {
            "name": "kube-api-access",
            "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
        }
    ]
    spec["restartPolicy"] = "Always"
    spec["schedulerName"] = "default-scheduler"
    spec["terminationGracePeriodSeconds"] = 30
    return spec


def _room(node: dict[str, Any]) -> dict[str, int]:
    alloc = node["status"]["allocatable"]
    return {r: parse_quantity(r, v) for r, v in alloc.items()}


def _need(spec: dict[str, Any]) -> dict[str, int]:
    requests = spec["containers"][0]["resources"]["requests"]
    return {"pods": 1, **{r: parse_quantity(r, v) for r, v in requests.items()}}


def cluster_dump(
    nodes: int = 1000, pods: int = 10000, *, pending_fraction: float = 0.1, seed: int = 0
) -> dict[str, Any]:
    """``kubectl get nodes,pods -A -o json`` of a generated cluster (a ``kind: List``)."""
    rng = random.Random(seed)
    node_objs = [_node(rng, n) for n in range(nodes)]
    by_pool: dict[str, list[dict[str, Any]]] = {}
    for n in node_objs:
        if not n["spec"].get("unschedulable"):
            by_pool.setdefault(n["metadata"]["labels"]["pool"], []).append(n)
    free = {n["metadata"]["name"]: _room(n) for n in node_objs}
    pod_objs: list[dict[str, Any]] = []
    made = 0
    d = 0
    while made < pods:
        ns = f"team-{d % 17}"
        app = f"svc-{d}"
        pool = rng.choices([p for p, _ in POOLS], [w for _, w in POOLS])[0]
        spec = _template(rng, app, pool)
        rs = f"{app}-{rng.getrandbits(32):08x}"[:20]
        replicas = min(pods - made, rng.choice((1, 2, 3, 3, 5, 8, 12, 20, 40)))
        for replica in range(replicas):
            pod_spec = dict(spec)
            status: dict[str, Any] = {"phase": "Pending", "qosClass": "Burstable"}
            candidates = by_pool.get(pool) or by_pool.get("general") or []
            if rng.random() >= pending_fraction and candidates:
                target = rng.choice(candidates)["metadata"]["name"]
                need = _need(spec)
                if all(free[target].get(res, 0) >= v for res, v in need.items()):
                    for res, v in need.items():
                        free[target][res] -= v
                    pod_spec["nodeName"] = target
                    status = {
                        "phase": "Running",
                        "qosClass": "Burstable",
                        "hostIP": "10.0.0.1",
                        "podIP": "10.1.0.1",
                    }
            pod_objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{rs}-{replica:05d}",
                        "namespace": ns,
                        "uid": str(uuid.UUID(int=rng.getrandbits(128))),
                        "labels": {"app": app, "pod-template-hash": rs[-8:]},
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "ReplicaSet",
                                "name": rs,
                                "controller": True,
                                "blockOwnerDeletion": True,
                            }
                        ],
                        "creationTimestamp": "2026-01-02T00:00:00Z",
                    },
                    "spec": pod_spec,
                    "status": status,
                }
            )
        made += replicas
        d += 1
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": node_objs + pod_objs,
        "metadata": {"resourceVersion": ""},
    }
