"""The process shell every consuming service runs in: telemetry, publisher, database pool, the
stages' consumers, health/metrics listener and graceful shutdown on SIGTERM/SIGINT."""

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security

from . import db, telemetry
from .delivery import GRACEFUL_TIMEOUT_S, DrainOnRevoke, Loop, Routes, Stage, StageSpec
from .errors import is_transient
from .heap import HEAP
from .kafka import create_broker, security
from .publisher import Publisher
from . import health
from .settings import Settings
from .topics import REPORT_PATH_GROUPS


class Resources:
    """Process-wide resources, opened in the app's lifespan (never at import time)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: db.Pool | None = None
        self.publisher = Publisher(settings)
        self.periodic: list[tuple[str, float, Callable[[], Awaitable[None]]]] = []

    @property
    def pool(self) -> db.Pool:
        if self._pool is None:
            raise RuntimeError("database pool used before the service started")
        return self._pool

    async def open(self) -> None:
        self._pool = await db.create_pool(self.settings.database_url, self.settings.db_pool_min,
                                          self.settings.db_pool_max, db.Limits.of(self.settings),
                                          role=self.settings.database_role)

    async def close(self) -> None:
        await self.publisher.stop()
        if self._pool is not None:
            await self._pool.close()

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` now and then every `seconds` while the service runs (sweeps, summaries)."""
        self.periodic.append((name, seconds, job))


async def _repeat(name: str, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    """A failed run is logged and retried at the next tick: a periodic job never stops the
    consumers it runs beside."""
    log = telemetry.get_logger("service")
    while True:
        try:
            await job()
        except Exception as exc:  # noqa: BLE001
            if is_transient(exc):
                log.warning("periodic.retry", job=name, error=repr(exc)[:300])
            else:
                log.error("periodic.failed", job=name, error=repr(exc)[:500])
        await asyncio.sleep(seconds)


class Consumers:
    """One aiokafka consumer and delivery loop per declared stage."""

    def __init__(self, settings: Settings, resources: Resources, specs: list[StageSpec]) -> None:
        self.settings, self.resources, self.specs = settings, resources, specs
        self.loops: list[tuple[Loop, AIOKafkaConsumer, asyncio.Task]] = []

    async def start(self) -> None:
        for spec in self.specs:
            s = self.settings
            listener = DrainOnRevoke()
            consumer = AIOKafkaConsumer(
                bootstrap_servers=s.kafka_bootstrap_servers, group_id=spec.group,
                client_id=s.service_name, enable_auto_commit=False,
                auto_offset_reset="earliest", max_poll_records=spec.max_records,
                fetch_max_wait_ms=s.kafka_fetch_max_wait_ms
                if spec.group in REPORT_PATH_GROUPS else s.kafka_fetch_max_wait_side_ms,
                **parse_security(security(s)))
            consumer.subscribe([spec.source.name], listener=listener)
            await consumer.start()
            stage = Stage(spec.source, spec.group, spec.fn, self.resources.publisher, spec.mark,
                          spec.max_records, spec.model)
            loop = Loop(stage, consumer, in_flight=s.stage_in_flight,
                        commit_interval=s.stage_commit_interval_s, warmed=HEAP.settle)
            listener.loop = loop
            self.loops.append((loop, consumer, asyncio.create_task(loop.run())))

    async def stop(self) -> None:
        for loop, _, _ in self.loops:
            loop.stop()
        tasks = [t for _, _, t in self.loops]
        _, late = await asyncio.wait(tasks, timeout=GRACEFUL_TIMEOUT_S) if tasks else ((), ())
        for t in late:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, consumer, _ in self.loops:
            await consumer.stop()
        self.loops = []


async def ready(resources: Resources, broker: KafkaBroker) -> bool:
    """Readiness: the database answers and the broker is reachable (never raises: False)."""
    try:
        async with resources.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
        return await broker.ping(timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False


def create_service(settings: Settings, register: Callable[[Routes, Resources], None],
                   broker: KafkaBroker | None = None) -> tuple[FastStream, Resources]:
    """Compose a service: `register(router, resources)` declares its stages and publishers."""
    telemetry.configure(settings)
    resources = Resources(settings)
    router = Routes()
    register(router, resources)
    consumers = Consumers(settings, resources, router.stages)
    broker = broker or create_broker(settings)
    broker.include_router(router)
    app = FastStream(broker, logger=telemetry.broker_logger())
    app.stages = router.stages  # what the service consumes, in which groups (introspection)
    log = telemetry.get_logger("service")
    servers: list = []
    watch = health.LagWatch(health.consumed_by(router.stages), settings.consumer_stuck_after_s)
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
        await consumers.start()
        tasks.extend(asyncio.create_task(_repeat(*p)) for p in resources.periodic)
        log.info("service.started", periodic=[p[0] for p in resources.periodic])

    @app.on_shutdown
    async def _stop_periodic() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumers.stop()

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
