"""Where a report's latency goes, hop by hop, at an offered rate: a scratch stack with every
service, `--rate` reports/s for `--duration` s from the load generator, then each topic on the way
read back from its start. Per hop, p50/p99 of the time from the record's arrival on the previous
topic to its arrival on the next (broker timestamps; `received_at` for intake); and each
process's share of the machine while the load was offered (what `pidstat -u 1` shows: the
services, the broker, PostgreSQL, the load generator).

    .venv/bin/python bench/latency.py [--rate 500] [--duration 10]
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import cpu, loadgen, others, pct, wait_process  # noqa: E402

from mintrace import devstack  # noqa: E402
from mintrace_common import topics  # noqa: E402

PATH = [topics.RECEIVED, topics.VALIDATED, topics.LICENSED, topics.SUPERVISION_NATIONAL]


async def arrivals(bootstrap: str, topic: str, ids: set[str]) -> dict[str, float]:
    """report_id -> broker timestamp (s) of its first record on `topic`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    seen: dict[str, float] = {}
    try:
        idle = 0
        while idle < 10 and not ids <= seen.keys():
            got = await consumer.getmany(timeout_ms=200, max_records=5000)
            idle = 0 if got else idle + 1
            for records in got.values():
                for r in records:
                    v = json.loads(r.value)
                    rid = v.get("report_id") or v.get("report", {}).get("report_id")
                    if rid in ids and rid not in seen:
                        seen[rid] = r.timestamp / 1000
                        if topic == topics.RECEIVED.name:
                            seen["@" + rid] = datetime.fromisoformat(v["received_at"]).timestamp()
    finally:
        await consumer.stop()
    return seen


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mintrace-latency-"))
    async with devstack.scratch_stack(work) as stack:
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))
        stack.start_services()
        await asyncio.sleep(5)
        out = work / "open.json"
        print(f"{args.rate:.0f} reports/s for {args.duration:.0f} s …", flush=True)
        gen = loadgen(stack, keys_file, out, args.rate, args.duration)
        procs = {**{n: psutil.Process(p.pid) for n, p in stack.procs.procs.items()},
                 "load generator": psutil.Process(gen.pid), **others(stack.bootstrap)}
        await asyncio.sleep(2)  # the generator makes its reports first
        before, t0 = cpu(procs), time.monotonic()
        await asyncio.sleep(args.duration - 2)
        after, elapsed = cpu(procs), time.monotonic() - t0
        await wait_process(gen)
        ids = set(json.loads(out.read_text())["accepted"])
        await asyncio.sleep(5)
        at = {t.name: await arrivals(stack.bootstrap, t.name, ids) for t in PATH}
    rows = [("intake (received_at -> reports.received)", "@", PATH[0].name)]
    rows += [(f"{a.name} -> {b.name}", a.name, b.name)
             for a, b in zip(PATH, PATH[1:])]
    rows.append(("end to end (received_at -> national)", "@", PATH[-1].name))
    print(f"\n{len(ids)} reports accepted\n{'hop':58} {'p50 ms':>8} {'p99 ms':>8} {'n':>6}")
    recv = at[PATH[0].name]
    share: dict[str, float] = {}
    for name in after:
        if name in before:
            key = "PostgreSQL (all processes)" if name.startswith("postgres ") else name
            share[key] = share.get(key, 0) + (after[name] - before[name]) / elapsed * 100
    print(f"\nCPU while offered (% of one core; {psutil.cpu_count()} cores):")
    for name, pct_ in sorted(share.items(), key=lambda x: -x[1]):
        print(f"  {name:30} {pct_:6.0f} %")
    print(f"  {'total':30} {sum(share.values()):6.0f} %\n")
    for label, a, b in rows:
        d = [(at[b][i] - (recv["@" + i] if a == "@" else at[a][i])) * 1000
             for i in ids if i in at[b] and (("@" + i) in recv if a == "@" else i in at[a])]
        print(f"{label:58} {pct(d, .5) or 0:8.0f} {pct(d, .99) or 0:8.0f} {len(d):6d}")


if __name__ == "__main__":
    asyncio.run(main())
