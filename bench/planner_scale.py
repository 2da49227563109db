"""The extender's planner at cluster scale: time to the first plan, re-plan time, memory.

The cluster is ``bench.extender_load.make_cluster``'s (nodes in 3 zones, 500 workloads, 90 % of
the pods bound, the rest pending), held in a ``ClusterState`` as ``placer serve`` holds it; the
planner runs as the service runs it (``Planner(isolate=True)``: a planning process forked from
the fork server, capped at ``--memory-mib``). Measured:

- first plan: from the state being synced to the first plan published (the whole round:
  documents, folding, the planning process's build and solve), and the round's own seconds;
- re-plan: ``--new`` pending pods arrive after the plan; from their arrival to the plan that
  covers them (with the planner's settle time, stated), and the round's own seconds;
- the planning process's peak resident memory (``VmHWM``) after each round.

``--tight`` makes the pending pods large (12 cores each), so that they do not all fit: the
round then has real search to do (and its LP bound over thousands of distinct nodes).

    python -m bench.planner_scale --nodes 5000 --pods 50000 --plan-time-limit 10 -o DIR
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.extender_load import make_cluster
from engine.extender.planner import Planner
from engine.extender.server import freeze_heap
from engine.extender.state import ClusterState

TIGHT_CPU = "12"  # a pending pod's request under --tight: one per node at most, not on every node


def peak_rss_mib(pid: int | None) -> float | None:
    """The process's peak resident set (VmHWM), MiB."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def new_pods(nodes: int, count: int, round_no: int, tight: bool) -> list[dict[str, Any]]:
    """``count`` pending pods of existing workloads (as a Deployment scaling up makes them)."""
    _, pods = make_cluster(nodes, count, seed=1000 + round_no)
    for j, pod in enumerate(pods):
        pod["metadata"]["name"] = f"{pod['metadata']['name']}-r{round_no}-{j}"
        pod["metadata"]["uid"] = f"new-{round_no}-{j}"
        pod["spec"].pop("nodeName", None)
        pod["status"]["phase"] = "Pending"
        if tight:
            _tighten(pod)
    return pods


def _tighten(pod: dict[str, Any]) -> None:
    for container in pod["spec"]["containers"]:
        container["resources"]["requests"]["cpu"] = TIGHT_CPU


def wait_plan(planner: Planner, version: int, timeout: float) -> float | None:
    """Seconds until a plan of at least ``version`` is published (None: not in time)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        plan = planner.current
        if plan is not None and plan.version >= version:
            return time.monotonic() - began
        time.sleep(0.005)
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    nodes, pods = make_cluster(args.nodes, args.pods, seed=args.seed)
    if args.tight:
        for pod in pods:
            if not pod["spec"].get("nodeName"):
                _tighten(pod)
    state = ClusterState()
    for node in nodes:
        state.upsert_node(node)
    for pod in pods:
        state.upsert_pod(pod)
    pending = sum(1 for p in pods if not p["spec"].get("nodeName"))
    del nodes, pods
    freeze_heap()  # as ``placer serve`` does once its state is loaded
    planner = Planner(
        state,
        time_limit=args.plan_time_limit,
        settle=args.settle,
        isolate=True,
        memory_limit_mib=args.memory_mib,
        fold=not args.no_fold,
        neighbourhoods=not args.no_neighbourhoods,
    )
    failures: list[str] = []
    planner.on_failure = lambda reason, message: failures.append(f"{reason}: {message}")
    planner.start()
    assert planner.process is not None
    began = time.monotonic()
    while not planner.process.up and time.monotonic() - began < 300:
        time.sleep(0.05)
    report: dict[str, Any] = {
        "nodes": args.nodes,
        "pods": args.pods,
        "pending": pending,
        "tight": args.tight,
        "fold": not args.no_fold,
        "neighbourhoods": not args.no_neighbourhoods,
        "plan_time_limit": args.plan_time_limit,
        "settle": args.settle,
        "memory_cap_mib": args.memory_mib,
        "process_ready_s": round(time.monotonic() - began, 2),
        "load_before": os.getloadavg(),
    }
    try:
        state.mark_synced()
        first = wait_plan(planner, state.version, args.timeout)
        plan = planner.current
        report["first_plan_s"] = None if first is None else round(first, 2)
        if plan is not None:
            report["first_round_s"] = round(plan.solve_seconds, 2)
            report["first_prepare_s"] = round(plan.prepare_seconds, 2)
            report["first_status"] = plan.status
            report["first_targets"] = sum(sum(n.values()) for n in plan.targets.values())
        report["fold"] = planner.last_fold or report["fold"]
        report["peak_rss_mib_after_first"] = peak_rss_mib(planner.process.pid())
        replans = []
        for round_no in range(args.rounds):
            arriving = new_pods(args.nodes, args.new, round_no, args.tight)  # made beforehand
            time.sleep(args.pause)
            arrived = time.monotonic()
            for pod in arriving:
                state.upsert_pod(pod)
            waited = wait_plan(planner, state.version, args.timeout)
            plan = planner.current
            covered = plan is not None and all(
                planner.coverage.covers(plan, uid, state.pods[uid].group_key())
                for uid in (f"new-{round_no}-{j}" for j in range(args.new))
            )
            replans.append(
                {
                    "wall_s": None if waited is None else round(time.monotonic() - arrived, 3),
                    "round_s": None if plan is None else round(plan.solve_seconds, 3),
                    "prepare_s": None if plan is None else round(plan.prepare_seconds, 3),
                    "kind": None if plan is None else plan.kind,
                    "neighbourhood": None if plan is None else plan.neighbourhood,
                    "left_out": None if plan is None else plan.left_out,
                    "status": None if plan is None else plan.status,
                    "covers_new": covered,
                }
            )
        report["replans"] = replans
        report["peak_rss_mib"] = peak_rss_mib(planner.process.pid())
        report["failures"] = failures
        report["load_after"] = os.getloadavg()
    finally:
        planner.stop()
    return report


def render(report: dict[str, Any]) -> str:
    lines = [
        f"planner on {report['nodes']:,} nodes / {report['pods']:,} pods "
        f"({report['pending']:,} pending{', tight' if report['tight'] else ''}), "
        f"--plan-time-limit {report['plan_time_limit']:g}, load {report['load_before'][0]:.1f}"
        f"{'' if report.get('neighbourhoods', True) else ', no neighbourhoods'}",
        f"first plan after {report.get('first_plan_s')} s (round {report.get('first_round_s')} s,"
        f" {report.get('first_status')}, {report.get('first_targets')} pods targeted)",
        f"planning process peak RSS {report.get('peak_rss_mib')} MiB "
        f"(after the first plan {report.get('peak_rss_mib_after_first')} MiB)",
        f"folding: {report.get('fold')}",
    ]
    for n, r in enumerate(report.get("replans", [])):
        lines.append(
            f"re-plan {n + 1}: {r['wall_s']} s from arrival (settle {report['settle']:g} s), "
            f"round {r['round_s']} s after {r['prepare_s']} s in the service, {r['kind']}"
            f"{' on ' + str(r['neighbourhood']) + ' nodes' if r.get('neighbourhood') else ''}"
            f"{', ' + str(r['left_out']) + ' new pods left out' if r.get('left_out') else ''}, "
            f"{r['status']}, covers new: {r['covers_new']}"
        )
    if report.get("failures"):
        lines.append(f"failures: {report['failures']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.planner_scale", description=__doc__)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tight", action="store_true", help="pending pods that do not all fit")
    ap.add_argument("--no-fold", action="store_true", help="hand every bound pod to the adapter")
    ap.add_argument(
        "--no-neighbourhoods",
        action="store_true",
        help="incremental rounds over the whole cluster (pinning), not a neighbourhood",
    )
    ap.add_argument("--plan-time-limit", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=0.05)
    ap.add_argument("--memory-mib", type=int, default=4096, help="the planning process's cap")
    ap.add_argument("--new", type=int, default=10, help="pending pods per re-plan")
    ap.add_argument("--rounds", type=int, default=5, help="re-plans measured")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between re-plans")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("-o", "--out", type=Path, help="directory for results.json and report.md")
    args = ap.parse_args(argv)
    report = run(args)
    text = render(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        name = f"planner-{args.nodes}x{args.pods}{'-tight' if args.tight else ''}"
        name += "-pinning" if args.no_neighbourhoods else ""
        name += f"-pause{args.pause:g}" if args.pause != 1.0 else ""
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
