"""Composition root of intake: the HTTP API, its publisher, and the status projection."""

import asyncio
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.kafka import JSON, create_broker
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources, ready
from mintrace_common.settings import Settings

from . import cancel, status
from .api import create_api
from .settings import IntakeSettings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = IntakeSettings(**(settings.model_dump() if settings else {"service_name": "intake"}))
    telemetry.configure(settings)
    res = Resources(settings)
    broker = create_broker(settings)
    router = KafkaRouter()
    to_received = router.publisher(topics.RECEIVED.name, description="reports accepted by intake")
    publish_cancel = cancel.publisher(router)
    status.register(router, res)
    broker.include_router(router)
    tracer = telemetry.tracer()

    async def publish(reports: list[ReceivedReport]) -> None:
        futures = []
        for r in reports:
            with tracer.start_as_current_span("reports.received publish",
                                              attributes={"mintrace.report_id": r.report_id}):
                futures.append(await to_received.publish(
                    r.model_dump_json().encode(), key=r.report_id.encode(),
                    headers={**JSON, **telemetry.inject()}, no_confirm=True))
        await asyncio.gather(*futures)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await res.open()
        await broker.connect()
        # Submissions need only the producer. The status subscribers join their groups one
        # after the other (seconds each on a restart); the projection catches up meanwhile.
        subscribers = asyncio.create_task(broker.start())
        try:
            yield
        finally:
            if not subscribers.done():
                subscribers.cancel()
            await asyncio.gather(subscribers, return_exceptions=True)
            await broker.stop()
            await res.close()
            telemetry.shutdown()

    app = create_api(settings, res, publish, lifespan, lambda: ready(res, broker))
    app.state.publish_cancel = publish_cancel
    return app


def main() -> None:
    settings = IntakeSettings(service_name="intake")
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning", access_log=False, log_config=None)


if __name__ == "__main__":
    main()
