from datetime import UTC, datetime

from faststream.kafka import KafkaRouter

from mintrace_common import topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import Alert, SupervisionRecord
from mintrace_common.provinces import BY_CODE
from mintrace_common.service import Resources

from . import rules, store


def emits_for(alerts: list[Alert], trace_keys: dict[str, str]) -> list[Emit]:
    out = []
    for a in alerts:
        slug = BY_CODE[a.province_code].slug
        tk = trace_keys.get(a.alert_id)
        out += [Emit(topics.alerts_topic(slug), a.alert_id, a, tk),
                Emit(topics.ALERTS_NATIONAL.name, a.alert_id, a, tk)]
    return out


def register(router: KafkaRouter, res: Resources) -> None:
    async def published(emits: list[Emit]) -> None:
        await store.mark_published(res.pool, sorted({e.key for e in emits}))

    @batch_stage(router, topics.SUPERVISION_NATIONAL, group="alerting",
                 outputs=[t.name for t in (topics.ALERTS_NATIONAL, *topics.PROVINCE_ALERTS)],
                 max_records=res.settings.kafka_max_records, after_publish=published)
    async def on_routed(batch: list[SupervisionRecord]) -> list[Emit]:
        now = datetime.now(UTC)
        alerts: list[Alert] = []
        trace_keys: dict[str, str] = {}
        for rec in batch:
            for a in rules.licence_alerts(rec, now):
                alerts.append(a)
                trace_keys[a.alert_id] = rec.report_id
        return emits_for(await store.record(res.pool, alerts), trace_keys)
