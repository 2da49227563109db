"""Which pending pods a plan ignores: pods that arrived (or changed) after it was solved.

A plan is solved from one version of the cluster state; pods that arrive later are not in it.
The handlers never steer such a pod by targets meant for other pods of its group, and never
steer any pod by a plan that ignores pending pods the service knows without saying so
(``placer_extender_fallbacks_total{reason="plan_ignores_pending"}``). Counting is cheap: the
state logs the version at which each pending pod arrived, and the count is cached per
(plan, state version).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .planner import Plan
    from .state import ClusterState, PodRecord


def plannable(pod: PodRecord, scheduler_name: str) -> bool:
    """A pending pod the planner would plan (its scheduler's, not gated, not terminating: the
    scheduler skips a pod being deleted)."""
    spec = pod.obj.get("spec") or {}
    return (
        pod.node is None
        and (spec.get("schedulerName") or "default-scheduler") == scheduler_name
        and not spec.get("schedulingGates")
        and not pod.terminating
    )


class Coverage:
    """Per plan: how many pending pods the service knows that the plan does not, and which
    groups the plan holds places for beyond the pods it knew (replicas of workloads whose pods
    did not exist yet: a new pod of such a group is covered)."""

    def __init__(self, state: ClusterState, scheduler_name: str) -> None:
        self.state = state
        self.scheduler_name = scheduler_name
        # The plans the caches are for, held (not their ids: a freed plan's id is reused).
        self._key: tuple[Plan, int] | None = None
        self._ignored = 0
        self._spare_plan: Plan | None = None
        self._spare: dict[str, int] = {}

    def covers(self, plan: Plan, uid: str, group: str | None) -> bool:
        """Was this pod planned for: by uid, or by a place its group holds for new pods?"""
        if uid in plan.group_of_uid:
            return True
        if group is None:
            return False
        if self._spare_plan is not plan:
            known: dict[str, int] = {}
            for g in plan.group_of_uid.values():
                known[g] = known.get(g, 0) + 1
            self._spare = {
                g: sum(nodes.values()) + plan.consumed.get(g, 0) - known.get(g, 0)
                for g, nodes in plan.targets.items()
            }
            self._spare_plan = plan
        return self._spare.get(group, 0) > 0

    def ignored(self, plan: Plan) -> int:
        state = self.state
        key = (plan, state.version)
        if self._key is not None and self._key[0] is plan and self._key[1] == state.version:
            return self._ignored
        count = 0
        seen: set[str] = set()
        for version, uid in reversed(state.pending_log):
            if version <= plan.version:
                break
            if uid in seen or uid in plan.group_of_uid:
                continue
            seen.add(uid)
            pod = state.pods.get(uid)
            if pod is not None and plannable(pod, self.scheduler_name):
                count += 1
        self._key, self._ignored = key, count
        return count
