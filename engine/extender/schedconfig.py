"""The ``KubeSchedulerConfiguration`` (v1) that plugs a running ``placer serve`` into kube-scheduler."""

from __future__ import annotations

from .settings import Settings

# The default score plugins can add at most 12 × 100 = 1200 to a node (weights: TaintToleration 3,
# NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
# NodeResourcesBalancedAllocation 1, ImageLocality 1). A planned node scores 10 and any other
# node at most 9, so the plan's lead is one extender point = weight × 10 framework points;
# to outweigh every possible plugin disagreement that must exceed 1200.
DEFAULT_PLUGIN_MAX = 1200
DEFAULT_WEIGHT = DEFAULT_PLUGIN_MAX // 10 + 1  # 121
DEFAULT_HTTP_TIMEOUT = "2s"
# Where the printed configuration expects kube-scheduler's TLS files (mounted by deploy/).
CA_FILE = "/etc/kubernetes/placer/ca.crt"
CLIENT_CERT_FILE = "/etc/kubernetes/placer/client.crt"
CLIENT_KEY_FILE = "/etc/kubernetes/placer/client.key"


# A second scheduler (profile ``schedulerName`` other than default-scheduler) must not compete
# for the default scheduler's lease: it takes its own, in placer's namespace.
SECOND_SCHEDULER_LEASE = "placer-scheduler"
SECOND_SCHEDULER_NAMESPACE = "placer-system"


def scheduler_config(
    settings: Settings,
    *,
    url: str | None = None,
    weight: int = DEFAULT_WEIGHT,
    http_timeout: str = DEFAULT_HTTP_TIMEOUT,
    ignorable: bool = True,
    kubeconfig: str | None = None,
) -> str:
    """YAML text with comments; ``url`` defaults to where this instance listens.

    ``kubeconfig``: the scheduler's ``clientConnection.kubeconfig`` (a static-pod scheduler
    reads its own; an in-cluster one uses its service account when it is left out)."""
    https = settings.tls_cert is not None
    if url is None:
        scheme = "https" if https else "http"
        url = f"{scheme}://{settings.host}:{settings.port}{settings.route_prefix}"
    node_cache = settings.has_cache
    bind_verb = '"bind"' if settings.bind else '""'
    tls = ""
    if https:
        tls = (
            "\n  tlsConfig:\n    insecure: false\n"
            f"    caFile: {CA_FILE}   # the CA that signed --tls-cert"
        )
    if settings.tls_client_ca is not None:
        tls += (
            "\n    # kube-scheduler's client certificate, signed by the CA given to --tls-client-ca"
            f"\n    certFile: {CLIENT_CERT_FILE}\n    keyFile: {CLIENT_KEY_FILE}"
        )
    auth_note = ""
    if settings.auth_token_file is not None and settings.tls_client_ca is None:
        auth_note = (
            "\n# placer requires a bearer token (--auth-token-file), but kube-scheduler's extender"
            "\n# client cannot send one: give placer --tls-client-ca and the scheduler a client"
            "\n# certificate (tlsConfig.certFile/keyFile), or it will be refused (401)."
        )
    client = ""
    if kubeconfig is not None:
        client = f'\nclientConnection:\n  kubeconfig: "{kubeconfig}"'
    lease = ""
    if settings.scheduler_name != "default-scheduler":
        lease = (
            "\n# A second scheduler beside the cluster's own: its own lease, so both can lead."
            "\nleaderElection:\n  leaderElect: true"
            f"\n  resourceName: {SECOND_SCHEDULER_LEASE}"
            f"\n  resourceNamespace: {SECOND_SCHEDULER_NAMESPACE}"
        )
    return f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration{auth_note}{client}{lease}
# placer plans pods for this scheduler name (placer serve --scheduler-name).
profiles:
- schedulerName: {settings.scheduler_name}
extenders:
- urlPrefix: "{url}"
  filterVerb: "filter"
  prioritizeVerb: "prioritize"
  preemptVerb: "preempt"
  bindVerb: {bind_verb}{"  # placer creates the Binding (at most one extender may bind)" if settings.bind else "  # kube-scheduler's DefaultBinder binds"}
  # Planned node: 10, every other node: 0..9, so the plan leads by one point = weight x 10.
  # The default score plugins add at most 1200; weight {weight} makes the plan win outright.
  weight: {weight}
  enableHTTPS: {"true" if https else "false"}{tls}
  # placer answers in milliseconds and never waits on its solver; a hung extender should
  # cost a scheduling cycle {http_timeout}, not the 5s default.
  httpTimeout: {http_timeout}
  # {"placer keeps its own node cache (snapshot or list+watch): names only on the wire." if node_cache else "placer has no cluster source: the scheduler must send full Node objects."}
  nodeCacheCapable: {"true" if node_cache else "false"}
  # An optimiser must never stop scheduling: if placer is down, kube-scheduler goes on alone.
  ignorable: {"true" if ignorable else "false"}
  managedResources: []
"""
