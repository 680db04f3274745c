"""SIGKILL the alerting process in the middle of a split-shipment pattern: after the restart the
pattern alerts exactly once."""

import asyncio
import json
import secrets
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from mintrace import demo, devstack
from mintrace_common.chinatime import CHINA

pytestmark = pytest.mark.e2e


def piece(run: str, i: int, start: datetime) -> dict:
    hanse = {"name": "Hanse Magnetics GmbH", "country": "DE"}
    return {
        "report_id": f"SPLIT-{run}-{i}", "schema_version": 1,
        "producer_id": demo.producer_ids()["JX1"], "facility_id": "JX1-SEP-01", "type": "export",
        "stage": "trading", "occurred_at": (start + timedelta(hours=10 * i)).isoformat(),
        "lot_id": f"LOT-{run}-{i}", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
        "quantity": {"value": "350", "unit": "kg"},
        "value": {"amount": "91000.00", "currency": "USD"}, "counterparty": hanse,
        "export": {"licence_number": "EL-2026-SIM-DY-001", "destination_country": "DE",
                   "consignee": hanse, "end_user": {**hanse, "end_use": "EV motors"}},
    }


def produced(run: str, start: datetime) -> dict:
    """Enough Dy oxide made at the plant beforehand: the exports are no mass-balance issue."""
    r = piece(run, 0, start - timedelta(days=1))
    r.update(report_id=f"SEP-{run}", type="processing_output", stage="separation",
             quantity={"value": "5000", "unit": "kg"}, value=None, counterparty=None, export=None,
             inputs=[{"lot_id": f"ORE-{run}", "quantity": {"value": "90000", "unit": "kg"}}])
    return {k: v for k, v in r.items() if v is not None}


async def alerts_on(bootstrap: str, ids: set[str], settle: float) -> list[dict]:
    """Every alert on alerts.national naming one of `ids`, once the first has arrived and
    `settle` more seconds have passed."""
    consumer = AIOKafkaConsumer("alerts.national", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[dict] = []
    first = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    try:
        while loop.time() < deadline and (first is None or loop.time() < first + settle):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for r in records:
                    v = json.loads(r.value)
                    if ids & set(v["report_ids"]):
                        found.append(v)
                        first = first or loop.time()
    finally:
        await consumer.stop()
    return found


async def facts(url: str, ids: list[str]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM alert_facts WHERE report_id = ANY($1)",
                                   ids)
    finally:
        await conn.close()


async def test_split_pattern_alerts_exactly_once_across_an_alerting_sigkill(make_stack):
    s = await make_stack()
    s.start_services()
    keys = await devstack.issue_producer_keys(s.database_url, ["JX1"])
    run = secrets.token_hex(4)
    start = datetime.now(CHINA).replace(microsecond=0) - timedelta(days=4)
    pieces = [piece(run, i, start) for i in range(4)]
    auth = {"Authorization": f"Bearer {keys['JX1']}"}
    async with httpx.AsyncClient(base_url=s.intake_url, timeout=30) as client:
        async def send(*reports):
            for r in reports:
                assert (await client.post("/v1/reports", json=r, headers=auth)).status_code == 202

        await send(produced(run, start), *pieces[:2])
        for _ in range(300):  # alerting has the first two pieces in its state
            if await facts(s.database_url, [p["report_id"] for p in pieces[:2]]) == 2:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("alerting never processed the first pieces")
        await send(pieces[2])
        await asyncio.sleep(0.3)
        s.procs.kill("alerting")
        await send(pieces[3])
        s.restart("alerting")

        ids = {p["report_id"] for p in pieces}
        ours = await alerts_on(s.bootstrap, ids, settle=8)  # a second alert would come by then
    assert len({a["alert_id"] for a in ours}) == 1, ours
    # Publication is at-least-once: a kill between the broker's ack and the "published" mark
    # re-sends the same alert (same alert_id key, same content), never a second alert.
    assert all(a == ours[0] for a in ours)
    conn = await asyncpg.connect(s.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM alerts WHERE type = 'SPLIT_SHIPMENTS' "
                                   "AND report_ids && $1::text[]", sorted(ids)) == 1
    finally:
        await conn.close()
    alert = ours[0]
    assert alert["type"] == "SPLIT_SHIPMENTS"
    assert set(alert["report_ids"]) >= {p["report_id"] for p in pieces[:3]}
