"""``placer serve``: the kube-scheduler extender service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.extender.settings import Settings

DEFAULT = Settings()  # each option's default is the service's own (one place)
LOG_LEVELS = ("debug", "info", "warning", "error")


def _check_tls(cert: Path, key: Path) -> None:
    """Load the pair now, so a wrong path or PEM is one line naming the file, not a traceback."""
    import ssl

    from engine.errors import InputError

    for path in (cert, key):
        if not path.is_file():
            raise InputError("file not found", source=str(path))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(
            f"not a PEM certificate and matching private key: {exc}", source=f"{cert}, {key}"
        ) from None


def _check_seconds(value: float, option: str) -> None:
    """Finite, positive, at most engine.limits.MAX_TIME_LIMIT (an infinite limit is no limit)."""
    from engine.limits import check_time_limit

    check_time_limit(value, option)


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = DEFAULT.host,
    port: Annotated[int, typer.Option(help="port to listen on")] = DEFAULT.port,
    prefix: Annotated[str, typer.Option(help="URL prefix of the verbs")] = DEFAULT.prefix,
    snapshot: Annotated[
        Path | None, typer.Option(help="cluster state: Kubernetes manifests or an IR file")
    ] = DEFAULT.snapshot,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="watch a live cluster through this kubeconfig")
    ] = DEFAULT.kubeconfig,
    in_cluster: Annotated[
        bool, typer.Option("--in-cluster", help="watch the cluster placer runs in")
    ] = DEFAULT.in_cluster,
    scheduler_name: Annotated[
        str, typer.Option(help="plan pending pods of this schedulerName")
    ] = DEFAULT.scheduler_name,
    bind: Annotated[
        bool, typer.Option("--bind/--no-bind", help="serve the bind verb (create Bindings)")
    ] = DEFAULT.bind,
    planner: Annotated[
        bool, typer.Option("--planner/--no-planner", help="steer pods toward a background plan")
    ] = DEFAULT.planner,
    plan_time_limit: Annotated[
        float, typer.Option(help="seconds per background plan (building the problem included)")
    ] = DEFAULT.plan_time_limit,
    plan_max_age: Annotated[
        float, typer.Option(help="seconds after which a plan of a changed cluster is stale")
    ] = DEFAULT.plan_max_age,
    plan_incremental: Annotated[
        bool,
        typer.Option(
            "--plan-incremental/--no-plan-incremental",
            help="plan arriving pods around the last plan before re-solving everything",
        ),
    ] = DEFAULT.plan_incremental,
    plan_process: Annotated[
        bool,
        typer.Option(
            "--plan-process/--plan-thread", help="solve in a separate process or in a thread"
        ),
    ] = DEFAULT.plan_process,
    plan_memory_mib: Annotated[
        int, typer.Option(help="memory cap of the planning process in MiB (0: none)")
    ] = DEFAULT.plan_memory_mib,
    reserve: Annotated[
        bool,
        typer.Option("--reserve/--no-reserve", help="filter keeps capacity the plan holds"),
    ] = DEFAULT.reserve,
    device_scoring: Annotated[
        bool,
        typer.Option(
            "--device-scoring/--no-device-scoring",
            help="score pods the plan does not cover by placer's online GPU policy over the "
            "cluster's DRA devices (LeastAllocated where there are none)",
        ),
    ] = DEFAULT.device_scoring,
    max_body_bytes: Annotated[
        int, typer.Option(help="larger request bodies get 413")
    ] = DEFAULT.max_body_bytes,
    learned_nodes: Annotated[
        int, typer.Option(help="most nodes kept that only requests told of (LRU)")
    ] = DEFAULT.learned_nodes,
    learned_pods: Annotated[
        int, typer.Option(help="most pods kept that only requests told of (LRU)")
    ] = DEFAULT.learned_pods,
    learned_mib: Annotated[
        int, typer.Option(help="most MiB of memory held by objects only requests told of")
    ] = DEFAULT.learned_mib,
    learned_ttl: Annotated[
        float, typer.Option(help="seconds an object only requests told of is kept unseen")
    ] = DEFAULT.learned_ttl,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = DEFAULT.tls_cert,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = DEFAULT.tls_key,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(help="authenticate clients by certificates this CA signed (PEM; mTLS)"),
    ] = DEFAULT.tls_client_ca,
    auth_token_file: Annotated[
        Path | None,
        typer.Option(help="authenticate clients by the bearer token in this file"),
    ] = DEFAULT.auth_token_file,
    header_timeout: Annotated[
        float, typer.Option(help="seconds a connection may take to send request headers")
    ] = DEFAULT.header_timeout,
    body_timeout: Annotated[
        float, typer.Option(help="seconds a request body may take to arrive")
    ] = DEFAULT.body_timeout,
    handshake_timeout: Annotated[
        float, typer.Option(help="seconds a TLS handshake may take")
    ] = DEFAULT.handshake_timeout,
    log_level: Annotated[
        str, typer.Option(help="debug | info | warning | error")
    ] = DEFAULT.log_level,
    print_scheduler_config: Annotated[
        bool,
        typer.Option(
            "--print-scheduler-config",
            help="print the KubeSchedulerConfiguration for this setup and exit",
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(
            help="urlPrefix for --print-scheduler-config, webhook URL for --print-webhook-config "
            "(default: own address)"
        ),
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option(
            help="plan new pods in batches behind this scheduling gate (e.g. placer.dev/plan), "
            "added by placer's admission webhook or by pod templates"
        ),
    ] = DEFAULT.gate,
    gate_window: Annotated[
        float, typer.Option(help="seconds to collect gated pods before planning them")
    ] = DEFAULT.gate_window,
    gate_batch: Annotated[
        int, typer.Option(help="plan at once when this many gated pods wait")
    ] = DEFAULT.gate_batch,
    gate_time_limit: Annotated[
        float, typer.Option(help="seconds to plan one batch of gated pods")
    ] = DEFAULT.gate_time_limit,
    gate_deadline: Annotated[
        float,
        typer.Option(
            help="seconds after which a gated pod is released unplanned (also on restart)"
        ),
    ] = DEFAULT.gate_deadline,
    gate_namespace: Annotated[
        list[str] | None,
        typer.Option(help="gate new pods of this namespace only (repeatable; default: all)"),
    ] = None,
    webhook_fail_open: Annotated[
        bool,
        typer.Option(
            "--webhook-fail-open/--webhook-fail-closed",
            help="a review placer cannot read, or placer down: create the pod ungated (open) "
            "or refuse it (closed)",
        ),
    ] = DEFAULT.webhook_fail_open,
    print_webhook_config: Annotated[
        bool,
        typer.Option(
            "--print-webhook-config",
            help="print the MutatingWebhookConfiguration for --gate and exit",
        ),
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="CA of placer's serving certificate, for --print-webhook-config"),
    ] = None,
    weight: Annotated[int, typer.Option(help="extender weight for --print-scheduler-config")] = 121,
    scheduler_kubeconfig: Annotated[
        str | None,
        typer.Option(
            help="clientConnection.kubeconfig for --print-scheduler-config (a static-pod "
            "scheduler's own, e.g. /etc/kubernetes/scheduler.conf)"
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="with --print-scheduler-config or --print-webhook-config: the configuration "
            "as JSON (the API server and kube-scheduler read either); refused without them (a "
            "running service reports through /metrics)",
        ),
    ] = False,
) -> None:
    """Run the kube-scheduler extender: filter, prioritize, preempt and bind, steered by a plan."""
    from engine.errors import InputError

    from . import check_at_least

    if weight < 1:
        raise InputError("--weight must be at least 1")
    if not 1 <= port <= 65535:
        raise InputError(f"must be a TCP port 1..65535, got {port}", path="--port")
    if log_level.lower() not in LOG_LEVELS:
        raise InputError(
            f"unknown level {log_level!r}; choose from {' | '.join(LOG_LEVELS)}", path="--log-level"
        )
    _check_seconds(plan_time_limit, "--plan-time-limit")
    _check_seconds(plan_max_age, "--plan-max-age")
    check_at_least(plan_memory_mib, 0, "--plan-memory-mib")
    check_at_least(max_body_bytes, 1, "--max-body-bytes")
    check_at_least(learned_nodes, 0, "--learned-nodes")
    check_at_least(learned_pods, 0, "--learned-pods")
    check_at_least(learned_mib, 0, "--learned-mib")
    _check_seconds(learned_ttl, "--learned-ttl")
    _check_seconds(header_timeout, "--header-timeout")
    _check_seconds(body_timeout, "--body-timeout")
    _check_seconds(handshake_timeout, "--handshake-timeout")
    _check_seconds(gate_window, "--gate-window")
    _check_seconds(gate_time_limit, "--gate-time-limit")
    _check_seconds(gate_deadline, "--gate-deadline")
    check_at_least(gate_batch, 1, "--gate-batch")
    if as_json and not (print_scheduler_config or print_webhook_config):
        raise InputError(
            "--json goes with --print-scheduler-config or --print-webhook-config", path="--json"
        )
    if print_webhook_config:
        return _print_webhook_config(
            gate,
            scheduler_name,
            gate_namespace,
            webhook_fail_open,
            url,
            ca_file,
            host,
            port,
            as_json,
        )
    settings = Settings(
        host=host,
        port=port,
        prefix=prefix,
        snapshot=snapshot,
        kubeconfig=kubeconfig,
        in_cluster=in_cluster,
        scheduler_name=scheduler_name,
        bind=bind,
        planner=planner,
        plan_time_limit=plan_time_limit,
        plan_max_age=plan_max_age,
        plan_incremental=plan_incremental,
        plan_process=plan_process,
        plan_memory_mib=plan_memory_mib,
        reserve=reserve,
        device_scoring=device_scoring,
        max_body_bytes=max_body_bytes,
        learned_nodes=learned_nodes,
        learned_pods=learned_pods,
        learned_mib=learned_mib,
        learned_ttl=learned_ttl,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        auth_token_file=auth_token_file,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        handshake_timeout=handshake_timeout,
        log_level=log_level.lower(),
        gate=gate,
        gate_window=gate_window,
        gate_batch=gate_batch,
        gate_time_limit=gate_time_limit,
        gate_deadline=gate_deadline,
        gate_namespaces=tuple(gate_namespace or ()),
        webhook_fail_open=webhook_fail_open,
    )
    if print_scheduler_config:
        from engine.extender.schedconfig import scheduler_config

        text = scheduler_config(settings, url=url, weight=weight, kubeconfig=scheduler_kubeconfig)
        if as_json:
            import json

            import yaml

            typer.echo(json.dumps(yaml.safe_load(text), indent=1))
        else:
            typer.echo(text, nl=False)
        return
    if tls_cert is not None and tls_key is not None:
        _check_tls(tls_cert, tls_key)  # only when serving: the config may name files elsewhere
    from engine.extras import require

    require("serve", "placer serve")

    from engine.extender.auth import check_client_ca, read_token

    if tls_client_ca is not None:
        check_client_ca(tls_client_ca)
    if auth_token_file is not None:
        read_token(auth_token_file)
    from engine.extender.server import serve as run

    run(settings)


def _print_webhook_config(
    gate: str | None,
    scheduler_name: str,
    namespaces: list[str] | None,
    fail_open: bool,
    url: str | None,
    ca_file: Path | None,
    host: str,
    port: int,
    as_json: bool = False,
) -> None:
    import yaml

    from engine.errors import InputError
    from engine.extender.app import WEBHOOK_PATH
    from engine.extender.gate import check_gate_name
    from engine.extender.webhook import WebhookSettings, webhook_config

    if gate is None:
        raise InputError("--print-webhook-config needs --gate NAME (the gate the webhook adds)")
    check_gate_name(gate)
    ca = None
    if ca_file is not None:
        if not ca_file.is_file():
            raise InputError("file not found", source=str(ca_file))
        ca = ca_file.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" not in ca:
            raise InputError("not a PEM certificate", source=str(ca_file))
    settings = WebhookSettings(
        gate=gate,
        scheduler_names=frozenset({scheduler_name}),
        namespaces=frozenset(namespaces or ()),
        fail_open=fail_open,
    )
    annotations = None
    if ca is None:
        # No CA given: let cert-manager's CA injector fill caBundle from placer's certificate.
        annotations = {"cert-manager.io/inject-ca-from": "placer-system/placer-tls"}
    target = url or f"https://{host}:{port}"
    if not target.startswith("https://"):
        raise InputError("the API server calls webhooks over HTTPS only", path="--url")
    if not target.rstrip("/").endswith(WEBHOOK_PATH):
        target = target.rstrip("/") + WEBHOOK_PATH
    config = webhook_config(settings, url=target, ca_bundle=ca, annotations=annotations)
    if as_json:
        from .grammar import emit_json

        return emit_json(config)
    typer.echo(
        "# placer's scheduling-gate webhook (placer serve --print-webhook-config)\n"
        + yaml.safe_dump(config, sort_keys=False),
        nl=False,
    )
