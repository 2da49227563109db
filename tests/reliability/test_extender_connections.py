"""Connections: header, body and TLS-handshake read timeouts; bearer-token and mTLS clients."""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.engine.extender.conftest import node, pod, serve  # noqa: F401  (the fixture)
from tests.timing import allowed, held

FILTER = orjson.dumps({"Pod": pod("p"), "Nodes": None, "NodeNames": ["n1"]})


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Did the server close this connection within ``timeout`` (EOF or reset)?"""
    ready, _, _ = select.select([sock], [], [], timeout)
    if not ready:
        return False
    try:
        return sock.recv(65536) == b"" or True  # data then EOF also counts: answered and closed
    except ConnectionResetError:
        return True


def open_idle(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        if first_bytes:
            s.sendall(first_bytes)
        socks.append(s)
    return socks


def test_half_open_connections_are_closed_after_the_header_timeout(serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run = serve([node("n1")], header_timeout=1.0)
    port = run.service.settings.port
    silent = open_idle(port, 400)
    slowloris = open_idle(port, 20, b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\n")
    try:
        # Meanwhile the service answers everyone else.
        assert httpx.post(f"{run.url}/scheduler/filter", content=FILTER).status_code == 200
        deadline = time.monotonic() + allowed(1.0, slack=4.0)  # the header timeout, 1 s
        for s in silent + slowloris:
            assert closed_by_peer(s, max(0.0, deadline - time.monotonic())), "held open"
        assert time.monotonic() < deadline
    finally:
        for s in silent + slowloris:
            s.close()
    assert httpx.post(f"{run.url}/scheduler/filter", content=FILTER).status_code == 200


def test_keep_alive_clients_are_not_cut_between_requests(serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run = serve([node("n1")], header_timeout=0.5)
    with httpx.Client(base_url=run.url) as client:
        for _ in range(4):
            assert client.post("/scheduler/filter", content=FILTER).status_code == 200
            time.sleep(0.3)  # below the header timeout and uvicorn's 5 s keep-alive


def test_a_content_length_longer_than_the_body_times_out(serve) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    run = serve([node("n1")], body_timeout=1.0)
    s = socket.create_connection(("127.0.0.1", run.service.settings.port))
    try:
        s.sendall(
            b"POST /scheduler/filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + FILTER[:10]
        )
        s.settimeout(allowed(1.0, slack=4.0))
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        waited = time.monotonic() - started
        assert waited > 0.9 and held(1.0, waited, slack=3.0), waited  # the body timeout, 1 s
        assert closed_by_peer(s, allowed(0.0, slack=3.0))
    finally:
        s.close()
    metrics = httpx.get(f"{run.url}/metrics").text
    assert 'placer_extender_requests_total{code="408",verb="filter"} 1.0' in metrics


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


# P-256 keys: the same chain checks as RSA, generated in milliseconds instead of a second
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def make_pki(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, a client certificate it signed, and a client
    certificate of another CA."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    for ca in ("ca", "other-ca"):
        run("req", "-x509", *EC_KEY, "-nodes", "-days", "1", "-subj", f"/CN={ca}",
            "-keyout", f"{ca}.key", "-out", f"{ca}.crt")  # fmt: skip
    for name, ca, extra in (
        ("server", "ca", "subjectAltName=IP:127.0.0.1"),
        ("client", "ca", "extendedKeyUsage=clientAuth"),
        ("stranger", "other-ca", "extendedKeyUsage=clientAuth"),
    ):
        (tmp / f"{name}.ext").write_text(extra + "\n")
        run("req", *EC_KEY, "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt")  # fmt: skip
    return {p.name: p for p in tmp.iterdir()}


def client_context(pki: dict[str, Path], cert: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
    if cert is not None:
        context.load_cert_chain(pki[f"{cert}.crt"], pki[f"{cert}.key"])
    return context


@needs_openssl
def test_mtls_and_bearer_token(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    pki = make_pki(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-0123456789\n")
    run = serve(
        [node("n1")],
        tls_cert=pki["server.crt"],
        tls_key=pki["server.key"],
        tls_client_ca=pki["ca.crt"],
        auth_token_file=token_file,
        handshake_timeout=1.0,
    )
    url = f"{run.url}/scheduler/filter"

    def post(cert: str | None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(url, content=FILTER, verify=client_context(pki, cert), headers=headers)

    assert post("client").status_code == 200  # the scheduler's way: a client certificate
    assert post(None, "s3cret-token-0123456789").status_code == 200  # everyone else's
    refused = post(None)
    assert refused.status_code == 401 and "authentication" in refused.json()["Error"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert post(None, "wrong-token-0123456789").status_code == 401
    with pytest.raises(httpx.HTTPError):  # a certificate of another CA fails the handshake
        post("stranger")
    anonymous = client_context(pki, None)
    assert httpx.get(f"{run.url}/healthz", verify=anonymous).status_code == 200  # probes
    assert httpx.get(f"{run.url}/readyz", verify=anonymous).status_code == 200
    assert httpx.get(f"{run.url}/metrics", verify=anonymous).status_code == 401
    # A TCP connection that never starts the TLS handshake is closed after its timeout.
    idle = open_idle(run.service.settings.port, 50)
    try:
        for s in idle:
            assert closed_by_peer(s, allowed(1.0, slack=3.0))
    finally:
        for s in idle:
            s.close()


def test_token_only(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    token_file = tmp_path / "token"
    token_file.write_text("another-token-0123456789")
    run = serve([node("n1")], auth_token_file=token_file)
    url = f"{run.url}/scheduler/filter"
    assert httpx.post(url, content=FILTER).status_code == 401
    ok = httpx.post(
        url, content=FILTER, headers={"Authorization": "bearer another-token-0123456789"}
    )
    assert ok.status_code == 200
