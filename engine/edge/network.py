"""Network paths of an edge topology: shortest-path latency and the bottleneck bandwidth on it.

Links are undirected. The delay between two nodes is the latency of the shortest path
(scipy.sparse.csgraph); the bandwidth between them is the smallest link bandwidth along that same
path (the path Dijkstra picks when several tie). Rows are computed per source node on demand and
cached, so a topology with thousands of nodes only pays for the sources it uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import InputError

UNLIMITED = math.inf


class Network:
    """All-pairs latency and bottleneck bandwidth over undirected links, computed lazily."""

    def __init__(
        self, nodes: Sequence[str], links: Iterable[tuple[str, str, float, float | None]]
    ) -> None:
        self.nodes = tuple(nodes)
        self.index = {name: i for i, name in enumerate(self.nodes)}
        # Parallel links: keep the fastest (a CSR build would otherwise add their latencies).
        best: dict[tuple[int, int], tuple[float, float]] = {}
        for a, b, latency, bandwidth in links:
            i, j = sorted((self.index[a], self.index[b]))
            if i == j:
                continue
            bw = UNLIMITED if bandwidth is None else bandwidth
            if (i, j) not in best or (latency, -bw) < (best[i, j][0], -best[i, j][1]):
                best[i, j] = (latency, bw)
        # scipy here, not at the top: the CLI imports this module for every command
        from scipy.sparse import csr_matrix

        n = len(self.nodes)
        rows = np.fromiter((i for i, _ in best), dtype=np.int64, count=len(best))
        cols = np.fromiter((j for _, j in best), dtype=np.int64, count=len(best))
        latencies = np.fromiter((v[0] for v in best.values()), dtype=float, count=len(best))
        # Explicit zeros built from coordinates stay edges in csgraph (zero-latency links).
        self._graph = csr_matrix((latencies, (rows, cols)), shape=(n, n))
        bandwidths = np.fromiter((v[1] for v in best.values()), dtype=float, count=len(best))
        self._bandwidth = csr_matrix(
            (
                np.concatenate([bandwidths, bandwidths]),
                (np.concatenate([rows, cols]), np.concatenate([cols, rows])),
            ),
            shape=(n, n),
        )
        self._transfer_rows: dict[tuple[int, float], np.ndarray] = {}
        self._latency_rows: dict[int, np.ndarray] = {}
        self._bandwidth_rows: dict[int, np.ndarray] = {}

    def check_connected(self) -> None:
        """Raise InputError naming the nodes cut off from the first node's component."""
        if len(self.nodes) <= 1:
            return
        from scipy.sparse.csgraph import connected_components

        count, labels = connected_components(self._graph, directed=False)
        if count == 1:
            return
        main = labels[0]
        cut = [self.nodes[i] for i in np.flatnonzero(labels != main)]
        shown = ", ".join(cut[:5]) + (f" and {len(cut) - 5} more" if len(cut) > 5 else "")
        raise InputError(
            f"disconnected topology: {len(cut)} node(s) cannot reach {self.nodes[0]!r}: {shown}",
            path="links",
        )

    def _row(self, source: int) -> None:
        from scipy.sparse.csgraph import dijkstra

        dist, pred = dijkstra(self._graph, directed=False, indices=source, return_predecessors=True)
        n = len(self.nodes)
        # The bottleneck is the smallest link on the way up the shortest-path tree: pointer
        # jumping takes the minimum over 1, 2, 4, ... links until every node reaches the root.
        has_parent = pred >= 0
        children = np.flatnonzero(has_parent)
        bw = np.full(n, UNLIMITED)
        bw[children] = np.asarray(self._bandwidth[children, pred[children]]).ravel()
        up = np.where(has_parent, pred, np.arange(n))
        while True:
            bw = np.minimum(bw, bw[up])
            nxt = up[up]
            if np.array_equal(nxt, up):
                break
            up = nxt
        self._latency_rows[source] = dist
        self._bandwidth_rows[source] = bw

    def latency_row(self, source: str) -> np.ndarray:
        i = self.index[source]
        if i not in self._latency_rows:
            self._row(i)
        return self._latency_rows[i]

    def bandwidth_row(self, source: str) -> np.ndarray:
        i = self.index[source]
        if i not in self._bandwidth_rows:
            self._row(i)
        return self._bandwidth_rows[i]

    def indices(self, names: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.index[n] for n in names), dtype=np.int64, count=len(names))

    def transfer_row(self, source: str, megabytes: float) -> np.ndarray:
        """Transfer time (ms) of ``megabytes`` from ``source`` to every node (0 to itself)."""
        key = (self.index[source], megabytes)
        row = self._transfer_rows.get(key)
        if row is None:
            row = self.latency_row(source).copy()
            if megabytes > 0:
                row += 1000.0 * megabytes / self.bandwidth_row(source)
            row[key[0]] = 0.0
            self._transfer_rows[key] = row
        return row

    def latency(self, a: str, b: str) -> float:
        return float(self.latency_row(a)[self.index[b]])

    def bandwidth(self, a: str, b: str) -> float:
        return float(self.bandwidth_row(a)[self.index[b]])

    def transfer_ms(self, a: str, b: str, megabytes: float) -> float:
        """Path latency plus the time to push ``megabytes`` through the bottleneck (MB/s)."""
        if a == b:
            return 0.0
        row = self.index[b]
        latency = float(self.latency_row(a)[row])
        if megabytes <= 0:
            return latency
        return latency + 1000.0 * megabytes / float(self.bandwidth_row(a)[row])
