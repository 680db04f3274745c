"""Licences through the real intake, broker, database and services: refusal alerts reach the
province and the nation, the cancel endpoint restores a draw, licence events take effect."""

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from mintrace import demo
from mintrace_common import db, examples, topics
from mintrace_common.models import LicenceEvent

pytestmark = pytest.mark.e2e

IDS = demo.producer_ids()
HANSE = {"name": "Hanse Magnetics GmbH", "country": "DE"}


def _at_reference_price(kg: str, material: str) -> str:
    """A declared value at the registry's reference price (so no PRICE_ANOMALY muddles the test)."""
    return str((Decimal(kg) * Decimal(demo.PRICES[(material, "oxide")])).quantize(Decimal("0.01")))


def export(licence_number: str | None, kg: str, material: str = "Dy", party: dict = HANSE,
           consignee: dict | None = None) -> dict:
    return {
        "report_id": f"JX-LIC-{secrets.token_hex(5)}", "schema_version": 1,
        "producer_id": IDS["JX1"], "facility_id": "JX1-SEP-01", "type": "export",
        "stage": "trading", "occurred_at": datetime.now(UTC).isoformat(), "lot_id": "LOT-9",
        "material": material, "form": "oxide", "hs_code": "2846.90",
        "quantity": {"value": kg, "unit": "kg"}, "value": {"amount": _at_reference_price(kg, material), "currency": "USD"},
        "counterparty": party,
        "export": {"licence_number": licence_number, "destination_country": party["country"],
                   "consignee": consignee or party, "end_user": party}}


async def submit(client: httpx.AsyncClient, key: str, report: dict) -> str:
    resp = await client.post("/v1/reports", json=report, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 202, resp.text
    return report["report_id"]


async def poll(url: str, sql: str, *args, until=lambda v: v is not None, timeout: float = 60):
    conn = await db.connect(url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until(value := await conn.fetchrow(sql, *args)):
            assert asyncio.get_running_loop().time() < deadline, f"timed out on {sql} {args}"
            await asyncio.sleep(0.2)
        return value
    finally:
        await conn.close()


DECISION = "SELECT * FROM licence_decisions WHERE producer_id = $1 AND report_id = $2"
BALANCE = "SELECT * FROM licence_balances WHERE licence_number = $1"


async def test_refused_exports_raise_their_alerts_on_province_and_national_topics(
        stack, producer_keys, topic_reader):
    dy = demo.licence_number(0, "Dy")
    reports = {
        "UNLICENSED_EXPORT": export(None, "100"),
        "LICENCE_INVALID": export(dy, "100", consignee={"name": "Oriental Transit Metals FZE",
                                                        "country": "DE"}),
        "LICENCE_QUANTITY_EXCEEDED": export(dy, "60000000"),
    }
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        for r in reports.values():
            await submit(client, producer_keys["JX1"], r)
    wanted = {r["report_id"]: t for t, r in reports.items()}
    async with topic_reader("alerts.jiangxi", "alerts.national") as reader:
        def arrived(recs):
            return all(set(wanted) <= {rid for _, v, _ in recs[t] for rid in v["report_ids"]}
                       for t in ("alerts.jiangxi", "alerts.national"))
        await reader.until(arrived, timeout=90)
    for t in ("alerts.jiangxi", "alerts.national"):
        # other rules may alert on the same report too (that consignee is on the watchlist)
        got = {(v["report_ids"][0], v["type"]): v for v in reader.values(t)
               if v["report_ids"][0] in wanted}
        assert set(wanted.items()) <= set(got)
        licence_types = {"UNLICENSED_EXPORT", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED"}
        assert {k for k in got if k[1] in licence_types} == set(wanted.items())
        invalid = got[(reports["LICENCE_INVALID"]["report_id"], "LICENCE_INVALID")]
        assert invalid["details"]["reasons"] == ["CONSIGNEE_MISMATCH"]
        assert invalid["province_code"] == "360000"


async def test_owner_cancels_an_export_and_exactly_its_draw_comes_back(
        stack, producer_keys, database_url):
    tb = demo.licence_number(1, "Tb")  # JX1 -> Nippon Motor Materials KK (JP)
    nippon = {"name": "Nippon Motor Materials KK", "country": "JP"}
    report = export(tb, "500", "Tb", party=nippon,
                    consignee={"name": "NIPPON MOTOR MATERIALS K.K.", "country": "JP"})
    owner = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        rid = await submit(client, producer_keys["JX1"], report)
        decision = await poll(database_url, DECISION, IDS["JX1"], rid)
        assert decision["status"] == "matched", dict(decision)
        drawn = (await poll(database_url, BALANCE, tb))["drawn_kg"]

        url = f"/v1/reports/{rid}/cancel"
        assert (await client.post(url)).status_code == 401
        other = {"Authorization": f"Bearer {producer_keys['NM1']}"}
        assert (await client.post(url, headers=other)).status_code == 404
        assert (await client.post("/v1/reports/NOPE-1/cancel", headers=owner)).status_code == 404
        first = await client.post(url, headers=owner)
        again = await client.post(url, headers=owner)
    assert first.status_code == again.status_code == 202, first.text
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert first.json()["cancelled_at"] == again.json()["cancelled_at"]

    cancelled = await poll(database_url, DECISION, IDS["JX1"], rid,
                           until=lambda d: d["cancelled_at"] is not None)
    assert cancelled["restored_kg"] == 500 and cancelled["status"] == "matched"
    await asyncio.sleep(1)  # a second restoration, were there one, would land by now
    b = await poll(database_url, BALANCE, tb)
    assert b["drawn_kg"] == drawn - 500 and b["agrees"], dict(b)


async def test_licence_events_from_the_authority_take_effect_in_order(stack, producer_keys,
                                                                      database_url, kafka):
    number = f"EL-EV-{secrets.token_hex(4)}"
    t0 = datetime.now(UTC) - timedelta(days=1)
    lic = {**examples.BY_MODEL["LicenceEvent"]["licence"], "licence_number": number,
           "exporter_id": IDS["JX1"], "valid_from": "2026-01-01", "valid_to": "2027-12-31"}

    def ev(type_: str, minutes: int, **fields) -> LicenceEvent:
        return LicenceEvent(event_id=f"{number}-{type_}-{minutes}", type=type_,
                            licence_number=number, occurred_at=t0 + timedelta(minutes=minutes),
                            **fields)

    async def publish(*events: LicenceEvent) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        try:
            for e in events:
                await producer.send_and_wait(topics.LICENCE_EVENTS.name,
                                             e.model_dump_json().encode(), key=number.encode())
        finally:
            await producer.stop()

    issued = ev("issued", 0, licence=lic)  # 1000 kg of Dy to Hanse Magnetics
    await publish(issued, issued)
    await poll(database_url, BALANCE, number)
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        rid = await submit(client, producer_keys["JX1"], export(number, "300"))
        assert (await poll(database_url, DECISION, IDS["JX1"], rid))["status"] == "matched"

        await publish(ev("quantity_changed", 1, max_quantity_kg=Decimal(200)))
        b = await poll(database_url, BALANCE, number, until=lambda b: b["max_quantity_kg"] == 200)
        assert (b["remaining_kg"], b["overdrawn_kg"], b["agrees"]) == (0, 100, True)
        rid = await submit(client, producer_keys["JX1"], export(number, "10"))
        assert (await poll(database_url, DECISION, IDS["JX1"], rid))["reasons"] == \
            ["QUANTITY_EXCEEDED"]

        await publish(ev("quantity_changed", 2, max_quantity_kg=Decimal(5000)),
                      ev("suspended", 3))
        await poll(database_url, "SELECT status FROM licences WHERE licence_number = $1", number,
                   until=lambda r: r["status"] == "suspended")
        rid = await submit(client, producer_keys["JX1"], export(number, "10"))
        assert (await poll(database_url, DECISION, IDS["JX1"], rid))["reasons"] == ["SUSPENDED"]
    history = await poll(database_url, "SELECT array_agg(change ORDER BY id) AS changes FROM "
                         "licence_history WHERE licence_number = $1", number)
    assert history["changes"] == ["issued", "quantity_changed", "quantity_changed", "suspended"]
    b = await poll(database_url, BALANCE, number)
    assert (b["remaining_kg"], b["agrees"]) == (4700, True)
