"""Peak memory (RSS) of the intake process for one batch request: a 16 MiB batch holding a single
report (an `inputs` list of millions of tiny elements — the most Python objects per byte a
JSON body can make), beside a normal batch of 1,000 simulated reports. Intake pods are limited
to 512 Mi. Each case runs in a fresh intake process (real broker and PostgreSQL), warmed up
with one accepted report; the peak is read from /proc (VmHWM, reset just before the request).

    .venv/bin/python bench/intake_batch_memory.py
"""

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx

from mintrace import devstack, simulator

MIB = 1024 * 1024


def huge_single_item_batch(report: dict) -> bytes:
    """A batch of one report whose `inputs` list fills 16 MiB (just under the batch limit)."""
    head = b'[{"inputs": ['
    tail = b'], "report_id": "' + report["report_id"].encode() + b'"}]'
    count = (16 * MIB - len(head) - len(tail) - 1024) // 5
    return head + b", ".join([b"[0]"] * count) + tail


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def measure(stack: devstack.Stack, key: str, warm_up: dict, body: bytes) -> dict:
    """A fresh intake, warmed up, then one request: its answer and the process's memory."""
    if "intake" in stack.procs.procs:
        stack.procs.kill("intake")
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    stack.restart("intake")
    devstack.wait_port("127.0.0.1", stack.http_port, 60, stack.procs.procs["intake"])
    pid = stack.procs.procs["intake"].pid
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=300) as client:
        warm = await client.post("/v1/reports/batch", json=[warm_up], headers=auth)
        assert warm.status_code == 200 and warm.json()["counts"] == {"202": 1}, warm.text
        before = status_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        t0 = time.perf_counter()
        resp = await client.post("/v1/reports/batch", content=body,
                                 headers={**auth, "content-type": "application/json"})
        seconds = time.perf_counter() - t0
    answer = resp.json().get("counts") or resp.json().get("detail")
    return {"status": resp.status_code, "answer": answer, "seconds": seconds,
            "rss_before_mib": before / 1024, "peak_mib": status_kb(pid, "VmHWM") / 1024}


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mintrace-bench-memory-"))
    pop = simulator.Population(seed=7, anomaly_rate=0.0)
    submissions = [pop.next() for _ in range(8000)]
    producer, reports = max(simulator.per_producer((s.producer, s.report) for s in submissions),
                            key=lambda chunk: len(chunk[1]))
    assert len(reports) == 1000, len(reports)
    normal = json.dumps(reports).encode()
    same_producer = [r for (p, r) in ((s.producer, s.report) for s in submissions)
                     if p == producer and r not in reports]
    cases = [("16 MiB batch, one report", huge_single_item_batch(reports[0])),
             ("1,000-report batch", normal)]
    rows = []
    async with devstack.scratch_stack(work) as stack:
        key = (await devstack.issue_producer_keys(stack.database_url, [producer]))[producer]
        for (name, body), warm_up in zip(cases, same_producer):
            print(f"{name}: {len(body) / MIB:.1f} MiB …", flush=True)
            rows.append((name, len(body), await measure(stack, key, warm_up, body)))
    print()
    print(f"{'case':28} {'body MiB':>8} {'RSS before':>10} {'peak RSS':>9} {'growth':>7} "
          f"{'seconds':>7}  answer")
    for name, size, m in rows:
        print(f"{name:28} {size / MIB:8.1f} {m['rss_before_mib']:10.0f} {m['peak_mib']:9.0f} "
              f"{m['peak_mib'] - m['rss_before_mib']:7.0f} {m['seconds']:7.2f}  "
              f"{m['status']} {m['answer']}")
    print("(MiB; intake pods are limited to 512 Mi)")


if __name__ == "__main__":
    asyncio.run(main())
