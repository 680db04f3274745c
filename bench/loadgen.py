"""Open-loop load generator (run as its own process by bench/pipeline.py): offers `--rate`
reports/s to intake's batch endpoint in batches of `--batch` for `--duration` seconds, whatever
intake answers — a batch is sent on schedule even while earlier ones are unanswered. Writes what
happened as JSON to `--out`: counts per status, and the report ids accepted (202).

    .venv/bin/python bench/loadgen.py --url URL --keys keys.json --rate 3000 --duration 60 \
        --out result.json
"""

import argparse
import asyncio
import json
import time
from collections import Counter

import httpx

from mintrace import simulator


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def generate(seed: int, total: int, distinct: int = 1000):
    """`total` (producer key, report) pairs: up to `distinct` simulated reports (the simulator
    is too slow to make 180,000 on the fly), then copies of them under new report ids."""
    pop = simulator.Population(seed=seed, anomaly_rate=0.0)
    made = [(s.producer, s.report) for s in (pop.next() for _ in range(min(total, distinct)))]
    for i in range(total):
        producer, report = made[i % len(made)]
        yield producer, (report if i < len(made) else
                         {**report, "report_id": f"{report['report_id']}.{seed % 10**6}.{i}"})


async def offer(url: str, keys: dict[str, str], rate: float, duration: float, batch: int,
                seed: int, max_in_flight: int = 256, total: int = 0,
                closed_workers: int = 8) -> dict:
    """Open loop at `rate` for `duration`; with rate <= 0, `total` reports in closed loop."""
    total = total if rate <= 0 else int(rate * duration)
    chunks = simulator.per_producer(generate(seed, total), batch)
    statuses: Counter = Counter()
    accepted: list[str] = []
    http_s: list[float] = []
    late = 0
    slots = asyncio.Semaphore(max_in_flight)

    async def send(client: httpx.AsyncClient, producer: str, reports: list[dict]) -> None:
        t0 = time.perf_counter()
        try:
            resp = await client.post("/v1/reports/batch", json=reports,
                                     headers={"Authorization": f"Bearer {keys[producer]}"})
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += len(reports)
            return
        finally:
            slots.release()
        http_s.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            statuses[str(resp.status_code)] += len(reports)
            return
        for r in resp.json()["results"]:
            statuses[str(r["status"])] += 1
            if r["status"] == 202:
                accepted.append(r["report_id"])

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(
            max_connections=max_in_flight, max_keepalive_connections=max_in_flight)) as client:
        tasks = []
        started, started_at = time.monotonic(), time.time()
        if rate <= 0:  # closed loop: `closed_workers` submitters, each waits for its answer
            queue = list(reversed(chunks))

            async def worker() -> None:
                while queue:
                    producer, reports = queue.pop()
                    await slots.acquire()
                    await send(client, producer, reports)

            await asyncio.gather(*(worker() for _ in range(closed_workers)))
            chunks = []
        due = started
        for producer, reports in chunks:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not slots.locked():
                await slots.acquire()
                tasks.append(asyncio.create_task(send(client, producer, reports)))
            else:  # the generator itself cannot keep up: count, never block the schedule
                late += len(reports)
            due += len(reports) / rate
        offered_for = time.monotonic() - started
        await asyncio.gather(*tasks)
    return {"rate": rate, "duration": duration, "offered": total, "offered_for_s": offered_for,
            "started_at": started_at,
            "statuses": dict(statuses), "accepted": accepted, "not_sent": late,
            "http_p50_s": pct(http_s, 0.5), "http_p99_s": pct(http_s, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="intake's base URL")
    ap.add_argument("--keys", required=True, help="JSON file: producer key -> bearer key")
    ap.add_argument("--rate", type=float, required=True,
                    help="reports per second offered; 0 = closed loop (as fast as answered)")
    ap.add_argument("--total", type=int, default=0, help="reports to submit in closed loop")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--batch", type=int, default=100, help="reports per HTTP request")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--out", required=True, help="where to write the result (JSON)")
    args = ap.parse_args()
    keys = json.loads(open(args.keys).read())
    result = asyncio.run(offer(args.url, keys, args.rate, args.duration, args.batch, args.seed,
                               total=args.total))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
