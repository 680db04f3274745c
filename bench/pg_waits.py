"""What the benchmarks' database backends are doing: pg_stat_activity of every `mintrace_*`
database sampled every 50 ms for `--seconds`, grouped by state, wait event and statement; the
share is backends per sample. Run it beside a benchmark (e.g. `bench/scaleout.py --stages
alerting`) to see whether replicas wait on each other's locks.

    .venv/bin/python bench/pg_waits.py [--seconds 60] [--top 15]
"""

import argparse
import asyncio
import os
import time
from collections import Counter

import asyncpg


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--url", default=os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="the server the benchmark runs on ($DATABASE_URL, else 127.0.0.1:5432)")
    args = ap.parse_args()
    conn = await asyncpg.connect(args.url)
    seen: Counter = Counter()
    samples = 0
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            for r in await conn.fetch(
                    "SELECT state, wait_event_type, wait_event, left(query, 80) AS q "
                    "FROM pg_stat_activity WHERE datname LIKE 'mintrace_%' "
                    "AND state NOT IN ('idle') AND pid <> pg_backend_pid()"):
                seen[tuple(r)] += 1
            samples += 1
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    print(f"{samples} samples; backends per sample:")
    for (state, kind, event, query), n in seen.most_common(args.top):
        print(f"{n / max(samples, 1):6.2f}  {state:20} {kind or '-':8} {event or '-':14} {query}")


if __name__ == "__main__":
    asyncio.run(main())
