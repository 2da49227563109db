"""``placer import alibaba-gpu``: the Alibaba GPU cluster trace (2023, "openb") as Kubernetes manifests.

Trace (alibaba/clusterdata cluster-trace-gpu-v2023; Weng et al., ATC 2023): a node CSV
(``sn, cpu_milli, memory_mib, gpu, model``) and a pod CSV (``name, cpu_milli, memory_mib, num_gpu,
gpu_milli, gpu_spec, qos, pod_phase, ...``). The manifests it becomes:

- Node: allocatable ``cpu`` (millicores), ``memory`` (MiB), ``pods`` (``max_pods``),
  ``nvidia.com/gpu`` (whole GPUs) and ``alibaba.com/gpu-milli`` (1000 per GPU); the GPU model as the
  label ``alibaba.com/gpu-model``.
- Pod: every trace pod is pending (the trace is the workload to place, as in the FGD simulator).
  A pod with whole GPUs requests ``nvidia.com/gpu: n`` and ``alibaba.com/gpu-milli: 1000 n``; a
  GPU-sharing pod (``num_gpu`` 1, ``gpu_milli`` < 1000) requests only ``alibaba.com/gpu-milli``.
  GPU sharing is thus held per node in aggregate: a node never gives out more than its GPUs, but a
  share is not pinned to one device (a relaxation of per-device packing; see the README).
- ``gpu_spec`` (allowed models, ``|``-separated) becomes required node affinity
  ``alibaba.com/gpu-model In [...]``; ``qos`` becomes the label ``alibaba.com/qos``.
- The trace has no owners: pods of one resource shape share a synthetic owner
  ``ReplicaSet/openb-<shape>``, so identical pods form one IR group.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError

GPU = "nvidia.com/gpu"
GPU_MILLI = "alibaba.com/gpu-milli"
GPU_MODEL_LABEL = "alibaba.com/gpu-model"
QOS_LABEL = "alibaba.com/qos"
NAMESPACE = "openb"
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec")


@dataclass(frozen=True)
class TraceNode:
    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str


@dataclass(frozen=True)
class TracePod:
    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]
    qos: str

    @property
    def gpu_demand(self) -> int:
        """GPU use in milli-GPUs (whole GPUs count 1000 each)."""
        if self.num_gpu == 1 and 0 < self.gpu_milli < 1000:
            return self.gpu_milli
        return 1000 * self.num_gpu


def _rows(path: Path, columns: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", source=str(path))
            return [(n + 2, row) for n, row in enumerate(reader)]
    except FileNotFoundError:
        raise InputError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read: {exc}", source=str(path)) from None


def _int(path: Path, line: int, row: dict[str, str], column: str) -> int:
    if row.get(column) is None:  # csv gives None for fields past the end of a short row
        raise InputError(f"row ends before column {column}", path=f"line {line}", source=str(path))
    raw = row[column].strip()
    try:
        value = int(float(raw)) if raw else 0
    except ValueError:
        raise InputError(
            f"{column}: expected a number, got {raw!r}", path=f"line {line}", source=str(path)
        ) from None
    if value < 0:
        raise InputError(f"{column}: negative value {value}", path=f"line {line}", source=str(path))
    return value


def read_nodes(path: Path) -> list[TraceNode]:
    out = []
    for line, row in _rows(path, NODE_COLUMNS):
        out.append(
            TraceNode(
                name=(row["sn"] or "").strip() or f"node-{line}",
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpus=_int(path, line, row, "gpu"),
                model=(row.get("model") or "").strip(),
            )
        )
    return out


def read_pods(path: Path) -> list[TracePod]:
    out = []
    for line, row in _rows(path, POD_COLUMNS):
        spec = tuple(s.strip() for s in (row.get("gpu_spec") or "").split("|") if s.strip())
        pod = TracePod(
            name=(row["name"] or "").strip() or f"pod-{line}",
            cpu_milli=_int(path, line, row, "cpu_milli"),
            memory_mib=_int(path, line, row, "memory_mib"),
            num_gpu=_int(path, line, row, "num_gpu"),
            gpu_milli=_int(path, line, row, "gpu_milli"),
            gpu_spec=spec,
            qos=(row.get("qos") or "").strip(),
        )
        if pod.num_gpu == 1 and pod.gpu_milli > 1000:
            raise InputError(
                f"gpu_milli {pod.gpu_milli} > 1000 for one GPU",
                path=f"line {line}",
                source=str(path),
            )
        out.append(pod)
    return out


def node_manifest(node: TraceNode, max_pods: int) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": node.name}
    allocatable: dict[str, str] = {
        "cpu": f"{node.cpu_milli}m",
        "memory": f"{node.memory_mib}Mi",
        "pods": str(max_pods),
    }
    if node.gpus:
        allocatable[GPU] = str(node.gpus)
        allocatable[GPU_MILLI] = str(1000 * node.gpus)
        if node.model:
            labels[GPU_MODEL_LABEL] = node.model
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod_manifest(pod: TracePod) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": f"{pod.cpu_milli}m", "memory": f"{pod.memory_mib}Mi"}
    if pod.num_gpu == 1 and 0 < pod.gpu_milli < 1000:
        requests[GPU_MILLI] = str(pod.gpu_milli)
    elif pod.num_gpu:
        requests[GPU] = str(pod.num_gpu)
        requests[GPU_MILLI] = str(1000 * pod.num_gpu)
    spec: dict[str, Any] = {
        "containers": [
            {"name": "main", "image": "openb/workload", "resources": {"requests": requests}}
        ]
    }
    if pod.gpu_spec:
        term = {
            "matchExpressions": [
                {"key": GPU_MODEL_LABEL, "operator": "In", "values": list(pod.gpu_spec)}
            ]
        }
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    shape = json.dumps([requests, pod.gpu_spec, pod.qos], sort_keys=True)
    owner = "openb-" + hashlib.blake2b(shape.encode(), digest_size=4).hexdigest()
    labels = {"app": "openb"}
    if pod.qos:
        labels[QOS_LABEL] = pod.qos
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": NAMESPACE,
            "labels": labels,
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}
            ],
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def sample(
    nodes: list[TraceNode],
    pods: list[TracePod],
    *,
    sample_nodes: int | None = None,
    demand_ratio: float | None = None,
    seed: int = 0,
) -> tuple[list[TraceNode], list[TracePod]]:
    """A seeded sample: ``sample_nodes`` nodes, and pods (in trace order) up to ``demand_ratio``
    times the sampled GPU capacity; without a ratio, a pod share equal to the node share."""
    rng = random.Random(seed)
    total_nodes = len(nodes)
    if sample_nodes is not None and sample_nodes < total_nodes:
        keep = set(rng.sample(range(total_nodes), sample_nodes))
        nodes = [n for i, n in enumerate(nodes) if i in keep]
        if demand_ratio is None:
            share = round(len(pods) * sample_nodes / total_nodes)
            chosen = set(rng.sample(range(len(pods)), share))
            return nodes, [p for i, p in enumerate(pods) if i in chosen]
    if demand_ratio is None:
        return nodes, pods
    capacity = sum(1000 * n.gpus for n in nodes)
    target = demand_ratio * capacity
    order = list(range(len(pods)))
    rng.shuffle(order)
    chosen_ids: set[int] = set()
    demand = 0
    for i in order:
        if demand >= target:
            break
        chosen_ids.add(i)
        demand += pods[i].gpu_demand
    return nodes, [p for i, p in enumerate(pods) if i in chosen_ids]


def trace_to_manifests(
    nodes: list[TraceNode], pods: list[TracePod], *, max_pods: int = 110
) -> dict[str, Any]:
    """A ``kind: List`` of Nodes and pending Pods."""
    items = [node_manifest(n, max_pods) for n in nodes] + [pod_manifest(p) for p in pods]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def import_alibaba(
    nodes_csv: Path,
    pods_csv: Path,
    *,
    sample_nodes: int | None = None,
    demand_ratio: float | None = None,
    seed: int = 0,
    max_pods: int = 110,
) -> dict[str, Any]:
    nodes, pods = sample(
        read_nodes(nodes_csv),
        read_pods(pods_csv),
        sample_nodes=sample_nodes,
        demand_ratio=demand_ratio,
        seed=seed,
    )
    if not nodes:
        raise InputError("no nodes to import", source=str(nodes_csv))
    return trace_to_manifests(nodes, pods, max_pods=max_pods)


def write_manifests(doc: dict[str, Any], output: Path) -> None:
    from ..io import write_text_atomic

    if output.suffix.lower() == ".json":
        text = json.dumps(doc, separators=(",", ":")) + "\n"
    else:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text = yaml.dump(doc, Dumper=dumper, sort_keys=False, default_flow_style=None, width=160)
    write_text_atomic(output, text)


def register_import(group: typer.Typer) -> None:
    @group.command("alibaba-gpu")
    def alibaba_gpu(
        nodes_csv: Annotated[Path, typer.Argument(help="openb_node_list_*.csv")],
        pods_csv: Annotated[Path, typer.Argument(help="openb_pod_list_*.csv")],
        output: Annotated[
            Path, typer.Option("--output", "-o", help="manifests to write (.yaml or .json)")
        ],
        sample_nodes: Annotated[
            int | None, typer.Option("--sample-nodes", min=1, help="keep N random nodes")
        ] = None,
        demand_ratio: Annotated[
            float | None,
            typer.Option(
                "--demand-ratio", min=0.0, help="take pods until GPU demand is R x GPU capacity"
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
        max_pods: Annotated[
            int, typer.Option("--max-pods", min=1, help="pods per node (allocatable)")
        ] = 110,
    ) -> None:
        """Alibaba GPU trace (2023) -> Kubernetes Nodes and pending Pods (placer solve reads them)."""
        from rich.console import Console

        doc = import_alibaba(
            nodes_csv,
            pods_csv,
            sample_nodes=sample_nodes,
            demand_ratio=demand_ratio,
            seed=seed,
            max_pods=max_pods,
        )
        write_manifests(doc, output)
        kinds = [item["kind"] for item in doc["items"]]
        Console(highlight=False).print(
            f"wrote {kinds.count('Node')} nodes and {kinds.count('Pod')} pending pods to {output}"
        )
