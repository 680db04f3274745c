"""What a consumer's fetch wait costs on the dev broker (Tansu), on a fresh broker of its own:

1. latency: one record produced every 50 ms, read by a consumer with each `--waits` value;
   p50/p90/max from the record's timestamp to its arrival (Apache Kafka answers a waiting fetch
   when records arrive; Tansu holds it);
2. idle cost: `--consumers` consumers polling empty topics with each wait; the broker's and the
   consumers' CPU (% of one core) over 5 s.

    .venv/bin/python bench/fetch_wait.py [--waits 500,100,50,20] [--consumers 10]
"""

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mintrace import devstack


async def latency(bootstrap: str, wait_ms: int, n: int = 50) -> list[float]:
    topic = f"wait.{secrets.token_hex(3)}"
    await devstack.create_topics(bootstrap, [(topic, 1, -1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g{topic}",
                                auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms)
    await producer.start()
    await consumer.start()
    lats: list[float] = []
    try:
        await producer.send_and_wait(topic, b"warm")
        await consumer.getmany(timeout_ms=2000)

        async def read() -> None:
            while len(lats) < n:
                for rs in (await consumer.getmany(timeout_ms=200)).values():
                    lats.extend(time.time() * 1000 - r.timestamp for r in rs)

        reader = asyncio.create_task(read())
        for _ in range(n):
            await producer.send_and_wait(topic, b"x")
            await asyncio.sleep(0.05)
        await asyncio.wait_for(reader, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    return sorted(lats)


async def idle_cost(bootstrap: str, broker: psutil.Process, wait_ms: int, n: int
                    ) -> tuple[float, float]:
    topics = [f"idle.{secrets.token_hex(3)}" for _ in range(n)]
    await devstack.create_topics(bootstrap, [(t, 12, -1) for t in topics])
    consumers = [AIOKafkaConsumer(t, bootstrap_servers=bootstrap, group_id=f"g{t}",
                                  fetch_max_wait_ms=wait_ms) for t in topics]
    for c in consumers:
        await c.start()

    async def poll(c: AIOKafkaConsumer) -> None:
        while True:
            await c.getmany(timeout_ms=200)

    tasks = [asyncio.create_task(poll(c)) for c in consumers]
    try:
        await asyncio.sleep(3)
        me = psutil.Process()
        b0, m0, t0 = sum(broker.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
        await asyncio.sleep(5)
        dt = time.monotonic() - t0
        return ((sum(broker.cpu_times()[:2]) - b0) / dt * 100,
                (sum(me.cpu_times()[:2]) - m0) / dt * 100)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in consumers:
            await c.stop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--waits", default="500,100,50,20", help="fetch_max_wait_ms values")
    ap.add_argument("--consumers", type=int, default=10, help="idle consumers")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mintrace-fetch-wait-"))
    port = devstack.free_port()
    proc = devstack.start_broker(port, work / "broker.log")
    bootstrap = f"127.0.0.1:{port}"
    try:
        print(f"{'wait ms':>8} {'p50 ms':>7} {'p90 ms':>7} {'max ms':>7} "
              f"{'broker % (idle)':>16} {'consumers %':>12}")
        for wait in (int(w) for w in args.waits.split(",")):
            lats = await latency(bootstrap, wait)
            broker_pct, mine = await idle_cost(bootstrap, psutil.Process(proc.pid), wait,
                                               args.consumers)
            print(f"{wait:8d} {lats[len(lats) // 2]:7.0f} {lats[int(len(lats) * .9)]:7.0f} "
                  f"{lats[-1]:7.0f} {broker_pct:16.0f} {mine:12.0f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
