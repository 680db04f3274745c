"""A consuming service on the real broker and database exposes its health, readiness and
per-topic metrics (received, processed, DLQ, latency, consumer lag) on METRICS_PORT, and every
line it logs, FastStream's own included, is a JSON object."""

import asyncio
import json
import re

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from mintrace import devstack
from mintrace_common.examples import BY_MODEL

pytestmark = pytest.mark.e2e


def _samples(text: str, metric: str) -> dict[str, float]:
    """{label set: value} of one metric in Prometheus text format."""
    out = {}
    for m in re.finditer(rf"^{metric}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        out[m[1] or ""] = float(m[2])
    return out


def _lag(text: str) -> dict[str, float]:
    return {k: v for k, v in _samples(text, "mintrace_consumer_lag_messages").items()
            if 'topic="reports.received"' in k and 'group="validation"' in k}


async def test_consumer_metrics_health_and_json_logs_on_the_real_broker(make_stack):
    stack = await make_stack()
    port = devstack.free_port()
    log = stack.log_dir / "validation.log"
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    stack.procs.start_service("validation", {**stack.env(), "METRICS_PORT": str(port)}, log)
    await asyncio.to_thread(devstack.wait_port, "127.0.0.1", port, 60,
                            stack.procs.procs["validation"])

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        good = json.dumps(BY_MODEL["ReceivedReport"]).encode()
        for i in range(3):
            await producer.send_and_wait("reports.received", good, key=f"r{i}".encode())
        await producer.send_and_wait("reports.received", b"{not json", key=b"poison")
    finally:
        await producer.stop()

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        assert (await client.get("/healthz")).status_code == 200
        deadline = asyncio.get_running_loop().time() + 60
        while True:  # processed, then committed (about a second later) and the lag re-read
            text = (await client.get("/metrics")).text
            processed = _samples(text, "mintrace_messages_processed_total")
            if processed.get('{topic="reports.received"}') == 3.0 and _lag(text) and all(
                    v == 0 for v in _lag(text).values()) or \
                    asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.3)
        ready = await client.get("/readyz")

    assert ready.status_code == 200, ready.text
    topic = '{topic="reports.received"}'
    assert _samples(text, "mintrace_messages_processed_total")[topic] == 3
    assert _samples(text, "mintrace_messages_received_total")[topic] == 4
    assert _samples(text, "mintrace_messages_dead_lettered_total")[topic] == 1
    assert _samples(text, "mintrace_processing_latency_seconds_count")[topic] == 3
    assert _samples(text, "mintrace_batch_seconds_count")[topic] >= 1
    lag = _lag(text)
    assert lag and all(v == 0 for v in lag.values()), lag

    stack.procs.stop()
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    assert lines
    events = [json.loads(ln) for ln in lines]  # raises on any plain-text line
    assert all(e.get("service") == "validation" for e in events)
    assert any(e.get("logger", "").startswith("faststream") for e in events), \
        "FastStream's own lines go through the JSON renderer"
    assert any(e.get("event") == "message.dead_lettered" for e in events)
