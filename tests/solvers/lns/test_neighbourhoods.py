"""Neighbourhood choice with devices: ``holes`` sees GPUs that node resources do not show."""

from __future__ import annotations

import numpy as np

from solvers.lns.neighbourhoods import Chooser, State
from solvers.lowering import lower
from tests.solvers.lns.test_driver import _gpu_trap


def test_holes_frees_the_nodes_whose_split_gpus_would_hold_a_waiting_whole_gpu_pod() -> None:
    """Halves on n0 and n1 (one per GPU: no GPU free), whole pods fill n2..n9, one whole pod
    waits. Only moving the halves together opens a GPU: holes frees n0 and n1 first, with
    bins the halves may move to, and admits the waiting group first."""
    lowered = lower(_gpu_trap(10, gpus=2, halves=4, wholes=17))
    counts = {("half", "n000"): 2, ("half", "n001"): 2}
    counts.update({("whole", f"n{k:03d}"): 2 for k in range(2, 10)})
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
    problem = _gpu_trap(10)
    items = tuple(g.model_copy(update={"devices": None}) for g in problem.items)
    bare = problem.model_copy(update={"items": items})
    chooser = Chooser(lower(bare), np.random.default_rng(0))
    assert "holes" not in chooser.weights
