"""POST /v1/reports/{report_id}/cancel: a producer withdraws one of its own reports.

The cancellation is fixed in the reports table at the first request (its time never changes
afterwards), then ReportCancelled is published on reports.cancelled and acknowledged by the broker
before 202 is returned; license-matching restores what the report drew, once. Asking again is
safe: the same cancellation is published again and changes nothing downstream.

A report may be cancelled only within INTAKE_CANCEL_WINDOW_HOURS (72 h) of its acceptance
(`received_at`); later the answer is 409. A cancellation made in time may be asked for again at
any time (202, `duplicate`)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaRouter

from mintrace_common import telemetry, topics
from mintrace_common.http import StorableRoute
from mintrace_common.models import ReportCancelled
from mintrace_common.publisher import Emit, Publisher, declare

from . import store
from .bodies import HTTPProblem
from .context import Intake, current_producer, intake
from .schemas import answers

log = telemetry.get_logger(__name__)
router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=StorableRoute)
PublishCancel = Callable[[ReportCancelled], Awaitable[None]]


def publisher(kafka: KafkaRouter, out: Publisher) -> PublishCancel:
    """Declare reports.cancelled on intake's Kafka router; the returned function waits for the
    broker's acknowledgement."""
    declare(kafka, [topics.CANCELLED.name], "reports withdrawn by their producer")

    async def publish(event: ReportCancelled) -> None:
        await out.publish([Emit(topics.CANCELLED.name, event.report_id, event)])

    return publish


@router.post("/{report_id}/cancel", status_code=202,
             summary="Cancel one of your reports (an export's licence draw is restored)",
             responses=answers(401, 403, 404, 409, 422, 429, 503))
async def cancel(report_id: str, request: Request, producer_id: str = Depends(current_producer),
                 ctx: Intake = Depends(intake)) -> JSONResponse:
    ctx.charge(producer_id, 1)
    now = datetime.now(UTC)
    window = timedelta(hours=ctx.settings.intake_cancel_window_hours)
    # Owner only: another producer's report is indistinguishable from a missing one.
    outcome, cancelled_at = await store.cancel(ctx.res.pool, producer_id, report_id, now,
                                               now - window)
    if outcome == "missing":
        raise HTTPProblem(404, "no such report")
    if outcome == "rejected":
        raise HTTPProblem(409, "a rejected report has nothing to cancel")
    if outcome == "too_late":
        hours = f"{window.total_seconds() / 3600:g} h"
        raise HTTPProblem(409, f"the cancellation window has closed: a report can be cancelled "
                               f"only within {hours} of its acceptance, and this one was "
                               f"accepted more than {hours} ago")
    event = ReportCancelled(producer_id=producer_id, report_id=report_id,
                            cancelled_at=cancelled_at)
    await request.app.state.publish_cancel(event)
    log.info("report.cancelled", producer_id=producer_id, report_id=report_id)
    return JSONResponse({"report_id": report_id, "producer_id": producer_id,
                         "cancelled_at": event.cancelled_at.isoformat(),
                         "duplicate": event.cancelled_at != now}, 202)
