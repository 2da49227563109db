"""A real uvicorn server on a free loopback port per test, and small Node/Pod builders."""

from __future__ import annotations

import atexit
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from engine.extender.app import Service, build_service, create_app
from engine.extender.server import uvicorn_config
from engine.extender.settings import Settings
from engine.extender.state import ClusterState

GI = "Gi"


def node(name: str, cpu: str = "4", memory: str = "16Gi", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "resourceVersion": "1",
            "labels": {"kubernetes.io/hostname": name, **labels},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str,
    cpu: str = "1",
    memory: str = "1Gi",
    *,
    node_name: str | None = None,
    owner: str | None = None,
    priority: int | None = None,
    namespace: str = "default",
    **spec: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": f"rs-{owner}",
             "controller": True}
        ]  # fmt: skip
        meta["labels"] = {"app": owner}
    body: dict[str, Any] = {
        "containers": [
            {"name": "main", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        ],
        "schedulerName": "default-scheduler",
        **spec,
    }  # fmt: skip
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body, "status": {}}


@dataclass
class Running:
    url: str
    service: Service
    server: uvicorn.Server

    @property
    def state(self) -> ClusterState:
        return self.service.state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(service: Service, **config: Any) -> tuple[uvicorn.Server, threading.Thread]:
    app = create_app(service)
    # The service's own uvicorn configuration (read timeouts, client certificates), quieter.
    cfg = uvicorn_config(app, service.settings, log_level="warning", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread


# Servers told to stop by earlier tests. uvicorn notices ``should_exit`` at its next 0.1 s tick
# and then waits 0.1 s more before it closes: joined when the tests end, the stops overlap the
# tests that follow instead of adding 0.1-0.2 s to each.
_stopping: list[threading.Thread] = []


@atexit.register
def _join_stopped() -> None:
    for thread in _stopping:
        thread.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """serve(nodes, pods, **settings) -> Running; every server is told to stop after the test."""
    _stopping[:] = [t for t in _stopping if t.is_alive()]
    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(
        nodes: list[dict[str, Any]] = (),  # type: ignore[assignment]
        pods: list[dict[str, Any]] = (),  # type: ignore[assignment]
        *,
        binder: Any = None,
        uvicorn_config: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Running:
        overrides.setdefault("planner", False)
        overrides.setdefault("plan_settle", 0.05)
        overrides.setdefault("plan_process", False)
        overrides.setdefault("plan_time_limit", 5.0)
        settings = Settings(port=free_port(), **overrides)
        state = ClusterState()
        if nodes or pods:
            state.replace(nodes, pods)
        service = build_service(settings, state=state, binder=binder)
        server, thread = start_server(service, **(uvicorn_config or {}))
        started.append((server, thread))
        scheme = "https" if settings.tls_cert else "http"
        return Running(f"{scheme}://127.0.0.1:{settings.port}", service, server)

    yield start
    for server, thread in started:
        server.should_exit = True
        _stopping.append(thread)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# ---- the real control plane (tests/engine/extender/live.py) ----
# One per test session (per xdist worker; make test keeps each file on one worker): each test
# leaves it as it found it (``core`` resets pods and nodes, DRA objects are deleted).
# test_serve_live starts its own: it adds a webhook and a second scheduler.
@pytest.fixture(scope="session")
def plane() -> Iterator[Any]:
    from .live import plane_or_skip

    yield from plane_or_skip()


@pytest.fixture
def core(plane: Any) -> Any:
    """The plane's CoreV1Api with no pods and three Ready 4-cpu nodes."""
    from .live import reset, three_nodes

    api = plane.core()
    reset(api)
    three_nodes(api)
    return api
