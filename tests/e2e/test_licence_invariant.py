"""THE ledger invariant through the real intake, broker, database and service processes: thousands
of random exports across a few licences, two license-matching processes in one consumer group,
one SIGKILLed mid-stream and restarted, cancellations racing the decisions."""

import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from mintrace import demo, devstack, simulator
from mintrace_common import db, registry
from mintrace_common.models import RegistryDocument

pytestmark = pytest.mark.e2e

EXPORTS = 3000
LICENCES = [0, 2, 4, 6]  # JX1 Dy, NM1 Gd, HN1 Sb, GX1 Y (demo.LICENCES indices)
MAX_KG = Decimal(150_000)  # about half of each licence's demand: plenty of QUANTITY_EXCEEDED
CANCELS = 150


async def _shrink_licences(url: str) -> list[str]:
    doc = demo.registry()
    numbers = [demo.licence_number(i, demo.LICENCES[i][1]) for i in LICENCES]
    smaller = [x.model_copy(update={"max_quantity_kg": MAX_KG}) for x in doc.licences
               if x.licence_number in numbers]
    conn = await db.connect(url)
    try:
        await registry.load(conn, RegistryDocument(licences=smaller), source="test")
    finally:
        await conn.close()
    return numbers


async def _count(url: str, sql: str, *args) -> int:
    conn = await db.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_two_matchers_one_killed_never_oversell_and_decide_each_export_once(make_stack):
    s = await make_stack()
    numbers = await _shrink_licences(s.database_url)
    keys = await devstack.issue_producer_keys(s.database_url)
    s.start_services(["intake", "validation", "license-matching"])
    s.procs.start("license-matching-2", [sys.executable, "-m", "mintrace_license_matching"],
                  {**s.env(), "SERVICE_NAME": "license-matching"},
                  s.log_dir / "license-matching-2.log")

    rng = random.Random(4)
    pop = simulator.Population(seed=4, anomaly_rate=0.0)
    now = datetime.now(UTC)
    subs = [pop.export(rng.choice(LICENCES), now, licensed=rng.random() > 0.03)
            for _ in range(EXPORTS)]
    ids = {sub.report["report_id"]: sub.producer for sub in subs}
    started = time.monotonic()

    async with httpx.AsyncClient(base_url=s.intake_url, timeout=60) as client:
        async def submit(chunk):
            counts = await simulator.submit(client, keys, chunk)
            assert counts == {"202": len(chunk)}, counts

        async def cancel(report_id: str) -> None:
            resp = await client.post(f"/v1/reports/{report_id}/cancel",
                                     headers={"Authorization": f"Bearer {keys[ids[report_id]]}"})
            assert resp.status_code == 202, resp.text

        chunks = [subs[i:i + 250] for i in range(0, EXPORTS, 250)]
        await asyncio.gather(*[submit(c) for c in chunks[:4]])
        decided_sql = "SELECT count(*) FROM licence_decisions"
        while await _count(s.database_url, decided_sql) < 400:
            assert time.monotonic() - started < 40, "no decisions before the kill"
            await asyncio.sleep(0.1)
        s.procs.kill("license-matching")  # SIGKILL, mid-stream
        await asyncio.gather(*[submit(c) for c in chunks[4:]])
        s.restart("license-matching")
        to_cancel = rng.sample(sorted(ids), CANCELS)
        for i in range(0, CANCELS, 25):
            await asyncio.gather(*[cancel(r) for r in to_cancel[i:i + 25]])
        await cancel(to_cancel[0])  # asking twice restores once

    done_sql = ("SELECT count(*) FILTER (WHERE report_id = ANY($1)), count(*) FILTER "
                "(WHERE report_id = ANY($1) AND cancelled_at IS NOT NULL) FROM licence_decisions")
    conn = await db.connect(s.database_url)
    try:
        while True:
            decided, cancelled = await conn.fetchrow(done_sql, list(ids))
            if decided == EXPORTS and cancelled == CANCELS:
                break
            assert time.monotonic() - started < 90, (decided, cancelled)
            await asyncio.sleep(0.25)
        rows = await conn.fetch("SELECT * FROM licence_decisions WHERE report_id = ANY($1)",
                                list(ids))
        balances = {r["licence_number"]: r for r in await conn.fetch(
            "SELECT * FROM licence_balances WHERE licence_number = ANY($1)", numbers)}
    finally:
        await conn.close()

    # every report exactly one decision
    assert sorted(r["report_id"] for r in rows) == sorted(ids)
    statuses = {r["status"] for r in rows}
    assert {"matched", "refused"} <= statuses
    reasons = {x for r in rows for x in r["reasons"]}
    assert {"QUANTITY_EXCEEDED", "UNLICENSED"} <= reasons
    # each balance = licensed - sum(matched, not cancelled), never negative
    for number in numbers:
        matched = sum((r["quantity_kg"] for r in rows if r["licence_number"] == number
                       and r["status"] == "matched" and r["cancelled_at"] is None), Decimal(0))
        b = balances[number]
        assert b["remaining_kg"] >= 0 and b["agrees"], dict(b)
        assert b["remaining_kg"] == MAX_KG - matched and b["drawn_kg"] == matched
    restored = [r for r in rows if r["cancelled_at"] is not None and r["status"] == "matched"]
    assert restored and all(r["restored_kg"] == r["quantity_kg"] for r in restored)

    # downstream: every report published, and a redelivery carried the original decision
    by_report = await _licensed_decisions(s.bootstrap, set(ids), started)
    assert all(len(decisions) == 1 for decisions in by_report.values())


async def _licensed_decisions(bootstrap: str, ids: set[str], started: float) -> dict[str, set]:
    """Every decision published on reports.licensed per report, once all of `ids` were seen."""
    consumer = AIOKafkaConsumer("reports.licensed", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    by_report: dict[str, set] = {}
    try:
        while not ids <= by_report.keys():
            assert time.monotonic() - started < 150, len(ids - by_report.keys())
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for r in records:
                    v = json.loads(r.value)
                    d = v["licence"]
                    by_report.setdefault(v["report_id"], set()).add(
                        (d["status"], d["remaining_kg"], d["decided_at"]))
    finally:
        await consumer.stop()
    return by_report
