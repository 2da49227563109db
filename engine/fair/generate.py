"""``placer generate tenants``: a seeded multi-tenant cluster (nodes, weighted tenants, task shapes)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer

from ..commands.grammar import Json, announce
from ..errors import InputError
from ..ir import Bin, ItemGroup, Problem, Tenant

# (cpu millicores, memory GiB) task shapes: cpu-heavy, memory-heavy, balanced, gpu-less batch
SHAPES = ((4000, 2), (500, 8), (1000, 4), (2000, 1), (250, 2))
NODE_TYPES = ((16000, 64), (32000, 128), (8000, 32))
GIB = 2**30


def tenants_problem(
    tenants: int = 5,
    nodes: int = 20,
    *,
    jobs_per_tenant: int = 2,
    load: float = 1.5,
    seed: int = 0,
) -> Problem:
    """Tenants whose declared demand is about ``load`` times the cluster, on heterogeneous nodes."""
    for name, value, least in (
        ("tenants", tenants, 1),
        ("nodes", nodes, 1),
        ("jobs", jobs_per_tenant, 1),
    ):
        if value < least:
            raise InputError(f"must be at least {least}, got {value}", path=f"--{name}")
    if not load > 0:  # also refuses NaN
        raise InputError(f"must be a positive fraction of the cluster, got {load:g}", path="--load")
    rng = random.Random(seed)
    bins = []
    for n in range(nodes):
        cpu, mem = NODE_TYPES[rng.randrange(len(NODE_TYPES))]
        bins.append(
            Bin.model_validate(
                {"name": f"node-{n:04d}", "capacity": {"cpu": cpu, "memory": mem * GIB}}
            )
        )
    total_cpu = sum(b.capacity["cpu"] for b in bins)
    total_mem = sum(b.capacity["memory"] for b in bins)
    ts = [
        Tenant.model_validate(
            {"name": f"tenant-{t:03d}", "weight": float(rng.choice((1, 1, 1, 2, 3)))}
        )
        for t in range(tenants)
    ]
    items = []
    per_job = load / max(1, tenants * jobs_per_tenant)
    for t in ts:
        for k in range(jobs_per_tenant):
            cpu, mem = SHAPES[rng.randrange(len(SHAPES))]
            # enough tasks to ask for about per_job of the cluster's dominant resource
            frac = max(cpu / total_cpu, mem * 2**30 / total_mem)
            count = max(1, round(per_job / frac * rng.uniform(0.5, 1.5)))
            items.append(
                ItemGroup.model_validate(
                    {
                        "name": f"{t.name}-job{k}",
                        "count": count,
                        "demand": {"cpu": cpu, "memory": mem * GIB},
                        "tenant": t.name,
                        "labels": {"tenant": t.name},
                    }
                )
            )
    return Problem.model_validate(
        {
            "name": f"tenants-{tenants}x{nodes}-s{seed}",
            "bins": bins,
            "items": items,
            "tenants": ts,
            "objective": [{"fairness": 1.0}, {"placed": 1.0}],
            "meta": {"generator": "tenants", "seed": seed, "load": load},
        }
    )


def register_generate(group: typer.Typer) -> None:
    @group.command("tenants")
    def generate_tenants(
        output: Annotated[
            Path,
            typer.Option(
                "--output", "-o", metavar="FILE", help="write the problem here ('-': stdout)"
            ),
        ],
        tenants: Annotated[int, typer.Option(help="number of tenants")] = 5,
        nodes: Annotated[int, typer.Option(help="number of nodes")] = 20,
        jobs: Annotated[int, typer.Option("--jobs", help="task shapes (jobs) per tenant")] = 2,
        load: Annotated[float, typer.Option(help="declared demand / cluster capacity")] = 1.5,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        as_json: Json = False,
    ) -> None:
        """Tenants with weights and Leontief task shapes sharing a cluster (for placer fair)."""
        from ..io import dump_problem

        problem = tenants_problem(tenants, nodes, jobs_per_tenant=jobs, load=load, seed=seed)
        dump_problem(problem, output)
        tasks = sum(i.count for i in problem.items)
        announce(
            output,
            f"wrote {output}: {len(problem.tenants)} tenants, {len(problem.items)} jobs, "
            f"{tasks} tasks, {len(problem.bins)} nodes",
            {
                "tenants": len(problem.tenants),
                "jobs": len(problem.items),
                "tasks": tasks,
                "nodes": len(problem.bins),
            },
            as_json,
        )
