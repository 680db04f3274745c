from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import (LicenceDecision, LicenceEvent, LicensedReport, ReportCancelled,
                                    ValidatedReport)
from mintrace_common.service import Resources

from . import store

GROUP = "license-matching"
# One consumer group per topic: members of a group that subscribe to different topics make every
# join or loss of any of them stall all the others for a rebalance.
CANCELLATIONS_GROUP = "license-matching-cancellations"
EVENTS_GROUP = "license-matching-licence-events"


def register(router: KafkaRouter, res: Resources) -> None:
    n = res.settings.kafka_max_records

    @batch_stage(router, topics.VALIDATED, group=GROUP, outputs=[topics.LICENSED.name],
                 max_records=n)
    async def on_validated(batch: list[ValidatedReport]) -> list[Emit]:
        decided = await store.apply(res.pool, batch, datetime.now(UTC))
        return [Emit(topics.LICENSED.name, report.report_id, LicensedReport.extending(
                    report, licence=LicenceDecision(
                        status=o.status, licence_number=o.licence_number, reasons=list(o.reasons),
                        quantity_kg=o.quantity_kg, remaining_kg=o.remaining_kg, decided_at=at,
                        cancelled_at=o.cancelled_at)))
                for report, o, at in decided]

    @batch_stage(router, topics.CANCELLED, group=CANCELLATIONS_GROUP, outputs=[], max_records=n)
    async def on_cancelled(batch: list[ReportCancelled]) -> list[Emit]:
        await store.cancel(res.pool, batch)
        return []

    @batch_stage(router, topics.LICENCE_EVENTS, group=EVENTS_GROUP, outputs=[], max_records=n)
    async def on_licence_events(batch: list[LicenceEvent]) -> list[Emit]:
        await store.apply_events(res.pool, batch)
        return []
