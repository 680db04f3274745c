"""Composition root of intake: the HTTP API, its publisher, and the status projection."""

import asyncio
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.kafka import JSON, create_broker
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources
from mintrace_common.settings import Settings

from . import cancel, status
from .api import create_api


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(service_name="intake")
    telemetry.configure(settings)
    res = Resources(settings)
    broker = create_broker(settings)
    router = KafkaRouter()
    to_received = router.publisher(topics.RECEIVED.name, description="reports accepted by intake")
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
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()
            await res.close()
            telemetry.shutdown()

    return cancel.mount(create_api(res, publish, lifespan), res, broker)


def main() -> None:
    settings = Settings(service_name="intake")
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
