"""Composition root of the supervision API: settings, database pool, HTTP server."""

from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from pydantic import Field

from mintrace_common import telemetry
from mintrace_common.service import Resources
from mintrace_common.settings import Settings

from .api import create_api


class SupervisionSettings(Settings):
    supervision_http_port: int = Field(default=8081, description="supervision API port")
    supervision_key_cache_s: float = Field(
        default=5.0, description="how long a verified key is trusted without asking the "
                                 "database: the longest a revoked key keeps working")


def create_app(settings: SupervisionSettings | None = None) -> FastAPI:
    settings = settings or SupervisionSettings(service_name="supervision")
    telemetry.configure(settings)
    res = Resources(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await res.open()
        try:
            yield
        finally:
            await res.close()
            telemetry.shutdown()

    return create_api(res, lifespan, settings.supervision_key_cache_s)


def main() -> None:
    settings = SupervisionSettings(service_name="supervision")
    uvicorn.run(create_app(settings), host=settings.http_host,
                port=settings.supervision_http_port, log_level="warning", access_log=False, log_config=None)


if __name__ == "__main__":
    main()
