"""The pipeline's backlog as intake sees it, for load shedding: reports published but not yet
through every stage, measured as the consumer lag of each stage's group on its input topic
(end offsets minus committed offsets), polled in the background.

Past its limit, intake answers 503 with a Retry-After derived from how fast the backlog drains,
so the pipeline runs at capacity and what was accepted keeps a bounded latency. The limit is the
smaller of `limit` reports and `seconds` of the rate the pipeline is draining at (never below
`FLOOR` reports: an idle pipeline has no rate yet, and a burst into it is not refused)."""

import asyncio
import math
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka.security import parse_security

from mintrace_common import telemetry, topics
from mintrace_common.kafka import security
from mintrace_common.settings import Settings

# Each stage a report passes before it is routed: (input topic, consumer group).
PIPELINE = tuple((topic.name, topic.group(stage)) for topic, stage in (
    (topics.RECEIVED, "validation"), (topics.VALIDATED, "license-matching"),
    (topics.LICENSED, "provincial-routing")))
log = telemetry.get_logger(__name__)


class Backlog:
    FLOOR = 1000

    def __init__(self, settings: Settings, limit: int, stages: Sequence[tuple[str, str]] = PIPELINE,
                 interval_s: float = 0.5, seconds: float = 0.0) -> None:
        self.settings, self.limit, self.stages, self.interval = settings, limit, stages, interval_s
        self.seconds = seconds
        self.value = 0
        self.drain_per_s = 0.0
        self._last_done: tuple[float, int] | None = None
        self._task: asyncio.Task | None = None

    def admit(self, reports: int) -> None:
        """Count reports accepted since the last measurement: many requests pass the check at
        once, and the next poll is up to `interval` away."""
        self.value += reports

    def current_limit(self) -> int:
        """Reports the pipeline may be behind before intake sheds (0: never shed)."""
        if self.limit <= 0 or self.seconds <= 0:
            return self.limit
        return min(self.limit, max(min(self.FLOOR, self.limit),
                                   int(self.drain_per_s * self.seconds)))

    def retry_after(self) -> int | None:
        """Seconds a producer should wait, or None to accept now."""
        limit = self.current_limit()
        if limit <= 0 or self.value <= limit:
            return None
        excess = self.value - limit // 2
        return max(1, min(30, math.ceil(excess / max(self.drain_per_s, 1.0))))

    async def measure(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
        await consumer.topics()  # refresh metadata
        total, done = 0, 0
        for topic, group in self.stages:
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                              or ())]
            if not tps:
                continue
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            for tp in tps:
                at = committed.get(tp)
                offset = at.offset if at is not None and at.offset >= 0 else 0
                total += max(0, ends[tp] - offset)
                if (topic, group) == tuple(self.stages[-1]):
                    done += offset
        now = time.monotonic()
        if self._last_done is not None and now > self._last_done[0]:
            rate = (done - self._last_done[1]) / (now - self._last_done[0])
            self.drain_per_s = 0.7 * self.drain_per_s + 0.3 * max(rate, 0.0)
        self._last_done = (now, done)
        self.value = total
        return total

    async def _poll(self) -> None:
        s = self.settings
        kw = dict(bootstrap_servers=s.kafka_bootstrap_servers, client_id=f"{s.service_name}-backlog",
                  **parse_security(security(s)))
        admin, consumer = AIOKafkaAdminClient(**kw), AIOKafkaConsumer(**kw)
        await admin.start()
        await consumer.start()
        try:
            while True:
                try:
                    await self.measure(admin, consumer)
                except Exception as exc:  # noqa: BLE001 - keep the last value, try again
                    log.warning("backlog.unmeasured", error=repr(exc)[:300])
                await asyncio.sleep(self.interval)
        finally:
            await consumer.stop()
            await admin.close()

    def start(self) -> None:
        if self.limit > 0 and self._task is None:
            self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
