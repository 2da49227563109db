"""`placer size --arrival λ --service μ (--utilisation ρ | --mean-wait W | --p99-wait W)`: replicas
for a service modelled as an M/M/k queue (the document's rule and standard Erlang C)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

ERLANG_NOTE = (
    "P(wait) is the standard Erlang C formula C(k, a) = (aᵏ/k!)·k/(k−a) / (Σ_{n<k} aⁿ/n! + "
    "(aᵏ/k!)·k/(k−a)), a = λ/μ (the source document's P_q is not this formula); "
    "waits use P(W > t) = C·e^{−(kμ−λ)t}"
)


def register(app: typer.Typer) -> None:
    @app.command("size")
    def size_command(
        arrival: Annotated[float, typer.Option("--arrival", "-l", help="arrival rate λ (1/s)")],
        service: Annotated[
            float, typer.Option("--service", "-s", help="service rate μ per replica (1/s)")
        ],
        utilisation: Annotated[
            float | None, typer.Option("--utilisation", "-u", help="target utilisation ρ in (0, 1)")
        ] = None,
        mean_wait: Annotated[
            float | None, typer.Option("--mean-wait", help="target mean queueing delay (s)")
        ] = None,
        p99_wait: Annotated[
            float | None, typer.Option("--p99-wait", help="target 99th-percentile delay (s)")
        ] = None,
        replicas: Annotated[
            int | None, typer.Option("--replicas", "-k", help="evaluate this replica count")
        ] = None,
        simulate: Annotated[
            bool, typer.Option("--simulate", help="check the answer with a discrete-event run")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """Replica count for each target: the document's rule ⌈λ/(μ·ρ)⌉ for a utilisation
        target, Erlang C for waiting-time targets; the largest meets them all."""
        from engine.cli import out
        from engine.sizing.erlang import Queue, size

        queue = Queue(arrival, service)
        rows = size(
            queue,
            utilisation=utilisation,
            mean_wait=mean_wait,
            p99_wait=p99_wait,
            replicas=replicas,
        )
        targets = [r for r in rows if r.target != f"{replicas} replicas"]
        answer = max((r.replicas for r in targets), default=None)
        checked = None
        if simulate:
            from engine.sizing.simulate import simulate as run

            k = answer if answer is not None else rows[-1].replicas
            checked = (k, run(queue, k, customers=200_000, warmup=20_000, seed=0))
        if as_json:
            data = {
                "arrival": arrival,
                "service": service,
                "offered_load": queue.load,
                "rows": [r.__dict__ for r in rows],
                "replicas": answer,
                "formula": ERLANG_NOTE,
            }
            if checked is not None:
                data["simulated"] = {"replicas": checked[0], **checked[1].__dict__}
            out.print_json(json.dumps(data))
            return
        out.print(
            f"M/M/k: λ = {arrival:g}/s, μ = {service:g}/s per replica, offered load "
            f"a = λ/μ = {queue.load:.4g} (stable from {int(queue.load) + 1} replicas)"
        )
        out.print(
            f"{'target':<24} {'method':<16} {'replicas':>8} {'util':>6} {'P(wait)':>8} "
            f"{'mean wait':>10} {'p99 wait':>10}"
        )
        for r in rows:
            out.print(
                f"{r.target:<24} {r.method:<16} {r.replicas:>8} {r.utilisation:>6.3f} "
                f"{r.p_wait:>8.4f} {r.mean_wait:>9.4g}s {r.p99_wait:>9.4g}s"
            )
        if answer is not None and len(targets) > 1:
            out.print(f"replicas: {answer} (meets every target)")
        elif answer is not None:
            out.print(f"replicas: {answer}")
        if checked is not None:
            k, sim = checked
            out.print(
                f"simulated ({sim.customers} arrivals, {k} replicas): P(wait) {sim.p_wait:.4f}, "
                f"mean wait {sim.mean_wait:.4g}s, p99 wait {sim.p99_wait:.4g}s"
            )
        out.print(ERLANG_NOTE)
