"""Routing's outbox on the real database: a report is recorded and counted in the rollup once,
republished (marked redelivery) only while its publication is unconfirmed, never after; the
sweep re-sends what a crash left unpublished, once per lease."""

import asyncio
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mintrace import devstack
from mintrace_common import db, examples, topics
from mintrace_common.models import LicensedReport, ReportCancelled
from mintrace_provincial_routing import service
from mintrace_provincial_routing.store import RoutingUnitOfWork

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def licensed(report_id: str, day: date, facility: str = "JX1-SEP-01") -> LicensedReport:
    body = examples.BY_MODEL["LicensedReport"]
    return LicensedReport.model_validate(
        {**body, "report_id": report_id,
         "report": {**body["report"], "report_id": report_id, "facility_id": facility,
                    "occurred_at": f"{day.isoformat()}T12:00:00+08:00"}})


@pytest.fixture(scope="module")
async def pool(pg_server_url):
    # a database of its own: the session stack's routing sweeps the shared one
    url = await devstack.scratch_database(pg_server_url, "mintrace_routing")
    p = await db.create_pool(url, 1, 4)
    yield p
    await p.close()
    await devstack.drop_database(url)


async def route_batch(pool, batch: dict, now: datetime) -> list[tuple]:
    """(record, redelivery) of each report to publish (one per report: the national copy)."""
    emits = await service.route_reports(list(batch.values()), RoutingUnitOfWork(pool), now)
    return [(e.value, e.value.redelivery) for e in emits
            if e.topic == topics.SUPERVISION_NATIONAL.name]


async def rollup_of(pool, day: date) -> tuple[Decimal, int]:
    row = await pool.fetchrow("SELECT coalesce(sum(quantity_kg), 0) AS kg, "
                              "coalesce(sum(report_count), 0) AS n FROM rollup_daily "
                              "WHERE day = $1", day)
    return row["kg"], row["n"]


async def test_redelivered_batch_is_counted_once_and_republished_only_until_confirmed(pool):
    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))  # a rollup day of its own
    batch = {(r.producer_id, r.report_id): r
             for r in (licensed(f"OB-{run}-1", day), licensed(f"OB-{run}-2", day))}
    first = await route_batch(pool, batch, NOW)
    assert sorted((rec.report_id, again) for rec, again in first) == [
        (f"OB-{run}-1", False), (f"OB-{run}-2", False)]
    assert await rollup_of(pool, day) == (Decimal("500.000"), 2)

    # the process died before the broker's acknowledgement was recorded: publish again,
    # marked, with the very record (and routed_at) stored the first time
    again = await route_batch(pool, batch, datetime.now(UTC))
    assert sorted((rec.report_id, a) for rec, a in again) == [
        (f"OB-{run}-1", True), (f"OB-{run}-2", True)]
    assert {rec.routed_at for rec, _ in again} == {NOW}
    assert await rollup_of(pool, day) == (Decimal("500.000"), 2)

    await service.mark_published(await service.route_reports(
        list(batch.values()), RoutingUnitOfWork(pool), NOW), RoutingUnitOfWork(pool))
    assert await route_batch(pool, batch, NOW) == []
    assert await rollup_of(pool, day) == (Decimal("500.000"), 2)


async def test_report_from_an_unregistered_facility_is_not_recorded(pool):
    from mintrace_provincial_routing.routing import UnknownFacility

    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))
    good, bad = licensed(f"OB-{run}-ok", day), licensed(f"OB-{run}-bad", day, "NOPE")
    with pytest.raises(UnknownFacility):
        await route_batch(pool, {(r.producer_id, r.report_id): r for r in (good, bad)},
                                NOW)
    # the whole batch rolled back: the stage retries the good report on its own
    assert await rollup_of(pool, day) == (0, 0)
    assert [rec.report_id for rec, _ in await route_batch(
        pool, {(good.producer_id, good.report_id): good}, NOW)] == [good.report_id]


async def test_sweep_republishes_a_record_left_unpublished_once_per_lease(pool):
    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))
    report = licensed(f"SW-{run}", day)
    uow = RoutingUnitOfWork(pool)
    await service.route_reports([report], uow, NOW)   # committed; the process then died
    swept = await service.unpublished(uow, older_than=timedelta(0))
    mine = [e for e in swept if e.key == report.report_id]
    assert sorted(e.topic for e in mine) == ["supervision.jiangxi", "supervision.national"]
    assert all(e.value.redelivery and e.value.routed_at == NOW for e in mine)
    # claimed: a second instance sweeping now does not send it too
    again = await service.unpublished(uow, older_than=timedelta(0))
    assert report.report_id not in {e.key for e in again}
    await service.mark_published(mine, uow)
    later = await service.unpublished(uow, older_than=timedelta(0), lease=timedelta(0))
    assert report.report_id not in {e.key for e in later}
    assert await rollup_of(pool, day) == (Decimal("250.000"), 1)


async def test_a_cancellation_withdraws_a_routed_report_once_even_racing_routing(pool):
    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))
    reports = [licensed(f"OC-{run}-{n}", day) for n in range(60)]
    at = NOW + timedelta(hours=1)
    cancels = [ReportCancelled(producer_id=r.producer_id, report_id=r.report_id, cancelled_at=at)
               for r in reports[::2]]

    async def cancel(batch):
        return await service.cancel_reports(batch, RoutingUnitOfWork(pool))

    # cancellations racing the routing of their reports, some before, some after, twice over
    await asyncio.gather(*[route_batch(pool, {(r.producer_id, r.report_id): r
                                              for r in reports[i:i + 10]}, NOW)
                           for i in range(0, 60, 10)],
                         *[cancel(cancels[i:i + 5]) for i in range(0, 30, 5)],
                         *[cancel(cancels[i:i + 7]) for i in range(0, 30, 7)])
    assert await rollup_of(pool, day) == (Decimal("250.000") * 30, 30)
    rows = await pool.fetch("SELECT report_id, cancelled_at, record FROM routed_reports "
                            "WHERE report_id LIKE $1", f"OC-{run}-%")
    cancelled = {r["report_id"] for r in rows if r["cancelled_at"] is not None}
    assert cancelled == {c.report_id for c in cancels} and len(rows) == 60
    assert all(r["record"]["cancelled_at"] == (at.isoformat().replace("+00:00", "Z")
                                               if r["report_id"] in cancelled else None)
               for r in rows), [r["record"]["cancelled_at"] for r in rows][:2]
    # redelivered once more: nothing withdrawn again
    await cancel(cancels)
    assert await rollup_of(pool, day) == (Decimal("250.000") * 30, 30)
