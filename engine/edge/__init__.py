"""Edge–cloud task placement: the ``EdgeTopology`` format, its builder to the IR, and around it.

- ``topology``: the format (nodes on tiers, links, tasks, datasets, service graph) and
  ``build_problem`` / ``topology_to_problem`` (topology -> Problem);
- ``network``: shortest-path delays and bottleneck bandwidths between nodes;
- ``generate``: seeded topologies (``placer generate edge``);
- ``importers``: EdgeSimPy and iFogSim scenarios (``placer import``);
- ``baselines``: cloud-only and edge-first, and the side-by-side comparison (``placer edge compare``);
- ``metrics``: per-tier load and latency of a plan.
"""

from __future__ import annotations

from .topology import (
    LOCATION_LABEL,
    TIER_LABEL,
    EdgeTopology,
    build_problem,
    parse_topology,
    topology_to_problem,
)

__all__ = [
    "LOCATION_LABEL",
    "TIER_LABEL",
    "EdgeTopology",
    "build_problem",
    "parse_topology",
    "topology_to_problem",
]
