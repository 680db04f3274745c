from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import LicensedReport, RollupSummary
from mintrace_common.publisher import declare
from mintrace_common.service import Resources

from . import store
from .routing import CHINA, emits

log = telemetry.get_logger(__name__)


def register(router: KafkaRouter, res: Resources) -> None:
    async def published(out: list[Emit]) -> None:
        await store.mark_published(res.pool, sorted({(e.value.producer_id, e.value.report_id)
                                                     for e in out}))

    @batch_stage(router, topics.LICENSED, group="provincial-routing",
                 outputs=[t.name for t in (topics.SUPERVISION_NATIONAL,
                                           *topics.PROVINCE_SUPERVISION)],
                 max_records=res.settings.kafka_max_records, after_publish=published)
    async def on_licensed(batch: list[LicensedReport]) -> list[Emit]:
        unique = {(r.producer_id, r.report_id): r for r in batch}
        pending = await store.route_batch(res.pool, unique, datetime.now(UTC))
        return [e for record, again in pending for e in emits(record, again)]


def register_rollup(router: KafkaRouter, res: Resources,
                    days: int) -> Callable[[], Awaitable[None]]:
    """Declare the rollup.national publisher; returns `publish_once()`, which publishes the
    rollup of the last `days` days (China Standard Time) as one RollupSummary."""
    declare(router, [topics.ROLLUP_NATIONAL.name], "national rollup: day × province × material "
                                                   "× type × destination, published periodically")

    async def publish_once() -> None:
        now = datetime.now(UTC)
        since = now.astimezone(CHINA).date() - timedelta(days=days - 1)
        summary = RollupSummary(generated_at=now, since=since,
                                rows=await store.rollup_since(res.pool, since))
        await res.publisher.publish([Emit(topics.ROLLUP_NATIONAL.name,
                                          now.astimezone(CHINA).date().isoformat(), summary)])
        log.info("rollup.published", since=since.isoformat(), rows=len(summary.rows))

    return publish_once


