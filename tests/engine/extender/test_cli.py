"""``placer serve``: the printed scheduler config, snapshots, TLS, and a graceful stop."""

from __future__ import annotations

import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from engine.extender.snapshot import load_snapshot
from engine.extender.state import ClusterState

from ...cli import run_placer
from .conftest import free_port, node, pod


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_placer(list(argv), capsys)


def write_cluster(path: Path) -> Path:
    docs = {"apiVersion": "v1", "kind": "List", "items": [node("n1"), node("n2"), pod("p")]}
    path.write_bytes(orjson.dumps(docs))
    return path


def test_print_scheduler_config_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "serve", "--print-scheduler-config")
    assert code == 0
    config = yaml.safe_load(out)
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["kind"] == "KubeSchedulerConfiguration"
    (ext,) = config["extenders"]
    assert ext["urlPrefix"] == "http://127.0.0.1:8888/scheduler"
    assert (ext["filterVerb"], ext["prioritizeVerb"], ext["preemptVerb"]) == (
        "filter", "prioritize", "preempt",
    )  # fmt: skip
    assert ext["bindVerb"] == ""
    # One extender point must outweigh the default plugins' 1200 (protocol notes §5).
    assert ext["weight"] * 10 > 1200
    assert ext["httpTimeout"] == "2s" and ext["ignorable"] is True
    assert ext["nodeCacheCapable"] is False  # no snapshot and no cluster: needs full Nodes
    assert ext["enableHTTPS"] is False


def test_print_scheduler_config_matches_how_it_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    snapshot = write_cluster(tmp_path / "c.json")
    code, out, _ = run_cli(
        capsys, "serve", "--print-scheduler-config", "--snapshot", str(snapshot), "--bind",
        "--port", "9443", "--prefix", "placer", "--tls-cert", "c.pem", "--tls-key", "k.pem",
        "--weight", "50",
    )  # fmt: skip
    assert code == 0
    (ext,) = yaml.safe_load(out)["extenders"]
    assert ext["urlPrefix"] == "https://127.0.0.1:9443/placer"
    assert ext["bindVerb"] == "bind" and ext["weight"] == 50
    assert ext["nodeCacheCapable"] is True and ext["enableHTTPS"] is True


def test_print_scheduler_config_with_client_authentication(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(
        capsys, "serve", "--print-scheduler-config", "--tls-cert", "c.pem", "--tls-key", "k.pem",
        "--tls-client-ca", "ca.pem",
    )  # fmt: skip
    assert code == 0
    (ext,) = yaml.safe_load(out)["extenders"]
    assert set(ext["tlsConfig"]) == {"insecure", "caFile", "certFile", "keyFile"}
    code, out, _ = run_cli(capsys, "serve", "--print-scheduler-config", "--auth-token-file", "t")
    assert code == 0 and "cannot send one" in out  # a token alone cannot admit the scheduler
    code, _, err = run_cli(capsys, "serve", "--print-scheduler-config", "--tls-client-ca", "ca")
    assert code == 2 and "needs --tls-cert" in err


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--auth-token-file", None, "cannot read the token"),
        ("--auth-token-file", b"short", "at least 16 characters"),
        ("--auth-token-file", b"\xff\xfe", "cannot read the token"),
    ],
)
def test_bad_auth_files_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    option: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(capsys, "serve", option, str(path), "--port", str(free_port()))
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"{broken", "invalid JSON"),
        (orjson.dumps({"kind": "List", "items": [pod("only-a-pod")]}), "no Node objects"),
        (
            orjson.dumps({"kind": "List", "items": [node("n1", cpu="lots")]}),
            "status.allocatable.cpu",
        ),
    ],
)
def test_bad_snapshot_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "cluster.json"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(capsys, "serve", "--snapshot", str(path), "--port", str(free_port()))
    assert code == 2
    assert message in err and "Traceback" not in err


def test_snapshot_from_ir_problem(tmp_path: Path) -> None:
    ir = {
        "apiVersion": "placer/v1",
        "kind": "Problem",
        "bins": [{"name": "b1", "capacity": {"cpu": "4", "memory": "8Gi"}}],
        "items": [{"name": "web", "count": 3, "demand": {"cpu": "1"}, "placed": {"b1": 2}}],
    }
    path = tmp_path / "p.json"
    path.write_bytes(orjson.dumps(ir))
    state = ClusterState()
    assert load_snapshot(path, state) == (1, 3)
    assert state.nodes["b1"].used["cpu"] == 2000
    assert len(state.pending()) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_tls(serve, tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    run = serve([node("n1")], tls_cert=cert, tls_key=key)
    assert run.url.startswith("https://")
    body = orjson.dumps({"Pod": pod("p"), "Nodes": None, "NodeNames": ["n1"]})
    trust = ssl.create_default_context(cafile=str(cert))
    r = httpx.post(f"{run.url}/scheduler/filter", content=body, verify=trust)
    assert r.status_code == 200 and r.json()["NodeNames"] == ["n1"]


@pytest.mark.slow
def test_serve_process_answers_and_stops_gracefully(tmp_path: Path) -> None:
    snapshot = write_cluster(tmp_path / "c.json")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--snapshot", str(snapshot),
         "--port", str(port), "--no-planner", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        body = orjson.dumps({"Pod": pod("p"), "Nodes": None, "NodeNames": ["n1", "n2"]})
        r = httpx.post(f"http://127.0.0.1:{port}/scheduler/prioritize", content=body)
        assert [h["Host"] for h in r.json()] == ["n1", "n2"]
        proc.send_signal(signal.SIGTERM)
        # uvicorn drains, runs the lifespan shutdown, then re-raises SIGTERM on itself.
        assert proc.wait(15) in (0, -signal.SIGTERM)
        _, err = proc.communicate()
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_deploy_manifests_match_the_printed_config() -> None:
    from engine.extender.schedconfig import scheduler_config
    from engine.extender.settings import Settings

    deploy = Path(__file__).resolve().parents[3] / "deploy"
    docs = [
        d
        for f in sorted(deploy.rglob("*.yaml"))
        if "patches" not in f.parts and f.name != "scheduler-config.yaml"
        for d in yaml.safe_load_all(f.read_text())
    ]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole", "ConfigMap"} <= kinds
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    shipped = yaml.safe_load(config_map["data"]["scheduler-config.yaml"])["extenders"][0]
    settings = Settings(
        in_cluster=True,
        tls_cert=Path("c"),
        tls_key=Path("k"),
        tls_client_ca=Path("ca"),
        scheduler_name="placer",
    )
    url = "https://placer.placer-system.svc:443/scheduler"
    printed = yaml.safe_load(scheduler_config(settings, url=url))["extenders"][0]
    assert shipped == printed
    assert shipped["tlsConfig"]["insecure"] is False and shipped["tlsConfig"]["certFile"]
    # Listening on all interfaces only with client authentication.
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "placer"
    )
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--host=0.0.0.0" in args
    assert any(a.startswith("--tls-client-ca=") for a in args)
    assert any(a.startswith("--auth-token-file=") for a in args)
    role = next(
        d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "placer-extender"
    )
    verbs = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("nodes", "watch"), ("pods", "list"), ("pods/binding", "create")} <= verbs


@pytest.mark.parametrize(
    "option", ["--plan-time-limit", "--plan-max-age", "--learned-ttl", "--header-timeout",
               "--body-timeout", "--handshake-timeout"],
)  # fmt: skip
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e400", "2e7"])
def test_seconds_options_are_finite_positive_and_bounded(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    code, _, err = run_cli(capsys, "serve", option, value, "--print-scheduler-config")
    assert code == 2 and option in err and "Traceback" not in err
