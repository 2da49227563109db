"""Gated batch planning on a real control plane: pods arriving at a steady rate, ``placer serve
--kubeconfig --gate`` (its own process) planning them in batches, kube-scheduler binding them;
against kube-scheduler alone.

    python -m bench.gate --nodes 500 --pods 2000 --rate 100 -o bench-results/gate

For each run (client clock, watch events): time from pod creation to gate removal and to binding
(p50, p99, max), pods bound once the arrivals are over and the scheduler is idle (and of them
the 4-cpu pods), API writes per pod and batches from placer's /metrics. The same pods (same seed)
go through kube-scheduler alone, ungated (the "greedy" run: the real default scheduler, not
placer's imitation). The load generator's achieved arrival rate is reported beside the asked one.

Cluster: ``--nodes`` nodes of 8 cpu / 32Gi; pods in random order, three quarters 1-cpu and one
quarter 4-cpu (87.5 % of the cpu at 2,000 pods on 500 nodes): spreading the small pods strands
big ones, which is what batch planning is for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.controlplane import ControlPlane, free_ports, pod_manifest, ready_node

GATE = "placer.dev/plan"
NODE = {"cpu": "8", "memory": "32Gi", "pods": "110"}


def pod_specs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    shapes = ["1"] * (3 * n // 4) + ["4"] * (n - 3 * n // 4)
    rng.shuffle(shapes)
    return [(f"p-{i:05d}", cpu) for i, cpu in enumerate(shapes)]


class Watch(threading.Thread):
    """Records, per pod name, when it was first seen ungated and when it was bound."""

    def __init__(self, plane: ControlPlane) -> None:
        super().__init__(daemon=True)
        self.core = plane.core()
        self.released: dict[str, float] = {}
        self.bound: dict[str, str] = {}
        self.bound_at: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        version = orjson.loads(
            self.core.list_namespaced_pod("default", _preload_content=False).data
        )["metadata"]["resourceVersion"]
        while not self.stop.is_set():
            response = self.core.list_namespaced_pod(
                "default", watch=True, resource_version=version, timeout_seconds=5,
                allow_watch_bookmarks=True, _preload_content=False,
            )  # fmt: skip
            buffer = b""
            for chunk in response.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    obj = event.get("object") or {}
                    meta = obj.get("metadata") or {}
                    version = meta.get("resourceVersion") or version
                    if event.get("type") not in ("ADDED", "MODIFIED"):
                        continue
                    spec = obj.get("spec") or {}
                    name = meta.get("name")
                    if not spec.get("schedulingGates") and name not in self.released:
                        self.released[name] = time.monotonic()
                    if spec.get("nodeName") and name not in self.bound:
                        self.bound[name] = spec["nodeName"]
                        self.bound_at[name] = time.monotonic()


def reset(core: Any) -> None:
    core.delete_collection_namespaced_pod("default", grace_period_seconds=0)
    while orjson.loads(core.list_namespaced_pod("default", _preload_content=False).data)["items"]:
        time.sleep(0.5)


def arrive(core: Any, specs: list[tuple[str, str]], rate: float, gated: bool) -> dict[str, float]:
    """Create the pods at ``rate`` per second; when each create was sent (monotonic)."""
    created: dict[str, float] = {}
    start = time.monotonic()

    def one(n: int, name: str, cpu: str) -> None:
        at = start + n / rate
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        created[name] = time.monotonic()
        core.create_namespaced_pod(
            "default", pod_manifest(name, cpu, memory="1Gi", gates=(GATE,) if gated else ())
        )

    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(one, n, name, cpu) for n, (name, cpu) in enumerate(specs)]:
            future.result()
    return created


def settle(watch: Watch, total: int, quiet: float = 5.0, limit: float = 300.0) -> None:
    """Wait until every pod is bound, or every pod is ungated and nothing has been bound for
    ``quiet`` seconds (the rest stay pending), or ``limit`` seconds."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline and len(watch.bound) < total:
        if len(watch.bound) != last or len(watch.released) < total:
            last, since = len(watch.bound), time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def latencies(created: dict[str, float], at: dict[str, float]) -> dict[str, float]:
    waits = [at[n] - created[n] for n in created if n in at]
    return {
        "p50": percentile(waits, 0.5),
        "p99": percentile(waits, 0.99),
        "max": max(waits, default=float("nan")),
    }


def achieved_rate(created: dict[str, float]) -> float:
    return (len(created) - 1) / max(1e-9, max(created.values()) - min(created.values()))


class Serve:
    """``placer serve --kubeconfig --gate`` as its own process (as a cluster runs it)."""

    def __init__(self, plane: ControlPlane, args: argparse.Namespace, log: Path) -> None:
        (self.port,) = free_ports(1)
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(self.port),
             "--kubeconfig", str(plane.kubeconfig), "--no-planner", "--gate", GATE,
             "--gate-window", str(args.window), "--gate-batch", str(args.batch),
             "--gate-time-limit", str(args.time_limit), "--gate-deadline", "600"],
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"placer serve exited: see {log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("placer serve did not become ready")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()


def total(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in metrics.items() if n == name)


def arrivals(
    plane: ControlPlane, specs: list[tuple[str, str]], rate: float, gated: bool
) -> tuple[Watch, dict[str, float]]:
    """The pods created at ``rate`` and watched until bound (or nothing moves any more)."""
    watch = Watch(plane)
    watch.start()
    time.sleep(0.5)
    created = arrive(plane.core(), specs, rate, gated=gated)
    settle(watch, len(specs))
    watch.stop.set()
    return watch, created


def outcome(watch: Watch, created: dict[str, float], big: set[str]) -> dict[str, Any]:
    return {
        "achieved_rate": achieved_rate(created),
        "bound": len(watch.bound),
        "big_bound": len(big & watch.bound.keys()),
        "created_to_bound": latencies(created, watch.bound_at),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    specs = pod_specs(args.pods, args.seed)
    big = {name for name, cpu in specs if cpu == "4"}
    plane = ControlPlane.start()
    try:
        core = plane.core()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: ready_node(core, f"node-{i:04d}", NODE), range(args.nodes)))
        out: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods, "rate": args.rate}

        # kube-scheduler alone
        watch, created = arrivals(plane, specs, args.rate, gated=False)
        out["greedy"] = outcome(watch, created, big)
        reset(core)

        # placer's gate in front of it
        args.output.mkdir(parents=True, exist_ok=True)
        serve = Serve(plane, args, args.output / "serve.log")
        try:
            watch, created = arrivals(plane, specs, args.rate, gated=True)
            metrics = serve.metrics()
        finally:
            serve.stop()
        released = total(metrics, "placer_gate_pods_released_total")
        batches = total(metrics, "placer_gate_batch_pods_count")
        out["placer"] = {
            **outcome(watch, created, big),
            "created_to_gate_removed": latencies(created, watch.released),
            "released_by": {
                dict(labels)["how"]: v
                for (n, labels), v in metrics.items()
                if n == "placer_gate_pods_released_total"
            },
            "api_writes_per_pod": total(metrics, "placer_gate_api_writes_total") / max(1, released),
            "conflicts": total(metrics, "placer_gate_write_conflicts_total"),
            "batches": batches,
            "batch_pods_mean": total(metrics, "placer_gate_batch_pods_sum") / max(1, batches),
            "plan_seconds_mean": total(metrics, "placer_gate_plan_seconds_sum") / max(1, batches),
        }
        return out
    finally:
        plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, default=Path("bench-results/gate"))
    args = parser.parse_args()
    import logging
    import os

    logging.basicConfig(level=logging.WARNING)
    result = run(args)
    result["load_average"] = os.getloadavg()
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
