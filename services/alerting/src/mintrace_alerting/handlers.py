import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.kafka import Emit, batch_stage
from mintrace_common.models import SupervisionRecord
from mintrace_common.publisher import declare
from mintrace_common.service import Resources

from . import service, store
from .config import Rules
from .store import AlertingUnitOfWork

SERVICE = "alerting"
Clock = Callable[[], datetime]
log = telemetry.get_logger(__name__)
OUTPUTS = [t.name for t in (topics.ALERTS_NATIONAL, *topics.PROVINCE_ALERTS)]


class Reference:
    """The watchlist and reference prices, re-read from the registry every few seconds."""

    def __init__(self, res: Resources, rules: Rules) -> None:
        self.res, self.rules, self.loaded_at, self.value = res, rules, float("-inf"), None

    async def get(self):
        if time.monotonic() - self.loaded_at > self.res.settings.registry_refresh_s:
            self.value = await store.load_reference(
                self.res.pool, self.rules.watchlist_min_score,
                self.value[0] if self.value else None)
            self.loaded_at = time.monotonic()
        return self.value


def register(router: KafkaRouter, res: Resources, rules: Rules, clock: Clock):
    """Declare the consumer of supervision.national; return the periodic sweep (unconfirmed
    transfers past their window, mass balances of settled facts, and alerts whose publication
    was interrupted)."""
    reference = Reference(res, rules)
    declare(router, OUTPUTS, "written by alerting (sweep)")

    def uow() -> AlertingUnitOfWork:
        return AlertingUnitOfWork(res.pool)

    async def published(emits: list[Emit]) -> None:
        await service.mark_published(sorted({e.key for e in emits}), uow())

    @batch_stage(router, topics.SUPERVISION_NATIONAL, group=topics.SUPERVISION_NATIONAL.group(
                 SERVICE), outputs=OUTPUTS, max_records=res.settings.kafka_max_records,
                 after_publish=published)
    async def on_routed(batch: list[SupervisionRecord]) -> list[Emit]:
        watchlist, prices = await reference.get()
        alerts = await service.raise_alerts(batch, uow(), watchlist, prices, clock(), rules)
        for a in alerts:
            log.info("alert.raised", alert_id=a.alert_id, type=a.type, producer=a.producer_id,
                     reports=len(a.report_ids))
        in_batch = {r.report_id for r in batch}
        # an alert continues the trace of the (last) evidence report of this batch
        return service.alert_emits(alerts, {a.alert_id: next(
            (i for i in reversed(a.report_ids) if i in in_batch), a.alert_id) for a in alerts})

    async def sweep() -> int:
        alerts = await service.sweep_transfers(uow(), clock(), rules)
        alerts += await service.sweep_balances(uow(), clock(), rules)
        alerts += await service.unpublished(uow())
        if alerts:
            emits = service.alert_emits(alerts, {})
            await res.publisher.publish(emits)
            await published(emits)
            log.info("alert.swept", count=len(alerts))
        return len(alerts)

    return sweep


def system_clock(offset: timedelta = timedelta(0)) -> Clock:
    return lambda: datetime.now(UTC) + offset
