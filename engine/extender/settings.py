"""How one ``placer serve`` instance runs (set from the CLI; tests build them directly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `placer serve` reads its option defaults from here
    from .gate import GateSettings
    from .state import LearnLimits
    from .webhook import WebhookSettings

DEFAULT_PREFIX = "/scheduler"
DEFAULT_MAX_BODY = 64 * 2**20  # a full NodeList of 5,000 nodes is about 25 MB


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8888
    prefix: str = DEFAULT_PREFIX
    snapshot: Path | None = None
    kubeconfig: Path | None = None
    in_cluster: bool = False
    scheduler_name: str = "default-scheduler"
    bind: bool = False  # act as the binder (bindVerb); creates Bindings when a cluster is attached
    planner: bool = True
    plan_time_limit: float = 10.0
    plan_settle: float = 0.5
    plan_max_age: float = 300.0
    plan_incremental: bool = True  # arriving pods planned around the last plan (incremental.py)
    plan_process: bool = True  # solve in a separate process (keeps the GIL free for requests)
    plan_memory_mib: int = 4096  # address-space cap of that process (0: none)
    reserve: bool = True  # filter keeps capacity the plan holds for other pending groups
    # prioritize scores pods the plan does not cover by placer's online GPU policy over the DRA
    # devices (extender/devices.py); LeastAllocated without it, or where there are no devices
    device_scoring: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY
    # What requests alone may teach the service (see state.LearnLimits).
    learned_nodes: int = 10_000
    learned_pods: int = 50_000
    learned_mib: int = 256
    learned_ttl: float = 900.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # clients may authenticate with a certificate it signed
    auth_token_file: Path | None = None  # clients may authenticate with this bearer token
    # Read timeouts (seconds): request headers, request body, TLS handshake.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    handshake_timeout: float = 10.0
    log_level: str = "info"
    # Batch planning through a scheduling gate (gate.py) and the webhook that adds it.
    gate: str | None = None
    gate_window: float = 1.0
    gate_batch: int = 500
    gate_time_limit: float = 2.0
    gate_deadline: float = 60.0
    gate_namespaces: tuple[str, ...] = ()
    webhook_fail_open: bool = True

    def __post_init__(self) -> None:
        from engine.errors import InputError

        if (self.tls_cert is None) != (self.tls_key is None):
            raise InputError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise InputError(
                "--tls-client-ca needs --tls-cert and --tls-key (certificates need TLS)"
            )
        if self.gate is not None:
            from .gate import check_gate_name

            check_gate_name(self.gate)
            if not self.live:
                raise InputError(
                    "--gate needs a cluster (--kubeconfig or --in-cluster): placer removes "
                    "the gate through the API"
                )
            if self.gate_batch < 1:
                raise InputError("must be at least 1", path="--gate-batch")

    @property
    def gate_settings(self) -> GateSettings | None:
        from .gate import GateSettings

        if self.gate is None:
            return None
        return GateSettings(
            name=self.gate,
            window=self.gate_window,
            batch=self.gate_batch,
            time_limit=self.gate_time_limit,
            deadline=self.gate_deadline,
            scheduler_name=self.scheduler_name,
        )

    @property
    def webhook_settings(self) -> WebhookSettings | None:
        from .webhook import WebhookSettings

        if self.gate is None:
            return None
        return WebhookSettings(
            gate=self.gate,
            scheduler_names=frozenset({self.scheduler_name}),
            namespaces=frozenset(self.gate_namespaces),
            fail_open=self.webhook_fail_open,
        )

    @property
    def learn_limits(self) -> LearnLimits:
        from .state import LearnLimits

        return LearnLimits(
            nodes=self.learned_nodes,
            pods=self.learned_pods,
            bytes=self.learned_mib * 2**20,
            ttl=self.learned_ttl,
        )

    @property
    def authenticates(self) -> bool:
        return self.tls_client_ca is not None or self.auth_token_file is not None

    @property
    def live(self) -> bool:
        return self.kubeconfig is not None or self.in_cluster

    @property
    def has_cache(self) -> bool:
        """Does the service hold node state of its own (so the scheduler may send names only)?"""
        return self.live or self.snapshot is not None

    @property
    def route_prefix(self) -> str:
        prefix = "/" + self.prefix.strip("/")
        return "" if prefix == "/" else prefix
