"""The ASGI app: four extender verbs, health, readiness and metrics, on Starlette.

Plain Starlette routes that read the raw body and hand bytes to the handlers; orjson parses, and
only objects placer has not seen are validated (``admission.py``), which is what keeps a
500-name filter of known pods and nodes under a millisecond or two. Authentication, the body
size and the body read timeout are checked here; refusals go back in the protocol's ``Error``
field to the scheduler and as 4xx JSON errors to anyone else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from engine.errors import InputError

from . import wire
from .auth import Auth, read_token
from .handlers import Binder, Extender
from .metrics import Metrics
from .planner import Planner
from .settings import Settings
from .state import ClusterState
from .wire import WireError

log = logging.getLogger("placer.extender")

JSON = "application/json"


WEBHOOK_PATH = "/webhook/gate"
UNAUTHENTICATED = "authentication required: a client certificate or a bearer token"


class BodyTooLarge(Exception):
    pass


class Unauthenticated(Exception):
    pass


class BodyTooSlow(Exception):
    pass


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The request body, refusing more than ``limit`` bytes (by header first, then by count)
    and a body still incomplete after ``seconds`` (a Content-Length longer than what is sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow from None
    return b"".join(chunks)


@dataclass
class Service:
    """Everything one running extender holds; ``app.state.service`` in the ASGI app."""

    settings: Settings
    state: ClusterState
    planner: Planner | None
    extender: Extender
    metrics: Metrics
    watcher: Any = None
    auth: Auth | None = None
    gate: Any = None  # GateController with --gate


def build_service(
    settings: Settings,
    *,
    state: ClusterState | None = None,
    binder: Binder | None = None,
    api: Any = None,
) -> Service:
    """Wire state, planner, handlers and metrics together (no threads started yet)."""
    if state is None:
        state = ClusterState()
    state.limits = settings.learn_limits
    metrics = Metrics()
    planner = None
    if settings.planner:
        planner = Planner(
            state,
            scheduler_name=settings.scheduler_name,
            time_limit=settings.plan_time_limit,
            settle=settings.plan_settle,
            max_age=settings.plan_max_age,
            incremental=settings.plan_incremental,
            isolate=settings.plan_process,
            memory_limit_mib=settings.plan_memory_mib,
            on_plan=metrics.plan_published,
            on_failure=lambda reason, _: metrics.plan_failures.labels(reason).inc(),
        )
        if planner.process is not None:
            planner.process.on_death.append(lambda _: metrics.planner_restarts.inc())
    watcher = None
    gate = None
    if api is not None:
        from .kubeapi import ApiBinder, ClusterWatcher

        watcher = ClusterWatcher(api, state)
        if settings.bind and binder is None:
            binder = ApiBinder(api)
        gate_settings = settings.gate_settings
        if gate_settings is not None:
            from .gate import GateController

            gate = GateController(
                api,
                state,
                gate_settings,
                isolate=settings.plan_process,
                memory_limit_mib=settings.plan_memory_mib,
            )
            metrics.watch_gate(gate)
    extender = Extender(
        state,
        planner,
        binder=binder,
        counters=metrics,
        reserve=settings.reserve,
        binds=settings.bind,
        device_scoring=settings.device_scoring,
    )
    metrics.watch(state, planner)
    auth = None
    if settings.authenticates:
        token = read_token(settings.auth_token_file) if settings.auth_token_file else None
        auth = Auth(token=token, client_certs=settings.tls_client_ca is not None)
    return Service(settings, state, planner, extender, metrics, watcher, auth, gate)


def create_app(service: Service) -> Starlette:
    settings = service.settings
    metrics = service.metrics
    extender = service.extender
    limit = settings.max_body_bytes
    auth = service.auth

    def verb_route(
        verb: str, handler: Callable[[bytes], bytes], in_protocol: Callable[[str], bytes] | None
    ) -> Route:
        """``in_protocol``: the verb's result carrying only an ``Error`` (None: it has none)."""
        latency = metrics.latency.labels(verb)

        def refuse(body: bytes, status: int, message: str) -> tuple[int, bytes]:
            # kube-scheduler drops the message of any non-200; give it the Error field.
            if in_protocol is not None and wire.from_scheduler(body, verb):
                return 200, in_protocol(message)
            return status, wire.error_body(message)

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            status = 200
            body = b""
            headers: dict[str, str] = {}
            try:
                if auth is not None and not auth.allows(
                    request.url.path, request.headers, request.scope
                ):
                    raise Unauthenticated
                body = await read_body(request, limit, settings.body_timeout)
                content = handler(body)
            except Unauthenticated:
                status, content = 401, wire.error_body(UNAUTHENTICATED)
                headers["WWW-Authenticate"] = auth.challenge if auth is not None else ""
            except BodyTooLarge:
                status, content = 413, wire.error_body(f"request body exceeds {limit} bytes")
            except BodyTooSlow:
                status, content = (
                    408,
                    wire.error_body(f"request body incomplete after {settings.body_timeout:g}s"),
                )
                headers["Connection"] = "close"  # the rest of the body is not coming
            except WireError as exc:
                status, content = refuse(body, exc.status, str(exc))
            except InputError as exc:
                status, content = refuse(body, 400, str(exc))
            except ClientDisconnect:
                status, content = 400, wire.error_body("client disconnected")
            except Exception as exc:  # a bug must not take the service down; tell the scheduler
                log.exception("%s failed", verb)
                status, content = refuse(body, 500, f"placer internal error: {exc}")
            metrics.requests.labels(verb, str(status)).inc()
            latency.observe(time.perf_counter() - started)
            return Response(content, status_code=status, media_type=JSON, headers=headers)

        return Route(f"{settings.route_prefix}/{verb}", endpoint, methods=["POST"])

    async def healthz(_: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def readyz(_: Request) -> Response:
        """200 when requests are steered as designed; 503 with the reasons otherwise."""
        report: dict[str, Any] = {}
        problems: list[str] = []
        if not service.state.synced:
            problems.append("syncing cluster state")
        if service.planner is not None:
            report = service.planner.health()
            problems += report.pop("problems")
        body = {"status": "; ".join(problems) if problems else "ready", **report}
        return Response(orjson.dumps(body), status_code=503 if problems else 200, media_type=JSON)

    async def metrics_endpoint(request: Request) -> Response:
        if auth is not None and not auth.allows(request.url.path, request.headers, request.scope):
            return Response(
                wire.error_body(UNAUTHENTICATED), status_code=401, media_type=JSON,
                headers={"WWW-Authenticate": auth.challenge},
            )  # fmt: skip
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if service.watcher is not None:
            service.watcher.start()
        elif not settings.live:
            service.state.mark_synced()  # snapshot or request-fed state: ready at once
        if service.planner is not None:
            service.planner.start()
        if service.gate is not None:
            service.gate.start()
        log.info("placer extender serving on %s", settings.route_prefix or "/")
        try:
            yield
        finally:
            if service.gate is not None:
                service.gate.stop()
            if service.planner is not None:
                service.planner.stop()
            if service.watcher is not None:
                service.watcher.stop()

    webhook_settings = settings.webhook_settings

    async def gate_webhook(request: Request) -> Response:
        """AdmissionReview in, AdmissionReview out (open like the probes: it changes nothing
        in placer and answers only what it would add to the pod it is shown)."""
        from .webhook import review

        assert webhook_settings is not None
        started = time.perf_counter()
        status = 200
        try:
            body = await read_body(request, limit, settings.body_timeout)
            content = review(body, webhook_settings)
        except BodyTooLarge:
            status, content = 413, wire.error_body(f"request body exceeds {limit} bytes")
        except BodyTooSlow:
            status, content = 408, wire.error_body("request body incomplete")
        except WireError as exc:
            status, content = exc.status, wire.error_body(str(exc))
        except ClientDisconnect:
            status, content = 400, wire.error_body("client disconnected")
        except Exception as exc:
            log.exception("webhook failed")
            status, content = 500, wire.error_body(f"placer internal error: {exc}")
        metrics.requests.labels("webhook", str(status)).inc()
        metrics.latency.labels("webhook").observe(time.perf_counter() - started)
        return Response(content, status_code=status, media_type=JSON)

    routes = [
        verb_route("filter", extender.filter, wire.filter_error),
        verb_route("prioritize", extender.prioritize, None),
        verb_route("preempt", extender.preempt, None),
        verb_route("bind", extender.bind, wire.binding_result),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if webhook_settings is not None:
        routes.append(Route(WEBHOOK_PATH, gate_webhook, methods=["POST"]))

    async def http_error(_: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "error")
        return Response(wire.error_body(str(detail)), status_code=code, media_type=JSON)

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: http_error, 405: http_error},
    )
    app.state.service = service
    return app
