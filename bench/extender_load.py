"""Load benchmark of ``placer serve``: requests/s and p50/p99 latency of filter and prioritize.

The service runs in its own process (``placer serve --snapshot``) on loopback; this process is the
load generator, with a minimal keep-alive HTTP/1.1 client on asyncio streams so the client costs
little next to the server. Every run is bounded by a request count and a time limit.

    python -m bench.extender_load --nodes 5000 --pods 50000 --requests 3000 --seconds 20

Scenarios: {filter, prioritize} x {500 NodeNames, a full 500-node NodeList} x {planner off, on},
plus the resident memory of the service holding the whole cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

SAMPLE = 500  # kube-scheduler's default sample at 5,000 nodes (percentageOfNodesToScore 10 %)


# ---- a minimal HTTP/1.1 client (keep-alive, Content-Length bodies only) ----


class RawConnection:
    """One keep-alive connection; ``post`` returns (status, body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port, limit=2**26)
        return cls(reader, writer, f"{host}:{port}")

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


# ---- the cluster ----


def make_cluster(nodes: int, pods: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Nodes in 3 zones with realistic object sizes; 90 % of the pods bound, the rest pending."""
    rng = random.Random(seed)
    node_objs = []
    for i in range(nodes):
        name = f"node-{i:05d}"
        node_objs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "uid": f"00000000-0000-0000-0000-{i:012d}",
                    "resourceVersion": "1",
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node.kubernetes.io/instance-type": "m5.4xlarge",
                        "topology.kubernetes.io/region": "eu-west-1",
                        "topology.kubernetes.io/zone": f"eu-west-1{'abc'[i % 3]}",
                    },
                    "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                },
                "spec": {
                    "podCIDR": f"10.{i // 250}.{i % 250}.0/24",
                    "providerID": f"aws:///{name}",
                },
                "status": {
                    "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                    "allocatable": {"cpu": "15800m", "memory": "62Gi", "pods": "110"},
                    "conditions": [
                        {
                            "type": t,
                            "status": "False" if t != "Ready" else "True",
                            "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                            "reason": "KubeletReady",
                        }
                        for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
                    ],
                    "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Ubuntu 24.04"},
                },
            }
        )
    # 500 workloads; replicas of one workload share their requests, as ReplicaSet pods do.
    sizes = [(rng.choice((100, 200, 250, 500)), rng.choice((128, 256, 512))) for _ in range(500)]
    pod_objs = []
    for j in range(pods):
        app = f"app-{j % 500}"
        cpu, memory = sizes[j % 500]
        bound = j < pods * 9 // 10
        spec: dict[str, Any] = {
            "schedulerName": "default-scheduler",
            "priority": 0,
            "containers": [
                {
                    "name": "main",
                    "image": f"registry.example.com/{app}:1.0",
                    "resources": {
                        "requests": {
                            "cpu": f"{cpu}m",
                            "memory": f"{memory}Mi",
                        },
                    },
                }
            ],
        }
        if bound:
            spec["nodeName"] = f"node-{rng.randrange(nodes):05d}"
        pod_objs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{app}-{j:06d}",
                    "namespace": "bench",
                    "uid": f"pod-{j:08d}",
                    "labels": {"app": app},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": f"{app}-rs",
                            "uid": f"rs-{app}",
                            "controller": True,
                        }
                    ],
                },
                "spec": spec,
                "status": {"phase": "Running" if bound else "Pending"},
            }
        )
    return node_objs, pod_objs


GPU_DRIVER = "gpu.bench.example"
# GPU claim shapes of the pending and running GPU pods: shares of one GPU (milli-GPU), whole GPUs
GPU_SHARES = (250, 500, 750)
GPU_WHOLE = (1, 2)


def add_gpus(nodes: list[dict], pods: list[dict], gpus: int, seed: int = 0) -> list[dict]:
    """DRA objects for ``gpus`` shared GPUs per node (ResourceSlices, a DeviceClass, claim
    templates), every other workload's pods claiming a GPU share or whole GPUs (``pods`` are
    changed in place), and the allocated ResourceClaims of the bound ones (at most one per GPU,
    so none is over-allocated). Returns the DRA objects."""
    rng = random.Random(seed)
    shapes = [f"share-{m}" for m in GPU_SHARES] + [f"whole-{n}" for n in GPU_WHOLE]
    objects: list[dict] = [
        {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
         "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{GPU_DRIVER}"'}}]}},
    ]  # fmt: skip
    for shape in shapes:
        kind, _, amount = shape.partition("-")
        request: dict[str, Any] = {"deviceClassName": "gpu", "allocationMode": "ExactCount"}
        if kind == "share":
            request |= {"count": 1, "capacity": {"requests": {"milli": amount}}}
        else:
            request["count"] = int(amount)
        objects.append(
            {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
             "metadata": {"name": f"gpu-{shape}", "namespace": "bench"},
             "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": request}]}}}}
        )  # fmt: skip
    for node in nodes:
        name = node["metadata"]["name"]
        objects.append(
            {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
             "metadata": {"name": f"{name}-gpus"},
             "spec": {"driver": GPU_DRIVER, "nodeName": name,
                      "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
                      "devices": [{"name": f"gpu-{k}", "attributes": {"model": {"string": "A100"}},
                                   "capacity": {"milli": {"value": "1000"}},
                                   "allowMultipleAllocations": True} for k in range(gpus)]}}
        )  # fmt: skip
    taken: set[tuple[str, int]] = set()
    for j, pod in enumerate(pods):
        app = j % 500
        if app % 2:
            continue
        shape = shapes[(app // 2) % len(shapes)]
        spec = pod["spec"]
        spec["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
        spec["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": f"gpu-{shape}"}]
        node_name = spec.get("nodeName")
        if node_name is None or not shape.startswith("share"):
            continue
        slot = rng.randrange(gpus)
        if (node_name, slot) in taken:
            continue
        taken.add((node_name, slot))
        claim = f"{pod['metadata']['name']}-gpu"
        pod["status"]["resourceClaimStatuses"] = [{"name": "gpu", "resourceClaimName": claim}]
        objects.append(
            {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
             "metadata": {"name": claim, "namespace": "bench"},
             "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                 "deviceClassName": "gpu", "count": 1,
                 "capacity": {"requests": {"milli": shape.removeprefix("share-")}}}}]}},
             "status": {"allocation": {"devices": {"results": [
                 {"request": "gpu", "driver": GPU_DRIVER, "pool": node_name,
                  "device": f"gpu-{slot}",
                  "consumedCapacity": {"milli": shape.removeprefix("share-")}}]}}}}
        )  # fmt: skip
    return objects


# ---- hostile requests ----
# Valid requests that carry every field placer reads, then mutated: a subtree replaced by a
# value of the wrong type or range, a key dropped or re-cased, a list where an object belongs.
# Any body that parses as JSON must get a 4xx or a protocol answer, never a 5xx, and nothing
# it leaves in the service may break the next plan.

DEEP: Any = []
for _ in range(200):
    DEEP = [DEEP]

HOSTILE_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 7, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0, 1e60, -1e300,
    "", "x", "1e60", "-1", "12Qi", "1e-400", "NaN", "9" * 400, "\u0000", "é" * 100, "a" * 70_000,
    [], [None], ["x", 1], [{}], {}, {"x": 1}, {"metadata": 1}, {"": ""}, DEEP,
)  # fmt: skip


def rich_pod(name: str, *, priority: int = 100, node_name: str | None = None) -> dict[str, Any]:
    """A pending Pod using every scheduling field placer reads."""
    match_web = {"matchLabels": {"app": "web"}}
    spec: dict[str, Any] = {
        "schedulerName": "default-scheduler",
        "priority": priority,
        "nodeSelector": {"disk": "ssd"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]}
                ]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [
                        {"key": "gpu", "operator": "DoesNotExist"}]}}
                ],
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": match_web, "topologyKey": "kubernetes.io/hostname"}
                ],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "podAffinityTerm": {
                        "labelSelector": {"matchExpressions": [
                            {"key": "tier", "operator": "NotIn", "values": ["db"]}]},
                        "topologyKey": "zone", "namespaces": ["team"]}}
                ],
            },
        },
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
            {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
        ],
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": match_web, "minDomains": 2, "nodeAffinityPolicy": "Honor"}
        ],
        "overhead": {"cpu": "10m"},
        "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "500m"}}}],
        "containers": [
            {"name": "main", "image": "web:1",
             "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1"}},
             "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]}
        ],
    }  # fmt: skip
    if node_name:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "team", "uid": f"uid-{name}",
            "labels": {"app": "web", "tier": "fe"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs",
                                 "uid": "rs-web", "controller": True}],
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }  # fmt: skip


def rich_node(name: str, zone: str = "z1") -> dict[str, Any]:
    """A Node using every field placer reads (taints, conditions, labels, extended resources)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name, "uid": f"uid-{name}", "resourceVersion": "1",
            "labels": {"kubernetes.io/hostname": name, "zone": zone, "disk": "ssd"},
        },
        "spec": {"taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "example.com/gpu": "2"},
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }  # fmt: skip


def valid_requests(n: int, known_nodes: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """One valid request of each shape the protocol has (the ``n``-th set, so names are fresh)."""
    pod = rich_pod(f"p{n}")
    fresh = [rich_node(f"r{n}-{k}", zone=f"z{k % 2 + 1}") for k in range(3)]
    victims_meta = {name: {"Pods": [{"UID": "uid-low"}], "NumPDBViolations": 0}
                    for name in known_nodes[:2]}  # fmt: skip
    victims_full = {name: {"Pods": [rich_pod(f"v{n}-{name}", priority=1, node_name=name)],
                           "NumPDBViolations": 1} for name in known_nodes[:2]}  # fmt: skip
    names_args = {"Pod": pod, "Nodes": None, "NodeNames": known_nodes}
    list_args = {"Pod": pod, "Nodes": {"metadata": {}, "items": fresh}, "NodeNames": None}
    return [
        ("filter", names_args),
        ("filter", list_args),
        ("prioritize", names_args),
        ("prioritize", list_args),
        ("preempt", {"Pod": pod, "NodeNameToVictims": None, "NodeNameToMetaVictims": victims_meta}),
        ("preempt", {"Pod": pod, "NodeNameToVictims": victims_full, "NodeNameToMetaVictims": None}),
        ("bind", {"PodName": f"p{n}", "PodNamespace": "team", "PodUID": f"uid-p{n}",
                  "Node": known_nodes[0]}),
    ]  # fmt: skip


def _paths(value: Any) -> list[tuple[Any, ...]]:
    """Every path into ``value``, parents before children (DEEP is a leaf: walking its 200
    levels would make the paths quadratic in its depth)."""
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        here, item = stack.pop()
        paths.append(here)
        if isinstance(item, dict):
            children = list(item.items())
        elif isinstance(item, list) and item is not DEEP:
            children = list(enumerate(item))
        else:
            continue
        stack.extend(((*here, key), child) for key, child in reversed(children))
    return paths


def mutate(value: Any, rng: random.Random) -> Any:
    """A copy of ``value`` with one subtree replaced, dropped or re-keyed (only the containers
    on the way to it are copied; the rest is shared with ``value``, which stays as it was)."""
    path = rng.choice(_paths(value))
    if not path:
        return rng.choice(HOSTILE_VALUES)
    root = parent = copy.copy(value)
    for part in path[:-1]:
        parent[part] = copy.copy(parent[part])
        parent = parent[part]
    last = path[-1]
    action = rng.random()
    if action < 0.7:
        parent[last] = rng.choice(HOSTILE_VALUES)
    elif action < 0.85 and isinstance(parent, dict):
        del parent[last]
    elif isinstance(parent, dict) and isinstance(last, str):
        parent[rng.choice((last.lower(), last.upper(), last + "x"))] = parent.pop(last)
    else:
        parent[last] = [parent[last], parent[last]]
    return root


def hostile_requests(seed: int, count: int, known_nodes: list[str]) -> Iterator[tuple[str, bytes]]:
    """``count`` (verb, body) pairs: mostly mutated valid requests, some valid ones."""
    rng = random.Random(seed)
    for n in range(count):
        verb, args = rng.choice(valid_requests(n, known_nodes))
        for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
            args = mutate(args, rng)
        try:
            body = orjson.dumps(args)
        except (TypeError, orjson.JSONEncodeError):  # not representable as JSON: not a request
            continue
        yield verb, body


# ---- the service process ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    def __init__(
        self, snapshot: Path, *, planner: bool, plan_time_limit: float, device_scoring: bool = True
    ) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "engine", "serve", "--snapshot", str(snapshot),
               "--port", str(self.port), "--log-level", "warning",
               "--plan-time-limit", str(plan_time_limit),
               "--planner" if planner else "--no-planner",
               "--device-scoring" if device_scoring else "--no-device-scoring"]  # fmt: skip
        self.proc = subprocess.Popen(cmd)
        self.started = time.monotonic()

    def wait_ready(self, timeout: float = 300.0) -> float:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"placer serve exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("placer serve did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time the service process has used (user + system, all its threads)."""
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def rss_mib(self) -> float:
        import psutil

        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def metric(self, name: str) -> float | None:
        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def wait_plan(self, timeout: float) -> float | None:
        """Seconds until the first plan was published (None: not within ``timeout``)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            age = self.metric("placer_extender_plan_age_seconds")
            if age is not None and age >= 0:
                return round(time.monotonic() - started, 1)
            time.sleep(1.0)
        return None

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---- load ----


@dataclass
class Result:
    scenario: str
    planner: bool
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_200: int
    body_kb: float
    server_cpu_ms: float  # service CPU per request: independent of how loaded the machine is


def bodies(nodes: list[dict], pending: list[dict], node_list: bool, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    names = [n["metadata"]["name"] for n in nodes]
    by_name = {n["metadata"]["name"]: n for n in nodes}
    while True:
        pod = rng.choice(pending)
        sample = rng.sample(names, SAMPLE)
        args: dict[str, Any]
        if node_list:
            args = {"Pod": pod, "Nodes": {"metadata": {}, "items": [by_name[n] for n in sample]},
                    "NodeNames": None}  # fmt: skip
        else:
            args = {"Pod": pod, "Nodes": None, "NodeNames": sample}
        yield orjson.dumps(args)


async def load(
    port: int, path: str, payloads: list[bytes], *, clients: int, requests: int, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    bad = 0
    sent = 0
    deadline = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal bad, sent
        conn = await RawConnection.open("127.0.0.1", port)
        try:
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                body = payloads[(sent + k) % len(payloads)]
                t0 = time.perf_counter()
                status, _ = await conn.post(path, body)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    bad += 1
        finally:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return latencies, bad, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_scenarios(
    service: ServiceProcess,
    nodes: list[dict],
    pending: list[dict],
    *,
    planner: bool,
    clients: int,
    requests: int,
    seconds: float,
) -> list[Result]:
    results = []
    for node_list in (False, True):
        payloads = [
            b for b, _ in zip(bodies(nodes, pending, node_list, 1), range(20), strict=False)
        ]
        for verb in ("filter", "prioritize"):
            count = requests if not node_list else max(requests // 5, 200)
            # Warm up (first requests fill the static-filter cache and the allocator).
            asyncio.run(load(service.port, f"/scheduler/{verb}", payloads, clients=4,
                             requests=40, seconds=10))  # fmt: skip
            cpu_before = service.cpu_seconds()
            lat, bad, elapsed = asyncio.run(
                load(service.port, f"/scheduler/{verb}", payloads, clients=clients,
                     requests=count, seconds=seconds)
            )  # fmt: skip
            cpu_ms = (service.cpu_seconds() - cpu_before) * 1000 / max(len(lat), 1)
            scenario = f"{verb} {'NodeList' if node_list else 'NodeNames'} x{SAMPLE}"
            results.append(
                Result(
                    scenario=scenario,
                    planner=planner,
                    requests=len(lat),
                    seconds=round(elapsed, 2),
                    rps=round(len(lat) / elapsed, 1),
                    p50_ms=round(percentile(lat, 0.50) * 1000, 2),
                    p99_ms=round(percentile(lat, 0.99) * 1000, 2),
                    non_200=bad,
                    body_kb=round(sum(map(len, payloads)) / len(payloads) / 1024, 1),
                    server_cpu_ms=round(cpu_ms, 3),
                )
            )
            print(json.dumps(asdict(results[-1])), flush=True)
    return results


# ---- reliability: hostile requests, planner kills, shutdown, a flood of objects, idle sockets ----


class Served:
    """``placer serve`` with any arguments, in its own process group; stderr kept."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def metrics(self) -> dict[str, float]:
        import httpx

        out = {}
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def wait(self, predicate: Any, timeout: float = 300.0, step: float = 0.05) -> float:
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"placer serve exited: {self.stderr()[-2000:]}")
            try:
                if predicate():
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(step)
        raise RuntimeError("condition not reached in time")

    def ready(self) -> None:
        import httpx

        self.wait(lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200)

    def worker_pid(self) -> int | None:
        """The planning process: a child of the fork server, itself a child of the service."""
        import psutil

        for child in psutil.Process(self.proc.pid).children():
            if "forkserver" in " ".join(child.cmdline()):
                grandchildren = child.children()
                if grandchildren:
                    return int(grandchildren[0].pid)
        return None

    def rss_mib(self) -> float:
        import psutil

        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def wait_value(self, fetch: Any, timeout: float = 60.0) -> Any:
        found: list[Any] = []

        def got() -> bool:
            value = fetch()
            if value is not None:
                found.append(value)
            return bool(found)

        self.wait(got, timeout)
        return found[0]

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def slow_snapshot(path: Path) -> Path:
    """A cluster whose plan runs to its time limit (cpsat does not prove it optimal)."""
    from engine.kube.synthetic import cluster_dump

    dump = cluster_dump(50, 600, pending_fraction=0.6, seed=3)
    path.write_bytes(orjson.dumps(dump))
    return path


async def post_all(
    port: int, requests: Iterator[tuple[str, bytes]], clients: int
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    lock = asyncio.Lock()

    async def worker() -> None:
        conn = await RawConnection.open("127.0.0.1", port)
        try:
            while True:
                async with lock:
                    item = next(requests, None)
                if item is None:
                    return
                verb, body = item
                status, _ = await conn.post(f"/scheduler/{verb}", body)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    return statuses


def hostile_run(tmp: Path, count: int) -> dict[str, Any]:
    nodes, pods = make_cluster(50, 500)
    snapshot = tmp / "small.json"
    snapshot.write_bytes(orjson.dumps({"kind": "List", "items": nodes + pods}))
    known = [n["metadata"]["name"] for n in nodes[:5]]
    served = Served("--snapshot", str(snapshot), "--bind", "--plan-time-limit", "2",
                    "--log-level", "error")  # fmt: skip
    try:
        served.ready()
        started = time.monotonic()
        statuses = asyncio.run(post_all(served.port, hostile_requests(1, count, known), 4))
        seconds = time.monotonic() - started
        time.sleep(3.0)  # let the planner take in what was learned
        m = served.metrics()
        import httpx

        return {
            "requests": sum(statuses.values()),
            "by_status": dict(sorted(statuses.items())),
            "5xx": sum(n for code, n in statuses.items() if code >= 500),
            "seconds": round(seconds, 1),
            "plan_failures_input": m.get('placer_extender_plan_failures_total{reason="input"}', 0),
            "readyz": httpx.get(f"{served.url}/readyz", timeout=5).status_code,
            "traceback_in_log": "Traceback" in served.stderr(),
        }
    finally:
        served.stop()


def kill_run(tmp: Path, kills: int, limit: float) -> dict[str, Any]:
    served = Served("--snapshot", str(slow_snapshot(tmp / "slow.json")), "--plan-time-limit",
                    str(limit), "--log-level", "warning")  # fmt: skip
    solves = "placer_extender_plan_solve_seconds_count"
    deaths = 'placer_extender_plan_failures_total{reason="died"}'
    replans: list[float] = []
    noticed: list[float] = []
    try:
        served.ready()
        served.wait(lambda: served.metrics().get(solves, 0) >= 1, timeout=120)
        for k in range(kills):
            idle = k % 2 == 1
            done = served.metrics().get(solves, 0)
            died = served.metrics().get(deaths, 0)
            if not idle:  # a new pending pod starts a solve; kill it one second in
                body = orjson.dumps({"Pod": rich_pod(f"kill-{k}"), "Nodes": None, "NodeNames": []})
                asyncio.run(post_all(served.port, iter([("filter", body)]), 1))
                served.wait(lambda: served.metrics().get("placer_extender_plan_solving") == 1)
                time.sleep(1.0)
            pid = served.wait_value(served.worker_pid)
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            served.wait(lambda before=died: served.metrics().get(deaths, 0) > before)
            noticed.append(time.monotonic() - killed)
            if not idle:
                served.wait(
                    lambda before=done: served.metrics().get(solves, 0) > before,
                    timeout=10 * limit,
                )
                replans.append(time.monotonic() - killed)
            served.wait(lambda: served.metrics().get("placer_extender_planner_up") == 1)
        m = served.metrics()
        return {
            "kills": kills,
            "mid_solve": len(replans),
            "plan_time_limit": limit,
            "replan_after_kill_s": [round(r, 2) for r in replans],
            "worst_replan_over_limit": round(max(replans) / limit, 2) if replans else None,
            "noticed_after_s_max": round(max(noticed), 3),
            "deaths_counted": m.get('placer_extender_plan_failures_total{reason="died"}', 0),
            "restarts": m.get("placer_extender_planner_restarts_total", 0),
        }
    finally:
        served.stop()


def shutdown_run(tmp: Path, rounds: int) -> dict[str, Any]:
    import psutil

    snapshot = slow_snapshot(tmp / "slow.json")
    out: dict[str, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        times = []
        clean = True
        for _ in range(rounds):
            served = Served("--snapshot", str(snapshot), "--plan-time-limit", "60")
            try:
                served.ready()
                served.wait(lambda s=served: s.metrics().get("placer_extender_plan_solving") == 1)
                family = [
                    psutil.Process(served.proc.pid),
                    *psutil.Process(served.proc.pid).children(recursive=True),
                ]
                started = time.monotonic()
                os.killpg(served.proc.pid, sig)
                served.proc.wait(30)
                times.append(time.monotonic() - started)
                _, alive = psutil.wait_procs(family, timeout=3)
                err = served.stderr()
                clean &= not alive and "leaked" not in err and "Traceback" not in err
            finally:
                served.stop()
        out[sig.name] = {"rounds": rounds, "max_s": round(max(times), 2),
                         "mean_s": round(sum(times) / len(times), 2), "clean": clean}  # fmt: skip
    return out


def flood_run(nodes: int, pods: int, per_request: int) -> dict[str, Any]:
    served = Served("--no-planner", "--log-level", "error")
    samples = []
    try:
        served.ready()
        baseline = served.rss_mib()

        def requests() -> Iterator[tuple[str, bytes]]:
            sent_nodes = 0
            for r in range(max(pods, nodes // per_request)):
                items = []
                if sent_nodes < nodes:
                    items = [rich_node(f"f{sent_nodes + k}") for k in range(per_request)]
                    sent_nodes += per_request
                pod = rich_pod(f"f{r}") if r < pods else rich_pod("same")
                yield (
                    "prioritize",
                    orjson.dumps({"Pod": pod, "Nodes": {"items": items}, "NodeNames": None}),
                )
                if r % max(1, max(pods, nodes // per_request) // 10) == 0:
                    samples.append((sent_nodes, r, round(served.rss_mib(), 1)))

        started = time.monotonic()
        statuses = asyncio.run(post_all(served.port, requests(), 2))
        m = served.metrics()
        return {
            "distinct_nodes": nodes,
            "distinct_pods": pods,
            "seconds": round(time.monotonic() - started, 1),
            "by_status": statuses,
            "rss_mib_start": round(baseline, 1),
            "rss_mib_samples (nodes sent, pods sent, MiB)": samples,
            "rss_mib_end": round(served.rss_mib(), 1),
            "learned_nodes": m.get('placer_extender_learned_objects{kind="nodes"}'),
            "learned_pods": m.get('placer_extender_learned_objects{kind="pods"}'),
            "evicted_nodes": m.get('placer_extender_learned_evictions_total{kind="nodes"}'),
            "evicted_pods": m.get('placer_extender_learned_evictions_total{kind="pods"}'),
        }
    finally:
        served.stop()


def idle_sockets_run(count: int) -> dict[str, Any]:
    import select

    nodes, _ = make_cluster(10, 0)
    served = Served("--no-planner", "--log-level", "error")
    try:
        served.ready()
        socks = []
        for k in range(count):
            s = socket.create_connection(("127.0.0.1", served.port))
            if k % 5 == 0:  # a fifth send half a request line and stall (slowloris)
                s.sendall(b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        opened = time.monotonic()
        body = orjson.dumps({"Pod": rich_pod("p"), "Nodes": {"items": nodes}, "NodeNames": None})
        t0 = time.monotonic()
        status = asyncio.run(post_all(served.port, iter([("filter", body)]), 1))
        served_ms = (time.monotonic() - t0) * 1000
        pending = set(socks)
        closed_at = []
        while pending and time.monotonic() - opened < 60:
            ready, _, _ = select.select(list(pending), [], [], 1.0)
            for s in ready:
                with contextlib.suppress(OSError):
                    s.recv(4096)
                pending.discard(s)
                closed_at.append(time.monotonic() - opened)
        for s in socks:
            s.close()
        return {
            "connections": count,
            "closed_by_server": count - len(pending),
            "all_closed_after_s": round(max(closed_at), 1) if closed_at else None,
            "a_request_meanwhile": {"status": status, "ms": round(served_ms, 1)},
        }
    finally:
        served.stop()


def reliability(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for name, run in (
            ("hostile", lambda: hostile_run(tmp, args.hostile)),
            ("planner_kills", lambda: kill_run(tmp, args.kills, args.plan_time_limit)),
            ("shutdown", lambda: shutdown_run(tmp, args.shutdowns)),
            ("idle_sockets", lambda: idle_sockets_run(args.idle_sockets)),
            ("flood", lambda: flood_run(args.flood_nodes, args.flood_pods, 1000)),
        ):
            if name in args.only:
                report[name] = run()
                print(name, json.dumps(report[name]), flush=True)
    report["load_after"] = os.getloadavg()
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=50000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=3000, help="per scenario (NodeList: /5)")
    ap.add_argument("--seconds", type=float, default=20.0, help="time cap per scenario")
    ap.add_argument("--plan-time-limit", type=float, default=30.0)
    ap.add_argument("--planner", choices=("off", "on", "both"), default="both")
    ap.add_argument(
        "--wait-plan",
        type=float,
        default=0.0,
        help="planner on: wait up to this many seconds for the first plan before loading",
    )
    ap.add_argument(
        "--gpus",
        type=int,
        default=0,
        help="shared GPUs per node as DRA devices; every other workload claims GPUs",
    )
    ap.add_argument(
        "--device-scoring", choices=("on", "off"), default="on", help="placer serve's option"
    )
    ap.add_argument("-o", "--output", type=Path, help="write results as JSON here")
    ap.add_argument(
        "--reliability", action="store_true",
        help="instead of load: hostile requests, planner kills, shutdowns, idle sockets, a flood",
    )  # fmt: skip
    ap.add_argument("--only", default="hostile,planner_kills,shutdown,idle_sockets,flood")
    ap.add_argument("--hostile", type=int, default=20_000, help="hostile requests to send")
    ap.add_argument("--kills", type=int, default=10, help="planning processes to kill")
    ap.add_argument("--shutdowns", type=int, default=3, help="rounds per signal")
    ap.add_argument("--idle-sockets", type=int, default=500)
    ap.add_argument("--flood-nodes", type=int, default=1_000_000)
    ap.add_argument("--flood-pods", type=int, default=100_000)
    args = ap.parse_args(argv)
    if args.reliability:
        args.only = set(args.only.split(","))
        if args.plan_time_limit == 30.0:
            args.plan_time_limit = 5.0
        report = reliability(args)
        print(json.dumps(report, indent=1))
        if args.output:
            args.output.write_text(json.dumps(report, indent=1))
        return

    nodes, pods = make_cluster(args.nodes, args.pods)
    dra = add_gpus(nodes, pods, args.gpus) if args.gpus else []
    pending = [p for p in pods if "nodeName" not in p["spec"]]
    results: list[Result] = []
    memory: dict[str, Any] = {}
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.planner]
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "cluster.json"
        snapshot.write_bytes(
            orjson.dumps({"apiVersion": "v1", "kind": "List", "items": nodes + pods + dra})
        )
        del pods
        for planner in modes:
            service = ServiceProcess(
                snapshot,
                planner=planner,
                plan_time_limit=args.plan_time_limit,
                device_scoring=args.device_scoring == "on",
            )
            try:
                load_s = service.wait_ready()
                rss = service.rss_mib()
                memory[f"planner_{'on' if planner else 'off'}"] = {
                    "load_seconds": round(load_s, 1),
                    "rss_mib_after_load": round(rss, 1),
                }
                print(f"service ready in {load_s:.1f}s, RSS {rss:.0f} MiB", flush=True)
                if planner and args.wait_plan > 0:
                    waited = service.wait_plan(args.wait_plan)
                    memory["planner_on"]["first_plan_after_s"] = waited
                    print(f"first plan after {waited}s", flush=True)
                results += run_scenarios(
                    service, nodes, pending, planner=planner, clients=args.clients,
                    requests=args.requests, seconds=args.seconds,
                )  # fmt: skip
                memory[f"planner_{'on' if planner else 'off'}"].update(
                    rss_mib_end=round(service.rss_mib(), 1),
                    plan_age_s=service.metric("placer_extender_plan_age_seconds"),
                    plan_solve_count=service.metric("placer_extender_plan_solve_seconds_count"),
                    plan_solve_sum_s=service.metric("placer_extender_plan_solve_seconds_sum"),
                    device_scored=service.metric(
                        'placer_extender_device_scores_total{outcome="scored"}'
                    ),
                )
            finally:
                service.stop()
    report = {
        "nodes": args.nodes,
        "pods": args.pods,
        "gpus_per_node": args.gpus,
        "device_scoring": args.device_scoring,
        "clients": args.clients,
        "cpus": os.cpu_count(),
        "results": [asdict(r) for r in results],
        "memory": memory,
    }
    print(render(report))
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['nodes']} nodes, {report['pods']} pods, {report['clients']} connections, "
        f"{report['gpus_per_node']} GPUs per node, device scoring {report['device_scoring']}",
        "",
        "| scenario | planner | requests | req/s | p50 ms | p99 ms | non-200 | body KB "
        "| server CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['scenario']} | {'on' if r['planner'] else 'off'} | {r['requests']} | "
            f"{r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['non_200']} | {r['body_kb']} | "
            f"{r['server_cpu_ms']} |"
        )
    lines.append("")
    for mode, mem in report["memory"].items():
        lines.append(f"- {mode}: {json.dumps(mem)}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
