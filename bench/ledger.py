"""Licence-ledger benchmark: decisions/s of license-matching on the real database, beside the raw
cost of writing the same decision rows (one INSERT ... SELECT FROM unnest per batch, no locks, no
reads, no rules) measured in the same run on the same server — the floor any ledger pays.

    .venv/bin/python bench/ledger.py [--reports 20000] [--batch 500] [--no-service]

Figures:
- ledger in-process: the service's batch function (service.decide_exports: lock licences, read earlier
  decisions, decide, insert, draw) called back to back, one transaction per batch.
- service process: the license-matching process consuming N reports pre-loaded on
  reports.validated of a Tansu broker, first decision to last (broker, decode, publish of
  reports.licensed and offset commits included), beside its own reference: a raw aiokafka
  consume-decode-produce hop on the same broker (bench/pipeline.py's), no database at all.
"""

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from mintrace import demo, devstack, simulator
from mintrace_common import db, telemetry, topics
from mintrace_common.models import ValidatedReport
from mintrace_license_matching import service as ledger
from mintrace_license_matching.store import LedgerUnitOfWork
from pipeline import raw_hop  # bench/pipeline.py, beside this file


def make_reports(n: int, seed: int) -> list[ValidatedReport]:
    pop = simulator.Population(seed=seed, anomaly_rate=0.0)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        sub = pop.export(i % len(demo.LICENCES), now, licensed=i % 20 != 0)
        r = sub.report
        out.append(ValidatedReport.model_validate({
            "producer_id": r["producer_id"], "report_id": r["report_id"], "received_at": now,
            "content_hash": "0" * 64, "report": r, "quantity_kg": r["quantity"]["value"],
            "validated_at": now}))
    return out


async def reference(pool: asyncpg.Pool, reports: list[ValidatedReport], batch: int) -> float:
    """Rows/s of the bare INSERT ... unnest of decision rows into a copy of licence_decisions."""
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE bench_decisions (LIKE licence_decisions INCLUDING ALL)")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(0, len(reports), batch):
        chunk = reports[i:i + batch]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO bench_decisions (producer_id, report_id, status, licence_number, "
                "reasons, quantity_kg, remaining_kg, decided_at) SELECT p, r, 'matched', l, '{}', "
                "q, q, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[]) "
                "AS u(p, r, l, q)", [x.producer_id for x in chunk], [x.report_id for x in chunk],
                [x.report.export.licence_number if x.report.export else None for x in chunk],
                [x.quantity_kg for x in chunk], now)
    return len(reports) / (time.perf_counter() - started)


async def in_process(pool: asyncpg.Pool, reports: list[ValidatedReport], batch: int) -> dict:
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    for i in range(0, len(reports), batch):
        for e in await ledger.decide_exports(reports[i:i + batch], LedgerUnitOfWork(pool),
                                             datetime.now(UTC)):
            statuses[e.value.licence.status] = statuses.get(e.value.licence.status, 0) + 1
    rate = len(reports) / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, len(reports), batch):  # every report again: a full redelivery
        await ledger.decide_exports(reports[i:i + batch], LedgerUnitOfWork(pool),
                                    datetime.now(UTC))
    return {"rate": rate, "redelivery_rate": len(reports) / (time.perf_counter() - started),
            "statuses": statuses}


async def service(url: str, reports: list[ValidatedReport], work: Path) -> tuple[float, float]:
    """(decisions/s of the process, msg/s of the raw hop) on one fresh broker."""
    port = devstack.free_port()
    broker = devstack.start_broker(port, work / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    procs = devstack.Processes()
    try:
        await devstack.create_topics(bootstrap)
        hop, _ = await raw_hop(bootstrap, len(reports))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
        await producer.start()
        await asyncio.gather(*[await producer.send(topics.VALIDATED.name,
                                                   r.model_dump_json().encode(),
                                                   key=r.report_id.encode()) for r in reports])
        await producer.stop()
        procs.start_service("license-matching", {"KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                                                 "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
                            work / "license-matching.log")
        conn = await db.connect(url)
        try:
            count = "SELECT count(*) FROM licence_decisions"
            while await conn.fetchval(count) == 0:
                await asyncio.sleep(0.05)
            started = time.perf_counter()
            first = await conn.fetchval(count)
            deadline = time.monotonic() + 600
            while (done := await conn.fetchval(count)) < len(reports):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{done} of {len(reports)} decided in 600 s")
                await asyncio.sleep(0.05)
            return (len(reports) - first) / (time.perf_counter() - started), hop
        finally:
            await conn.close()
    finally:
        procs.stop()
        broker.terminate()
        broker.wait(10)


async def fresh_database(base: str) -> str:
    url = await devstack.scratch_database(base, "mintrace_bench_ledger")
    conn = await asyncpg.connect(url)
    # Licences big enough that the run measures matching, not a drained balance.
    await conn.execute("UPDATE licences SET max_quantity_kg = 1e9, remaining_kg = 1e9")
    await conn.close()
    return url


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500, help="reports per transaction (poll size)")
    ap.add_argument("--no-service", action="store_true", help="skip the service-process figure")
    args = ap.parse_args()
    telemetry.configure_logging("bench-ledger", "WARNING")
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-ledger-"))
    base = devstack.postgres_server(work / "pgdata")
    print(f"{args.reports} exports across {len(demo.LICENCES)} licences, batches of {args.batch}",
          flush=True)
    reports = make_reports(args.reports, seed=7)
    urls = [await fresh_database(base), await fresh_database(base)]
    try:
        pool = await db.create_pool(urls[0], 1, 4)
        try:
            print("reference: INSERT ... unnest of the same rows …", flush=True)
            ref = await reference(pool, reports, args.batch)
            print("ledger in-process …", flush=True)
            led = await in_process(pool, reports, args.batch)
        finally:
            await pool.close()
        svc = None
        if not args.no_service:
            print("license-matching process on a broker …", flush=True)
            svc = await service(urls[1], reports, work)
    finally:
        for url in urls:
            await devstack.drop_database(url)
    print()
    print(f"{'measure':56} {'per s':>10} {'/ reference':>12}")
    print(f"{'reference: INSERT ... unnest of decision rows':56} {ref:10.0f} {1:12.3f}")
    print(f"{'ledger in-process: decisions (service.decide_exports)':56} {led['rate']:10.0f} "
          f"{led['rate'] / ref:12.3f}")
    print(f"{'ledger in-process: redelivered reports (no draw)':56} "
          f"{led['redelivery_rate']:10.0f} {led['redelivery_rate'] / ref:12.3f}")
    if svc is not None:
        rate, hop = svc
        print(f"{'license-matching process: decisions via the broker':56} {rate:10.0f} "
              f"{rate / ref:12.3f}")
        print(f"{'reference: raw aiokafka hop on that broker (msg/s)':56} {hop:10.0f}")
        print(f"{'license-matching process / raw hop':56} {rate / hop:10.3f}")
    print(f"outcomes: {led['statuses']}  (PostgreSQL and, for the process, Tansu on this machine)")


if __name__ == "__main__":
    asyncio.run(main())
