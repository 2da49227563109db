"""Optional client authentication: a bearer token, a client certificate (mTLS), or either.

kube-scheduler's extender client can present a client certificate (``tlsConfig.certFile`` /
``keyFile`` in the KubeSchedulerConfiguration) but sends no ``Authorization`` header, so mTLS is
how the scheduler authenticates; the token is for everyone else (Prometheus, people, scripts).
The TLS layer verifies a presented certificate against ``--tls-client-ca`` (a wrong one fails
the handshake); a connection without one may still use the token. ``/healthz`` and ``/readyz``
stay open for the kubelet's probes; the verbs and ``/metrics`` need one of the two.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import InputError

OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def read_token(path: Path) -> str:
    """The token in ``path`` (its first line); one line naming the file when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the token: {exc}", source=str(path)) from None
    lines = text.strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < 16:
        raise InputError("the token must be at least 16 characters", source=str(path))
    return token


def check_client_ca(path: Path) -> None:
    """Load the CA bundle now, so a wrong file is one line, not a failure at the first client."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"not a PEM CA certificate bundle: {exc}", source=str(path)) from None


@dataclass(frozen=True)
class Auth:
    token: str | None
    client_certs: bool

    def allows(self, path: str, headers: Any, scope: Mapping[str, Any]) -> bool:
        if path in OPEN_PATHS:
            return True
        if self.client_certs:
            tls = (scope.get("extensions") or {}).get("tls") or {}
            if tls.get("client_cert_chain"):
                return True  # verified by the TLS layer against --tls-client-ca
        if self.token is not None:
            scheme, _, credentials = str(headers.get("authorization", "")).partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                credentials.strip().encode(), self.token.encode()
            ):
                return True
        return False

    @property
    def challenge(self) -> str:
        return 'Bearer realm="placer"' if self.token is not None else "mTLS"
