"""Per-service metrics (Prometheus text format) and the /healthz, /readyz, /metrics listener."""

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.counters = {
            "consumed_total": Counter("mintrace_messages_received_total",
                                      "Messages received from a topic", ["topic"]),
            "processed_total": Counter("mintrace_messages_processed_total",
                                       "Messages processed", ["topic"]),
            "dlq_total": Counter("mintrace_messages_dead_lettered_total",
                                 "Messages sent to a DLQ", ["topic"]),
            "received_total": Counter("mintrace_reports_received_total",
                                      "Reports accepted by intake", []),
            "retries_total": Counter("mintrace_stage_retries_total",
                                     "Batches rewound after a transient failure", ["topic"]),
            "rejected_total": Counter("mintrace_reports_rejected_total",
                                      "Reports rejected", ["stage"]),
            "fx_rate_missing_total": Counter(
                "mintrace_fx_rate_missing_total",
                "Routed reports whose value has no registry rate to USD (not converted)",
                ["currency"]),
        }
        self.histograms = {
            "batch_seconds": Histogram("mintrace_batch_seconds", "Time to process one batch",
                                       ["topic"]),
            "latency_seconds": Histogram(
                "mintrace_processing_latency_seconds",
                "From a record's broker timestamp until it was processed", ["topic"],
                buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300)),
        }
        self.gauges = {
            "consumer_lag": Gauge("mintrace_consumer_lag_messages",
                                  "Records not yet consumed, per partition",
                                  ["topic", "partition", "group"]),
        }

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        c = self.counters[name]
        (c.labels(**labels) if labels else c).inc(n)

    def observe(self, name: str, value: float, **labels: str) -> None:
        h = self.histograms[name]
        (h.labels(**labels) if labels else h).observe(value)


    def set(self, name: str, value: float, **labels: str) -> None:
        g = self.gauges[name]
        (g.labels(**labels) if labels else g).set(value)


METRICS = Metrics()

Check = Callable[[], Awaitable[bool]]


async def serve_health(host: str, port: int, ready: Check) -> asyncio.AbstractServer:
    """A tiny HTTP listener: /healthz (process alive), /readyz (`ready()` true), /metrics."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            path = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            if path.startswith("/metrics"):
                status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest()
            elif path.startswith("/readyz"):
                ok = await _safe(ready)
                status = "200 OK" if ok else "503 Service Unavailable"
                ctype, body = "text/plain", b"ready\n" if ok else b"not ready\n"
            elif path.startswith("/healthz"):
                status, ctype, body = "200 OK", "text/plain", b"ok\n"
            else:
                status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def _safe(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), 3)
    except Exception:
        return False
