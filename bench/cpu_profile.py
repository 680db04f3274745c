"""Where each service's CPU goes, under load, on a fresh scratch stack: py-spy samples intake
while `--reports` reports are submitted with only intake running, then each consuming service
while it drains its accumulated input alone (as bench/pipeline.py times the hops). Writes
py-spy's collapsed stacks per service under `--out` and prints, per service, the functions with
the largest share of samples (own time and inclusive).

    .venv/bin/python bench/cpu_profile.py [--reports 4000] [--out bench/results/profile]

`pidstat -u 1` beside it shows the broker's and PostgreSQL's share of the machine.
"""

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import STAGES, Kafka, loadgen, wait_process  # noqa: E402

from mintrace import devstack  # noqa: E402


def spy(pid: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                             str(pid), "--format", "raw", "--rate", "200", "--nonblocking",
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(2)  # py-spy writes its output on SIGINT
    proc.wait(60)


def summary(collapsed: Path, top: int = 25) -> tuple[int, list, list]:
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        n = int(n)
        frames = stack.split(";")  # py-spy leaves idle samples (waiting in epoll) out
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    return total, own.most_common(top), inclusive.most_common(top * 2)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=4000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "profile"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mintrace-profile-"))
    async with devstack.scratch_stack(work) as stack:
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))
        stack.start_services(["intake"])
        prof = spy(stack.procs.procs["intake"].pid, out / "intake.txt")
        await wait_process(loadgen(stack, keys_file, work / "intake.json", 0, total=args.reports))
        stop(prof)
        async with Kafka(stack.bootstrap) as kafka:
            for name, topic in STAGES:
                proc = stack.procs.start_service(name, stack.env(), stack.log_dir / f"{name}.log")
                await asyncio.sleep(1.5)  # imports
                prof = spy(proc.pid, out / f"{name}.txt")
                while True:
                    end, done = await kafka.offsets(topic, name)
                    if done >= end:
                        break
                    await asyncio.sleep(0.2)
                stop(prof)
    for name in ["intake", *(n for n, _ in STAGES)]:
        path = out / f"{name}.txt"
        if not path.exists():
            print(f"{name}: no profile")
            continue
        total, own, inclusive = summary(path)
        print(f"\n== {name}: {total} busy samples")
        print("  own time:")
        for f, n in own:
            print(f"    {n / total:6.1%}  {f[:150]}")
        print("  inclusive:")
        for f, n in inclusive:
            print(f"    {n / total:6.1%}  {f[:150]}")


if __name__ == "__main__":
    asyncio.run(main())
