"""bench.lns: instances beyond the trace's size, one run end to end, and the scale plot."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from bench.lns import alibaba_problem, main, plot


def _trace(tmp_path: Path) -> tuple[Path, Path]:
    nodes = tmp_path / "nodes.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\n"
        + "".join(f"node-{k},32000,131072,2,{'T4' if k % 2 else 'V100'}\n" for k in range(6))
    )
    pods = tmp_path / "pods.csv"
    pods.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n"
        + "".join(
            f"pod-{k},{4000 + 1000 * (k % 3)},8192,1,{(300, 600, 1000)[k % 3]},"
            f"{'T4' if k % 5 == 0 else ''},LS\n"
            for k in range(40)
        )
    )
    return nodes, pods


def test_sizes_beyond_the_trace_replicate_it_with_distinct_names(tmp_path: Path) -> None:
    nodes, pods = _trace(tmp_path)
    problem = alibaba_problem(nodes, pods, 15, seed=2)
    names = [b.name for b in problem.bins]
    assert len(names) == 15 and len(set(names)) == 15
    assert any(n.endswith("-r2") for n in names)  # a third copy was needed
    gpus = sum(g.count for b in problem.bins for g in b.devices)
    assert gpus == 30
    assert len({g.name for g in problem.items}) == len(problem.items)
    # whole trace, no replication
    assert len(alibaba_problem(nodes, pods, 0).bins) == 6


def test_scale_writes_results_and_the_plot(tmp_path: Path) -> None:
    nodes, pods = _trace(tmp_path)
    out = tmp_path / "report"
    main(["scale", str(nodes), str(pods), "--sizes", "4", "8", "-t", "3", "--threads", "1",
          "--out", str(out)])  # fmt: skip
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["nodes"] for r in rows] == [4, 8]
    for row in rows:
        assert row["verified"]
        assert row["lns_pods"] >= row["greedy_pods"]
        assert row["lp_pods"] >= row["lns_pods"]
    png = out / "lns-time-to-1pct.png"
    assert png.stat().st_size > 10_000
    png.unlink()
    assert plot(out) == png and png.exists()


def test_the_plot_has_a_time_axis_when_every_run_ends_at_once(tmp_path: Path) -> None:
    # Runs that prove their plan at once report 0 s: the time axis must still have a range
    # (matplotlib warned of a singular transformation and drew none).
    row = {"nodes": 4, "lp_pods": 10, "trace": [[0.0, [10]]], "seconds": 0.0,
           "greedy_gap_pods_pct": 0.0, "to_1pct_s": 0.0, "gap_pods_pct": 0.0}  # fmt: skip
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plot(tmp_path).exists()
