"""``placer import alibaba-gpu``: the Alibaba GPU cluster trace (2023, "openb") as Kubernetes manifests.

Trace (alibaba/clusterdata cluster-trace-gpu-v2023; Weng et al., ATC 2023): a node CSV
(``sn, cpu_milli, memory_mib, gpu, model``) and a pod CSV (``name, cpu_milli, memory_mib, num_gpu,
gpu_milli``, optionally ``gpu_spec, qos, pod_phase, ...``), read by ``engine.gpu.trace``. GPUs are devices, through Kubernetes Dynamic Resource
Allocation (``resource.k8s.io/v1``), exactly as the trace's simulator holds them:

- Node: allocatable ``cpu`` (millicores), ``memory`` (MiB) and ``pods`` (``max_pods``); the GPU
  model also as the label ``alibaba.com/gpu-model``.
- ResourceSlice per GPU node (driver ``gpu.alibaba.com``): devices ``gpu-0`` … with the attribute
  ``model`` and the consumable capacity ``gpu-milli: 1000``, several allocations allowed (GPU
  sharing); one DeviceClass ``gpu.alibaba.com`` selects them.
- Pod: every trace pod is pending (the trace is the workload to place, as in the FGD simulator).
  A GPU pod claims its GPUs through a ResourceClaimTemplate (one per request shape): ``num_gpu``
  n > 1 (or 1 with ``gpu_milli`` 1000) asks ``count: n`` whole devices; a GPU-sharing pod
  (``num_gpu`` 1, ``gpu_milli`` < 1000) asks one device with ``capacity.requests: {gpu-milli}``:
  its share must fit ONE GPU. ``gpu_spec`` (allowed models, ``|``-separated) is a CEL selector on
  the device's ``model``; ``qos`` becomes the label ``alibaba.com/qos``.
- The trace has no owners: pods of one request shape share a synthetic owner
  ``ReplicaSet/openb-<shape>``, so identical pods form one IR group.
- Objective: every pod carries the annotation ``placer.dev/value`` = the GPUs it puts to work
  (``num_gpu``, or a share's fraction of one GPU; 0 without GPUs), so the problem's objective is
  ``[placed, value]``: the most pods placed, then, among those plans, the most GPUs in use — what
  a capacity planner counts (pods waiting, then GPUs idle). The aggregate output carries it too.

``--aggregate-gpus`` keeps the older output instead: GPUs as the node extended resources
``nvidia.com/gpu`` and ``alibaba.com/gpu-milli`` (1000 per GPU, held per node in AGGREGATE) and
``gpu_spec`` as node affinity. That is a relaxation — a 700-milli share may land on a node whose
free milli-GPU is split 350 + 350 over two GPUs, which no device plugin can honour — kept only to
compare with it.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from ..commands.grammar import Json, announce
from ..errors import InputError
from ..gpu.trace import read_nodes as read_node_table
from ..gpu.trace import read_pods as read_pod_table
from .views import VALUE_ANNOTATION

GPU = "nvidia.com/gpu"  # the aggregate relaxation's resources
GPU_MILLI = "alibaba.com/gpu-milli"
GPU_MODEL_LABEL = "alibaba.com/gpu-model"
QOS_LABEL = "alibaba.com/qos"
NAMESPACE = "openb"
DRIVER = "gpu.alibaba.com"  # the DRA driver, its device class and attribute domain
DEVICE_CLASS = DRIVER
DEVICE_MILLI = "gpu-milli"  # each GPU's consumable capacity
MODEL_ATTRIBUTE = "model"
CLAIM = "gpu"  # the pod's claim name
MILLI = 1000


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


def read_nodes(path: Path) -> list[TraceNode]:
    """The node list (``engine.gpu.trace``: the one reader of the trace and its checks)."""
    table = read_node_table(path)
    return [
        TraceNode(
            name=table.names[i],
            cpu_milli=int(table.cpu[i]),
            memory_mib=int(table.memory[i]),
            gpus=int(table.gpus[i]),
            model=table.models[int(table.model[i])] if table.model[i] >= 0 else "",
        )
        for i in range(len(table))
    ]


def read_pods(path: Path) -> list[TracePod]:
    """The pod list, with or without the ``gpu_spec`` and ``qos`` columns (the multigpu lists
    have neither)."""
    table = read_pod_table(path)
    return [
        TracePod(
            name=table.names[i],
            cpu_milli=int(table.cpu[i]),
            memory_mib=int(table.memory[i]),
            num_gpu=int(table.num_gpu[i]),
            gpu_milli=int(table.gpu_milli[i]) if table.num_gpu[i] else 0,
            gpu_spec=table.specs[int(table.spec[i])],
            qos=table.qos[i] if table.qos else "",
        )
        for i in range(len(table))
    ]


def node_manifest(
    node: TraceNode, max_pods: int, *, aggregate_gpus: bool = False
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": node.name}
    allocatable: dict[str, str] = {
        "cpu": f"{node.cpu_milli}m",
        "memory": f"{node.memory_mib}Mi",
        "pods": str(max_pods),
    }
    if node.gpus:
        if aggregate_gpus:
            allocatable[GPU] = str(node.gpus)
            allocatable[GPU_MILLI] = str(MILLI * node.gpus)
        if node.model:
            labels[GPU_MODEL_LABEL] = node.model
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels},
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def resource_slice(node: TraceNode) -> dict[str, Any]:
    """The node's GPUs as DRA devices (shared allocations allowed: GPU sharing)."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node.name}-{DRIVER}"},
        "spec": {
            "driver": DRIVER,
            "nodeName": node.name,
            "pool": {"name": node.name, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {
                    "name": f"gpu-{k}",
                    "attributes": {MODEL_ATTRIBUTE: {"string": node.model}},
                    "capacity": {DEVICE_MILLI: {"value": str(MILLI)}},
                    "allowMultipleAllocations": True,
                }
                for k in range(node.gpus)
            ],
        },
    }


def device_class() -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": DEVICE_CLASS},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
    }


def claim_template(pod: TracePod) -> dict[str, Any] | None:
    """The ResourceClaimTemplate of a GPU pod's request shape (None for a pod without GPUs)."""
    if pod.num_gpu == 0:
        return None
    request: dict[str, Any] = {
        "deviceClassName": DEVICE_CLASS,
        "allocationMode": "ExactCount",
        "count": pod.num_gpu,
    }
    shape = f"{pod.num_gpu}x{MILLI}"
    if pod.num_gpu == 1 and 0 < pod.gpu_milli < MILLI:
        request["capacity"] = {"requests": {DEVICE_MILLI: str(pod.gpu_milli)}}
        shape = f"1x{pod.gpu_milli}"
    if pod.gpu_spec:
        models = ", ".join(f'"{m}"' for m in sorted(pod.gpu_spec))
        attribute = f'device.attributes["{DRIVER}"].{MODEL_ATTRIBUTE}'
        request["selectors"] = [{"cel": {"expression": f"{attribute} in [{models}]"}}]
        shape += (
            "-"
            + hashlib.blake2b("|".join(sorted(pod.gpu_spec)).encode(), digest_size=3).hexdigest()
        )
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": f"gpu-{shape}", "namespace": NAMESPACE},
        "spec": {"spec": {"devices": {"requests": [{"name": CLAIM, "exactly": request}]}}},
    }


def pod_manifest(pod: TracePod, *, aggregate_gpus: bool = False) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": f"{pod.cpu_milli}m", "memory": f"{pod.memory_mib}Mi"}
    container: dict[str, Any] = {"name": "main", "image": "openb/workload"}
    spec: dict[str, Any] = {"containers": [container]}
    template = None if aggregate_gpus else claim_template(pod)
    if aggregate_gpus and pod.num_gpu == 1 and 0 < pod.gpu_milli < MILLI:
        requests[GPU_MILLI] = str(pod.gpu_milli)
    elif aggregate_gpus and pod.num_gpu:
        requests[GPU] = str(pod.num_gpu)
        requests[GPU_MILLI] = str(MILLI * pod.num_gpu)
    container["resources"] = {"requests": requests}
    if template is not None:
        container["resources"]["claims"] = [{"name": CLAIM}]
        spec["resourceClaims"] = [
            {"name": CLAIM, "resourceClaimTemplateName": template["metadata"]["name"]}
        ]
    if aggregate_gpus and pod.gpu_spec:
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
    claim = template["metadata"]["name"] if template is not None else None
    shape = json.dumps([requests, claim, pod.gpu_spec, pod.qos], sort_keys=True)
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
            # the objective's second level: the GPUs the pod puts to work (a share counts its
            # fraction of one GPU), after the pods placed
            "annotations": {VALUE_ANNOTATION: f"{pod.gpu_demand / MILLI:g}"},
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
    nodes: list[TraceNode],
    pods: list[TracePod],
    *,
    max_pods: int = 110,
    aggregate_gpus: bool = False,
) -> dict[str, Any]:
    """A ``kind: List`` of Nodes, their GPUs (DRA), claim templates and pending Pods."""
    items = [node_manifest(n, max_pods, aggregate_gpus=aggregate_gpus) for n in nodes]
    if not aggregate_gpus:
        items.append(device_class())
        items += [resource_slice(n) for n in nodes if n.gpus]
        templates: dict[str, dict[str, Any]] = {}
        for p in pods:
            template = claim_template(p)
            if template is not None:
                templates.setdefault(template["metadata"]["name"], template)
        items += list(templates.values())
    items += [pod_manifest(p, aggregate_gpus=aggregate_gpus) for p in pods]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def import_alibaba(
    nodes_csv: Path,
    pods_csv: Path,
    *,
    sample_nodes: int | None = None,
    demand_ratio: float | None = None,
    seed: int = 0,
    max_pods: int = 110,
    aggregate_gpus: bool = False,
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
    return trace_to_manifests(nodes, pods, max_pods=max_pods, aggregate_gpus=aggregate_gpus)


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
            Path,
            typer.Option(
                "--output",
                "-o",
                metavar="FILE",
                help="manifests to write (.yaml, .json; '-': stdout)",
            ),
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
        aggregate_gpus: Annotated[
            bool,
            typer.Option(
                "--aggregate-gpus",
                help="a RELAXATION: GPUs and GPU shares as per-node totals (extended resources), "
                "not per GPU; a share may then be split over GPUs no device plugin could use",
            ),
        ] = False,
        as_json: Json = False,
    ) -> None:
        """Alibaba GPU trace (2023) -> Kubernetes Nodes, their GPUs as DRA devices, and pending Pods."""
        doc = import_alibaba(
            nodes_csv,
            pods_csv,
            sample_nodes=sample_nodes,
            demand_ratio=demand_ratio,
            seed=seed,
            max_pods=max_pods,
            aggregate_gpus=aggregate_gpus,
        )
        write_manifests(doc, output)
        kinds = [item["kind"] for item in doc["items"]]
        nodes, pods = kinds.count("Node"), kinds.count("Pod")
        announce(
            output,
            f"wrote {nodes} nodes and {pods} pending pods to {output}",
            {"nodes": nodes, "pods": pods},
            as_json,
        )
