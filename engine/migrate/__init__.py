"""Safe migration sequences: a target plan that moves running items, turned into ordered steps.

The operations model is a state-space search (states, actions, transitions, a goal, a cost):

- a **state** is a count per (group, bin); the start is the problem's ``placed`` items, the goal
  the target plan's counts;
- an **action** (a step) evicts a batch of running items and rebinds them on their target bins
  (evict-then-rebind), and binds items the target places that are not running yet;
- a step is **safe** when the state after it keeps every hard rule and capacity, and it evicts no
  more items of a disruption budget than the budget allows at the step's start;
- the **cost** is the number of steps, then the number of moves.

``search`` finds a sequence, ``bound`` proves a lower bound on the number of steps, ``check``
judges any sequence step by step (it shares no code with the search) and ``model`` holds the
file format.
"""

from .model import MigrationPlan, Step, Transfer

__all__ = ["MigrationPlan", "Step", "Transfer"]
