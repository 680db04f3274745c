"""End-to-end benchmark: N reports through intake -> validation -> license-matching -> routing
-> supervision.national on the real broker and database, beside a raw aiokafka
consume-validate-produce hop measured in the same run on the same broker (the reference).

    .venv/bin/python bench/pipeline.py [--reports 20000] [--batch 500] [--concurrency 4]
"""

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mintrace import devstack, simulator
from mintrace_common import examples
from mintrace_common.models import ReceivedReport, SupervisionRecord


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def raw_hop(bootstrap: str, n: int) -> float:
    """msg/s of one aiokafka consumer that decodes, validates and re-produces each message."""
    src, dst = f"bench.in.{secrets.token_hex(3)}", f"bench.out.{secrets.token_hex(3)}"
    await devstack.create_topics(bootstrap, [(src, 12, -1), (dst, 12, -1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    body = ReceivedReport.model_validate(examples.BY_MODEL["ReceivedReport"]).model_dump_json().encode()
    await asyncio.gather(*[await producer.send(src, body, key=str(i).encode()) for i in range(n)])
    consumer = AIOKafkaConsumer(src, bootstrap_servers=bootstrap, group_id="bench-raw",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    done, started = 0, None
    while done < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=500)
        started = started or time.perf_counter()
        futures = []
        for records in batch.values():
            for r in records:
                m = ReceivedReport.model_validate_json(r.value)
                futures.append(await producer.send(dst, m.model_dump_json().encode(), key=r.key))
        await asyncio.gather(*futures)
        await consumer.commit()
        done += len(futures)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await producer.stop()
    return n / elapsed


async def pipeline(stack: devstack.Stack, keys: dict[str, str], n: int, batch: int,
                   concurrency: int) -> dict:
    pop = simulator.Population(seed=int(time.time()), anomaly_rate=0.0)
    submissions = [pop.next() for _ in range(n)]
    chunks = simulator.per_producer(((s.producer, s.report) for s in submissions), batch)
    consumer = AIOKafkaConsumer("supervision.national", bootstrap_servers=stack.bootstrap,
                                auto_offset_reset="latest", enable_auto_commit=False)
    await consumer.start()
    await asyncio.sleep(1)
    wanted = {s.report["report_id"] for s in submissions}
    latencies: list[float] = []
    queue = asyncio.Queue()
    for c in chunks:
        queue.put_nowait(c)
    accepted = [0]

    async def submitter(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            producer, reports = queue.get_nowait()
            resp = await client.post("/v1/reports/batch", json=reports,
                                     headers={"Authorization": f"Bearer {keys[producer]}"})
            resp.raise_for_status()
            accepted[0] += resp.json()["counts"].get("202", 0)

    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=120) as client:
        submit = asyncio.gather(*[submitter(client) for _ in range(concurrency)])
        deadline = time.monotonic() + 600
        while wanted and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            for records in got.values():
                for r in records:
                    rec = SupervisionRecord.model_validate_json(r.value)
                    if rec.report_id in wanted:
                        wanted.discard(rec.report_id)
                        latencies.append(r.timestamp / 1000 - rec.received_at.timestamp())
        await submit
    elapsed = time.perf_counter() - t0
    await consumer.stop()
    return {"accepted": accepted[0], "delivered": len(latencies), "elapsed": elapsed,
            "rate": len(latencies) / elapsed, "p50": pct(latencies, 0.5) if latencies else None,
            "p99": pct(latencies, 0.99) if latencies else None, "missing": len(wanted)}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500, help="reports per HTTP batch request")
    ap.add_argument("--concurrency", type=int, default=4, help="parallel HTTP submitters")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-"))
    async with devstack.scratch_stack(work) as stack:
        keys = await devstack.issue_producer_keys(stack.database_url)
        print(f"reference: raw aiokafka consume-validate-produce hop, {args.reports} msgs …", flush=True)
        ref = await raw_hop(stack.bootstrap, args.reports)
        stack.start_services()
        # Warm-up: every consumer group has joined once a few reports made it all the way.
        warm = await pipeline(stack, keys, 20, 20, 1)
        print(f"warm-up: {warm['delivered']}/20 through in {warm['elapsed']:.1f}s", flush=True)
        print(f"pipeline: {args.reports} reports, batches of {args.batch}, "
              f"{args.concurrency} submitters …", flush=True)
        res = await pipeline(stack, keys, args.reports, args.batch, args.concurrency)
    print()
    print(f"{'measure':52} {'value':>12}")
    print(f"{'reference: raw aiokafka hop (msg/s)':52} {ref:12.0f}")
    print(f"{'pipeline: intake -> supervision.national (reports/s)':52} {res['rate']:12.0f}")
    print(f"{'pipeline latency p50 (s)':52} {res['p50']:12.3f}")
    print(f"{'pipeline latency p99 (s)':52} {res['p99']:12.3f}")
    print(f"{'pipeline / reference':52} {res['rate'] / ref:12.3f}")
    print(f"accepted={res['accepted']} delivered={res['delivered']} missing={res['missing']} "
          f"elapsed={res['elapsed']:.1f}s  (5 services + broker + PostgreSQL on this machine)")


if __name__ == "__main__":
    asyncio.run(main())
