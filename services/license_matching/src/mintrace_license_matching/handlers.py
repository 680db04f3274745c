from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import LicenceDecision, LicensedReport, ValidatedReport
from mintrace_common.service import Resources

from . import store


def register(router: KafkaRouter, res: Resources) -> None:
    @batch_stage(router, topics.VALIDATED, group="license-matching",
                 outputs=[topics.LICENSED.name], max_records=res.settings.kafka_max_records)
    async def on_validated(batch: list[ValidatedReport]) -> list[Emit]:
        decided = await store.apply(res.pool, batch, datetime.now(UTC))
        return [Emit(topics.LICENSED.name, report.report_id, LicensedReport(
                    **report.model_dump(), licence=LicenceDecision(
                        status=o.status, licence_number=o.licence_number, reasons=list(o.reasons),
                        quantity_kg=o.quantity_kg, remaining_kg=o.remaining_kg, decided_at=at)))
                for report, o, at in decided]
