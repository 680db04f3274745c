"""Accepting well-formed reports: claim each (producer_id, report_id) in the database, publish
what was never published, answer once the broker acknowledged. Idempotent across requests,
restarts and repeats within one batch."""

import hashlib
from datetime import UTC, datetime

from mintrace_common.metrics import METRICS
from mintrace_common.models import ReceivedReport, Report

from . import store
from .context import Intake

CONFLICT = "report_id already used for different content"


def content_hash(report: Report) -> str:
    return hashlib.sha256(report.model_dump_json().encode()).hexdigest()


async def accept(ctx: Intake, producer_id: str, reports: list[Report]) -> list[dict]:
    """One result per report, in order: a receipt with status 202, or status 409. Raises
    (nothing answered 202) if the database or the broker fails."""
    now = datetime.now(UTC)
    hashes = [content_hash(r) for r in reports]
    first: dict[str, str] = {}
    for r, h in zip(reports, hashes):
        first.setdefault(r.report_id, h)
    stored = await store.claim(ctx.res.pool, producer_id, list(first.items()), now)
    results: list[dict] = []
    to_publish: list[ReceivedReport] = []
    seen: set[str] = set()
    for r, h in zip(reports, hashes):
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
            to_publish.append(ReceivedReport(producer_id=producer_id, report_id=r.report_id,
                                             received_at=received_at, content_hash=h, report=r))
    if to_publish:
        await ctx.publish(to_publish)
        await store.mark_published(ctx.res.pool, producer_id, [x.report_id for x in to_publish])
        METRICS.inc("received_total", len(to_publish))
    return results
