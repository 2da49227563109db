"""``greedy``: an imitation of the default kube-scheduler, one pod at a time."""

from .backend import GreedyBackend

__all__ = ["GreedyBackend"]
