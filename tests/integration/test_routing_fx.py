"""Routing converts values at the registry's rates in the real database; a value without a rate
is counted (metric) and flagged on the record, never summed as if it were USD."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mintrace import demo, devstack
from mintrace_common import db, examples
from mintrace_common.metrics import METRICS
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing import service
from mintrace_provincial_routing.store import Rollup, RoutingUnitOfWork


@pytest.fixture(scope="module")
def database(pg_server_url):
    url = asyncio.run(devstack.scratch_database(pg_server_url, "mintrace_routing_fx"))
    yield url
    asyncio.run(devstack.drop_database(url))


def valued(report_id: str, amount: str, currency: str) -> LicensedReport:
    body = examples.BY_MODEL["LicensedReport"]
    report = {**body["report"], "report_id": report_id, "producer_id": demo.producer_ids()["JX1"],
              "facility_id": "JX1-SEP-01", "value": {"amount": amount, "currency": currency}}
    return LicensedReport.model_validate({**body, "report_id": report_id,
                                          "producer_id": report["producer_id"],
                                          "report": report})


def missing(currency: str) -> float:
    return METRICS.counters["fx_rate_missing_total"].labels(currency=currency)._value.get()


async def test_values_are_converted_at_registry_rates_and_a_missing_rate_is_counted(database):
    pool = await db.create_pool(database, 1, 2)
    try:
        reports = [valued("FX-1", "1000", "GBP"), valued("FX-2", "1000", "MNT"),
                   valued("FX-3", "250", "USD")]
        before = missing("MNT")
        routed = {e.value.report_id: e.value for e in await service.route_reports(
            reports, RoutingUnitOfWork(pool), datetime.now(UTC))}
        async with pool.acquire() as conn:
            rows = await Rollup(conn).since(datetime.now(UTC).date().replace(year=2000))
    finally:
        await pool.close()
    assert routed["FX-1"].value_usd == Decimal(1000) * Decimal(demo.FX_RATES["GBP"])
    assert routed["FX-3"].value_usd == Decimal(250)
    assert routed["FX-2"].value_usd is None
    assert routed["FX-2"].warnings[-1].code == "FX_RATE_MISSING"
    assert missing("MNT") == before + 1
    assert sum(r.value_usd for r in rows) == Decimal(1270) + Decimal(250)
    assert sum(r.non_usd_count for r in rows) == 1
