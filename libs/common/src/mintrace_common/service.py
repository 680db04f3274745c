"""The process shell every consuming service runs in: telemetry, broker, database pool,
health/metrics listener and graceful shutdown on SIGTERM/SIGINT."""

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaRouter

from . import db, telemetry
from .kafka import create_broker
from . import health
from .settings import Settings


class Resources:
    """Process-wide resources, opened in the app's lifespan (never at import time)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self.periodic: list[tuple[str, float, Callable[[], Awaitable[None]]]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database pool used before the service started")
        return self._pool

    async def open(self) -> None:
        self._pool = await db.create_pool(self.settings.database_url, self.settings.db_pool_min,
                                          self.settings.db_pool_max)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` now and then every `seconds` while the service runs (sweeps, summaries)."""
        self.periodic.append((name, seconds, job))


async def _repeat(name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    """A failed run is logged and retried at the next tick: a periodic job never stops the
    consumers it runs beside."""
    from .kafka import TRANSIENT

    log = telemetry.get_logger("service")
    while True:
        try:
            await job()
        except TRANSIENT as exc:
            log.warning("periodic.retry", job=name, error=repr(exc)[:300])
        except Exception as exc:  # noqa: BLE001
            log.error("periodic.failed", job=name, error=repr(exc)[:500])
        await asyncio.sleep(seconds)


async def ready(resources: Resources, broker: KafkaBroker) -> bool:
    """Readiness: the database answers and the broker is reachable (never raises: False)."""
    try:
        async with resources.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        return await broker.ping(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def create_service(settings: Settings, register: Callable[[KafkaRouter, Resources], None],
                   broker: KafkaBroker | None = None) -> tuple[FastStream, Resources]:
    """Compose a service: `register(router, resources)` declares its subscribers/publishers."""
    telemetry.configure(settings)
    resources = Resources(settings)
    router = KafkaRouter()
    register(router, resources)
    broker = broker or create_broker(settings)
    broker.include_router(router)
    app = FastStream(broker, logger=telemetry.broker_logger())
    log = telemetry.get_logger("service")
    servers: list = []
    watch = health.LagWatch(health.consumed_by(broker), settings.consumer_stuck_after_s)
    if watch.consumed:
        resources.every("consumer-lag", settings.lag_interval_s, lambda: watch.poll(settings))

    @app.on_startup
    async def _open() -> None:
        await resources.open()
        if settings.metrics_port:
            servers.append(await health.serve(
                health.health_app(lambda: ready(resources, broker), watch), "0.0.0.0",
                settings.metrics_port))
        log.info("service.starting", bootstrap=settings.kafka_bootstrap_servers)

    tasks: list[asyncio.Task] = []

    @app.after_startup
    async def _started() -> None:
        tasks.extend(asyncio.create_task(_repeat(*p)) for p in resources.periodic)
        log.info("service.started", periodic=[p[0] for p in resources.periodic])

    @app.on_shutdown
    async def _stop_periodic() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @app.after_shutdown
    async def _close() -> None:
        for server in servers:
            server.should_exit = True
            await server.task
        await resources.close()
        telemetry.shutdown()
        log.info("service.stopped")

    return app, resources


def run(app: FastStream) -> None:
    asyncio.run(app.run())
