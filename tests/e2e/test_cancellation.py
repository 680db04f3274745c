"""Cancelling a report through the real intake, broker, database and services (issue 15): the
cancellation window, the supervisors' record of a cancellation and the rollup it withdraws,
quota restored by a cancellation and reused by a later export, and a cancellation that overtakes
its report's licence decision."""

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from test_licence_flow import DECISION, export, poll, submit

from mintrace import demo
from mintrace_common import db, examples, topics
from mintrace_common.chinatime import china_day
from mintrace_common.models import LicenceEvent, ReceivedReport, Report, ReportCancelled

pytestmark = pytest.mark.e2e

IDS = demo.producer_ids()
JX1 = IDS["JX1"]
REUSED = "restored_quota_reused"


def days_ago(report: dict, days: int) -> dict:
    """The report moved `days` back: its rollup row (China day) is this test's alone."""
    at = datetime.now(UTC) - timedelta(days=days)
    return {**report, "occurred_at": at.isoformat()}


async def issue_licence(kafka: str, database_url: str, max_kg: str) -> str:
    """A fresh Dy licence of JX1 to Hanse Magnetics, issued through licence.events."""
    number = f"EL-CX-{secrets.token_hex(4)}"
    lic = {**examples.BY_MODEL["LicenceEvent"]["licence"], "licence_number": number,
           "exporter_id": JX1, "max_quantity_kg": max_kg, "valid_from": "2026-01-01",
           "valid_to": "2027-12-31"}
    event = LicenceEvent(event_id=f"{number}-issued", type="issued", licence_number=number,
                         occurred_at=datetime.now(UTC), licence=lic)
    await produce(kafka, topics.LICENCE_EVENTS.name, number, event)
    await poll(database_url, "SELECT 1 FROM licences WHERE licence_number = $1", number)
    return number


async def produce(kafka: str, topic: str, key: str, *messages) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(topic, m.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


async def execute(database_url: str, sql: str, *args) -> None:
    conn = await db.connect(database_url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


ROLLUP = ("SELECT quantity_kg, value_usd, report_count FROM rollup_daily WHERE day = $1 "
          "AND province_code = '360000' AND material = $2 AND type = 'export' "
          "AND destination_country = 'DE'")


async def test_a_report_can_be_cancelled_only_within_the_window_after_its_acceptance(
        stack, producer_keys, database_url):
    owner = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        late = await submit(client, producer_keys["JX1"], export(None, "5"))
        in_time = await submit(client, producer_keys["JX1"], export(None, "5"))
        for rid, hours in ((late, 73), (in_time, 71)):
            await execute(database_url, "UPDATE reports SET received_at = now() - make_interval("
                          "hours => $3) WHERE producer_id = $1 AND report_id = $2", JX1, rid,
                          hours)
        refused = await client.post(f"/v1/reports/{late}/cancel", headers=owner)
        accepted = await client.post(f"/v1/reports/{in_time}/cancel", headers=owner)
        again = await client.post(f"/v1/reports/{in_time}/cancel", headers=owner)
        status = (await client.get(f"/v1/reports/{late}", headers=owner)).json()
    assert refused.status_code == 409, refused.text
    assert "72 h" in refused.json()["detail"] and "accept" in refused.json()["detail"]
    assert status["cancelled_at"] is None
    # inside the window, and a repeat of a cancellation made in time, stay as they were
    assert (accepted.status_code, again.status_code) == (202, 202), accepted.text
    assert again.json()["duplicate"] is True


async def test_a_cancellation_reaches_the_provinces_supervisors_and_leaves_the_rollup(
        stack, producer_keys, database_url, kafka, topic_reader):
    report = days_ago(export(demo.licence_number(0, "Dy"), "37.5"), 9)
    day = china_day(datetime.fromisoformat(report["occurred_at"]))
    owner = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        rid = await submit(client, producer_keys["JX1"], report)
        counted = await poll(database_url, ROLLUP, day, "Dy",
                             until=lambda r: r is not None and r["report_count"] >= 1)
        assert (counted["quantity_kg"], counted["report_count"]) == (Decimal("37.5"), 1)
        first = await client.post(f"/v1/reports/{rid}/cancel", headers=owner)
        assert first.status_code == 202, first.text
        assert (await client.post(f"/v1/reports/{rid}/cancel", headers=owner)).status_code == 202
    # a redelivered cancellation withdraws nothing more
    at = datetime.fromisoformat(first.json()["cancelled_at"])
    await produce(kafka, topics.CANCELLED.name, rid,
                  ReportCancelled(producer_id=JX1, report_id=rid, cancelled_at=at))

    async with topic_reader("supervision.jiangxi", "supervision.national") as reader:
        def cancelled(recs):
            return all(any(v["report_id"] == rid and v.get("cancelled_at") for _, v, _ in recs[t])
                       for t in ("supervision.jiangxi", "supervision.national"))
        await reader.until(cancelled, timeout=60)
    for t in ("supervision.jiangxi", "supervision.national"):
        mine = [v for v in reader.values(t) if v["report_id"] == rid]
        original, = [v for v in mine if v.get("cancelled_at") is None]
        record = next(v for v in mine if v.get("cancelled_at"))
        assert datetime.fromisoformat(record["cancelled_at"]) == at
        # the same record, every field as routed, the cancellation added
        assert {k: v for k, v in record.items() if k not in ("cancelled_at", "redelivery")} == \
            {k: v for k, v in original.items() if k not in ("cancelled_at", "redelivery")}
        assert record["licence"]["status"] == "matched" and record["province_slug"] == "jiangxi"
    withdrawn = await poll(database_url, ROLLUP, day, "Dy",
                           until=lambda r: r["report_count"] == 0)
    await asyncio.sleep(2)  # a second withdrawal, were there one, would land by now
    assert tuple(await poll(database_url, ROLLUP, day, "Dy")) == tuple(withdrawn) == (0, 0, 0)
    stored = await poll(database_url, "SELECT record FROM routed_reports WHERE report_id = $1",
                        rid)
    assert datetime.fromisoformat(stored["record"]["cancelled_at"]) == at  # the supervision API


async def test_quota_restored_by_a_cancellation_and_drawn_again_raises_an_alert(
        stack, producer_keys, database_url, kafka, topic_reader):
    number = await issue_licence(kafka, database_url, "200")
    owner = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        x = await submit(client, producer_keys["JX1"], export(number, "100"))
        assert (await poll(database_url, DECISION, JX1, x))["status"] == "matched"
        assert (await client.post(f"/v1/reports/{x}/cancel", headers=owner)).status_code == 202
        await poll(database_url, DECISION, JX1, x, until=lambda d: d["cancelled_at"] is not None)
        # 200 kg left of which 100 kg restored: 100 kg more is covered without the restoration
        y = await submit(client, producer_keys["JX1"], export(number, "100"))
        assert (await poll(database_url, DECISION, JX1, y))["status"] == "matched"
        # ... the next 100 kg is not: it ships only because X was cancelled
        z = await submit(client, producer_keys["JX1"], export(number, "100"))
        assert (await poll(database_url, DECISION, JX1, z))["status"] == "matched"

    async with topic_reader("alerts.jiangxi", "alerts.national") as reader:
        def raised(recs):
            return all(any(v["report_ids"] == [x, z] for _, v, _ in recs[t])
                       for t in ("alerts.jiangxi", "alerts.national"))
        await reader.until(raised, timeout=90)
    for t in ("alerts.jiangxi", "alerts.national"):
        alert = next(v for v in reader.values(t) if v["report_ids"] == [x, z])
        assert alert["type"] == "LICENCE_QUANTITY_EXCEEDED"
        assert alert["details"]["reason"] == REUSED
        assert alert["details"]["licence_number"] == number
        assert x in alert["summary"] and z in alert["summary"]
    await poll(database_url, "SELECT 1 FROM alert_facts WHERE report_id = $1", y)
    conn = await db.connect(database_url)
    try:
        reuse_alerts = await conn.fetch("SELECT report_ids FROM alerts WHERE details->>'reason' "
                                        "= $1 AND $2 = ANY(report_ids)", REUSED, x)
    finally:
        await conn.close()
    assert [r["report_ids"] for r in reuse_alerts] == [[x, z]]


def received(report: dict) -> ReceivedReport:
    r = Report.model_validate(report)
    return ReceivedReport(producer_id=r.producer_id, report_id=r.report_id,
                          received_at=datetime.now(UTC), report=r,
                          content_hash=hashlib.sha256(r.model_dump_json().encode()).hexdigest())


async def test_a_cancellation_before_the_licence_decision_still_raises_the_licence_alert(
        stack, database_url, kafka, topic_reader):
    number = await issue_licence(kafka, database_url, "50")
    unlicensed = days_ago(export(None, "20"), 10)
    exceeding = days_ago(export(number, "80"), 10)
    day = china_day(datetime.fromisoformat(unlicensed["occurred_at"]))
    at = datetime.now(UTC)
    for r in (unlicensed, exceeding):
        await produce(kafka, topics.CANCELLED.name, r["report_id"],
                      ReportCancelled(producer_id=JX1, report_id=r["report_id"], cancelled_at=at))
    for r in (unlicensed, exceeding):
        await poll(database_url, DECISION, JX1, r["report_id"])  # the cancellation arrived first
    for r in (unlicensed, exceeding):
        await produce(kafka, topics.RECEIVED.name, r["report_id"], received(r))

    wanted = {unlicensed["report_id"]: "UNLICENSED_EXPORT",
              exceeding["report_id"]: "LICENCE_QUANTITY_EXCEEDED"}
    async with topic_reader("alerts.national", "supervision.national") as reader:
        def arrived(recs):
            alerts = {(v["report_ids"][0], v["type"]) for _, v, _ in recs["alerts.national"]}
            routed = {v["report_id"] for _, v, _ in recs["supervision.national"]}
            return set(wanted.items()) <= alerts and set(wanted) <= routed
        await reader.until(arrived, timeout=90)
    for rid in wanted:
        d = await poll(database_url, DECISION, JX1, rid)
        assert d["status"] == "refused" and d["cancelled_at"] is not None
        record = next(v for v in reader.values("supervision.national") if v["report_id"] == rid)
        assert record["cancelled_at"] is not None
    assert (await poll(database_url, DECISION, JX1, unlicensed["report_id"]))["reasons"] == \
        ["UNLICENSED"]
    assert (await poll(database_url, DECISION, JX1, exceeding["report_id"]))["reasons"] == \
        ["QUANTITY_EXCEEDED"]
    b = await poll(database_url, "SELECT * FROM licence_balances WHERE licence_number = $1",
                   number)
    assert (b["remaining_kg"], b["agrees"]) == (50, True)
    # a cancelled report is routed but never counted in the rollup
    assert await poll(database_url, ROLLUP, day, "Dy", until=lambda r: True) is None


async def test_an_export_cancelled_before_its_decision_is_matched_and_draws_nothing(
        stack, database_url, kafka):
    number = await issue_licence(kafka, database_url, "50")
    early = export(number, "30")
    await produce(kafka, topics.CANCELLED.name, early["report_id"],
                  ReportCancelled(producer_id=JX1, report_id=early["report_id"],
                                  cancelled_at=datetime.now(UTC)))
    await poll(database_url, DECISION, JX1, early["report_id"])
    await produce(kafka, topics.RECEIVED.name, early["report_id"], received(early))
    d = await poll(database_url, DECISION, JX1, early["report_id"],
                   until=lambda d: d["status"] == "matched")
    assert d["cancelled_at"] is not None and d["restored_kg"] == 30
    b = await poll(database_url, "SELECT * FROM licence_balances WHERE licence_number = $1",
                   number)
    assert (b["remaining_kg"], b["drawn_kg"], b["agrees"]) == (50, 0, True)
