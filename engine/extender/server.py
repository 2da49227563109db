"""Run the extender under uvicorn: load state, attach the cluster, serve until SIGTERM."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

from engine.errors import InputError

from .app import build_service, create_app
from .settings import Settings
from .state import ClusterState

log = logging.getLogger("placer.extender")

# In-flight requests get this long after SIGTERM/SIGINT; the planner is then stopped (about
# 1 s), so the whole shutdown stays under 5 s.
SHUTDOWN_GRACE_SECONDS = 2


def prepare(settings: Settings) -> Any:
    """The ASGI app for these settings, with the snapshot loaded and the cluster API attached."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise InputError("--tls-cert and --tls-key go together")
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise InputError(
            "--tls-client-ca needs --tls-cert and --tls-key (client certificates need TLS)"
        )
    if settings.bind and not settings.live:
        log.warning("--bind without a cluster: bindings are recorded in placer's state only")
    state = ClusterState()
    if settings.snapshot is not None:
        from .snapshot import load_snapshot

        nodes, pods = load_snapshot(settings.snapshot, state)
        log.info("snapshot %s: %d nodes, %d pods", settings.snapshot, nodes, pods)
    api = None
    if settings.live:
        from .kubeapi import core_api

        kubeconfig = str(settings.kubeconfig) if settings.kubeconfig else None
        try:
            api = core_api(kubeconfig, in_cluster=settings.in_cluster)
        except Exception as exc:
            raise InputError(f"cannot load cluster credentials: {exc}", source=kubeconfig) from None
    return create_app(build_service(settings, state=state, api=api))


def check_listen(host: str, port: int) -> None:
    """Fail fast, as bad input, on an address this machine cannot listen on."""
    import socket

    try:
        probe = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    probe.close()


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> Any:
    """uvicorn's configuration for these settings, read timeouts and client auth included."""
    import ssl

    import uvicorn

    from .guard import guarded_protocol, loop_factory

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "ssl_certfile": str(settings.tls_cert) if settings.tls_cert else None,
        "ssl_keyfile": str(settings.tls_key) if settings.tls_key else None,
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
        "lifespan": "on",
        "http": guarded_protocol(settings.header_timeout),
        "loop": loop_factory(settings.handshake_timeout),
    }
    if settings.tls_client_ca is not None:
        # A presented certificate must verify; none at all is allowed (the probes, token users).
        options["ssl_ca_certs"] = str(settings.tls_client_ca)
        options["ssl_cert_reqs"] = ssl.CERT_OPTIONAL
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(settings: Settings) -> None:
    import uvicorn

    check_listen(settings.host, settings.port)

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings.authenticates and not _loopback(settings.host):
        log.warning(
            "listening on %s without client authentication: anyone who reaches this address "
            "can steer scheduling (use --tls-client-ca and/or --auth-token-file)",
            settings.host,
        )
    # The planner thread holds the GIL while it builds a model; switch to request threads often.
    sys.setswitchinterval(0.001)
    app = prepare(settings)
    freeze_heap()
    uvicorn.Server(uvicorn_config(app, settings)).run()


def freeze_heap() -> None:
    """The cluster state is millions of long-lived objects: keep the collector from rescanning
    them on every full collection (a 500-node NodeList request allocates ~30,000 objects)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
