"""The HTTP intake (SPEC §4). A report is accepted (202) only once the broker acknowledged it."""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mintrace_common import http
from mintrace_common.health import CachedCheck
from mintrace_common.http import StorableRoute
from mintrace_common.metrics import METRICS
from mintrace_common.service import Resources

from . import cancel, openapi, routes
from .backlog import Backlog
from .bodies import HTTPProblem
from .context import Intake, Publish
from .settings import IntakeSettings

ROUTERS = [routes.router, cancel.router]  # add a router here to add endpoints (they share Intake via Depends)


Scope = Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Count:
    """Responses per route template and status, and their time (never the raw path: report ids
    would explode the labels). Plain ASGI: starlette's BaseHTTPMiddleware costs a task group and
    a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "500"

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        await self.app(scope, receive, sending)
        route = getattr(scope.get("route"), "path", "other")
        METRICS.inc("http_responses_total", route=route, status=status)
        METRICS.observe("http_seconds", time.perf_counter() - started, route=route)


def create_api(settings: IntakeSettings, res: Resources, publish: Publish, lifespan,
               ready: Callable[[], Awaitable[bool]] | None = None,
               backlog: Backlog | None = None) -> FastAPI:
    app = FastAPI(title="mintrace intake", version="1",
                  description="Submit critical-mineral transaction reports (Report v1) and "
                              "follow them through the pipeline.",
                  lifespan=lifespan)
    app.router.route_class = StorableRoute
    app.state.intake = Intake(settings, res, publish, backlog)
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)

    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.problems is not None:
            body["problems"] = [p.model_dump() for p in exc.problems]
        return JSONResponse(body, exc.status, headers=exc.headers)


    app.add_middleware(_Count)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    checked = CachedCheck(ready) if ready is not None else None

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = checked is None or await checked()
        return JSONResponse({"status": "ready" if ok else "not ready"}, 200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # Nothing was answered 202 on a 503: the client retries, idempotency makes that safe.
    http.install(app, unavailable=(KafkaError,))
    return app
