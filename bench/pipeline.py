"""The pipeline benchmark, in one run on one fresh broker and database, every figure beside the
raw aiokafka consume -> validate -> produce hop measured in the same run (the machine is shared:
read the ratios):

1. reference: the raw aiokafka hop (msg/s);
2. each service's hop: reports are submitted with only intake running, then each consuming
   service is started alone and timed while it drains its input (validation, license-matching,
   provincial-routing, alerting);
3. end to end: N reports submitted as fast as intake answers, timed to supervision.national;
4. open loop: `--rates` reports/s offered for `--duration` s each by a separate load-generator
   process (bench/loadgen.py, batches of 100): routed/s, p50/p99 from receipt to
   supervision.national, shed (503) and lost; the larger rates show the curve beyond capacity;
5. scale-out: a stage alone draining the same backlog with 1 and with `--replicas` replicas
   (bench/scaleout.py): the slowest consuming stage, or those named by `--scale-out`.

    .venv/bin/python bench/pipeline.py [--reports 10000] [--rates 500,3000,6000]
        [--duration 20] [--json bench/results/pipeline.json]
        [--scale-out provincial-routing,validation | --no-scale-out] [--replicas 2]

`bench/scaleout.py --stages ...` runs the scale-out alone (with the reference hop).
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from mintrace import devstack
from mintrace_common import examples, topics
from mintrace_common.models import ReceivedReport
from scaleout import scale_out

HERE = Path(__file__).parent
STAGES = [("validation", topics.RECEIVED.name), ("license-matching", topics.VALIDATED.name),
          ("provincial-routing", topics.LICENSED.name),
          ("alerting", topics.SUPERVISION_NATIONAL.name)]
MODULES = {"validation": "mintrace_validation", "license-matching": "mintrace_license_matching",
           "provincial-routing": "mintrace_provincial_routing", "alerting": "mintrace_alerting"}


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def raw_hop(bootstrap: str, n: int, broker_us: list[float] | None = None
                  ) -> tuple[float, float]:
    """msg/s of one aiokafka consumer that decodes, validates and re-produces each message, and
    its CPU time per message (µs, this process); the broker's CPU time per message is appended
    to `broker_us`."""
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
        if started is None:
            started, cpu0 = time.perf_counter(), time.process_time()
            broker = {k: p for k, p in others(bootstrap).items() if k.startswith("broker")}
            broker0 = cpu(broker)
        futures = []
        for records in batch.values():
            for r in records:
                m = ReceivedReport.model_validate_json(r.value)
                futures.append(await producer.send(dst, m.model_dump_json().encode(), key=r.key))
        await asyncio.gather(*futures)
        await consumer.commit()
        done += len(futures)
    elapsed = time.perf_counter() - started
    spent = time.process_time() - cpu0
    if broker_us is not None:
        broker_us.append((sum(cpu(broker).values()) - sum(broker0.values())) / n * 1e6)
    await consumer.stop()
    await producer.stop()
    return n / elapsed, spent / n * 1e6


class Kafka:
    """End and committed offsets, for timing a stage by its consumer group."""

    def __init__(self, bootstrap: str) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)

    async def __aenter__(self):
        await self.admin.start()
        await self.probe.start()
        return self

    async def __aexit__(self, *_):
        await self.probe.stop()
        await self.admin.close()

    async def offsets(self, topic: str, group: str) -> tuple[int, int]:
        await self.probe.topics()
        tps = [TopicPartition(topic, p) for p in self.probe.partitions_for_topic(topic) or ()]
        ends = await self.probe.end_offsets(tps)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=tps)
        # per partition, never past its end (Tansu has been seen to report an end offset below
        # the committed one: summed, that hid lag elsewhere, and `idle` never saw 0)
        done = sum(min(ends[tp], max(0, c.offset)) for tp, c in committed.items()
                   if c is not None and tp in ends)
        return sum(ends.values()), done


async def idle(bootstrap: str, timeout: float = 120) -> None:
    """Until every stage has committed all of its input (or `timeout`): the reference hop
    measured while our own services drain a backlog measures them, not the machine."""
    deadline = time.monotonic() + timeout
    async with Kafka(bootstrap) as kafka:
        while time.monotonic() < deadline:
            lags = [end - done for end, done in
                    [await kafka.offsets(topic, name) for name, topic in STAGES]]
            if not any(lags):
                return
            await asyncio.sleep(0.5)


def loadgen(stack: devstack.Stack, keys_file: Path, out: Path, rate: float, duration: float = 0,
            total: int = 0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), "--url", stack.intake_url,
                             "--keys", str(keys_file), "--rate", str(rate), "--duration",
                             str(duration), "--total", str(total), "--out", str(out)])


async def wait_process(proc: subprocess.Popen) -> None:
    while proc.poll() is None:
        await asyncio.sleep(0.1)
    if proc.returncode:
        raise RuntimeError(f"the load generator failed ({proc.returncode})")


def counter(metrics_text: str, name: str, topic: str) -> float:
    """A counter's value for `topic` from a Prometheus text page (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("topic") == topic:
                return sample.value
    return 0.0


def cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def others(bootstrap: str) -> dict[str, psutil.Process]:
    """The broker serving `bootstrap` and every PostgreSQL process of the machine."""
    port = bootstrap.rsplit(":", 1)[1]
    found: dict[str, psutil.Process] = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or ())
        if "tansu" in cmd and f":{port}" in cmd:
            found["broker (Tansu)"] = p
        elif (p.info["name"] or "").startswith("postgres"):
            found[f"postgres {p.pid}"] = p
    return found


def cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds so far of each process still running."""
    out = {}
    for name, p in procs.items():
        try:
            t = p.cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            pass
    return out


def cpu_per_report(before: dict[str, float], after: dict[str, float], reports: int
                   ) -> dict[str, float]:
    """µs of CPU per report of the broker, PostgreSQL (all its processes) and all of ours."""
    out = {"broker": 0.0, "postgres": 0.0, "services": 0.0}
    each: dict[str, float] = {}
    for name, t in after.items():
        if name in before:
            kind = ("broker" if name.startswith("broker") else
                    "postgres" if name.startswith("postgres ") else "services")
            out[kind] += (t - before[name]) / max(reports, 1) * 1e6
            if kind == "services":
                each[name] = round((t - before[name]) / max(reports, 1) * 1e6)
    out["all"] = sum(out.values())
    return {**out, "each_service": each}


async def time_stage(kafka: "Kafka", metrics_url: str, topic: str, group: str, pid: int,
                     timeout: float = 600) -> tuple[int, float | None, float | None]:
    """Records a just-started stage worked through and its msg/s: from the first poll in which
    it had fetched records (its own `consumed` counter) to the first in which it had processed
    every record of its input and committed them (end offsets read again each time: a record
    may still be arriving when the stage starts). Timing by committed offsets alone read 0 when
    a fast stage committed everything at once (one commit per second). Also the stage's CPU
    time per record over the same span (µs): on a shared machine it moves far less than msg/s."""
    first = cpu0 = None
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                page = (await http.get(metrics_url)).text
            except httpx.HTTPError:  # not listening yet
                await asyncio.sleep(0.05)
                continue
            now = time.perf_counter()
            consumed = counter(page, "mintrace_messages_received_total", topic)
            processed = counter(page, "mintrace_messages_processed_total", topic)
            if first is None and consumed > 0:
                first, cpu0 = now, cpu_s(pid)
            end, done = await kafka.offsets(topic, group)
            if first is not None and done >= end and processed > 0:
                return (int(processed), processed / max(now - first, 1e-3),
                        (cpu_s(pid) - cpu0) / processed * 1e6)
            await asyncio.sleep(0.05)
    return 0, None, None


async def service_hops(stack: devstack.Stack, keys_file: Path, n: int, work: Path) -> dict:
    """Intake alone, then each consuming service alone on its accumulated input. Intake does
    not shed here (nothing drains its backlog yet); it is restarted with shedding after."""
    stack.extra_env["INTAKE_MAX_BACKLOG"] = "0"
    stack.start_services(["intake"])
    pid = stack.procs.procs["intake"].pid
    t0, cpu0 = time.perf_counter(), cpu_s(pid)
    await wait_process(loadgen(stack, keys_file, work / "hop-intake.json", 0, total=n))
    intake = json.loads((work / "hop-intake.json").read_text())
    hops = {"intake": len(intake["accepted"]) / (time.perf_counter() - t0)}
    # (includes its status projection and backlog polling, and the load generator's start-up)
    cpu_us = {"intake": (cpu_s(pid) - cpu0) / max(len(intake["accepted"]), 1) * 1e6}
    async with Kafka(stack.bootstrap) as kafka:
        for name, topic in STAGES:
            port = devstack.free_port()
            proc = stack.procs.start_service(name, {**stack.env(), "METRICS_PORT": str(port)},
                                             stack.log_dir / f"{name}.log")
            count, hops[name], cpu_us[name] = await time_stage(
                kafka, f"http://127.0.0.1:{port}/metrics", topic, name, proc.pid)
            print(f"  hop {name:20} {count:7d} records  {hops[name] or 0:8.0f} msg/s "
                  f"{cpu_us[name] or 0:7.0f} µs CPU/record", flush=True)
    return hops, cpu_us


class Routed:
    """Reads supervision.national: when each report reached it, from its receipt by intake."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(topics.SUPERVISION_NATIONAL.name,
                                         bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                         enable_auto_commit=False)
        self.seen: dict[str, tuple[float, float]] = {}  # report_id -> (received_at, routed_at)
        self._task = None

    async def start(self) -> None:
        await self.consumer.start()
        await asyncio.sleep(1)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    v = json.loads(r.value)
                    if v["report_id"] not in self.seen:
                        at = datetime.fromisoformat(v["received_at"]).timestamp()
                        self.seen[v["report_id"]] = (at, r.timestamp / 1000)

    async def until(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= self.seen.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()


async def end_to_end(stack: devstack.Stack, keys_file: Path, n: int, work: Path,
                     routed: Routed) -> dict:
    out = work / f"e2e-{secrets.token_hex(2)}.json"
    t0 = time.time()
    procs = {**{k: psutil.Process(p.pid) for k, p in stack.procs.procs.items()},
             **others(stack.bootstrap)}
    before = cpu(procs)
    await wait_process(loadgen(stack, keys_file, out, 0, total=n))
    accepted = set(json.loads(out.read_text())["accepted"])
    await routed.until(accepted, 600)
    await idle(stack.bootstrap, 30)  # alerting's share too
    spent = cpu_per_report(before, cpu(procs), len(accepted))
    got = [routed.seen[i] for i in accepted if i in routed.seen]
    # from the first receipt to the last routing (not counting the generator's start-up)
    first = min((r for r, _ in got), default=t0)
    last = max((t for _, t in got), default=t0)
    return {"accepted": len(accepted), "routed": len(got),
            "rate": len(got) / max(last - first, 1e-3), "missing": len(accepted) - len(got),
            "cpu_us_per_report": spent}


def rss_mb(stack: devstack.Stack) -> dict[str, float]:
    out = {}
    for name, proc in stack.procs.procs.items():
        try:
            out[name] = psutil.Process(proc.pid).memory_info().rss / 2**20
        except psutil.Error:
            pass
    return out


async def open_loop(stack: devstack.Stack, keys_file: Path, rate: float, duration: float,
                    work: Path, routed: Routed) -> dict:
    out = work / f"open-{int(rate)}.json"
    t0 = time.time()
    await wait_process(loadgen(stack, keys_file, out, rate, duration))
    result = json.loads(out.read_text())
    accepted = set(result["accepted"])
    await routed.until(accepted, 60)
    latencies = [routed.seen[i][1] - routed.seen[i][0] for i in accepted if i in routed.seen]
    # routed while the load was offered (the generator's clock: it starts after making reports)
    t0 = result["started_at"]
    in_window = sum(1 for i in accepted if i in routed.seen and routed.seen[i][1] <= t0 + duration)
    statuses = result["statuses"]
    return {"offered_per_s": rate, "duration_s": duration, "offered": result["offered"],
            "accepted": len(accepted), "shed": statuses.get("503", 0),
            "other": {k: v for k, v in statuses.items() if k not in ("202", "503")},
            "routed_per_s": in_window / duration,
            "p50_s": pct(latencies, 0.5), "p99_s": pct(latencies, 0.99),
            "http_p50_s": result["http_p50_s"], "http_p99_s": result["http_p99_s"],
            "missing": len(accepted) - len(latencies), "not_sent": result["not_sent"]}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=10000, help="reports for the hops and e2e")
    ap.add_argument("--rates", default="500,3000,6000",
                    help="open-loop offered rates (reports/s), comma-separated")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per open-loop rate")
    ap.add_argument("--json", default=str(HERE / "results" / "pipeline.json"))
    ap.add_argument("--no-scale-out", action="store_true")
    ap.add_argument("--scale-out", default="", metavar="STAGES",
                    help=f"stages to scale out, comma-separated ({', '.join(MODULES)}); default: "
                         "the slowest hop")
    ap.add_argument("--replicas", type=int, default=2, help="replicas against 1 in scale-out")
    ap.add_argument("--scale-out-reports", type=int, default=10000,
                    help="backlog each replica count drains (a short drain is all start-up)")
    args = ap.parse_args()
    scale_stages = [n for n in args.scale_out.split(",") if n]
    if unknown := set(scale_stages) - set(MODULES):
        ap.error(f"unknown stage(s) {', '.join(sorted(unknown))}: one of {', '.join(MODULES)}")

    rates = [float(r) for r in args.rates.split(",") if r]
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-"))
    report: dict = {"command": " ".join(["bench/pipeline.py", *sys.argv[1:]]),
                    "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}
    async with devstack.scratch_stack(work) as stack:
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(await devstack.issue_producer_keys(stack.database_url)))
        print(f"reference: raw aiokafka hop, {args.reports} msgs …", flush=True)
        broker_us: list[float] = []
        ref, report["raw_hop_cpu_us"] = await raw_hop(stack.bootstrap, args.reports, broker_us)
        report["raw_hop_per_s"] = ref
        print(f"  {ref:.0f} msg/s\nhops: {args.reports} reports, one service at a time …",
              flush=True)
        hops, cpu_us = await service_hops(stack, keys_file, args.reports, work)
        report["hops_per_s"], report["hops_cpu_us_per_record"] = hops, cpu_us
        stack.start_services(["supervision", "intake-status"])
        routed = Routed(stack.bootstrap)
        await routed.start()
        # closed loop: every report goes through (intake answers faster than the pipeline
        # drains; shedding would only leave reports out of the measurement)
        print(f"end to end: {args.reports} reports …", flush=True)
        e2e = report["end_to_end"] = await end_to_end(stack, keys_file, args.reports, work, routed)
        stack.procs.kill("intake", signal.SIGTERM)
        del stack.extra_env["INTAKE_MAX_BACKLOG"]  # the open loop: intake sheds as configured
        stack.start_services(["intake"])
        report["rss_mb_before_open_loop"] = rss_mb(stack)
        table = report["open_loop"] = []
        for rate in rates:
            print(f"open loop: {rate:.0f} reports/s for {args.duration:.0f} s …", flush=True)
            table.append(await open_loop(stack, keys_file, rate, args.duration, work, routed))
        report["rss_mb_after_open_loop"] = rss_mb(stack)
        print("reference again (the machine is shared), once the pipeline is idle …", flush=True)
        await idle(stack.bootstrap)
        report["raw_hop_again_per_s"], report["raw_hop_again_cpu_us"] = await raw_hop(
            stack.bootstrap, args.reports, broker_us)
        report["raw_hop_broker_cpu_us"] = sum(broker_us) / len(broker_us)
        ref = report["raw_hop_mean_per_s"] = (report["raw_hop_per_s"]
                                              + report["raw_hop_again_per_s"]) / 2
        await routed.stop()
        if not args.no_scale_out:
            if not scale_stages:
                scale_stages = [min((n for n, _ in STAGES if hops.get(n)), key=lambda n: hops[n])]

            async def submit(n: int) -> None:
                await wait_process(loadgen(stack, keys_file, work / f"fill-{secrets.token_hex(2)}"
                                           f".json", 0, total=n))

            report["scale_out"] = []
            for stage in scale_stages:
                print(f"scale-out: {stage}, 1 then {args.replicas} replicas, alone …", flush=True)
                report["scale_out"].append(await scale_out(
                    stack, stage, MODULES[stage], args.scale_out_reports, args.replicas, submit))
    report["load_at_end"] = os.getloadavg()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))

    print(f"\n{'measure':44} {'value':>10} {'/ raw hop':>10}")
    print(f"{'raw aiokafka hop, mean of first and last (msg/s)':44} {ref:10.0f} {1:10.2f}"
          f"   ({report['raw_hop_per_s']:.0f} and {report['raw_hop_again_per_s']:.0f})")
    raw_cpu = (report["raw_hop_cpu_us"] + report["raw_hop_again_cpu_us"]) / 2
    print(f"{'raw hop CPU per message (µs)':44} {raw_cpu:10.0f} {1:10.2f}   (the broker's: "
          f"{report['raw_hop_broker_cpu_us']:.0f})")
    for name, rate in hops.items():
        print(f"{'hop ' + name + ' (msg/s)':44} {rate or 0:10.0f} {(rate or 0) / ref:10.2f}")
    for name, us in cpu_us.items():
        print(f"{'hop ' + name + ' CPU per record (µs; raw/it)':44} {us or 0:10.0f} "
              f"{raw_cpu / (us or 1e9):10.2f}")
    print(f"{'end to end, intake -> national (reports/s)':44} {e2e['rate']:10.0f} "
          f"{e2e['rate'] / ref:10.2f}")
    spent = e2e["cpu_us_per_report"]
    print(f"{'end to end CPU per report, every process (µs)':44} {spent['all']:10.0f}   "
          f"(broker {spent['broker']:.0f}, PostgreSQL {spent['postgres']:.0f}, "
          f"services {spent['services']:.0f}; {os.cpu_count()} cores give "
          f"{os.cpu_count() * 1e6 / max(spent['all'], 1):.0f} reports/s at most)")
    print(f"{'':44} {'':10}   services: " + ", ".join(
        f"{k} {v}" for k, v in sorted(spent["each_service"].items(), key=lambda x: -x[1])))
    for so in report.get("scale_out", []):
        for k in (1, args.replicas):
            v = so[f"{k}x"]["per_s"] or 0
            print(f"{so['stage'] + f' alone, {k} replica(s) (msg/s)':44} {v:10.0f} {v / ref:10.2f}")
    print(f"\n{'offered/s':>10} {'routed/s':>9} {'p50 s':>7} {'p99 s':>7} {'accepted':>9} "
          f"{'shed':>7} {'missing':>8} {'http p50':>9} {'http p99':>9}")
    for row in table:
        print(f"{row['offered_per_s']:10.0f} {row['routed_per_s']:9.0f} "
              f"{row['p50_s'] or 0:7.3f} {row['p99_s'] or 0:7.3f} {row['accepted']:9d} "
              f"{row['shed']:7d} {row['missing']:8d} {row['http_p50_s'] or 0:9.3f} "
              f"{row['http_p99_s'] or 0:9.3f}")
    print(f"\nRSS MB before/after open loop: "
          + ", ".join(f"{k} {report['rss_mb_before_open_loop'].get(k, 0):.0f}/{v:.0f}"
                      for k, v in report["rss_mb_after_open_loop"].items()))
    print(f"load average {report['load_at_start']} -> {report['load_at_end']} "
          f"({report['cpus']} CPUs, shared); JSON: {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
