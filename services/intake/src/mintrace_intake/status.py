"""The status projection: intake follows the pipeline's topics to answer GET /v1/reports/{id}."""

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import batch_stage
from mintrace_common.models import (Alert, LicensedReport, RejectedReport, SupervisionRecord,
                                    ValidatedReport)
from mintrace_common.service import Resources

from . import store



def register(router: KafkaRouter, res: Resources) -> None:
    def stage(topic: topics.Topic):
        return batch_stage(router, topic, group=topic.group("intake"), outputs=[],
                           max_records=res.settings.kafka_max_records)

    @stage(topics.REJECTED)
    async def on_rejected(batch: list[RejectedReport]):
        await store.set_rejected(res.pool, [(r.producer_id, r.report_id,
                                             [p.model_dump() for p in r.problems]) for r in batch])
        return []

    @stage(topics.VALIDATED)
    async def on_validated(batch: list[ValidatedReport]):
        await store.set_validated(res.pool, [(r.producer_id, r.report_id,
                                              [w.model_dump() for w in r.warnings])
                                             for r in batch])
        return []

    @stage(topics.LICENSED)
    async def on_licensed(batch: list[LicensedReport]):
        await store.set_licensed(res.pool, [(r.producer_id, r.report_id,
                                             r.licence.model_dump(mode="json")) for r in batch])
        return []

    @stage(topics.SUPERVISION_NATIONAL)
    async def on_routed(batch: list[SupervisionRecord]):
        await store.set_routed(res.pool, [(r.producer_id, r.report_id,
                                           r.licence.model_dump(mode="json"), r.province_code,
                                           [w.model_dump() for w in r.warnings])
                                          for r in batch])
        return []

    @stage(topics.ALERTS_NATIONAL)
    async def on_alert(batch: list[Alert]):
        summary = [(a.producer_id, rid, {"alert_id": a.alert_id, "type": a.type,
                                         "severity": a.severity, "summary": a.summary})
                   for a in batch for rid in a.report_ids]
        await store.add_alerts(res.pool, summary)
        return []
