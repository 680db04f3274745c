"""Routing's outbox on the real database: a report is recorded and counted in the rollup once,
republished (marked redelivery) only while its publication is unconfirmed, never after."""

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mintrace_common import db, examples
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing import store

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 11, 21, tzinfo=UTC)


def licensed(report_id: str, day: date, facility: str = "JX1-SEP-01") -> LicensedReport:
    body = examples.BY_MODEL["LicensedReport"]
    return LicensedReport.model_validate(
        {**body, "report_id": report_id,
         "report": {**body["report"], "report_id": report_id, "facility_id": facility,
                    "occurred_at": f"{day.isoformat()}T12:00:00+08:00"}})


async def rollup_of(pool, day: date) -> tuple[Decimal, int]:
    row = await pool.fetchrow("SELECT coalesce(sum(quantity_kg), 0) AS kg, "
                              "coalesce(sum(report_count), 0) AS n FROM rollup_daily "
                              "WHERE day = $1", day)
    return row["kg"], row["n"]


async def test_redelivered_batch_is_counted_once_and_republished_only_until_confirmed(
        database_url):
    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))  # a rollup day of its own
    batch = {(r.producer_id, r.report_id): r
             for r in (licensed(f"OB-{run}-1", day), licensed(f"OB-{run}-2", day))}
    pool = await db.create_pool(database_url)
    try:
        first = await store.route_batch(pool, batch, NOW)
        assert sorted((rec.report_id, again) for rec, again in first) == [
            (f"OB-{run}-1", False), (f"OB-{run}-2", False)]
        assert await rollup_of(pool, day) == (Decimal("500.000"), 2)

        # the process died before the broker's acknowledgement was recorded: publish again,
        # marked, with the very record (and routed_at) stored the first time
        again = await store.route_batch(pool, batch, datetime.now(UTC))
        assert sorted((rec.report_id, a) for rec, a in again) == [
            (f"OB-{run}-1", True), (f"OB-{run}-2", True)]
        assert {rec.routed_at for rec, _ in again} == {NOW}
        assert await rollup_of(pool, day) == (Decimal("500.000"), 2)

        await store.mark_published(pool, list(batch))
        assert await store.route_batch(pool, batch, NOW) == []
        assert await rollup_of(pool, day) == (Decimal("500.000"), 2)
    finally:
        await pool.close()


async def test_report_from_an_unregistered_facility_is_not_recorded(database_url):
    from mintrace_provincial_routing.routing import UnknownFacility

    run = secrets.token_hex(4)
    day = date(1990, 1, 1) + timedelta(days=secrets.randbelow(9000))
    good, bad = licensed(f"OB-{run}-ok", day), licensed(f"OB-{run}-bad", day, "NOPE")
    pool = await db.create_pool(database_url)
    try:
        with pytest.raises(UnknownFacility):
            await store.route_batch(pool, {(r.producer_id, r.report_id): r for r in (good, bad)},
                                    NOW)
        # the whole batch rolled back: the stage retries the good report on its own
        assert await rollup_of(pool, day) == (0, 0)
        assert [rec.report_id for rec, _ in await store.route_batch(
            pool, {(good.producer_id, good.report_id): good}, NOW)] == [good.report_id]
    finally:
        await pool.close()
