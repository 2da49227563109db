"""--format bindings: a stream of v1 Bindings that the Kubernetes API accepts as it is (checked
against the official client's OpenAPI models, and posted to a real kube-apiserver the way
``kubectl create -f`` does), and the ReplicaPlan in its own file with every unbound pod's reason."""

from __future__ import annotations

import lzma
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import main
from engine.io import load
from engine.kube import binding_files, explain_unplaced, plan_to_bindings_yaml, replica_plan
from engine.solve import solve

ROOT = Path(__file__).resolve().parents[3]
CONTROLPLANE = ROOT.parent / "shared" / "controlplane"


def _strict_model(data: Any, type_name: str) -> Any:
    """Build a kubernetes client model from a manifest dict, refusing any key the OpenAPI model
    does not define (the client alone ignores them) and enforcing its required fields."""
    from kubernetes import client

    cls = getattr(client, type_name)
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    unknown = set(data) - set(by_json)
    assert not unknown, f"{type_name}: fields unknown to the API: {sorted(unknown)}"
    kwargs = {}
    for key, value in data.items():
        attr = by_json[key]
        kind = cls.openapi_types[attr]
        kwargs[attr] = _strict_model(value, kind) if kind.startswith("V1") else value
    return cls(**kwargs)  # client-side validation: required fields, allowed values


def _solved(name: str) -> tuple[Any, Any]:
    problem = load(ROOT / "instances" / "manifests" / name)
    return problem, explain_unplaced(problem, solve(problem, "cpsat", time_limit=10, seed=0))


@pytest.mark.parametrize("name", ["small-cluster.yaml", "gpu-cluster.json"])
def test_the_stream_holds_only_valid_v1_bindings(name: str) -> None:
    from kubernetes.client import ApiClient

    problem, solution = _solved(name)
    docs = list(yaml.safe_load_all(plan_to_bindings_yaml(problem, solution)))
    assert docs and all(d["kind"] == "Binding" for d in docs)
    for doc in docs:
        model = _strict_model(doc, "V1Binding")
        assert ApiClient().sanitize_for_serialization(model) == doc  # nothing lost or renamed
        assert doc["apiVersion"] == "v1" and doc["target"]["kind"] == "Node"
        assert doc["metadata"]["namespace"] and doc["metadata"]["name"]


def test_the_replica_plan_has_its_own_file_and_reasons(tmp_path: Path) -> None:
    problem, solution = _solved("gpu-cluster.json")
    files = binding_files(problem, solution, tmp_path / "bindings.yaml")
    assert list(files) == [tmp_path / "bindings.yaml", tmp_path / "bindings.replicaplan.yaml"]
    (plan,) = yaml.safe_load_all(files[tmp_path / "bindings.replicaplan.yaml"])
    assert plan["kind"] == "ReplicaPlan" and plan["apiVersion"] == "placer/v1"
    unbound = {u["pod"]: u["reason"] for u in plan["unboundPods"]}
    # the GPU job asks for 20 GPUs where 16 can be had: one pod stays, with the scheduler's words
    train = [r for p, r in unbound.items() if p.startswith("ml/train-llm")]
    assert len(train) == 1 and train[0].startswith("0/7 nodes are available:")
    assert "Insufficient nvidia.com/gpu" in train[0]
    # a gated pod is never planned, and says so
    assert unbound["ml/notebook-gated"].startswith("not planned: spec.schedulingGates")
    bound = {d["metadata"]["name"] for d in yaml.safe_load_all(files[tmp_path / "bindings.yaml"])}
    assert not bound & {p.split("/")[1] for p in unbound}  # a pod is bound or unbound, never both
    assert replica_plan(problem, solution) == plan


def test_cli_writes_two_files(tmp_path: Path) -> None:
    out = tmp_path / "b.yaml"
    small = ROOT / "instances" / "manifests" / "small-cluster.yaml"
    with pytest.raises(SystemExit) as code:
        main(["solve", str(small), "--format", "bindings", "-o", str(out), "-q"])
    assert code.value.code == 0
    assert [d["kind"] for d in yaml.safe_load_all(out.read_text())] == ["Binding", "Binding"]
    replicas = list(yaml.safe_load_all((tmp_path / "b.replicaplan.yaml").read_text()))
    assert [d["kind"] for d in replicas] == ["ReplicaPlan"]


# ---------------------------------------------------------------- a real kube-apiserver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """etcd + kube-apiserver v1.34 on loopback, no scheduler (nothing binds but the test)."""
    if not (CONTROLPLANE / "up.sh").exists():
        pytest.skip("../shared/controlplane is not present")
    base = tmp_path_factory.mktemp("controlplane")
    bins = base / "bin"
    bins.mkdir()
    for name in ("etcd", "kube-apiserver"):
        with lzma.open(CONTROLPLANE / "bin" / f"{name}.xz") as src, (bins / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)
        (bins / name).chmod(0o755)
    (bins / "kube-scheduler").write_text("#!/bin/sh\nexit 0\n")  # not started (CP_NO_SCHEDULER)
    (bins / "kube-scheduler").chmod(0o755)
    env = {
        **os.environ,
        "CP_NO_SCHEDULER": "1",
        "CP_API_PORT": str(_free_port()),
        "CP_ETCD_PORT": str(_free_port()),
        "CP_ETCD_PEER_PORT": str(_free_port()),
    }
    work = base / "work"
    try:
        up = subprocess.run(
            ["bash", str(CONTROLPLANE / "up.sh"), str(bins), str(work)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert up.returncode == 0, up.stderr[-2000:]
        yield Path(up.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["bash", str(CONTROLPLANE / "down.sh"), str(work)], capture_output=True)


@pytest.mark.slow
def test_kube_apiserver_accepts_the_stream_as_is(apiserver: Path, tmp_path: Path) -> None:
    from kubernetes import client, config, utils

    api_client = config.new_client_from_config(str(apiserver))
    v1 = client.CoreV1Api(api_client)
    small = ROOT / "instances" / "manifests" / "small-cluster.yaml"
    docs = [d for d in yaml.safe_load_all(small.read_text()) if d]
    v1.create_namespace({"metadata": {"name": "shop"}})
    for node in (d for d in docs if d["kind"] == "Node"):
        v1.create_node({k: v for k, v in node.items() if k != "status"})
        v1.patch_node_status(node["metadata"]["name"], {"status": node["status"]})
    pending = [d for d in docs if d["kind"] == "Pod" and not d["spec"].get("nodeName")]
    for pod in pending:
        body = {k: v for k, v in pod.items() if k != "status"}
        drop = ("uid", "ownerReferences")  # the server assigns uids; no ReplicaSet exists here
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in drop}
        body["spec"] = {
            k: v for k, v in body["spec"].items() if k not in ("priorityClassName", "priority")
        }
        v1.create_namespaced_pod("shop", body)
    # the stream refers to the pods by name and uid: give it the uids the server assigned
    uids = {p.metadata.name: p.metadata.uid for p in v1.list_namespaced_pod("shop").items}
    out = tmp_path / "bindings.yaml"
    with pytest.raises(SystemExit) as code:
        main(["solve", str(small), "--format", "bindings", "-o", str(out), "-q"])
    assert code.value.code == 0
    stream = [d for d in yaml.safe_load_all(out.read_text()) if d]
    for doc in stream:
        doc["metadata"]["uid"] = uids[doc["metadata"]["name"]]
    # what `kubectl create -f` does with the stream: POST each object to its kind's resource
    # (here through the client's kind -> API mapping: create_namespaced_binding)
    for doc in stream:
        try:
            utils.create_from_dict(api_client, doc)
        except ValueError as exc:  # the client cannot read the Binding's Status reply back
            assert "target" in str(exc), exc
    deadline = time.monotonic() + 10
    want = {d["metadata"]["name"]: d["target"]["name"] for d in stream}
    while time.monotonic() < deadline:
        got = {p.metadata.name: p.spec.node_name for p in v1.list_namespaced_pod("shop").items}
        if got == want:
            break
        time.sleep(0.2)
    assert got == want
