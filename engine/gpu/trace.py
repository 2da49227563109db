"""The Alibaba openb trace (cluster-trace-gpu-v2023) read into numpy arrays.

Nodes: ``sn, cpu_milli, memory_mib, gpu, model`` (``model`` empty on CPU-only nodes).
Pods: ``name, cpu_milli, memory_mib, num_gpu, gpu_milli`` and optionally ``gpu_spec`` (allowed
GPU models, ``|``-separated; empty means any) and ``qos`` — the multigpu lists have neither.
Other columns (phase, times) are ignored: the experiment places every listed pod. This is the
one reader of the trace: the suite and ``placer import alibaba-gpu`` both use it.

Device semantics, as the trace's simulator holds them: a GPU-sharing pod (``num_gpu`` 1,
``gpu_milli`` < 1000) takes ``gpu_milli`` on ONE GPU; a pod with ``num_gpu`` n takes n whole GPUs
(``gpu_milli`` must then be 1000); a pod with ``num_gpu`` 0 needs no GPU (``gpu_milli`` 0).
Any other combination is refused with the file, row and column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

MILLI = 1000
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


@dataclass(frozen=True)
class NodeTable:
    """One entry per node; ``model`` indexes ``models`` (-1: no GPU)."""

    names: tuple[str, ...]
    cpu: np.ndarray  # int64 milli-CPU
    memory: np.ndarray  # int64 MiB
    gpus: np.ndarray  # int64 GPU count
    model: np.ndarray  # int64 index into models, -1 for CPU-only nodes
    models: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep: np.ndarray) -> NodeTable:
        idx = np.flatnonzero(keep)
        return NodeTable(
            names=tuple(self.names[i] for i in idx),
            cpu=self.cpu[idx],
            memory=self.memory[idx],
            gpus=self.gpus[idx],
            model=self.model[idx],
            models=self.models,
        )


@dataclass(frozen=True)
class PodTable:
    """One entry per pod; ``spec`` indexes ``specs`` (each a sorted tuple of models; () = any)."""

    names: tuple[str, ...]
    cpu: np.ndarray  # int64 milli-CPU
    memory: np.ndarray  # int64 MiB
    num_gpu: np.ndarray  # int64
    gpu_milli: np.ndarray  # int64 milli-GPU per GPU (1000 for whole GPUs, 0 without GPU)
    spec: np.ndarray  # int64 index into specs
    specs: tuple[tuple[str, ...], ...]
    qos: tuple[str, ...] = ()  # per pod ("" when the list has no qos column); may be empty

    def __len__(self) -> int:
        return len(self.names)

    def total_gpu_milli(self) -> int:
        return int((self.num_gpu * self.gpu_milli).sum())


def _rows(path: Path, required: tuple[str, ...]) -> tuple[list[dict[str, str]], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(
                    f"missing column(s) {', '.join(missing)}; the header has {', '.join(header) or 'nothing'}",
                    source=str(path),
                )
            return list(reader), header
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError("not a UTF-8 text CSV file", source=str(path)) from exc
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc})", source=str(path)) from exc


def _int(row: dict[str, str], column: str, path: Path, line: int) -> int:
    if row.get(column) is None:  # csv gives None for fields past the end of a short row
        raise InputError(f"row ends before column {column}", path=f"line {line}", source=str(path))
    raw = row[column].strip()
    try:
        value = int(raw)
    except ValueError:
        try:
            as_float = float(raw)
        except ValueError:
            as_float = float("nan")
        if not as_float.is_integer():
            raise InputError(
                f"{raw!r} is not a whole number", path=f"line {line}: {column}", source=str(path)
            ) from None
        value = int(as_float)
    if value < 0:
        raise InputError(f"{value} is negative", path=f"line {line}: {column}", source=str(path))
    return value


def read_nodes(path: str | Path) -> NodeTable:
    path = Path(path)
    rows, _ = _rows(path, NODE_COLUMNS)
    if not rows:
        raise InputError("no nodes", source=str(path))
    names: list[str] = []
    cpu, memory, gpus, model_names = [], [], [], []
    for i, row in enumerate(rows):
        line = i + 2  # header is line 1
        name = (row.get("sn") or "").strip()
        if not name:
            raise InputError("empty node name", path=f"line {line}: sn", source=str(path))
        names.append(name)
        cpu.append(_int(row, "cpu_milli", path, line))
        memory.append(_int(row, "memory_mib", path, line))
        n = _int(row, "gpu", path, line)
        gpus.append(n)
        model = (row.get("model") or "").strip()
        if n > 0 and not model:
            raise InputError(
                f"a node with {n} GPU(s) needs a GPU model",
                path=f"line {line}: model",
                source=str(path),
            )
        model_names.append(model if n > 0 else "")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"node {dup!r} is listed twice", source=str(path))
    models = tuple(sorted({m for m in model_names if m}))
    index = {m: k for k, m in enumerate(models)}
    return NodeTable(
        names=tuple(names),
        cpu=np.array(cpu, dtype=np.int64),
        memory=np.array(memory, dtype=np.int64),
        gpus=np.array(gpus, dtype=np.int64),
        model=np.array([index.get(m, -1) for m in model_names], dtype=np.int64),
        models=models,
    )


def read_pods(path: str | Path) -> PodTable:
    path = Path(path)
    rows, header = _rows(path, POD_COLUMNS)
    if not rows:
        raise InputError("no pods", source=str(path))
    has_spec = "gpu_spec" in header
    qos = tuple((row.get("qos") or "").strip() for row in rows) if "qos" in header else ()
    names: list[str] = []
    cpu, memory, num_gpu, gpu_milli, spec_idx = [], [], [], [], []
    specs: dict[tuple[str, ...], int] = {(): 0}
    for i, row in enumerate(rows):
        line = i + 2
        names.append((row.get("name") or "").strip() or f"pod-{i}")
        cpu.append(_int(row, "cpu_milli", path, line))
        memory.append(_int(row, "memory_mib", path, line))
        n = _int(row, "num_gpu", path, line)
        milli = _int(row, "gpu_milli", path, line)
        where = f"line {line}: gpu_milli"
        if n == 0 and milli != 0:
            raise InputError(
                f"{milli} milli-GPU on a pod with num_gpu 0", path=where, source=str(path)
            )
        if n >= 1 and not 0 < milli <= MILLI:
            raise InputError(
                f"{milli} is not a GPU share (1..{MILLI}) for num_gpu {n}",
                path=where,
                source=str(path),
            )
        if n > 1 and milli != MILLI:
            raise InputError(
                f"a pod with {n} GPUs takes whole GPUs (gpu_milli {MILLI}), got {milli}",
                path=where,
                source=str(path),
            )
        num_gpu.append(n)
        gpu_milli.append(milli)
        raw_spec = (row.get("gpu_spec") or "").strip() if has_spec else ""
        allowed = tuple(sorted({m.strip() for m in raw_spec.split("|") if m.strip()}))
        if allowed and n == 0:
            allowed = ()  # a model restriction means nothing to a pod without GPUs
        spec_idx.append(specs.setdefault(allowed, len(specs)))
    return PodTable(
        names=tuple(names),
        cpu=np.array(cpu, dtype=np.int64),
        memory=np.array(memory, dtype=np.int64),
        num_gpu=np.array(num_gpu, dtype=np.int64),
        gpu_milli=np.array(gpu_milli, dtype=np.int64),
        spec=np.array(spec_idx, dtype=np.int64),
        specs=tuple(sorted(specs, key=specs.__getitem__)),
        qos=qos,
    )
