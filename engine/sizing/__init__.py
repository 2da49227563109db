"""Replica sizing from queueing theory: a service as an M/M/k queue.

``erlang`` holds the formulas (the document's utilisation rule and the standard Erlang C model of
waiting), ``simulate`` a discrete-event simulation that checks them.
"""

from .erlang import Queue, SizingError, size

__all__ = ["Queue", "SizingError", "size"]
