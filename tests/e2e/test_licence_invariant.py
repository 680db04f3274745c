"""THE ledger invariant on the real broker, database and service processes: thousands of random
exports across a few licences, two license-matching processes in one consumer group, one
SIGKILLed mid-stream and restarted, cancellations racing the decisions.

Reports enter at reports.received (as intake publishes them) so that the test spends its time on
validation and matching; the HTTP cancel endpoint has its own test in test_licence_flow.py."""

import asyncio
import hashlib
import json
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mintrace import demo, simulator
from mintrace_common import db, registry, topics
from mintrace_common.models import ReceivedReport, RegistryDocument, Report, ReportCancelled

pytestmark = pytest.mark.e2e

EXPORTS = 3000
LICENCES = [0, 2, 4, 6]  # JX1 Dy, NM1 Gd, HN1 Sb, GX1 Y (demo.LICENCES indices)
MAX_KG = Decimal(250_000)  # ~80% of each licence's demand: it runs dry in the last third
CANCELS = 150


async def _shrink_licences(url: str) -> list[str]:
    numbers = [demo.licence_number(i, demo.LICENCES[i][1]) for i in LICENCES]
    smaller = [x.model_copy(update={"max_quantity_kg": MAX_KG}) for x in demo.registry().licences
               if x.licence_number in numbers]
    conn = await db.connect(url)
    try:
        await registry.load(conn, RegistryDocument(licences=smaller), source="test")
    finally:
        await conn.close()
    return numbers


def _received(sub: simulator.Submission, at: datetime) -> ReceivedReport:
    report = Report.model_validate(sub.report)
    digest = hashlib.sha256(report.model_dump_json().encode()).hexdigest()
    return ReceivedReport(producer_id=report.producer_id, report_id=report.report_id,
                          received_at=at, report=report, content_hash=digest)


async def _send(producer: AIOKafkaProducer, topic: str, messages: list) -> None:
    await asyncio.gather(*[await producer.send(topic, m.model_dump_json().encode(),
                                               key=m.report_id.encode()) for m in messages])


async def test_two_matchers_one_killed_never_oversell_and_decide_each_export_once(make_stack):
    s = await make_stack()
    numbers = await _shrink_licences(s.database_url)
    s.log_dir.mkdir(parents=True, exist_ok=True)
    for name in ("validation", "license-matching"):
        s.procs.start_service(name, s.env(), s.log_dir / f"{name}.log")
    s.procs.start("license-matching-2", [sys.executable, "-m", "mintrace_license_matching"],
                  {**s.env(), "SERVICE_NAME": "license-matching"},
                  s.log_dir / "license-matching-2.log")

    rng = random.Random(4)
    pop = simulator.Population(seed=4, anomaly_rate=0.0)
    now = datetime.now(UTC)
    reports = [_received(pop.export(rng.choice(LICENCES), now, licensed=rng.random() > 0.03), now)
               for _ in range(EXPORTS)]
    ids = {r.report_id: r.producer_id for r in reports}
    to_cancel = rng.sample(sorted(ids), CANCELS)
    cancels = [ReportCancelled(producer_id=ids[r], report_id=r, cancelled_at=now)
               for r in to_cancel]
    started = time.monotonic()

    conn = await db.connect(s.database_url)
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        for log in ("license-matching.log", "license-matching-2.log"):
            await _until_started(s.log_dir / log, started)
        # a paced stream: the first matcher dies a third of the way in, returns at two thirds
        for i in range(0, EXPORTS, 100):
            if i == EXPORTS // 3:
                s.procs.kill("license-matching")  # SIGKILL, mid-stream
            if i == 2 * EXPORTS // 3:
                s.restart("license-matching")
                await _send(producer, topics.CANCELLED.name, cancels[:CANCELS // 2])
            await _send(producer, topics.RECEIVED.name, reports[i:i + 100])
            await asyncio.sleep(0.2)
        await _send(producer, topics.CANCELLED.name, cancels[CANCELS // 2:] + cancels[:10])

        done_sql = ("SELECT count(*), count(*) FILTER (WHERE cancelled_at IS NOT NULL) "
                    "FROM licence_decisions WHERE report_id = ANY($1)")
        while tuple(await conn.fetchrow(done_sql, list(ids))) != (EXPORTS, CANCELS):
            assert time.monotonic() - started < 120, tuple(await conn.fetchrow(done_sql, list(ids)))
            await asyncio.sleep(0.25)
        rows = await conn.fetch("SELECT * FROM licence_decisions WHERE report_id = ANY($1)",
                                list(ids))
        balances = {r["licence_number"]: r for r in await conn.fetch(
            "SELECT * FROM licence_balances WHERE licence_number = ANY($1)", numbers)}
    finally:
        await producer.stop()
        await conn.close()

    # every report exactly one decision, of every kind
    assert sorted(r["report_id"] for r in rows) == sorted(ids)
    assert {"matched", "refused"} <= {r["status"] for r in rows}
    assert {"QUANTITY_EXCEEDED", "UNLICENSED"} <= {x for r in rows for x in r["reasons"]}
    # each balance = licensed - sum(matched, not cancelled), never negative
    for number in numbers:
        matched = sum((r["quantity_kg"] for r in rows if r["licence_number"] == number
                       and r["status"] == "matched" and r["cancelled_at"] is None), Decimal(0))
        b = balances[number]
        assert b["remaining_kg"] >= 0 and b["agrees"], dict(b)
        assert b["remaining_kg"] == MAX_KG - matched and b["drawn_kg"] == matched
        assert any(r["licence_number"] == number and "QUANTITY_EXCEEDED" in r["reasons"]
                   for r in rows), "demand exceeded supply: the licence ran dry"
    restored = [r for r in rows if r["cancelled_at"] is not None and r["status"] == "matched"]
    assert restored and all(r["restored_kg"] == r["quantity_kg"] for r in restored)

    # downstream: every report published; a redelivery carried its original decision
    by_report = await _licensed_decisions(s.bootstrap, set(ids), started)
    assert all(len(decisions) == 1 for decisions in by_report.values())


async def _until_started(log: Path, since: float) -> None:
    """Until the service writing `log` reports every subscriber started (its group joined)."""
    while '"service.started"' not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() - since < 60, f"{log.name}: never started"
        await asyncio.sleep(0.25)


async def _licensed_decisions(bootstrap: str, ids: set[str], started: float) -> dict[str, set]:
    """Every distinct decision published on reports.licensed per report, once all were seen."""
    consumer = AIOKafkaConsumer(topics.LICENSED.name, bootstrap_servers=bootstrap,
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
