"""Neighbourhood choice with devices: ``holes`` sees GPUs that node resources do not show."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.io import problem_from_dict
from solvers.lns.neighbourhoods import Chooser, State
from solvers.lowering import lower


def _cluster(nodes: int = 10) -> dict[str, Any]:
    """Nodes of 2 GPUs with room to spare in cpu: half-GPU shares and whole-GPU pods."""
    return {
        "name": "holes",
        "bins": [
            {
                "name": f"n{k}",
                "capacity": {"cpu": "64"},
                "devices": [{"name": "gpu", "count": 2, "capacity": {"gpu-milli": 1000}}],
            }
            for k in range(nodes)
        ],
        "items": [
            {
                "name": "half",
                "count": 4,
                "demand": {"cpu": "1"},
                "devices": {"share": {"gpu-milli": 500}},
            },
            {"name": "whole", "count": 17, "demand": {"cpu": "1"}, "devices": {"count": 1}},
        ],
        "objective": ["placed"],
    }


def test_holes_frees_the_nodes_whose_split_gpus_would_hold_a_waiting_whole_gpu_pod() -> None:
    """Halves on n0 and n1 (one per GPU: no GPU free), whole pods fill n2..n9, one whole pod
    waits. Only moving the halves together opens a GPU: holes frees n0 and n1 first, with
    bins the halves may move to, and admits the waiting group first."""
    lowered = lower(problem_from_dict(_cluster()))
    counts = {("half", "n0"): 2, ("half", "n1"): 2}
    counts.update({("whole", f"n{k}"): 2 for k in range(2, 10)})
    state = State.of(lowered, counts)
    assert state.unplaced.tolist() == [0, 1]
    for seed in range(5):
        chooser = Chooser(lowered, np.random.default_rng(seed))
        assert "holes" in chooser.weights
        bins = chooser._holes(state, 4)
        assert bins is not None and len(bins) == 4
        assert set(bins[:2].tolist()) == {0, 1}
        assert chooser.focus == {lowered.group_index["whole"]}


def test_holes_is_not_offered_without_device_requests() -> None:
    data = _cluster()
    for item in data["items"]:
        del item["devices"]
    chooser = Chooser(lower(problem_from_dict(data)), np.random.default_rng(0))
    assert "holes" not in chooser.weights
