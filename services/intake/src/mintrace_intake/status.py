"""The status projection: follows the pipeline's topics into the `reports` rows that answer
GET /v1/reports/{id}, one set-based UPDATE per batch. It runs as a process of its own
(`python -m mintrace_intake.status`, service `intake-status`), so the HTTP process only serves
HTTP and each scales on its own.

    python -m mintrace_intake.status
"""

from datetime import datetime
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaRouter
from pydantic import BaseModel, ConfigDict

from mintrace_common import topics
from mintrace_common.kafka import batch_stage
from mintrace_common.service import Resources, create_service, run
from mintrace_common.settings import Settings

from . import store

SERVICE = "intake-status"


# Views: only the fields the projection stores, as they are on the wire. The messages were
# validated against their full models by the stage that wrote them; decoding the whole report
# again here (three times per report) was a third of intake's CPU.
class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")
    producer_id: str
    report_id: str


class Rejected(_View):
    problems: list[dict[str, Any]]


class Validated(_View):
    warnings: list[dict[str, Any]] = []


class Licensed(_View):
    licence: dict[str, Any]


class Routed(_View):
    licence: dict[str, Any]
    province_code: str
    warnings: list[dict[str, Any]] = []


class AlertView(BaseModel):
    model_config = ConfigDict(extra="ignore")
    producer_id: str
    alert_id: str
    type: str
    raised_at: datetime
    report_ids: list[str]


def alert_entries(batch: list[AlertView]) -> list[tuple[str, str, dict[str, Any]]]:
    """(producer, report, entry) for each report an alert cites: what its producer may see
    (schemas.ReportAlert), nothing of how it was detected."""
    return [(a.producer_id, rid, {"alert_id": a.alert_id, "type": a.type,
                                  "raised_at": a.raised_at.isoformat()})
            for a in batch for rid in a.report_ids]


def register(router: KafkaRouter, res: Resources) -> None:
    def stage(topic: topics.Topic, view: type[BaseModel]):
        return batch_stage(router, topic, group=topic.group(SERVICE), outputs=[], view=view,
                           max_records=res.settings.kafka_max_records)

    @stage(topics.REJECTED, Rejected)
    async def on_rejected(batch: list[Rejected]):
        await store.set_rejected(res.pool, [(r.producer_id, r.report_id, r.problems)
                                            for r in batch])
        return []

    @stage(topics.VALIDATED, Validated)
    async def on_validated(batch: list[Validated]):
        await store.set_validated(res.pool, [(r.producer_id, r.report_id, r.warnings)
                                             for r in batch])
        return []

    @stage(topics.LICENSED, Licensed)
    async def on_licensed(batch: list[Licensed]):
        await store.set_licensed(res.pool, [(r.producer_id, r.report_id, r.licence)
                                            for r in batch])
        return []

    @stage(topics.SUPERVISION_NATIONAL, Routed)
    async def on_routed(batch: list[Routed]):
        await store.set_routed(res.pool, [(r.producer_id, r.report_id, r.licence,
                                           r.province_code, r.warnings) for r in batch])
        return []

    @stage(topics.ALERTS_NATIONAL, AlertView)
    async def on_alert(batch: list[AlertView]):
        await store.add_alerts(res.pool, alert_entries(batch))
        return []


def create_app(settings: Settings | None = None) -> FastStream:
    app, _ = create_service(settings or Settings(service_name=SERVICE), register)
    return app


def main() -> None:
    run(create_app())


if __name__ == "__main__":
    main()
