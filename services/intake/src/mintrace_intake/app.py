"""Composition root of intake: the HTTP API and its publisher. The status projection that keeps
GET /v1/reports/{id} current is a process of its own (status.py)."""

from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from mintrace_common import telemetry, topics
from mintrace_common.delivery import Routes
from mintrace_common.kafka import create_broker
from mintrace_common.publisher import Emit, declare
from mintrace_common.service import Resources, ready
from mintrace_common.settings import Settings

from . import cancel
from .acceptance import Received
from .api import create_api
from .backlog import Backlog
from .settings import IntakeSettings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = IntakeSettings(**(settings.model_dump() if settings else {"service_name": "intake"}))
    telemetry.configure(settings)
    res = Resources(settings)
    broker = create_broker(settings)
    router = Routes()
    declare(router, [topics.RECEIVED.name], "reports accepted by intake")
    publish_cancel = cancel.publisher(router, res.publisher)
    broker.include_router(router)
    backlog = Backlog(settings, settings.intake_max_backlog,
                      seconds=settings.intake_max_backlog_s)

    async def publish(reports: list[Received]) -> None:
        # each report starts a trace of its own; the record goes as intake encoded it
        await res.publisher.publish([
            Emit(topics.RECEIVED.name, r.record.report_id, r.body, trace=telemetry.new_trace(
                "reports.received publish", {"mintrace.report_id": r.record.report_id}))
            for r in reports])

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await res.open()
        await broker.connect()
        backlog.start()
        try:
            yield
        finally:
            await backlog.stop()
            await broker.stop()
            await res.close()
            telemetry.shutdown()

    app = create_api(settings, res, publish, lifespan, lambda: ready(res, broker), backlog)
    app.state.publish_cancel = publish_cancel
    app.state.stages = router.stages  # what this process consumes: nothing (introspection)
    return app


def main() -> None:
    settings = IntakeSettings(service_name="intake")
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning", access_log=False, log_config=None)


if __name__ == "__main__":
    main()
