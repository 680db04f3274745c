"""Memory over a long run at an offered rate beyond capacity: a scratch stack with every
service, the load generator offering `--rate` reports/s in slices of `--slice` s (it makes each
slice's reports up front) for `--duration` s in all. Every service's RSS is sampled throughout;
growth is counted from the end of the warm-up (the first `--warmup` s) to the end. Every accepted
report must reach supervision.national (lost = 0). Per slice, the CPU each accepted report cost
the broker, PostgreSQL and the services: a cost that grows with the history shows there.

`--vacuum` runs VACUUM (ANALYZE) on the database after each slice, as autovacuum would: a
server with autovacuum off (as this machine's is) keeps every dead row version of the hot,
often-updated tables, and its plans work from stale statistics.

    .venv/bin/python bench/soak.py [--rate 3000] [--duration 600] [--slice 30] [--warmup 120]
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import asyncpg  # noqa: E402
import psutil  # noqa: E402
from pipeline import (Routed, cpu, cpu_per_report, loadgen, others, rss_mb,  # noqa: E402
                      wait_process)

from mintrace import devstack  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=3000)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--slice", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=120)
    ap.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) after each slice")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "soak.json"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mintrace-soak-"))
    samples: list[tuple[float, dict[str, float]]] = []
    accepted: set[str] = set()
    statuses: dict[str, int] = {}
    async with devstack.scratch_stack(work) as stack:
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))
        stack.start_services()
        routed = Routed(stack.bootstrap)
        await routed.start()
        t0 = time.monotonic()

        async def sample() -> None:
            while True:
                samples.append((time.monotonic() - t0, rss_mb(stack)))
                await asyncio.sleep(10)

        sampler = asyncio.create_task(sample())
        procs = {**{k: psutil.Process(p.pid) for k, p in stack.procs.procs.items()},
                 **others(stack.bootstrap)}
        slices = []
        n = 0
        while time.monotonic() - t0 < args.duration:
            out = work / f"slice-{n}.json"
            before = cpu(procs)
            await wait_process(loadgen(stack, keys_file, out, args.rate, args.slice))
            result = json.loads(out.read_text())
            spent = cpu_per_report(before, cpu(procs), len(result["accepted"]))
            slices.append({"at_s": round(time.monotonic() - t0), "accepted": len(result["accepted"]),
                           "cpu_us_per_report": spent})
            print(f"  slice {n}: {len(result['accepted']) / args.slice:5.0f} accepted/s; CPU per "
                  f"report µs: broker {spent['broker']:.0f}, PostgreSQL {spent['postgres']:.0f}, "
                  + ", ".join(f"{k} {v}" for k, v in spent["each_service"].items()), flush=True)
            accepted |= set(result["accepted"])
            if args.vacuum:
                conn = await asyncpg.connect(stack.database_url)
                try:
                    await conn.execute("VACUUM (ANALYZE)")
                finally:
                    await conn.close()
            for k, v in result["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
            n += 1
            print(f"  {time.monotonic() - t0:6.0f} s  accepted {len(accepted):8d}  routed "
                  f"{len(routed.seen):8d}  RSS MB {json.dumps({k: round(v) for k, v in samples[-1][1].items()})}",
                  flush=True)
        await routed.until(accepted, 120)
        sampler.cancel()
        samples.append((time.monotonic() - t0, rss_mb(stack)))
        lost = len(accepted - routed.seen.keys())
        await routed.stop()
    warm = next((s for t, s in samples if t >= args.warmup), samples[0][1])
    end = samples[-1][1]
    growth = {k: (end[k] - warm[k]) / warm[k] * 100 for k in end if k in warm}
    report = {"command": " ".join(["bench/soak.py", *sys.argv[1:]]), "rate": args.rate,
              "vacuum": args.vacuum,
              "duration_s": args.duration, "accepted": len(accepted), "statuses": statuses,
              "lost": lost, "rss_mb_after_warmup": warm, "rss_mb_at_end": end,
              "growth_pct": growth, "slices": slices, "samples": samples}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\n{args.rate:.0f} reports/s offered for {args.duration:.0f} s: accepted "
          f"{len(accepted)}, statuses {statuses}, lost {lost}")
    print(f"{'service':20} {'RSS after warm-up':>18} {'at end':>8} {'growth':>8}")
    for k in sorted(growth):
        print(f"{k:20} {warm[k]:15.0f} MB {end[k]:5.0f} MB {growth[k]:7.1f} %")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
