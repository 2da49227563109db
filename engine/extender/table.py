"""Node capacity and usage as numpy arrays, so a 500-node request is a few vector operations.

One row per node, one column per resource. ``ClusterState`` keeps it in step with its records
(under its lock); the request path reads it without the lock. A row freed by a deleted node is
reused; columns are added as new resource names appear (extended resources, GPUs).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class NodeTable:
    def __init__(self, rows: int = 64) -> None:
        self.row_of: dict[str, int] = {}
        self.columns: dict[str, int] = {}
        self.allocatable: IntArray = np.zeros((rows, 0), dtype=np.int64)
        self.used: IntArray = np.zeros((rows, 0), dtype=np.int64)
        self.usable = np.zeros(rows, dtype=bool)
        self.generation = np.zeros(rows, dtype=np.int64)  # changes when a node's rules change
        self.name_at: list[str | None] = [None] * rows
        self.column_names: list[str] = []
        self._free_rows: list[int] = list(range(rows - 1, -1, -1))

    # ---- shape ----
    def column(self, resource: str) -> int:
        col = self.columns.get(resource)
        if col is None:
            col = len(self.columns)
            self.allocatable = np.pad(self.allocatable, ((0, 0), (0, 1)))
            self.used = np.pad(self.used, ((0, 0), (0, 1)))
            self.columns[resource] = col
            self.column_names.append(resource)
        return col

    def _grow(self) -> None:
        old = len(self.usable)
        new = old * 2
        self.allocatable = np.pad(self.allocatable, ((0, new - old), (0, 0)))
        self.used = np.pad(self.used, ((0, new - old), (0, 0)))
        self.usable = np.pad(self.usable, (0, new - old))
        self.generation = np.pad(self.generation, (0, new - old))
        self.name_at.extend([None] * (new - old))
        self._free_rows.extend(range(new - 1, old - 1, -1))

    def vector(self, amounts: Mapping[str, int]) -> IntArray:
        """A resource map as a row vector (adding columns for names never seen before)."""
        for resource in amounts:
            self.column(resource)
        out = np.zeros(len(self.columns), dtype=np.int64)
        for resource, amount in amounts.items():
            out[self.columns[resource]] = amount
        return out

    # ---- rows ----
    @property
    def size(self) -> int:
        return len(self.usable)

    def set_node(
        self,
        name: str,
        allocatable: Mapping[str, int],
        used: Mapping[str, int],
        usable: bool,
        generation: int,
    ) -> int:
        row = self.row_of.get(name)
        if row is None:
            if not self._free_rows:
                self._grow()
            row = self._free_rows.pop()
        for resource in (*allocatable, *used):
            self.column(resource)  # first, so both vectors have every column
        self.allocatable[row] = self.vector(allocatable)
        self.used[row] = self.vector(used)
        self.name_at[row] = name
        self.usable[row] = usable
        self.generation[row] = generation
        self.row_of[name] = row
        return row

    def remove_node(self, name: str) -> None:
        row = self.row_of.pop(name, None)
        if row is not None:
            self.allocatable[row] = 0
            self.used[row] = 0
            self.usable[row] = False
            self.name_at[row] = None
            self._free_rows.append(row)

    def charge(self, name: str, request: Mapping[str, int], sign: int) -> None:
        row = self.row_of.get(name)
        if row is None:
            return
        for resource, amount in request.items():
            self.used[row, self.column(resource)] += sign * amount

    def rows(self, names: list[str]) -> IntArray:
        """Row of each name, -1 for nodes not in the table."""
        get = self.row_of.get
        return np.array([get(n, -1) for n in names], dtype=np.int64)

    # ---- the request path ----
    def short(self, rows: IntArray, request: IntArray) -> npt.NDArray[np.bool_]:
        """(len(rows), columns) mask: where the node lacks room for the request."""
        width = len(request)  # a column added since the vector was made is not this pod's
        needed = request > 0
        free = self.allocatable[rows, :width] - self.used[rows, :width]
        return (free < request) & needed

    def least_allocated(self, rows: IntArray, request: IntArray, scale: int) -> IntArray:
        """kube-scheduler's LeastAllocated over cpu and memory, as integers 0..scale."""
        total = np.zeros(len(rows))
        counted = np.zeros(len(rows))
        for resource in ("cpu", "memory"):
            col = self.columns.get(resource)
            if col is None:
                continue
            cap = self.allocatable[rows, col]
            free = cap - self.used[rows, col] - request[col]
            has = cap > 0
            total += np.where(has, np.maximum(free, 0) / np.where(has, cap, 1), 0.0)
            counted += has
        score = np.where(counted > 0, total / np.maximum(counted, 1) * scale, 0.0)
        return np.floor(score).astype(np.int64)
