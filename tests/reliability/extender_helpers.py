"""Shared by the extender reliability tests: a slow cluster, a served process, signals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil


def slow_items(nodes: int = 50, pods: int = 600) -> list[dict[str, Any]]:
    """A cluster whose plan uses its whole time limit (cpsat stops at the limit, not proved)."""
    from engine.kube.synthetic import cluster_dump

    items: list[dict[str, Any]] = cluster_dump(nodes, pods, pending_fraction=0.6, seed=3)["items"]
    return items


def slow_cluster(path: Path) -> Path:
    path.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": slow_items()}))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedProcess:
    """``placer serve`` in its own process group (as a terminal or systemd would run it)."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5)

    def wait_until(self, predicate: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if predicate():
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.proc.communicate()[1].decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.1)

    def family(self) -> list[psutil.Process]:
        """The service and every process it started."""
        me = psutil.Process(self.proc.pid)
        return [me, *me.children(recursive=True)]

    def signal_group(self, sig: int) -> float:
        """Send ``sig`` to the whole process group; seconds until the service exited."""
        started = time.monotonic()
        os.killpg(self.proc.pid, sig)
        self.proc.wait(30)
        return time.monotonic() - started

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.proc.communicate()[1].decode()


def metric(text: str, sample: str) -> float:
    """The value of one sample of a Prometheus exposition, e.g. ``name{label="x"}`` (0: absent)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
