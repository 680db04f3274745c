"""Liveness, readiness and metrics of a consuming service, from well-kept parts: a Starlette app
(prometheus-client's ASGI app on /metrics) served by uvicorn; consumer lag read from the broker.

/healthz fails when a consumer is stuck: a partition with records waiting (lag > 0) whose
committed offset has not moved for `consumer_stuck_after_s` — a wedged handler, a partition
retried forever. A restart (the liveness probe's remedy) is what such a consumer needs; a broker
or database outage is readiness's business, so only progress is judged here."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .metrics import METRICS
from .settings import Settings

Check = Callable[[], Awaitable[bool]]


@dataclass
class Partition:
    committed: int
    lag: int
    moved_at: float


@dataclass
class LagWatch:
    """Lag per (topic, partition, group) from the broker: end offset minus committed offset."""

    consumed: list[tuple[str, str]]          # (topic, consumer group)
    stuck_after_s: float
    clock: Callable[[], float] = time.monotonic
    partitions: dict[tuple[str, int, str], Partition] = field(default_factory=dict)

    def observe(self, topic: str, partition: int, group: str, committed: int, end: int) -> None:
        lag = max(0, end - committed)
        key = (topic, partition, group)
        now = self.clock()
        seen = self.partitions.get(key)
        if seen is None or seen.committed != committed or lag == 0:
            self.partitions[key] = Partition(committed, lag, now)
        else:
            seen.lag = lag
        METRICS.set("consumer_lag", lag, topic=topic, partition=str(partition), group=group)

    def stuck(self) -> list[str]:
        now = self.clock()
        return [f"{g}:{t}[{p}] lag {x.lag}, no progress for {now - x.moved_at:.0f}s"
                for (t, p, g), x in sorted(self.partitions.items())
                if x.lag > 0 and now - x.moved_at >= self.stuck_after_s]

    async def poll(self, settings: Settings) -> None:
        """Read committed and end offsets of every consumed partition from the broker (a client
        per group that never joins it: OffsetFetch only, so it causes no rebalance)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from .kafka_clients import kafka_options

        opts = kafka_options(settings, timeout_s=10)
        for group in sorted({g for _, g in self.consumed}):
            client = AIOKafkaConsumer(**opts, group_id=group, enable_auto_commit=False)
            await client.start()
            try:
                topics = sorted({t for t, g in self.consumed if g == group})
                await client.topics()
                parts = [TopicPartition(t, p) for t in topics
                         for p in sorted(client.partitions_for_topic(t) or ())]
                ends = await client.end_offsets(parts) if parts else {}
                for tp in parts:
                    done = await client.committed(tp)
                    self.observe(tp.topic, tp.partition, group, done or 0, ends[tp])
            finally:
                await client.stop()


READY_FOR_S = 1.0


@dataclass
class CachedCheck:
    """A readiness check answered from memory for `ttl` seconds, run by one caller at a time
    (the others wait for that run): /readyz is public, and a flood of it costs one database
    query and broker ping per interval however many ask. "Not ready" is remembered as long.
    Never raises: a check that fails is False."""

    check: Check
    ttl: float = READY_FOR_S
    clock: Callable[[], float] = time.monotonic
    _last: tuple[float, bool] | None = None
    _running: "asyncio.Future[bool] | None" = None

    async def __call__(self) -> bool:
        if self._last is not None and self.clock() - self._last[0] < self.ttl:
            return self._last[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # shielded: a caller that gives up (a probe's timeout) does not cancel the others' run
        return await asyncio.shield(self._running)

    async def _run(self) -> bool:
        try:
            ok = bool(await self.check())
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            ok = False
        self._last, self._running = (self.clock(), ok), None
        return ok


def watch_outbox(resources, table: str, stored_at: str, every_s: float = 15.0) -> None:
    """Export the age of `table`'s oldest unpublished row (an outbox: `published` false until
    the broker acknowledged it) as mintrace_outbox_oldest_unpublished_seconds{table}."""
    sql = (f"SELECT COALESCE(EXTRACT(EPOCH FROM now() - min({stored_at})), 0) "
           f"FROM {table} WHERE NOT published")

    async def measure() -> None:
        async with resources.pool.acquire(timeout=5) as conn:
            METRICS.set("outbox_age", float(await conn.fetchval(sql)), table=table)

    resources.every(f"outbox-age.{table}", every_s, measure)


def consumed_by(stages) -> list[tuple[str, str]]:
    """(topic, group) of every stage a service declared (delivery.StageSpec)."""
    return sorted({(s.source.name, s.group) for s in stages})


def health_app(ready: Check, watch: LagWatch | None):
    from prometheus_client import make_asgi_app
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def healthz(_request):
        stuck = watch.stuck() if watch else []
        return JSONResponse({"status": "stuck" if stuck else "ok", "stuck": stuck},
                            503 if stuck else 200)

    ready = CachedCheck(ready)

    async def readyz(_request):
        try:
            ok = await asyncio.wait_for(ready(), 3)
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            ok = False
        return JSONResponse({"status": "ready" if ok else "not ready"}, 200 if ok else 503)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                             Route("/metrics", _Asgi(make_asgi_app()))])


class _Asgi:
    """An ASGI app as a Starlette route endpoint (a Mount would answer /metrics with a redirect
    to /metrics/, which Prometheus does not follow by default)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


async def serve(app, host: str, port: int):
    """Serve `app` with uvicorn in this event loop; returns the server (`should_exit = True`
    stops it) once it listens."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    server.install_signal_handlers = lambda: None  # the service's own shutdown owns signals
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    server.task = task
    return server
