"""POST /v1/reports/{report_id}/cancel: a producer withdraws one of its own reports.

The cancellation is fixed in the reports table at the first request (its time never changes
afterwards), then ReportCancelled is published on reports.cancelled and acknowledged by the broker
before 202 is returned; license-matching restores what the report drew, once. Asking again is
safe: the same cancellation is published again and changes nothing downstream."""

from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from mintrace_common import keys, telemetry, topics
from mintrace_common.kafka import JSON
from mintrace_common.models import ReportCancelled
from mintrace_common.service import Resources

log = telemetry.get_logger(__name__)


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers=headers or None)


def mount(app: FastAPI, res: Resources, broker: KafkaBroker) -> FastAPI:
    """Add the cancel endpoint to intake's `app`, publishing through `broker` (not started yet)."""
    to_cancelled = broker.publisher(topics.CANCELLED.name,
                                    description="reports withdrawn by their producer")

    @app.post("/v1/reports/{report_id}/cancel", status_code=202,
              summary="Cancel one of your reports (an export's licence draw is restored)")
    async def cancel(report_id: str, request: Request) -> JSONResponse:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return _problem(401, "missing bearer key", **{"WWW-Authenticate": "Bearer"})
        async with res.pool.acquire() as conn:
            who = await keys.lookup(conn, key.strip())
            if who is None or who[0] != "producer":
                return _problem(401, "invalid or revoked key", **{"WWW-Authenticate": "Bearer"})
            producer_id, now = who[1], datetime.now(UTC)
            # Owner only: another producer's report is indistinguishable from a missing one.
            row = await conn.fetchrow(
                "UPDATE reports SET cancelled_at = COALESCE(cancelled_at, $3), updated_at = now() "
                "WHERE producer_id = $1 AND report_id = $2 AND state <> 'rejected' "
                "RETURNING cancelled_at", producer_id, report_id, now)
            if row is None:
                rejected = await conn.fetchval(
                    "SELECT state = 'rejected' FROM reports WHERE producer_id = $1 "
                    "AND report_id = $2", producer_id, report_id)
                return (_problem(409, "a rejected report has nothing to cancel") if rejected
                        else _problem(404, "no such report"))
        event = ReportCancelled(producer_id=producer_id, report_id=report_id,
                                cancelled_at=row["cancelled_at"])
        sent = await to_cancelled.publish(event.model_dump_json().encode(), key=report_id.encode(),
                                          headers={**JSON, **telemetry.inject()}, no_confirm=True)
        if sent is not None:  # the in-memory test broker hands back no future
            await sent
        log.info("report.cancelled", producer_id=producer_id, report_id=report_id)
        return JSONResponse({"report_id": report_id, "producer_id": producer_id,
                             "cancelled_at": event.cancelled_at.isoformat(),
                             "duplicate": event.cancelled_at != now}, 202)

    return app
