"""Accepting well-formed reports: claim each (producer_id, report_id) in the database, publish
what was never published, answer once the broker acknowledged. Idempotent across requests,
restarts and repeats within one batch.

The broker's acknowledgement is the moment of acceptance: from then on the report flows on
whatever happens to intake's own bookkeeping, so a failure to mark the claim published never
turns into "nothing accepted" (503). The mark is retried, in the request and then in the
background; until it lands, a claim the pipeline has already moved past "received" counts as
published too."""

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic_core import to_json

from mintrace_common import telemetry
from mintrace_common.heap import HEAP
from mintrace_common.metrics import METRICS
from mintrace_common.models import ReceivedReport, Report

from . import store
from .context import Intake

CONFLICT = "report_id already used for different content"
MARK_RETRIES_S = (0.05, 0.2, 0.5)  # in the request; then every BACKGROUND_RETRY_S until it lands
BACKGROUND_RETRY_S = 1.0
log = telemetry.get_logger(__name__)


class Received(NamedTuple):
    """A reports.received record and its encoding (what goes to the broker)."""

    record: ReceivedReport
    body: bytes


def canonical(report: Report) -> tuple[bytes, str]:
    """The report's JSON, serialised once, and its content hash (the SHA-256 of that JSON)."""
    text = report.model_dump_json().encode()
    return text, hashlib.sha256(text).hexdigest()


def received(producer_id: str, report: Report, received_at: datetime,
             encoded: tuple[bytes, str] | None = None) -> Received:
    """The record of an accepted report, encoded around the report's one serialisation: the
    same bytes `ReceivedReport.model_dump_json()` gives (fields in declaration order, the report
    last), without dumping the report a second time or validating what is already valid."""
    report_json, digest = encoded or canonical(report)
    head = to_json({"producer_id": producer_id, "report_id": report.report_id,
                    "received_at": received_at, "content_hash": digest})
    record = ReceivedReport.model_construct(producer_id=producer_id, report_id=report.report_id,
                                            received_at=received_at, content_hash=digest,
                                            report=report)
    return Received(record, b"".join((head[:-1], b',"report":', report_json, b"}")))


async def accept(ctx: Intake, producer_id: str, reports: list[Report]) -> list[dict]:
    """One result per report, in order: a receipt with status 202, or status 409. Raises
    (nothing answered 202) if the database or the broker fails."""
    now = datetime.now(UTC)
    encoded = [canonical(r) for r in reports]
    hashes = [h for _, h in encoded]
    first: dict[str, str] = {}
    for r, h in zip(reports, hashes):
        first.setdefault(r.report_id, h)
    stored = await store.claim(ctx.res.pool, producer_id, list(first.items()), now)
    results: list[dict] = []
    to_publish: list[Received] = []
    seen: set[str] = set()
    for r, (text, h) in zip(reports, encoded):
        stored_hash, published, received_at = stored[r.report_id]
        if h != stored_hash:
            results.append({"status": 409, "report_id": r.report_id, "detail": CONFLICT})
            continue
        repeat = r.report_id in seen
        seen.add(r.report_id)
        results.append({"status": 202, "report_id": r.report_id, "producer_id": producer_id,
                        # a claim whose publication failed was never accepted: not a duplicate
                        "duplicate": published or repeat,
                        "received_at": received_at.isoformat(), "content_hash": h,
                        "status_url": f"/v1/reports/{r.report_id}"})
        if not published and not repeat:
            to_publish.append(received(producer_id, r, received_at, (text, h)))
    if to_publish:
        await ctx.publish(to_publish)
        METRICS.inc("received_total", len(to_publish))
        HEAP.settle()  # warm now (first batch through): the permanent heap leaves the GC's walks
        ids = [x.record.report_id for x in to_publish]
        if not await _mark(ctx, producer_id, ids, MARK_RETRIES_S):
            _mark_later(ctx, producer_id, ids)
    return results


async def _mark(ctx: Intake, producer_id: str, report_ids: list[str],
                pauses: tuple[float, ...]) -> bool:
    """Record that the broker acknowledged these reports; False if the database kept failing.
    Never raises: the reports are accepted either way."""
    for attempt, pause in enumerate((0.0, *pauses)):
        await asyncio.sleep(pause)
        try:
            await store.mark_published(ctx.res.pool, producer_id, report_ids)
            return True
        except Exception as exc:  # noqa: BLE001 - any failure: retry, never fail the request
            log.warning("intake.mark_failed", producer_id=producer_id, reports=len(report_ids),
                        attempt=attempt + 1, error=repr(exc)[:300])
    return False


def _mark_later(ctx: Intake, producer_id: str, report_ids: list[str]) -> None:
    async def until_marked() -> None:
        while not await _mark(ctx, producer_id, report_ids, ()):
            await asyncio.sleep(BACKGROUND_RETRY_S)
        log.info("intake.marked_late", producer_id=producer_id, reports=len(report_ids))

    task = asyncio.create_task(until_marked())
    ctx.background.add(task)  # held, or the loop may collect it mid-flight
    task.add_done_callback(ctx.background.discard)
