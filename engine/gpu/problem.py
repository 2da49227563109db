"""An arrival list as a placer Problem: the batch the offline and windowed plans solve.

Bins are the trace's nodes: ``cpu`` (millicores) and ``memory`` (MiB) at node level, each GPU a
device of 1000 ``gpu-milli`` with its ``model`` attribute. Pods of one shape (CPU, memory, GPU
request, allowed models) form one group: a GPU-sharing pod asks a share of ONE GPU, a pod with n
GPUs n whole GPUs, ``gpu_spec`` a ``select`` on the model; its ``value`` is its GPU request in
milli-GPU, and the objective is ``[value, placed]``: most GPU milli allocated, then most pods.
Pods placed by earlier windows are groups already placed, on their GPUs, that may not move.

``placements`` maps a plan back onto the arrivals: which arrival of a shape takes which
placement row is a free choice (the pods are identical), made in arrival order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Problem
from ..solution import Solution
from .cluster import Placement
from .trace import MILLI, NodeTable, PodTable

GPU_MILLI = "gpu-milli"
MODEL = "model"
OBJECTIVE = ("value", "placed")
URGENT = 1000  # an arrival against a forecast pod: worth this many times more per milli-GPU


@dataclass(frozen=True)
class Running:
    """A pod placed by an earlier window: its index in the pod table, node and GPUs."""

    pod: int
    node: int
    gpus: tuple[int, ...]


Shape = tuple[int, int, int, int, int]  # cpu, memory, num_gpu, gpu_milli, spec index


def shape_of(pods: PodTable, i: int) -> Shape:
    return (
        int(pods.cpu[i]),
        int(pods.memory[i]),
        int(pods.num_gpu[i]),
        int(pods.gpu_milli[i]),
        int(pods.spec[i]),
    )


def _bins(nodes: NodeTable) -> list[dict[str, Any]]:
    out = []
    for n in range(len(nodes)):
        bin_: dict[str, Any] = {
            "name": nodes.names[n],
            "capacity": {"cpu": f"{int(nodes.cpu[n])}m", "memory": f"{int(nodes.memory[n])}Mi"},
        }
        if nodes.gpus[n] > 0:
            bin_["devices"] = [
                {
                    "name": "gpu",
                    "count": int(nodes.gpus[n]),
                    "capacity": {GPU_MILLI: MILLI},
                    "attributes": {MODEL: nodes.models[int(nodes.model[n])]},
                }
            ]
        out.append(bin_)
    return out


def _group(name: str, pods: PodTable, shape: Shape, count: int) -> dict[str, Any]:
    cpu, memory, num_gpu, milli, spec = shape
    group: dict[str, Any] = {
        "name": name,
        "count": count,
        "demand": {"cpu": f"{cpu}m", "memory": f"{memory}Mi"},
        "value": num_gpu * milli,
    }
    if num_gpu:
        request: dict[str, Any] = {"count": num_gpu}
        if num_gpu == 1 and milli < MILLI:
            request["share"] = {GPU_MILLI: milli}
        models = pods.specs[spec]
        if models:
            request["select"] = {MODEL: list(models)}
        group["devices"] = request
    return group


def _shape_name(shape: Shape) -> str:
    cpu, memory, num_gpu, milli, spec = shape
    return f"c{cpu}-m{memory}-g{num_gpu}x{milli}-s{spec}"


def arrival_problem(
    nodes: NodeTable,
    pods: PodTable,
    arrivals: Sequence[int] | np.ndarray,
    *,
    running: Sequence[Running] = (),
    forecast: Mapping[Shape, int] | None = None,
    name: str = "openb",
) -> Problem:
    """The batch: ``arrivals`` (indices into ``pods``) to place, ``running`` pods staying.

    With a ``forecast`` (pods expected later, per shape) the arrivals come first: each is worth
    ``URGENT`` × (its GPU request + 1) and a forecast pod its GPU request, so the plan places
    every arrival it can and keeps room shaped for what is expected (the forecast pods are not
    placements: ``placements`` reads only the arrivals').
    """
    new: dict[Shape, int] = defaultdict(int)
    for i in np.asarray(arrivals, dtype=np.int64).tolist():
        new[shape_of(pods, i)] += 1
    items = [_group(f"new-{_shape_name(s)}", pods, s, n) for s, n in new.items()]
    if forecast is not None:
        for item in items:
            item["value"] = URGENT * (item["value"] + 1)
        items += [
            _group(f"later-{_shape_name(s)}", pods, s, n) for s, n in forecast.items() if n > 0
        ]
    stay: dict[Shape, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    for r in running:
        names = [f"gpu-{k}" for k in r.gpus]
        stay[shape_of(pods, r.pod)][nodes.names[r.node]].append(names)
    for shape, per_node in stay.items():
        group = _group(
            f"run-{_shape_name(shape)}", pods, shape, sum(len(v) for v in per_node.values())
        )
        group["placed"] = {b: len(v) for b, v in per_node.items()}
        if shape[2]:
            group["placed_devices"] = dict(per_node)
        items.append(group)
    return Problem.model_validate(
        {
            "name": name,
            "bins": _bins(nodes),
            "items": items,
            "objective": list(OBJECTIVE),
        }
    )


def forecast_of(pods: PodTable, volume: float) -> dict[Shape, int]:
    """Pods expected to arrive: the pod list's shapes in their proportions, as many as request
    about ``volume`` milli-GPU in all (what the workload's distribution predicts, as FGD's
    fragmentation measure does; never the arrival list itself)."""
    counts: dict[Shape, int] = defaultdict(int)
    for i in range(len(pods)):
        counts[shape_of(pods, i)] += 1
    request = float((pods.num_gpu * pods.gpu_milli).sum())
    if volume <= 0 or request <= 0:
        return {}
    scale = volume / request
    return {s: n for s, c in counts.items() if (n := round(c * scale)) > 0}


def held_places(
    nodes: NodeTable, forecast: Mapping[Shape, int], plan: Solution
) -> dict[Shape, list[list[Any]]]:
    """Where a plan put the forecast's pods: per shape, ``[Placement, pods]`` rows."""
    node_index = {name: n for n, name in enumerate(nodes.names)}
    shape_by_name = {f"later-{_shape_name(s)}": s for s in forecast}
    out: dict[Shape, list[list[Any]]] = defaultdict(list)
    for p in plan.placements:
        shape = shape_by_name.get(p.item)
        if shape is not None:
            gpus = tuple(int(d.rsplit("-", 1)[1]) for d in p.devices or ())
            out[shape].append([Placement(node_index[p.bin], gpus), p.count])
    return dict(out)


def placements(
    nodes: NodeTable, pods: PodTable, arrivals: Sequence[int] | np.ndarray, plan: Solution
) -> list[Placement | None]:
    """Per arrival (in order), where the plan puts it (None: left pending)."""
    node_index = {name: n for n, name in enumerate(nodes.names)}
    rows: dict[str, list[tuple[int, tuple[int, ...], int]]] = defaultdict(list)
    for p in plan.placements:
        if not p.item.startswith("new-"):
            continue
        gpus = tuple(int(d.rsplit("-", 1)[1]) for d in p.devices or ())
        rows[p.item].append((node_index[p.bin], gpus, p.count))
    out: list[Placement | None] = []
    for i in np.asarray(arrivals, dtype=np.int64).tolist():
        queue = rows.get(f"new-{_shape_name(shape_of(pods, i))}")
        if not queue:
            out.append(None)
            continue
        node, gpus, left = queue[0]
        out.append(Placement(node, gpus))
        if left > 1:
            queue[0] = (node, gpus, left - 1)
        else:
            queue.pop(0)
    return out
