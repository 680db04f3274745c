"""Composition root of the supervision service: settings, database pool, the cases.events
publisher, the outbox drains (case events, webhooks) and the HTTP server (API and console)."""

import asyncio
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaRouter
from pydantic import Field

from mintrace_common import telemetry
from mintrace_common.kafka import create_broker
from mintrace_common.service import Resources, _repeat
from mintrace_common.settings import Settings

from . import casework, webhooks
from .api import create_api
from .events import case_events_publisher


class SupervisionSettings(Settings):
    supervision_http_port: int = Field(default=8081, description="supervision API port")
    supervision_key_cache_s: float = Field(
        default=5.0, description="how long a verified key is trusted without asking the "
                                 "database: the longest a revoked key keeps working")
    console_session_hours: float = Field(default=12.0, description="console sign-in lifetime")
    case_events_drain_s: float = Field(default=5.0, description="how often unpublished case "
                                                                "events are sent again")
    webhook_poll_s: float = Field(default=1.0, description="how often new alerts are matched "
                                                           "to webhooks and deliveries sent")
    webhook_timeout_s: float = Field(default=5.0, description="one webhook request's timeout")
    webhook_max_tries: int = Field(default=4, description="tries per delivery round; then it "
                                                          "waits (exponentially longer) for "
                                                          "the next round")


def create_app(settings: SupervisionSettings | None = None) -> FastAPI:
    settings = settings or SupervisionSettings(service_name="supervision")
    telemetry.configure(settings)
    res = Resources(settings)
    broker = create_broker(settings)
    router = KafkaRouter()
    publish = case_events_publisher(router, res.publisher)
    broker.include_router(router)
    sender = webhooks.Sender(settings.webhook_timeout_s, settings.webhook_max_tries)
    res.every("case-events-drain", settings.case_events_drain_s,
              lambda: casework.drain(res.pool, publish))
    res.every("webhooks", settings.webhook_poll_s, lambda: webhooks.run_once(res.pool, sender))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await res.open()
        await broker.connect()
        jobs = [asyncio.create_task(_repeat(*p)) for p in res.periodic]
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await sender.close()
            await broker.stop()
            await res.close()
            telemetry.shutdown()

    app = create_api(res, lifespan, publish, settings.supervision_key_cache_s)
    app.state.settings = settings
    app.state.broker = broker  # its publisher (cases.events) is in the AsyncAPI document
    return app


def main() -> None:
    settings = SupervisionSettings(service_name="supervision")
    uvicorn.run(create_app(settings), host=settings.http_host,
                port=settings.supervision_http_port, log_level="warning", access_log=False,
                log_config=None)


if __name__ == "__main__":
    main()
