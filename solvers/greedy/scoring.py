"""Scoring, kube-scheduler's integer arithmetic: NodeResourcesFit (LeastAllocated or
MostAllocated), NodeResourcesBalancedAllocation, and the item's per-bin cost."""

from __future__ import annotations

import numpy as np

from engine.ir import Problem

from .rules import IntArray

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
# kube-scheduler scores a pod without requests as if it asked for this much (NonZeroRequested)
NON_ZERO_DEFAULTS = {"cpu": 100, "memory": 200 * 1024 * 1024}
FIT_WEIGHT, BALANCED_WEIGHT, COST_WEIGHT, SOFT_WEIGHT = 1, 1, 1, 2
MAX_SCORE = 100


def fit_scores(req: IntArray, cap: IntArray, most: bool, balanced: bool) -> IntArray:
    """NodeResourcesFit (+ BalancedAllocation) over the last axis, kube's integer arithmetic."""
    has = cap > 0
    safe = np.where(has, cap, 1)
    within = has & (req <= cap)
    per = np.where(within, (req if most else cap - req) * MAX_SCORE // safe, 0)
    score = FIT_WEIGHT * (per.sum(axis=-1) // max(req.shape[-1], 1))
    if balanced and req.shape[-1] > 1:
        frac = np.where(has, np.minimum(req / safe, 1.0), 1.0)
        # the usual cpu + memory: the std of two values is half their difference
        two = frac.shape[-1] == 2
        std = np.abs(frac[..., 0] - frac[..., 1]) / 2 if two else frac.std(axis=-1)
        score = score + BALANCED_WEIGHT * ((1.0 - std) * MAX_SCORE).astype(np.int64)
    return score.astype(np.int64)


def cost_scores(problem: Problem, g: int, bins: list[str]) -> IntArray:
    costs = problem.items[g].cost
    if not costs:
        return np.full(len(bins), COST_WEIGHT * MAX_SCORE, np.int64)
    c = np.array([costs.get(b, 0.0) for b in bins])
    low, high = c.min(), c.max()
    if high == low:
        return np.full(len(bins), COST_WEIGHT * MAX_SCORE, np.int64)
    return (COST_WEIGHT * MAX_SCORE * (high - c) / (high - low)).astype(np.int64)
