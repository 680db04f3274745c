"""Scale-out of one consuming stage, measured alone (used by bench/pipeline.py): the same
backlog drained by 1 replica, then by N, with nothing else consuming.

For each replica count:
1. fill: with the stage stopped, `n` reports go through intake and the stages before it, so
   that they wait on the stage's input topic; then everything is stopped;
2. the backlog is read off the input topic and the stage's group is moved past it (the records
   stay unprocessed), so the replicas can join an idle group;
3. the replicas are started and the bench waits until the group is stable with all of them;
4. the backlog is produced again, unchanged, at the raw producer's speed (faster than any
   stage), and the drain is timed from the first record sent to the group's committed offsets
   reaching the end (a stage commits at once when it has nothing left in flight; its periodic
   commits every second make the first progress too coarse a start on a short drain).

Without step 2-4 the first replica to start would drain much of the backlog before the others
have joined (a service takes seconds to start on a loaded machine), and a stage measured while
the whole pipeline runs is bounded by the stages before it, not by its own replicas.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from mintrace import devstack

# The chain a report follows to national supervision: (stage, its input topic).
CHAIN = [("validation", "reports.received"), ("license-matching", "reports.validated"),
         ("provincial-routing", "reports.licensed"), ("alerting", "supervision.national")]


def stop(stack: devstack.Stack, name: str, timeout: float = 30.0) -> None:
    """SIGTERM (graceful: finish, publish, commit), SIGKILL if it takes too long."""
    proc = stack.procs.procs.pop(name, None)
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def stop_all(stack: devstack.Stack) -> None:
    for name in list(stack.procs.procs):
        stop(stack, name)


class Group:
    """Committed and end offsets of a consumer group on a topic; its members."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)

    async def __aenter__(self) -> "Group":
        await self.admin.start()
        await self.probe.start()
        return self

    async def __aexit__(self, *_) -> None:
        await self.probe.stop()
        await self.admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        await self.probe.topics()
        return [TopicPartition(topic, p) for p in sorted(self.probe.partitions_for_topic(topic)
                                                          or ())]

    async def committed(self, topic: str, group: str) -> dict[TopicPartition, int]:
        tps = await self.partitions(topic)
        got = await self.admin.list_consumer_group_offsets(group, partitions=tps)
        return {tp: max(0, got[tp].offset) if got.get(tp) is not None else 0 for tp in tps}

    async def ends(self, topic: str) -> dict[TopicPartition, int]:
        return await self.probe.end_offsets(await self.partitions(topic))

    async def members(self, group: str, client_id: str | None = None) -> tuple[str, set[str]]:
        """(state, member ids) of the group (of `client_id` only, if given: the dev broker
        (Tansu) reports no client id, but makes member ids of it). It goes on listing a member
        that left until the next rebalance."""
        [resp] = await self.admin.describe_consumer_groups([group])
        _, _, state, _, _, members = resp.groups[0][:6]
        return state, {m[0] for m in members if client_id is None or m[1] == client_id
                       or m[0].startswith(f"{client_id}-")}


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


async def _true(value: bool) -> bool:
    return value


async def take_backlog(kafka: Group, topic: str, group: str) -> list[tuple]:
    """The records between the group's committed offsets and the topic's end, and the group
    moved to the end (nothing of them processed). Only while the group has no member."""
    start, end = await kafka.committed(topic, group), await kafka.ends(topic)
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await reader.start()
    records = []
    try:
        tps = [tp for tp in end if end[tp] > start[tp]]
        reader.assign(tps)
        for tp in tps:
            reader.seek(tp, start[tp])
        left = {tp: end[tp] for tp in tps}
        while left:
            for tp, rs in (await reader.getmany(timeout_ms=1000, max_records=5000)).items():
                for r in rs:
                    if r.offset < end[tp]:
                        records.append((r.key, r.value, r.headers))
                if rs and rs[-1].offset + 1 >= end[tp]:
                    left.pop(tp, None)
    finally:
        await reader.stop()
    # as the group's only member (the broker refuses a commit from outside the group)
    mover = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                             enable_auto_commit=False)
    mover.subscribe([topic])
    await mover.start()
    try:
        await until(lambda: _true(set(mover.assignment()) == set(end)), 120,
                    f"no assignment in {group}")
        await mover.commit({tp: OffsetAndMetadata(o, "") for tp, o in end.items()})
    finally:
        await mover.stop()
    return records


async def fill(stack: devstack.Stack, kafka: Group, stage: str, n: int,
               submit: Callable[[int], Awaitable[None]]) -> None:
    """`n` reports through intake and the stages before `stage`; returns once they all wait
    on `stage`'s input topic, with every process stopped."""
    before = [name for name, _ in CHAIN[:[s for s, _ in CHAIN].index(stage)]]
    # the backlog is the point: intake must not shed it (it sheds on the pipeline's lag)
    stack.extra_env["INTAKE_MAX_BACKLOG"] = str(10**9)
    stack.extra_env["INTAKE_MAX_BACKLOG_S"] = "0"
    stack.start_services(["intake", *before])
    await submit(n)
    for name, topic in CHAIN:
        if name == stage:
            break

        async def drained(name=name, topic=topic) -> bool:
            done, end = await kafka.committed(topic, name), await kafka.ends(topic)
            return all(done[tp] >= end[tp] for tp in end)

        await until(drained, 600, f"{name} did not drain its input")
    stop_all(stack)


async def drain(stack: devstack.Stack, kafka: Group, stage: str, module: str, replicas: int,
                records: list[tuple], log_dir: Path) -> dict:
    """Start `replicas` of the stage on an idle group, hand it `records`, time the drain."""
    topic = dict(CHAIN)[stage]
    log_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{stage}#{i}" for i in range(1, replicas + 1)]

    _, stale = await kafka.members(stage)  # members that left (their processes are gone)

    async def joined() -> bool:  # services join as client_id = their name
        state, members = await kafka.members(stage, client_id=stage)
        return state == "Stable" and len(members - stale) == replicas

    for name in names:
        stack.procs.start(name, [sys.executable, "-m", module],
                          {**stack.env(), "SERVICE_NAME": stage}, log_dir / f"{name}.log")
    started = time.perf_counter()
    await until(joined, 300, f"{replicas} replicas of {stage} did not join")
    joined_s = time.perf_counter() - started
    base = sum((await kafka.committed(topic, stage)).values())
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=5, acks="all")
    await producer.start()
    sent_at = time.perf_counter()
    try:
        sends = [await producer.send(topic, value, key=key, headers=list(headers or ()))
                 for key, value, headers in records]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()

    async def drained() -> bool:
        return sum((await kafka.committed(topic, stage)).values()) - base >= len(records)

    await until(drained, 600, f"{stage} did not drain {len(records)} records")
    elapsed = time.perf_counter() - sent_at
    _, members = await kafka.members(stage, client_id=stage)
    for name in names:
        stop(stack, name)
    rate = len(records) / elapsed
    return {"replicas": replicas, "records": len(records), "per_s": rate,
            "seconds": round(elapsed, 2), "join_s": round(joined_s, 1),
            "members_at_end": len(members - stale)}


async def scale_out(stack: devstack.Stack, stage: str, module: str, n: int, replicas: int,
                    submit: Callable[[int], Awaitable[None]]) -> dict:
    """msg/s of `stage` draining the same kind of backlog with 1 and with `replicas` replicas."""
    stop_all(stack)
    out = {"stage": stage}
    async with Group(stack.bootstrap) as kafka:
        for k in sorted({1, replicas}):
            await fill(stack, kafka, stage, n, submit)
            records = await take_backlog(kafka, dict(CHAIN)[stage], stage)
            result = await drain(stack, kafka, stage, module, k, records,
                                 stack.log_dir / "scale-out")
            out[f"{k}x"] = result
            print(f"  scale-out {stage:20} {k} x  {result['records']:6d} records  "
                  f"{result['per_s'] or 0:8.0f} msg/s  (joined in {result['join_s']} s)",
                  flush=True)
    return out


async def main() -> None:
    import argparse
    import json
    import tempfile

    import pipeline

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default=",".join(s for s, _ in CHAIN),
                    help="comma-separated, of: " + ", ".join(s for s, _ in CHAIN))
    ap.add_argument("--reports", type=int, default=10000, help="backlog per replica count")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "scaleout.json"))
    args = ap.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="mintrace-scaleout-"))
    report: dict = {"command": " ".join(["bench/scaleout.py", *sys.argv[1:]]),
                    "cpus": os.cpu_count(), "load_at_start": os.getloadavg(), "stages": []}
    async with devstack.scratch_stack(work) as stack:
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))

        async def submit(n: int) -> None:
            out = work / f"fill-{time.monotonic_ns()}.json"
            await pipeline.wait_process(pipeline.loadgen(stack, keys_file, out, 0, total=n))

        refs = [(await pipeline.raw_hop(stack.bootstrap, args.reports))[0]]
        print(f"reference: raw aiokafka hop {refs[0]:.0f} msg/s", flush=True)
        for stage in stages:
            report["stages"].append(await scale_out(stack, stage, pipeline.MODULES[stage],
                                                    args.reports, args.replicas, submit))
        refs.append((await pipeline.raw_hop(stack.bootstrap, args.reports))[0])
    ref = report["raw_hop_mean_per_s"] = sum(refs) / 2
    report["raw_hop_per_s"], report["load_at_end"] = refs, os.getloadavg()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nraw aiokafka hop, mean {ref:.0f} msg/s ({refs[0]:.0f} and {refs[1]:.0f})")
    print(f"{'stage':20} {'1 replica':>10} {'/ raw':>6} {f'{args.replicas} replicas':>11} "
          f"{'/ raw':>6} {'gain':>6}")
    for so in report["stages"]:
        one, many = so["1x"]["per_s"] or 0, so[f"{args.replicas}x"]["per_s"] or 0
        print(f"{so['stage']:20} {one:10.0f} {one / ref:6.2f} {many:11.0f} {many / ref:6.2f} "
              f"{many / one if one else 0:6.2f}")
    print(f"load average {report['load_at_start']} -> {report['load_at_end']} "
          f"({report['cpus']} CPUs, shared); JSON: {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
