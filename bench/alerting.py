"""Detection quality of the alerting rules on the labelled simulator, several seeds, each on a
fresh broker and database through the real stack and the `mintrace simulate --evaluate` command.

    .venv/bin/python bench/alerting.py [--seeds 1 2 3 4 5] [--days 20] [--per-type 5]

Prints each seed's precision/recall tables (from the CLI) and the totals per alert type and per
family. Also measures the watchlist matcher: false positives on clean names and on Chinese near
misses, hits on generated Latin, Chinese-script and pinyin variants.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


from mintrace import demo, devstack, scenarios

SERVER = devstack.postgres_server(Path(tempfile.mkdtemp(prefix="mintrace-bench-alerting-")))


def watchlist_quality() -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "services/alerting/tests/unit"))
    from test_names import CLEAN_NAMES
    from mintrace_alerting.config import Rules
    from mintrace_common.names import Watchlist

    wl = Watchlist([(e["name"], e["aliases"], e["reason"]) for e in demo.WATCHLIST],
                   Rules().watchlist_min_score)
    fp = [n for n in CLEAN_NAMES if wl.match(n)]
    rng = random.Random(1)
    variants = [(scenarios.watchlist_variants(e["name"], rng), e["name"])
                for e in (rng.choice(demo.LATIN_WATCHLIST) for _ in range(2000))]
    hits = sum(1 for v, n in variants if (h := wl.match(v)) and h.listed == n)
    started = time.perf_counter()
    for n in CLEAN_NAMES * 20:
        wl.match(n)
    per = (time.perf_counter() - started) / (len(CLEAN_NAMES) * 20)
    print(f"watchlist: {len(fp)}/{len(CLEAN_NAMES)} clean names flagged {fp}; "
          f"{hits}/{len(variants)} evasion variants matched; {per * 1e6:.0f} us per name")
    chinese = [e for e in demo.WATCHLIST if e["name"] in scenarios.CHINESE_NEAR_MISSES]
    for kind, make in (("chinese-script", scenarios.chinese_variant),
                       ("pinyin", scenarios.pinyin_variant)):
        variants = [(make(e["name"], rng), e["name"])
                    for e in (rng.choice(chinese) for _ in range(1000))]
        hits = sum(1 for v, n in variants if (h := wl.match(v)) and h.listed == n)
        near = [make(o, rng) if kind == "chinese-script" else scenarios.pinyin_of(o, rng)
                for e in chinese for o in scenarios.CHINESE_NEAR_MISSES[e["name"]]
                for _ in range(20)]
        flagged = sorted({n for n in near if wl.match(n)})
        print(f"watchlist {kind}: {hits}/{len(variants)} variants matched; "
              f"{len(flagged)}/{len(near)} near misses flagged {flagged}")


async def one_seed(seed: int, days: int, per_type: int, workdir: Path) -> dict:
    port = devstack.free_port()
    broker = devstack.start_broker(port, workdir / f"broker-{seed}.log")
    bootstrap = f"127.0.0.1:{port}"
    url = await devstack.scratch_database(SERVER, f"mintrace_bench_alerting_{seed}")
    stack = None
    try:
        await devstack.create_topics(bootstrap)
        stack = devstack.Stack(bootstrap, url, devstack.free_port(), workdir / f"logs-{seed}")
        stack.start_services()
        out = workdir / f"scores-{seed}.json"
        proc = subprocess.run(
            [sys.executable, "-m", "mintrace.cli", "simulate", "--scenario", "mixed",
             "--evaluate", "--seed", str(seed), "--days", str(days), "--per-type",
             str(per_type), "--rate", "200", "--url", stack.intake_url, "--bootstrap",
             bootstrap, "--timeout", "240", "--scores-json", str(out)],
            env={**os.environ, "DATABASE_URL": url}, check=False)
        print(f"seed {seed}: exit {proc.returncode}")
        return json.loads(out.read_text())
    finally:
        if stack:
            stack.stop()
        broker.terminate()
        broker.wait(10)
        await devstack.drop_database(url)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--per-type", type=int, default=5)
    args = ap.parse_args()
    watchlist_quality()
    totals: dict[str, dict[str, list[int]]] = {"types": defaultdict(lambda: [0, 0, 0, 0]),
                                               "families": defaultdict(lambda: [0, 0, 0, 0])}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            scores = await one_seed(seed, args.days, args.per_type, Path(tmp))
            for what in totals:
                for t, s in scores[what].items():
                    for i, k in enumerate(("planted", "detected", "alerts", "true_alerts")):
                        totals[what][t][i] += s[k]
    for what, label in (("types", "alert type"), ("families", "family")):
        print(f"\ntotals per {label} over seeds {args.seeds} ({args.days} days, "
              f"{args.per_type} per type):")
        print(f"{label:28} {'planted':>8} {'detected':>9} {'alerts':>7} {'true':>5} "
              f"{'recall':>7} {'precision':>9}")
        for t, (p, d, a, tr) in totals[what].items():
            print(f"{t:28} {p:8} {d:9} {a:7} {tr:5} {d / p if p else 0:7.3f} "
                  f"{tr / a if a else 0:9.3f}")


if __name__ == "__main__":
    asyncio.run(main())
