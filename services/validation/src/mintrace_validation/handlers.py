from datetime import UTC, datetime, timedelta

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.metrics import METRICS
from mintrace_common.models import ReceivedReport, RejectedReport, ValidatedReport
from mintrace_common.service import Resources

from . import rules, store


def decide(batch: list[ReceivedReport], registry: rules.RegistryView, now: datetime,
           late_after: timedelta = rules.LATE_AFTER) -> list[Emit]:
    out: list[Emit] = []
    for received in batch:
        problems = rules.check(received.report, registry, now, late_after)
        if problems:
            METRICS.inc("rejected_total", stage="validation")
            out.append(Emit(topics.REJECTED.name, received.report_id, RejectedReport(
                producer_id=received.producer_id, report_id=received.report_id,
                received_at=received.received_at, rejected_at=now, problems=problems)))
        else:
            out.append(Emit(topics.VALIDATED.name, received.report_id, ValidatedReport.extending(
                received, quantity_kg=received.report.quantity.kg,
                warnings=rules.warnings(received.report, now, late_after), validated_at=now)))
    return out


def register(router: KafkaRouter, res: Resources, registry_view=store.registry_view) -> None:
    """`registry_view(pool, producer_ids, facility_ids)` is swappable for tests."""
    late_after = res.settings.late_after  # a ValidationSettings

    @batch_stage(router, topics.RECEIVED, group=topics.RECEIVED.group("validation"),
                 outputs=[topics.VALIDATED.name, topics.REJECTED.name],
                 max_records=res.settings.kafka_max_records)
    async def on_received(batch: list[ReceivedReport]) -> list[Emit]:
        registry = await registry_view(res.pool, (r.producer_id for r in batch),
                                       (r.report.facility_id for r in batch))
        return decide(batch, registry, datetime.now(UTC), late_after)
