"""A real Kubernetes control plane (etcd + kube-apiserver + kube-scheduler v1.34) for tests and
benchmarks, from ``../shared/controlplane``.

The binaries are decompressed once into a cache of this checkout (``build/controlplane/bin``,
checked against the shipped SHA256SUMS); each ``ControlPlane`` gets free loopback ports and a
work directory of its own, and ``stop()`` always runs ``down.sh`` (also when starting failed).
A second kube-scheduler (e.g. one with profile ``schedulerName: placer`` and placer as its
extender, the managed-cluster setup of ``deploy/``) is started with ``start_scheduler``.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "controlplane"
CACHE = ROOT / "build" / "controlplane" / "bin"
BINARIES = ("etcd", "kube-apiserver", "kube-scheduler")
START_TRIES = 3  # ports are picked free, but another process may take one before we bind it


def available() -> bool:
    return (
        all((SOURCE / "bin" / f"{b}.xz").is_file() for b in BINARIES)
        and (SOURCE / "up.sh").is_file()
    )


def _sums() -> dict[str, str]:
    out = {}
    for line in (SOURCE / "bin" / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        out[name.strip()] = digest.strip()
    return out


def binaries() -> Path:
    """The decompressed binaries (done once per checkout; redone when the sources change)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    sums = _sums()
    for name in BINARIES:
        target = CACHE / name
        stamp = CACHE / f"{name}.sha256"
        digest = sums.get(f"{name}.xz", "")
        if target.is_file() and stamp.is_file() and stamp.read_text() == digest:
            continue
        source = SOURCE / "bin" / f"{name}.xz"
        h = hashlib.sha256(source.read_bytes()).hexdigest()
        if digest and h != digest:
            raise RuntimeError(f"{source}: checksum {h} does not match SHA256SUMS")
        # a name of its own: test workers (xdist) may decompress the same binary at once, and
        # the last atomic rename wins (a running copy keeps its file)
        with (
            lzma.open(source) as src,
            tempfile.NamedTemporaryFile(
                dir=CACHE, prefix=f"{name}.", suffix=".part", delete=False
            ) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        partial = Path(dst.name)
        partial.chmod(0o755)
        partial.replace(target)
        _write_atomically(stamp, digest)
    return CACHE


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, delete=False) as f:
        f.write(text)
    Path(f.name).replace(path)


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class ControlPlane:
    """One running control plane; ``kubeconfig`` is the admin kubeconfig."""

    work: Path
    kubeconfig: Path
    api_port: int
    scheduler: bool
    extra_schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(
        cls, *, scheduler: bool = True, scheduler_config: Path | None = None,
        extender_url: str | None = None,
    ) -> ControlPlane:  # fmt: skip
        bin_dir = binaries()
        last = ""
        for _ in range(START_TRIES):
            work = Path(tempfile.mkdtemp(prefix="placer-cp-"))
            api, etcd, peer, sched = free_ports(4)
            env = {
                **os.environ,
                "CP_API_PORT": str(api),
                "CP_ETCD_PORT": str(etcd),
                "CP_ETCD_PEER_PORT": str(peer),
                "CP_SCHEDULER_PORT": str(sched),
                "CP_TIMEOUT": "90",
                "CP_VERBOSITY": "1",
            }
            if not scheduler:
                env["CP_NO_SCHEDULER"] = "1"
            if extender_url:
                env["CP_EXTENDER_URL"] = extender_url
            args = ["bash", str(SOURCE / "up.sh"), str(bin_dir), str(work)]
            if scheduler_config is not None:
                args.append(str(scheduler_config))
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
            if done.returncode == 0:
                kubeconfig = Path(done.stdout.strip().splitlines()[-1])
                return cls(work, kubeconfig, api, scheduler)
            last = done.stderr[-2000:]
            _down(work)
        raise RuntimeError(f"the control plane did not start:\n{last}")

    def pki(self, name: str) -> Path:
        return self.work / "pki" / name

    @property
    def scheduler_kubeconfig(self) -> Path:
        return self.work / "scheduler.kubeconfig"

    def start_scheduler(self, config_text: str, name: str = "second") -> None:
        """Another kube-scheduler with this KubeSchedulerConfiguration (``@SCHEDULER_KUBECONFIG@``
        is filled in); stopped by ``stop()``."""
        path = self.work / f"scheduler-{name}.yaml"
        path.write_text(
            config_text.replace("@SCHEDULER_KUBECONFIG@", str(self.scheduler_kubeconfig))
        )
        (port,) = free_ports(1)
        log = (self.work / "logs" / f"kube-scheduler-{name}.log").open("wb")
        proc = subprocess.Popen(
            [
                str(CACHE / "kube-scheduler"), "--config", str(path),
                "--authentication-kubeconfig", str(self.scheduler_kubeconfig),
                "--authorization-kubeconfig", str(self.scheduler_kubeconfig),
                "--bind-address", "127.0.0.1", "--secure-port", str(port),
                "--leader-elect=false", "--v", "1",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.extra_schedulers.append(proc)
        deadline = time.monotonic() + 90
        import ssl
        import urllib.request

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"kube-scheduler {name} exited: see {log.name}")
            with contextlib.suppress(OSError):
                url = f"https://127.0.0.1:{port}/readyz"
                if urllib.request.urlopen(url, context=context, timeout=2).read() == b"ok":
                    return
            time.sleep(0.3)
        raise RuntimeError(f"kube-scheduler {name} did not become ready")

    def stop(self) -> None:
        for proc in self.extra_schedulers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.extra_schedulers.clear()
        _down(self.work)

    def core(self) -> Any:
        """A ``CoreV1Api`` with admin credentials (its own client configuration)."""
        from kubernetes import client, config

        return client.CoreV1Api(config.new_client_from_config(str(self.kubeconfig)))

    def client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))


def _down(work: Path) -> None:
    subprocess.run(
        ["bash", str(SOURCE / "down.sh"), str(work), "--purge"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[ControlPlane]:
    plane = ControlPlane.start(**kwargs)
    try:
        yield plane
    finally:
        plane.stop()


# ---- cluster objects the tests and the benchmark create ----


def ready_node(
    core: Any, name: str, capacity: dict[str, str], labels: dict[str, str] | None = None
) -> None:
    """A Node object that the scheduler takes as Ready with this allocatable (no kubelet)."""
    core.create_node(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
        }
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    core.patch_node_status(
        name,
        {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready", "status": "True", "reason": "Test",
                        "message": "no kubelet", "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                ],
            }
        },
    )  # fmt: skip


def pod_manifest(
    name: str,
    cpu: str,
    *,
    memory: str = "64Mi",
    scheduler: str = "default-scheduler",
    gates: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [
            {
                "name": "c",
                "image": "registry.invalid/none:0",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }
        ],
    }
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name.rsplit("-", 1)[0]}},
        "spec": spec,
    }
