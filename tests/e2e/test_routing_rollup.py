"""The national rollup on the real broker and database: every routed report counted exactly once
although the routing process is SIGKILLed and restarted while reports stream in.

Licensed reports are produced straight onto reports.licensed so the test runs routing alone
(the stages before it are tested in test_pipeline / test_routing_provinces)."""

import asyncio
import secrets
from collections import Counter
from datetime import datetime
from decimal import Decimal

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from topic_reader import TopicReader

from mintrace import demo
from mintrace_common import examples
from mintrace_common.models import LicensedReport
from mintrace_common.chinatime import CHINA

pytestmark = pytest.mark.e2e

# producer key, facility, province code, material, type
FLOWS = [("NM1", "NM1-MIN-01", "150000", "REO-concentrate", "mining_output"),
         ("JX1", "JX1-SEP-01", "360000", "Dy", "export"),
         ("HN1", "HN1-SML-01", "430000", "Sb", "export"),
         ("GX1", "GX1-SEP-01", "450000", "Y", "domestic_sale")]


def licensed(run: str, n: int) -> LicensedReport:
    key, facility, _, material, type_ = FLOWS[n % len(FLOWS)]
    ids = demo.producer_ids()
    kg = Decimal(f"{10 + n}.125")
    # some values declared in euro (converted at the demo registry's rate), some in tugrik
    # (no rate: counted apart, never summed as if USD)
    currency = {1: "EUR", 7: "MNT"}.get(n % 10, "USD")
    report = {**examples.REPORT, "report_id": f"RR-{run}-{n}", "producer_id": ids[key],
              "facility_id": facility, "type": type_, "material": material,
              # today in China, just after midnight: in every periodic summary (last 7 days)
              "occurred_at": f"{datetime.now(CHINA).date()}T00:00:01+08:00",
              "quantity": {"value": str(kg), "unit": "kg"},
              "value": None if type_ == "mining_output"
              else {"amount": f"{1000 + n}.50", "currency": currency},
              "export": examples.REPORT["export"] if type_ == "export" else None}
    return LicensedReport.model_validate({
        **examples.BY_MODEL["LicensedReport"], "producer_id": ids[key],
        "report_id": report["report_id"], "quantity_kg": str(kg), "report": report})


def expected_rollup(reports: list[LicensedReport]) -> dict[tuple, tuple]:
    out: dict[tuple, list] = {}
    for r in reports:
        province = next(f[2] for f in FLOWS if f[1] == r.report.facility_id)
        dest = r.report.export.destination_country if r.report.type == "export" else "CN"
        row = out.setdefault((province, r.report.material, r.report.type, dest),
                             [Decimal(0), Decimal(0), 0, 0])
        row[0] += r.quantity_kg
        rate = {"USD": Decimal(1), "EUR": Decimal(demo.FX_RATES["EUR"])}.get(
            r.report.value.currency) if r.report.value is not None else None
        row[1] += r.report.value.amount * rate if rate is not None else 0
        row[2] += 1
        row[3] += r.report.value is not None and rate is None
    return {k: tuple(v) for k, v in out.items()}


async def routed_count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM routed_reports")
    finally:
        await conn.close()


async def test_rollup_equals_routed_reports_after_routing_is_killed_mid_stream(make_stack):
    stack = await make_stack({"ROLLUP_INTERVAL_S": "1", "KAFKA_MAX_RECORDS": "20"})
    stack.start_services(["provincial-routing"])
    run = secrets.token_hex(4)
    reports = [licensed(run, n) for n in range(400)]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()

    async def send(batch: list[LicensedReport]) -> None:
        await asyncio.gather(*[await producer.send("reports.licensed", r.model_dump_json().encode(),
                                                   key=r.report_id.encode()) for r in batch])

    try:
        await send(reports[:200])
        for _ in range(600):  # kill once routing is under way, not before
            if await routed_count(stack.database_url) >= 20:
                break
            await asyncio.sleep(0.05)
        stack.procs.kill("provincial-routing")
        killed_at = await routed_count(stack.database_url)
        await send(reports[200:])
        stack.restart("provincial-routing")
    finally:
        await producer.stop()
    assert 0 < killed_at < len(reports), "the kill did not land mid-stream"

    want = expected_rollup(reports)
    totals = tuple(sum(v[i] for v in want.values()) for i in range(4))
    async with TopicReader(stack.bootstrap, "supervision.national", "rollup.national") as reader:
        def done(recs):
            routed = {v["report_id"] for _, v, _ in recs["supervision.national"]}
            return len(routed) == len(reports) and any(
                _summary_totals(v) == totals for _, v, _ in recs["rollup.national"])
        await reader.until(done, timeout=90)

    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT province_code, material, type, destination_country, "
                                "quantity_kg, value_usd, report_count, non_usd_count "
                                "FROM rollup_daily")
        published = await conn.fetchval("SELECT count(*) FROM routed_reports WHERE published")
    finally:
        await conn.close()
    assert {tuple(r[:4]): tuple(r[4:]) for r in rows} == want
    assert published == len(reports)
    # A report goes out twice only if the kill fell between its publication and its "published"
    # mark; every copy after the first is then marked for consumers to drop.
    for v in reader.values("supervision.national"):
        value = v["report"]["value"]
        if value and value["currency"] == "MNT":  # no rate: visible on the record
            assert v["value_usd"] is None and v["warnings"][-1]["code"] == "FX_RATE_MISSING"
        elif value and value["currency"] == "EUR":
            assert Decimal(v["value_usd"]) == Decimal(value["amount"]) * Decimal(
                demo.FX_RATES["EUR"])
    seen: Counter = Counter()
    for v in reader.values("supervision.national"):
        seen[v["report_id"]] += 1
        assert seen[v["report_id"]] == 1 or v["redelivery"], v["report_id"]


def _summary_totals(summary: dict) -> tuple:
    rows = summary["rows"]
    return (sum((Decimal(r["quantity_kg"]) for r in rows), Decimal(0)),
            sum((Decimal(r["value_usd"]) for r in rows), Decimal(0)),
            sum(r["report_count"] for r in rows), sum(r["non_usd_count"] for r in rows))
