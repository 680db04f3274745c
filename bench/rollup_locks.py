"""Does routing's rollup upsert serialise replicas? Routing's database work alone (insert
routed_reports + the rollup upsert, one transaction per batch, store.py's own statements), run
by W concurrent workers as W replicas would, with and without the rollup, while
pg_stat_activity is sampled every 10 ms: how many backends wait on a row lock
(Lock/transactionid or Lock/tuple: one transaction waiting for another's rollup rows).

The reports all fall on today and four facilities: every batch adds to the same few rollup rows,
the worst case for contention.

    .venv/bin/python bench/rollup_locks.py [--workers 2] [--batch 500] [--reports 20000]
"""

import argparse
import asyncio
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from mintrace import demo, devstack
from mintrace_common import db, examples
from mintrace_common.chinatime import CHINA
from mintrace_common.models import LicensedReport
from mintrace_provincial_routing import routing
from mintrace_provincial_routing.store import RoutingUnitOfWork

FLOWS = [("NM1", "NM1-MIN-01", "150000", "REO-concentrate", "mining_output"),
         ("JX1", "JX1-SEP-01", "360000", "Dy", "export"),
         ("HN1", "HN1-SML-01", "430000", "Sb", "export"),
         ("GX1", "GX1-SEP-01", "450000", "Y", "domestic_sale")]
ROW_LOCKS = {("Lock", "transactionid"), ("Lock", "tuple")}


def records(run: str, n: int, now: datetime) -> list:
    ids, out = demo.producer_ids(), []
    for i in range(n):
        key, facility, province, material, type_ = FLOWS[i % len(FLOWS)]
        report = {**examples.REPORT, "report_id": f"RL-{run}-{i}", "producer_id": ids[key],
                  "facility_id": facility, "type": type_, "material": material,
                  "occurred_at": f"{datetime.now(CHINA).date()}T00:00:01+08:00",
                  "quantity": {"value": "10.5", "unit": "kg"},
                  "value": None if type_ == "mining_output"
                  else {"amount": "1000.50", "currency": "USD"},
                  "export": examples.REPORT["export"] if type_ == "export" else None}
        licensed = LicensedReport.model_validate({
            **examples.BY_MODEL["LicensedReport"], "producer_id": ids[key],
            "report_id": report["report_id"], "quantity_kg": "10.5", "report": report})
        out.append(routing.supervision_record(licensed, province, now))
    return out


async def run_once(url: str, workers: int, batch: int, n: int, with_rollup: bool) -> dict:
    pool = await db.create_pool(url, workers, workers)
    recs = records(f"{os.getpid()}{time.monotonic_ns()}", n, datetime.now(UTC))
    queue = [(b, routing.sorted_deltas(routing.rollup(b)))
             for b in (recs[i:i + batch] for i in range(0, n, batch))]
    waits: Counter = Counter()
    stop = asyncio.Event()

    async def sample() -> None:
        conn = await db.connect(url)
        try:
            while not stop.is_set():
                for r in await conn.fetch(
                        "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE "
                        "datname = current_database() AND state = 'active' "
                        "AND pid <> pg_backend_pid()"):
                    waits[(r[0], r[1])] += 1
                waits["samples"] += 1
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    async def worker() -> None:
        while queue:
            records_, deltas = queue.pop()
            async with RoutingUnitOfWork(pool) as uow:
                await uow.routed.add(records_)
                if with_rollup:
                    await uow.rollup.add(deltas)

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - t0
    stop.set()
    await sampler
    await pool.close()
    samples = waits.pop("samples") or 1
    return {"rollup": with_rollup, "reports_per_s": n / elapsed,
            "row_lock_waits": sum(v for k, v in waits.items() if k in ROW_LOCKS) / samples,
            "active": sum(waits.values()) / samples}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating with/without rollup")
    args = ap.parse_args()
    url = await devstack.scratch_database(devstack.postgres_server(
        Path("/tmp")), "mintrace_rollup_locks")
    try:
        print(f"{'rollup':>7} {'reports/s':>10} {'row-lock waits':>15} {'active':>7}  "
              f"(backends per sample; {args.workers} workers, batches of {args.batch})")
        for _ in range(args.rounds):
            for with_rollup in (True, False):
                r = await run_once(url, args.workers, args.batch, args.reports, with_rollup)
                print(f"{str(r['rollup']):>7} {r['reports_per_s']:10.0f} "
                      f"{r['row_lock_waits']:15.3f} {r['active']:7.2f}", flush=True)
    finally:
        await devstack.drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
