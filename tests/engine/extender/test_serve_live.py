"""``placer serve --kubeconfig`` against a real kube-apiserver and kube-scheduler v1.34: the live
watch, the gate's webhook called by the API server, and the scheduler calling placer as its
extender (a second scheduler, the managed-cluster setup) with placer binding."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.controlplane import ControlPlane, free_ports, pod_manifest

from .live import (
    GATE,
    all_bound,
    create,
    fragmentation_pods,
    pinned_node,
    wait_for,
)

pytestmark = pytest.mark.slow


class Serve:
    """``placer serve`` as a process of its own; stopped (SIGTERM) at the end."""

    def __init__(self, *args: str, https: bool = False) -> None:
        (self.port,) = free_ports(1)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=5, verify=False)

    def ready(self, timeout: float = 90.0) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.communicate()[1].decode()[-3000:])
            try:
                return self.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout, 0.2)

    def metric(self, name: str) -> float:
        text = self.get("/metrics").text
        return sum(float(v) for v in re.findall(rf"^{re.escape(name)} (\S+)$", text, re.M))

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode()


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """A control plane of this module's own: its tests add a webhook and a second scheduler."""
    from .live import plane_or_skip

    yield from plane_or_skip()


def serving_certificate(plane: ControlPlane, directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the control plane's CA (which the API server
    trusts as the webhook's caBundle)."""
    key, csr, crt, ext = (directory / n for n in ("placer.key", "placer.csr", "placer.crt", "ext"))
    ext.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "genrsa", "-out", str(key), "2048")
    run("openssl", "req", "-new", "-key", str(key), "-subj", "/CN=placer", "-out", str(csr))
    run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(plane.pki("ca.crt")),
        "-CAkey", str(plane.pki("ca.key")), "-CAcreateserial", "-days", "1",
        "-extfile", str(ext), "-out", str(crt),
    )  # fmt: skip
    return crt, key


def test_the_webhook_gates_new_pods_and_serve_plans_them_through_its_live_watch(
    plane: ControlPlane, core: Any, tmp_path: Path
) -> None:
    """The API server calls placer's webhook on every pod creation; placer's watch sees the
    gated pods, plans them, pins and releases them; kube-scheduler binds them there."""
    from kubernetes import client

    crt, key = serving_certificate(plane, tmp_path)
    serve = Serve(
        "--kubeconfig", str(plane.kubeconfig), "--gate", GATE, "--gate-window", "1",
        "--gate-time-limit", "5", "--tls-cert", str(crt), "--tls-key", str(key),
        "--no-planner", https=True,
    )  # fmt: skip
    admission = client.AdmissionregistrationV1Api(plane.client())
    config = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--print-webhook-config", "--gate", GATE,
         "--url", f"https://127.0.0.1:{serve.port}", "--ca-file", str(plane.pki("ca.crt"))],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    import yaml

    webhook = yaml.safe_load(config)
    try:
        serve.ready()
        admission.create_mutating_webhook_configuration(webhook)
        time.sleep(1.0)  # the API server picks the configuration up
        create(core, fragmentation_pods(gates=()), 0.2)  # no gate in the template
        bound = wait_for(lambda: all_bound(core, 5), timeout=90)
        for p in bound:
            assert p["metadata"]["annotations"]["placer.dev/gated-at"]
            assert pinned_node(p) == p["spec"]["nodeName"]
        assert serve.metric('placer_gate_pods_released_total{how="narrowed"}') == 5
        assert serve.metric('placer_extender_requests_total{code="200",verb="webhook"}') >= 5
    finally:
        admission.delete_mutating_webhook_configuration(webhook["metadata"]["name"])
        serve.stop()


SECOND = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: "@SCHEDULER_KUBECONFIG@"
"""


def test_a_second_scheduler_calls_placer_as_its_extender_and_placer_binds(
    plane: ControlPlane, core: Any
) -> None:
    """The managed-cluster path: kube-scheduler with profile ``placer`` and the configuration
    ``--print-scheduler-config`` prints; placer filters, scores and creates the Bindings."""
    serve = Serve(
        "--kubeconfig", str(plane.kubeconfig), "--scheduler-name", "placer", "--bind",
        "--plan-time-limit", "2",
    )  # fmt: skip
    printed = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--print-scheduler-config", "--kubeconfig",
         str(plane.kubeconfig), "--scheduler-name", "placer", "--bind",
         "--url", f"http://127.0.0.1:{serve.port}/scheduler",
         "--scheduler-kubeconfig", "@SCHEDULER_KUBECONFIG@"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert printed.startswith(SECOND.split("clientConnection")[0])
    try:
        serve.ready()
        plane.start_scheduler(printed.replace("leaderElect: true", "leaderElect: false"))
        pods = [pod_manifest(f"web-{i}", "1", scheduler="placer") for i in range(4)]
        pods.append(pod_manifest("other-0", "1"))  # the default scheduler's: placer leaves it
        create(core, pods)
        bound = wait_for(lambda: all_bound(core, 5), timeout=90)
        assert len(bound) == 5
        assert serve.metric('placer_extender_requests_total{code="200",verb="bind"}') == 4
        assert serve.metric('placer_extender_requests_total{code="200",verb="filter"}') >= 4
        nodes = orjson.loads(core.list_node(_preload_content=False).data)["items"]
        readyz = serve.get("/readyz").json()
        assert readyz["status"] == "ready" and len(nodes) == 3
    finally:
        serve.stop()
