"""CPU of intake per accepted report (the figure that survives a noisy, shared machine: msg/s
alone does not). Intake alone on a scratch stack, the load generator (bench/loadgen.py, closed
loop, batches of 100) a separate process; the intake process's user+system CPU time (from
/proc) divided by the reports answered 202. With `--baseline PYTHON` (another checkout's
interpreter, e.g. main's .venv/bin/python) the two builds take turns in the same run, on the same
broker and database, so before/after are compared under the same load on the machine.

    .venv/bin/python bench/intake_cpu.py [--reports 20000] [--rounds 2] \
        [--baseline /work/main/.venv/bin/python] [--profile bench/results/profile/intake.txt]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import loadgen, wait_process  # noqa: E402
from cpu_profile import spy, stop  # noqa: E402

from mintrace import devstack  # noqa: E402
from mintrace_common.db import service_role  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


async def one_round(stack: devstack.Stack, python: str, keys_file: Path, work: Path, reports: int,
                    tag: str, profile: Path | None) -> tuple[float, float, int]:
    name = f"intake-{tag}"
    proc = stack.procs.start(name, [python, "-m", "mintrace_intake"],
                             {**stack.env(), "SERVICE_NAME": "intake",
                              "DATABASE_ROLE": service_role("intake")},
                             stack.log_dir / f"{name}.log")
    try:
        devstack.wait_port("127.0.0.1", stack.http_port, 60, proc)
        # warm-up (imports done, pools open, first batch through), not counted
        await wait_process(loadgen(stack, keys_file, work / f"{name}-warm.json", 0, total=1000))
        prof = spy(proc.pid, profile) if profile else None
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        out = work / f"{name}.json"
        await wait_process(loadgen(stack, keys_file, out, 0, total=reports))
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
        if prof:
            stop(prof)
        accepted = json.loads(out.read_text())["statuses"].get("202", 0)
        return cpu, wall, accepted
    finally:
        proc.terminate()
        proc.wait(20)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", help="interpreter of the build to compare with")
    ap.add_argument("--profile", help="py-spy collapsed stacks of this build's last round")
    args = ap.parse_args()
    builds = ([("baseline", args.baseline)] if args.baseline else []) + [("this", sys.executable)]
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-intake-cpu-"))
    rows: dict[str, list[tuple[float, float, int]]] = {b: [] for b, _ in builds}
    async with devstack.scratch_stack(work) as stack:
        stack.log_dir.mkdir(parents=True, exist_ok=True)
        stack.extra_env["INTAKE_MAX_BACKLOG"] = "0"  # nothing consumes: never shed
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))
        for rnd in range(args.rounds):
            for tag, python in builds:
                profile = (Path(args.profile) if args.profile and tag == "this"
                           and rnd == args.rounds - 1 else None)
                cpu, wall, ok = await one_round(stack, python, keys_file, work, args.reports,
                                                f"{tag}-{rnd}", profile)
                rows[tag].append((cpu, wall, ok))
                print(f"round {rnd} {tag:8}: {ok} accepted in {wall:5.1f} s = {ok / wall:6.0f}/s, "
                      f"intake CPU {cpu:5.1f} s = {cpu / max(ok, 1) * 1e6:5.0f} µs/report",
                      flush=True)
    print(f"\n{'build':10} {'µs CPU/report (best, mean)':>28} {'reports/s (best)':>18}")
    for tag, rs in rows.items():
        per = [c / max(ok, 1) * 1e6 for c, _, ok in rs]
        print(f"{tag:10} {min(per):14.0f} {sum(per) / len(per):13.0f} "
              f"{max(ok / w for _, w, ok in rs):18.0f}")


if __name__ == "__main__":
    asyncio.run(main())
