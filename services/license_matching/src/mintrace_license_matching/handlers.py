from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import LicenceEvent, ReportCancelled, ValidatedReport
from mintrace_common.service import Resources

from . import service
from .store import LedgerUnitOfWork

SERVICE = "license-matching"


def register(router: KafkaRouter, res: Resources) -> None:
    n = res.settings.kafka_max_records

    def stage(source: topics.Topic, outputs: list[str]):
        return batch_stage(router, source, group=source.group(SERVICE), outputs=outputs,
                           max_records=n)

    @stage(topics.VALIDATED, [topics.LICENSED.name])
    async def on_validated(batch: list[ValidatedReport]) -> list[Emit]:
        return await service.decide_exports(batch, LedgerUnitOfWork(res.pool), datetime.now(UTC))

    @stage(topics.CANCELLED, [])
    async def on_cancelled(batch: list[ReportCancelled]) -> list[Emit]:
        await service.cancel_reports(batch, LedgerUnitOfWork(res.pool))
        return []

    @stage(topics.LICENCE_EVENTS, [])
    async def on_licence_events(batch: list[LicenceEvent]) -> list[Emit]:
        await service.apply_licence_events(batch, LedgerUnitOfWork(res.pool))
        return []
