"""Intake benchmark: reports/s accepted by the batch endpoint (intake alone, real broker and
PostgreSQL, 202 = durable on reports.received), beside the raw aiokafka produce rate of the same
records to the same broker measured in the same run (the reference: what intake would do if
HTTP, parsing, authentication and the idempotency record cost nothing).

    .venv/bin/python bench/intake.py [--reports 20000] [--batch 500] [--concurrency 4]

For the end-to-end figure (intake -> supervision.national) see bench/pipeline.py.
"""

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from mintrace import devstack, simulator
from mintrace_common.models import ReceivedReport


async def raw_produce(bootstrap: str, bodies: list[bytes]) -> float:
    """msg/s of one aiokafka producer (acks=all, linger 5 ms) sending and awaiting every ack."""
    topic = f"bench.raw.{secrets.token_hex(3)}"
    await devstack.create_topics(bootstrap, [(topic, 12, -1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        await (await producer.send(topic, b"warm-up"))
        t0 = time.perf_counter()
        futures = [await producer.send(topic, b, key=str(i).encode())
                   for i, b in enumerate(bodies)]
        await asyncio.gather(*futures)
        return len(bodies) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def batch_endpoint(url: str, keys: dict[str, str], chunks: list[tuple[str, list[dict]]],
                         concurrency: int) -> tuple[float, dict[str, int]]:
    """Reports/s answered 202 by POST /v1/reports/batch, and the per-item status counts."""
    queue: asyncio.Queue = asyncio.Queue()
    for c in chunks:
        queue.put_nowait(c)
    counts: dict[str, int] = {}

    async def submitter(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            producer, reports = queue.get_nowait()
            resp = await client.post("/v1/reports/batch", json=reports,
                                     headers={"Authorization": f"Bearer {keys[producer]}"})
            if resp.status_code != 200:
                counts[str(resp.status_code)] = counts.get(str(resp.status_code), 0) + len(reports)
                continue
            for status, n in resp.json()["counts"].items():
                counts[status] = counts.get(status, 0) + n

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*[submitter(client) for _ in range(concurrency)])
        elapsed = time.perf_counter() - t0
    return counts.get("202", 0) / elapsed, counts


async def single_endpoint(url: str, keys: dict[str, str], reports: list[tuple[str, dict]],
                          concurrency: int) -> float:
    """Reports/s answered 202 by POST /v1/reports, one report per request."""
    it = iter(reports)
    ok = [0]

    async def submitter(client: httpx.AsyncClient) -> None:
        for producer, report in it:
            resp = await client.post("/v1/reports", json=report,
                                     headers={"Authorization": f"Bearer {keys[producer]}"})
            ok[0] += resp.status_code == 202

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*[submitter(client) for _ in range(concurrency)])
        return ok[0] / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=20000, help="reports through the batch endpoint")
    ap.add_argument("--batch", type=int, default=500, help="reports per HTTP batch request")
    ap.add_argument("--concurrency", type=int, default=4, help="parallel HTTP submitters")
    ap.add_argument("--single", type=int, default=2000,
                    help="reports through the one-report endpoint (0: skip)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-intake-"))
    pop = simulator.Population(seed=int(time.time()), anomaly_rate=0.0)
    submissions = [pop.next() for _ in range(args.reports + args.single)]
    chunks = simulator.per_producer(((s.producer, s.report) for s in submissions[:args.reports]),
                                    args.batch)
    records = [ReceivedReport(producer_id=s.report["producer_id"], report_id=s.report["report_id"],
                              received_at="2026-11-20T00:00:00Z", content_hash="0" * 64,
                              report=s.report).model_dump_json().encode()
               for s in submissions[:args.reports]]
    async with devstack.scratch_stack(work) as stack:
        keys = await devstack.issue_producer_keys(stack.database_url)
        print(f"reference: raw aiokafka produce of {len(records)} reports.received records …",
              flush=True)
        ref = await raw_produce(stack.bootstrap, records)
        stack.extra_env["INTAKE_MAX_BACKLOG"] = "0"  # nothing consumes here: never shed
        stack.start_services(["intake"])
        print(f"intake: {args.reports} reports in batches of {args.batch}, {args.concurrency} "
              f"submitters …", flush=True)
        rate, counts = await batch_endpoint(stack.intake_url, keys, chunks, args.concurrency)
        single = None
        if args.single:
            print(f"intake: {args.single} reports one per request …", flush=True)
            single = await single_endpoint(stack.intake_url, keys,
                                           [(s.producer, s.report)
                                            for s in submissions[args.reports:]],
                                           args.concurrency)
    print()
    print(f"{'measure':56} {'value':>10}")
    print(f"{'reference: raw aiokafka produce, acks=all (msg/s)':56} {ref:10.0f}")
    print(f"{'intake batch endpoint, 202 (reports/s)':56} {rate:10.0f}")
    if single is not None:
        print(f"{'intake one-report endpoint, 202 (reports/s)':56} {single:10.0f}")
    print(f"{'batch endpoint / reference':56} {rate / ref:10.3f}")
    print(f"per-item statuses: {counts}  (intake + broker + PostgreSQL on this machine; "
          f"end-to-end: bench/pipeline.py)")


if __name__ == "__main__":
    asyncio.run(main())
