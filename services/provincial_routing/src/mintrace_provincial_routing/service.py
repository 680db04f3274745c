"""Provincial routing, top-down: each flow runs in one transaction of the unit of work
(store.py in production, a fake in the unit tests) around the pure rules of routing.py.

A report is recorded (with the record routed) and counted into the rollup in the same
transaction, the first time it is seen only, so it is counted exactly once however often it is
redelivered. It is marked published once the broker acknowledged it; a redelivered report is
published again only if it never was confirmed, and then marked `redelivery`.

A producer's cancellation (reports.cancelled) is recorded once. A routed report it cancels is
published again with `cancelled_at` set and withdrawn from the rollup in the same transaction,
once; a report routed after its cancellation is routed cancelled and never counted. Cancellations
are rare: a cancellation batch holds routing's lock exclusively, every routing batch holds it
shared (routing batches never wait for each other), so neither misses the other's rows."""

from datetime import datetime, timedelta
from typing import Protocol

from mintrace_common import telemetry
from mintrace_common.kafka import Emit
from mintrace_common.metrics import METRICS
from mintrace_common.models import LicensedReport, ReportCancelled, RollupSummary

from . import routing
from .routing import Key

log = telemetry.get_logger(__name__)


class RoutingUnitOfWork(Protocol):
    facilities: object
    routed: object
    rollup: object
    cancellations: object

    async def __aenter__(self) -> "RoutingUnitOfWork": ...
    async def __aexit__(self, *exc) -> None: ...


async def route_reports(reports: list[LicensedReport], uow: RoutingUnitOfWork,
                        now: datetime) -> list[Emit]:
    """The records to publish for this batch: new reports (routed now) and reports recorded
    before whose publication was never confirmed (as stored, marked redelivery). Raises
    UnknownFacility (nothing is recorded then)."""
    batch: dict[Key, LicensedReport] = {(r.producer_id, r.report_id): r for r in reports}
    async with uow:
        await uow.cancellations.share()
        provinces = await uow.facilities.provinces(
            sorted({r.report.facility_id for r in batch.values()}))
        known = await uow.routed.existing(list(batch))
        rates = await uow.facilities.rates()
        cancels = await uow.cancellations.of([k for k in batch if k not in known])
        fresh = {k: routing.supervision_record(r, provinces.get(r.report.facility_id), now,
                                               rates, cancels.get(k))
                 for k, r in batch.items() if k not in known}
        # encoded once: stored as jsonb and published as is
        bodies = {k: rec.model_dump_json() for k, rec in fresh.items()}
        inserted = await uow.routed.add(list(fresh.values()), list(bodies.values()))
        new = [rec for k, rec in fresh.items() if k in inserted]
        await uow.rollup.add(routing.sorted_deltas(routing.rollup(routing.counted(new))))
    for currency in routing.unconverted(new):
        METRICS.inc("fx_rate_missing_total", currency=currency)
    again = [stored or routing.supervision_record(batch[k], province, now)
             for k, (published, stored, province) in known.items() if not published]
    return ([e for rec in new for e in routing.emits(
                rec, body=bodies[(rec.producer_id, rec.report_id)])]
            + [e for rec in again for e in routing.emits(rec, redelivery=True)])


async def cancel_reports(cancels: list[ReportCancelled], uow: RoutingUnitOfWork) -> list[Emit]:
    """Record each cancellation once; publish each routed report it cancels again with
    `cancelled_at` set and withdraw it from the rollup, once. A cancellation seen again
    publishes again (marked redelivery) only a cancelled record never confirmed."""
    first = {(c.producer_id, c.report_id): c.cancelled_at for c in reversed(cancels)}
    keys = sorted(first)
    async with uow:
        await uow.cancellations.exclusive()
        await uow.cancellations.add(first)
        routed = await uow.routed.lock_uncancelled(keys)
        records = [routing.cancelled(r, first[(r.producer_id, r.report_id)]) for r in routed]
        await uow.routed.set_cancelled(records)
        await uow.rollup.add(routing.sorted_deltas(routing.withdrawal(routed)))
        done = {(r.producer_id, r.report_id) for r in records}
        again = await uow.routed.cancelled_unpublished([k for k in keys if k not in done])
    for r in records:
        log.info("routing.cancelled", producer_id=r.producer_id, report_id=r.report_id,
                 province=r.province_slug)
    return ([e for rec in records for e in routing.emits(rec)]
            + [e for rec in again for e in routing.emits(rec, redelivery=True)])


async def mark_published(emits: list[Emit], uow: RoutingUnitOfWork) -> None:
    """The broker acknowledged these records: never publish them again. Only the version
    acknowledged is marked: a record cancelled since stays to be published."""
    async with uow:
        await uow.routed.mark_published(sorted({
            (e.value.producer_id, e.value.report_id, e.value.cancelled_at) for e in emits},
            key=lambda x: x[:2]))


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
