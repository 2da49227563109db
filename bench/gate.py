"""Gated batch planning on a real control plane: pods arriving at a steady rate, placer's gate
controller planning them in batches, kube-scheduler binding them; against kube-scheduler alone.

    python -m bench.gate --nodes 500 --pods 2000 --rate 100 -o bench-results/gate

For each run: time from pod creation to gate removal (p50, p99; client clock, watch events),
pods bound when the arrivals are over and the scheduler is idle, API writes per pod (placer's),
plan time per batch. The same pods (same seed) go through kube-scheduler alone, without a gate
(the "greedy" column: the real default scheduler, not placer's imitation).

Cluster: ``--nodes`` nodes of 8 cpu / 32Gi; pods in random order, three quarters 1-cpu and one
quarter 4-cpu (87.5 % of the cpu at 2,000 pods on 500 nodes): spreading the small pods strands
big ones, which is what batch planning is for.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from bench.controlplane import ControlPlane, pod_manifest, ready_node

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
                    if spec.get("nodeName"):
                        self.bound[name] = spec["nodeName"]


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
    """Wait until every pod is bound, or nothing has been bound for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline and len(watch.bound) < total:
        if len(watch.bound) != last:
            last, since = len(watch.bound), time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from engine.extender.gate import GateController, GateSettings
    from engine.extender.kubeapi import ClusterWatcher
    from engine.extender.state import ClusterState

    specs = pod_specs(args.pods, args.seed)
    big = {name for name, cpu in specs if cpu == "4"}
    plane = ControlPlane.start()
    try:
        core = plane.core()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: ready_node(core, f"node-{i:04d}", NODE), range(args.nodes)))
        out: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods, "rate": args.rate}

        # kube-scheduler alone
        watch = Watch(plane)
        watch.start()
        time.sleep(0.5)
        created = arrive(core, specs, args.rate, gated=False)
        out["greedy_achieved_rate"] = (len(created) - 1) / max(
            1e-9, max(created.values()) - min(created.values())
        )
        settle(watch, args.pods)
        watch.stop.set()
        out["greedy_bound"] = len(watch.bound)
        out["greedy_big_bound"] = len(big & watch.bound.keys())
        reset(core)

        # placer's gate in front of it
        state = ClusterState()
        watcher = ClusterWatcher(plane.core(), state, watch_seconds=30)
        settings = GateSettings(
            name=GATE, window=args.window, batch=args.batch, time_limit=args.time_limit,
            deadline=600,
        )  # fmt: skip
        batches: list[tuple[int, float, str]] = []
        gate = GateController(plane.core(), state, settings, on_batch=lambda *b: batches.append(b))
        watcher.start()
        gate.start()
        wait_for_sync = time.monotonic() + 60
        while not state.synced and time.monotonic() < wait_for_sync:
            time.sleep(0.1)
        watch = Watch(plane)
        watch.start()
        time.sleep(0.5)
        created = arrive(core, specs, args.rate, gated=True)
        out["achieved_rate"] = (len(created) - 1) / max(
            1e-9, max(created.values()) - min(created.values())
        )
        settle(watch, args.pods)
        waits = [watch.released[n] - created[n] for n in created if n in watch.released]
        gate.stop()
        watcher.stop()
        watch.stop.set()
        out.update(
            placer_bound=len(watch.bound),
            placer_big_bound=len(big & watch.bound.keys()),
            released=len(waits),
            wait_p50=percentile(waits, 0.5),
            wait_p99=percentile(waits, 0.99),
            wait_max=max(waits) if waits else float("nan"),
            writes_per_pod=gate.stats.writes / max(1, sum(gate.stats.released.values())),
            conflicts=gate.stats.conflicts,
            released_by=dict(gate.stats.released),
            batches=len(batches),
            batch_pods_mean=statistics.mean(b[0] for b in batches) if batches else 0,
            plan_seconds_p50=percentile([b[1] for b in batches], 0.5),
            plan_seconds_max=max((b[1] for b in batches), default=float("nan")),
            statuses=sorted({b[2] for b in batches}),
        )
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
