from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import LicensedReport
from mintrace_common.provinces import BY_CODE
from mintrace_common.service import Resources

from . import store
from .routing import UnknownFacility, route


def register(router: KafkaRouter, res: Resources) -> None:
    async def published(emits: list[Emit]) -> None:
        await store.mark_published(res.pool, sorted({(e.value.producer_id, e.value.report_id)
                                                     for e in emits}))

    @batch_stage(router, topics.LICENSED, group="provincial-routing",
                 outputs=[t.name for t in (topics.SUPERVISION_NATIONAL,
                                           *topics.PROVINCE_SUPERVISION)],
                 max_records=res.settings.kafka_max_records, after_publish=published)
    async def on_licensed(batch: list[LicensedReport]) -> list[Emit]:
        now = datetime.now(UTC)
        where = await store.provinces(res.pool, [r.report.facility_id for r in batch])
        unique = {(r.producer_id, r.report_id): r for r in batch}
        for r in unique.values():
            if where.get(r.report.facility_id) not in BY_CODE:
                raise UnknownFacility(f"facility {r.report.facility_id} has no known province")
        pending = await store.record(res.pool, list(unique),
                                     [where.get(r.report.facility_id, "") for r in unique.values()],
                                     now)
        emits: list[Emit] = []
        for key, seen_before in pending.items():
            report = unique[key]
            emits += route(report, where.get(report.report.facility_id), now, seen_before)
        return emits
