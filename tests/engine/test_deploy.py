"""deploy/: every manifest against the Kubernetes OpenAPI models of the ``kubernetes`` client
(unknown fields included), the generated configurations kept identical to their generators, and
the image's package list against what the service imports."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.rglob("*.yaml"))
GROUP_PREFIX = {
    "v1": "V1",
    "apps/v1": "V1",
    "rbac.authorization.k8s.io/v1": "V1",
    "admissionregistration.k8s.io/v1": "V1",
}


class Invalid(AssertionError):
    pass


def _model_of(annotation: Any) -> Any:
    """The client model class inside an annotation (Optional[List[V1X]] -> V1X), if any."""
    if isinstance(annotation, type) and hasattr(annotation, "attribute_map"):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _model_of(arg)
        if inner is not None:
            return inner
    return None


def check_keys(doc: Any, cls: Any, path: str) -> None:
    """Every key must be a field of the model (the client's from_dict drops unknown ones)."""
    if not isinstance(doc, dict):
        return
    by_json = {json: name for name, json in cls.attribute_map.items()}
    for key, value in doc.items():
        if key not in by_json:
            raise Invalid(f"{path}.{key}: not a field of {cls.__name__}")
        inner = _model_of(cls.model_fields[by_json[key]].annotation)
        if inner is None:
            continue
        if isinstance(value, list):
            for n, entry in enumerate(value):
                check_keys(entry, inner, f"{path}.{key}[{n}]")
        elif isinstance(value, dict) and not _is_map(cls.model_fields[by_json[key]].annotation):
            check_keys(value, inner, f"{path}.{key}")
        elif isinstance(value, dict):
            for k, entry in value.items():
                check_keys(entry, inner, f"{path}.{key}.{k}")


def _is_map(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (dict, typing.Dict):  # noqa: UP006
        return True
    return any(_is_map(a) for a in typing.get_args(annotation) if typing.get_args(a))


def from_dict(doc: dict[str, Any], cls: Any) -> Any:
    check_keys(doc, cls, doc.get("kind", cls.__name__))
    return cls.from_dict(doc)


def model_for(doc: dict[str, Any]) -> Any:
    prefix = GROUP_PREFIX.get(doc.get("apiVersion", ""))
    if prefix is None:
        raise Invalid(f"unexpected apiVersion {doc.get('apiVersion')!r}")
    return getattr(client, f"{prefix}{doc['kind']}")


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in MANIFESTS:
        if "patches" in path.parts or path.name == "scheduler-config.yaml":
            continue
        for n, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                out.append((f"{path.relative_to(ROOT)}#{n}", doc))
    return out


@pytest.mark.parametrize("where, doc", documents(), ids=[w for w, _ in documents()])
def test_every_manifest_is_a_valid_kubernetes_object(where: str, doc: dict[str, Any]) -> None:
    from_dict(doc, model_for(doc))


def test_the_validator_catches_what_a_typo_makes() -> None:
    doc = next(d for _, d in documents() if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "IfNotPresent"
    with pytest.raises(Invalid, match="imagePulPolicy"):
        from_dict(broken, client.V1Deployment)
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(Exception, match="replicas"):
        from_dict(broken, client.V1Deployment)


def test_the_kubeadm_patch_is_a_valid_pod_spec_fragment() -> None:
    patch = yaml.safe_load((DEPLOY / "kubeadm/patches/kube-scheduler+strategic.yaml").read_text())
    spec = from_dict(patch["spec"], client.V1PodSpec)
    assert "--config=/etc/kubernetes/placer/scheduler-config.yaml" in spec.containers[0].command
    assert spec.volumes[0].host_path.path == "/etc/kubernetes/placer"


def test_placer_images_are_pulled_if_not_present_and_never_latest() -> None:
    for where, doc in documents():
        if doc["kind"] != "Deployment":
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            assert c["imagePullPolicy"] == "IfNotPresent", where
            assert not c["image"].endswith(":latest") and ":" in c["image"], where


def _generated(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _embedded(path: Path) -> str:
    """The KubeSchedulerConfiguration text of a ConfigMap (or of a plain file)."""
    text = path.read_text()
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "ConfigMap":
            return str(doc["data"]["scheduler-config.yaml"])
    return re.sub(r"\A(#.*\n)+", "", text)


GENERATED = [
    (
        "second-scheduler/scheduler.yaml",
        ["--print-scheduler-config", "--in-cluster", "--scheduler-name", "placer",
         "--tls-cert", "tls.crt", "--tls-key", "tls.key", "--tls-client-ca", "ca.crt",
         "--url", "https://placer.placer-system.svc:443/scheduler"],
    ),
    (
        "kubeadm/scheduler-config.yaml",
        ["--print-scheduler-config", "--in-cluster", "--tls-cert", "tls.crt", "--tls-key",
         "tls.key", "--tls-client-ca", "ca.crt", "--url", "https://10.96.0.50:443/scheduler",
         "--scheduler-kubeconfig", "/etc/kubernetes/scheduler.conf"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("name, args", GENERATED)
def test_scheduler_configurations_are_what_placer_prints(name: str, args: list[str]) -> None:
    assert _embedded(DEPLOY / name) == _generated(args)


def test_the_webhook_configuration_is_what_placer_prints() -> None:
    printed = _generated(
        ["--print-webhook-config", "--gate", "placer.dev/plan", "--scheduler-name", "placer",
         "--url", "https://placer.placer-system.svc:443"]
    )  # fmt: skip
    stored = (DEPLOY / "webhook.yaml").read_text()
    assert yaml.safe_load(stored) == yaml.safe_load(printed)


def test_tls_config_names_the_ca_file_when_tls_is_on() -> None:
    on = yaml.safe_load(
        _generated(["--print-scheduler-config", "--tls-cert", "a", "--tls-key", "b"])
    )
    assert on["extenders"][0]["tlsConfig"]["caFile"] == "/etc/kubernetes/placer/ca.crt"
    assert on["extenders"][0]["enableHTTPS"] is True
    off = yaml.safe_load(_generated(["--print-scheduler-config"]))
    assert "tlsConfig" not in off["extenders"][0] and off["extenders"][0]["enableHTTPS"] is False


def test_a_second_scheduler_takes_its_own_lease() -> None:
    second = yaml.safe_load(_generated(["--print-scheduler-config", "--scheduler-name", "placer"]))
    assert second["leaderElection"]["resourceName"] == "placer-scheduler"
    assert second["profiles"] == [{"schedulerName": "placer"}]
    default = yaml.safe_load(_generated(["--print-scheduler-config"]))
    assert "leaderElection" not in default


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    copied = re.findall(
        r"^COPY (?!--from)(\S+(?: \S+)*?) \S+$", (DEPLOY / "Dockerfile").read_text(), re.M
    )
    for sources in copied:
        for source in sources.split():
            assert f"!{source.rstrip('/')}/" in lines or f"!{source}" in lines, source


NOT_SERVED = re.search(r'ARG NOT_SERVED="([^"]+)"', (DEPLOY / "Dockerfile").read_text())


def test_the_base_image_is_pinned() -> None:
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", (DEPLOY / "Dockerfile").read_text())
    assert base is not None
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])


@pytest.mark.slow
def test_the_service_runs_without_the_packages_the_image_leaves_out() -> None:
    """Import and run what placer serve runs (planner, gate planning, webhook, CLI) with the
    distributions the Dockerfile leaves out made unimportable."""
    assert NOT_SERVED is not None
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    blocked = sorted(
        module
        for module, dists in owners.items()
        if {d.lower() for d in dists} & set(NOT_SERVED[1].split())
    )
    assert {"pulp", "dimod"} <= set(blocked)
    script = f"""
import sys, importlib.abc
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not in the image")
sys.meta_path.insert(0, Block())
import orjson
from engine.extender.gate import solve_batch
from engine.extender.planner import solve_documents
from engine.extender.webhook import review, WebhookSettings
import engine.extender.server, engine.commands.serve, engine.cli
sys.path.insert(0, {str(ROOT)!r})
from tests.engine.extender.conftest import node, pod
docs = orjson.dumps([node("a"), node("b"), pod("x", "1"), pod("y", "2", owner="o")])
assert solve_batch(docs, "default-scheduler", "cpsat", 2.0)["nodes"]
assert solve_documents(docs, "default-scheduler", "cpsat", 2.0)["targets"]
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
