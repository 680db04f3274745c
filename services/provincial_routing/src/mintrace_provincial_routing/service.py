"""Provincial routing, top-down: each flow runs in one transaction of the unit of work
(store.py in production, a fake in the unit tests) around the pure rules of routing.py.

A report is recorded (with the record routed) and counted into the rollup in the same
transaction, the first time it is seen only, so it is counted exactly once however often it is
redelivered. It is marked published once the broker acknowledged it; a redelivered report is
published again only if it never was confirmed, and then marked `redelivery`."""

from datetime import datetime, timedelta
from typing import Protocol

from mintrace_common import telemetry
from mintrace_common.kafka import Emit
from mintrace_common.metrics import METRICS
from mintrace_common.models import LicensedReport, RollupSummary

from . import routing
from .routing import Key

log = telemetry.get_logger(__name__)


class RoutingUnitOfWork(Protocol):
    facilities: object
    routed: object
    rollup: object

    async def __aenter__(self) -> "RoutingUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...


async def route_reports(reports: list[LicensedReport], uow: RoutingUnitOfWork,
                        now: datetime) -> list[Emit]:
    """The records to publish for this batch: new reports (routed now) and reports recorded
    before whose publication was never confirmed (as stored, marked redelivery). Raises
    UnknownFacility (nothing is recorded then)."""
    batch: dict[Key, LicensedReport] = {(r.producer_id, r.report_id): r for r in reports}
    async with uow:
        provinces = await uow.facilities.provinces(
            sorted({r.report.facility_id for r in batch.values()}))
        known = await uow.routed.existing(list(batch))
        rates = await uow.facilities.rates()
        fresh = {k: routing.supervision_record(r, provinces.get(r.report.facility_id), now,
                                               rates)
                 for k, r in batch.items() if k not in known}
        # encoded once: stored as jsonb and published as is
        bodies = {k: rec.model_dump_json() for k, rec in fresh.items()}
        inserted = await uow.routed.add(list(fresh.values()), list(bodies.values()))
        new = [rec for k, rec in fresh.items() if k in inserted]
        await uow.rollup.add(routing.sorted_deltas(routing.rollup(new)))
    for currency in routing.unconverted(new):
        METRICS.inc("fx_rate_missing_total", currency=currency)
    again = [stored or routing.supervision_record(batch[k], province, now)
             for k, (published, stored, province) in known.items() if not published]
    return ([e for rec in new for e in routing.emits(
                rec, body=bodies[(rec.producer_id, rec.report_id)])]
            + [e for rec in again for e in routing.emits(rec, redelivery=True)])


async def mark_published(emits: list[Emit], uow: RoutingUnitOfWork) -> None:
    """The broker acknowledged these records: never publish them again."""
    async with uow:
        await uow.routed.mark_published(sorted({(e.value.producer_id, e.value.report_id)
                                                for e in emits}))


async def unpublished(uow: RoutingUnitOfWork, older_than: timedelta = timedelta(seconds=30),
                      lease: timedelta = timedelta(seconds=60), limit: int = 500) -> list[Emit]:
    """Records left unpublished by a crash between commit and acknowledgement (their batch
    was committed and then never redelivered, e.g. after a rebalance), to publish again marked
    redelivery. Claimed for `lease`: two instances do not both send them."""
    async with uow:
        records = await uow.routed.claim_unpublished(older_than, lease, limit)
    if records:
        log.info("routing.swept", count=len(records))
    return [e for rec in records for e in routing.emits(rec, redelivery=True)]


async def rollup_summaries(uow: RoutingUnitOfWork, now: datetime, days: int,
                           page_rows: int) -> list[RollupSummary]:
    """The rollup of the last `days` China days, in pages of at most `page_rows` rows."""
    since, _ = routing.rollup_window(now, days)
    async with uow:
        rows = await uow.rollup.since(since)
    return routing.summaries(rows, now, since, page_rows)
