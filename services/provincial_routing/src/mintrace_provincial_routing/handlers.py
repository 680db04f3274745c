from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.chinatime import china_day
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import LicensedReport, ReportCancelled, RollupSummary
from mintrace_common.publisher import declare
from mintrace_common.service import Resources

from . import service
from .store import RoutingUnitOfWork

SERVICE = "provincial-routing"
OUTPUTS = [t.name for t in (topics.SUPERVISION_NATIONAL, *topics.PROVINCE_SUPERVISION)]
log = telemetry.get_logger(__name__)


def register(router: KafkaRouter, res: Resources) -> Callable[[], Awaitable[int]]:
    """Declare the consumers of reports.licensed and reports.cancelled; return the sweep that
    publishes records whose publication was interrupted."""
    async def published(emits: list[Emit]) -> None:
        await service.mark_published(emits, RoutingUnitOfWork(res.pool))

    @batch_stage(router, topics.LICENSED, group=topics.LICENSED.group(SERVICE), outputs=OUTPUTS,
                 max_records=res.settings.kafka_max_records, after_publish=published)
    async def on_licensed(batch: list[LicensedReport]) -> list[Emit]:
        return await service.route_reports(batch, RoutingUnitOfWork(res.pool), datetime.now(UTC))

    @batch_stage(router, topics.CANCELLED, group=topics.CANCELLED.group(SERVICE), outputs=OUTPUTS,
                 max_records=res.settings.kafka_max_records, after_publish=published)
    async def on_cancelled(batch: list[ReportCancelled]) -> list[Emit]:
        return await service.cancel_reports(batch, RoutingUnitOfWork(res.pool))

    declare(router, OUTPUTS, "written by provincial-routing (sweep)")

    async def sweep() -> int:
        emits = await service.unpublished(RoutingUnitOfWork(res.pool))
        if emits:
            await res.publisher.publish(emits)
            await published(emits)
        return len(emits)

    return sweep


def register_rollup(router: KafkaRouter, res: Resources, days: int,
                    page_rows: int) -> Callable[[], Awaitable[None]]:
    """Declare the rollup.national publisher; returns `publish_once()`, which publishes the
    rollup of the last `days` days (China Standard Time) in pages of `page_rows` rows."""
    declare(router, [topics.ROLLUP_NATIONAL.name], "national rollup: day × province × material "
                                                   "× type × destination, published periodically "
                                                   "in pages")

    async def publish_once() -> None:
        now = datetime.now(UTC)
        pages = await service.rollup_summaries(RoutingUnitOfWork(res.pool), now, days, page_rows)
        key = china_day(now).isoformat()
        await res.publisher.publish([Emit(topics.ROLLUP_NATIONAL.name, key, page)
                                     for page in pages])
        log.info("rollup.published", since=pages[0].since.isoformat(), pages=len(pages),
                 rows=sum(len(p.rows) for p in pages))

    return publish_once
