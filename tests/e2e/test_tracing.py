"""One report is one trace: spans exported over OTLP/HTTP by the five real service processes
(real broker, real database) share the report's trace id, and database spans carry no
parameters."""

import asyncio
import secrets
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mintrace import demo, devstack

pytestmark = pytest.mark.e2e

PIPELINE = ("intake", "validation", "license-matching", "provincial-routing", "alerting")


class OtlpReceiver:
    """A minimal OTLP/HTTP (protobuf) trace receiver: POST /v1/traces, spans kept in memory."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.rstrip("/") == "/v1/traces":
                    receiver._add(body)
                    self.send_response(200)
                    self.send_header("content-type", "application/x-protobuf")
                    self.end_headers()
                    self.wfile.write(b"")
                else:
                    self.send_response(404)
                    self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _add(self, body: bytes) -> None:
        req = ExportTraceServiceRequest.FromString(body)
        out = []
        for rs in req.resource_spans:
            service = next((a.value.string_value for a in rs.resource.attributes
                            if a.key == "service.name"), "")
            for ss in rs.scope_spans:
                for span in ss.spans:
                    out.append({"service": service, "name": span.name,
                                "trace_id": span.trace_id.hex(), "scope": ss.scope.name,
                                "attributes": {a.key: a.value for a in span.attributes}})
        with self._lock:
            self.spans += out

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> "OtlpReceiver":
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()


def _unlicensed_export(run: str) -> dict:
    # an export without a licence: passes validation, is routed to Jiangxi and raises an alert,
    # so every stage of the pipeline touches it
    return {
        "report_id": f"JX-{run}-trace", "schema_version": 1,
        "producer_id": demo.producer_ids()["JX1"], "facility_id": "JX1-SEP-01",
        "type": "export", "stage": "trading", "occurred_at": "2026-11-20T08:30:00+08:00",
        "lot_id": "LOT-T1", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
        "quantity": {"value": "250.000", "unit": "kg"},
        "value": {"amount": "65000.00", "currency": "USD"},
        "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE"},
        "export": {"licence_number": None, "destination_country": "DE",
                   "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
                   "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE"}},
    }


async def test_one_report_is_one_trace_across_all_five_services(make_stack):
    with OtlpReceiver() as otlp:
        stack = await make_stack(extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
                                            "OTEL_BSP_SCHEDULE_DELAY": "200"})
        keys = await devstack.issue_producer_keys(stack.database_url, ["JX1"])
        stack.start_services(list(PIPELINE))
        report = _unlicensed_export(secrets.token_hex(4))
        async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
            resp = await client.post("/v1/reports", json=report,
                                     headers={"Authorization": f"Bearer {keys['JX1']}"})
            assert resp.status_code == 202, resp.text

        def services_by_trace() -> dict[str, set[str]]:
            by_trace: dict[str, set[str]] = defaultdict(set)
            roots = {s["trace_id"] for s in otlp.snapshot()
                     if s["name"] == "reports.received publish"
                     and s["attributes"].get("mintrace.report_id").string_value
                     == report["report_id"]}
            for s in otlp.snapshot():
                if s["trace_id"] in roots:
                    by_trace[s["trace_id"]].add(s["service"])
            return by_trace

        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            traces = services_by_trace()
            if any(services >= set(PIPELINE) for services in traces.values()):
                break
            await asyncio.sleep(0.3)
        traces = services_by_trace()
        assert len(traces) == 1, f"the report started {len(traces)} traces"
        [(trace_id, services)] = traces.items()
        assert services >= set(PIPELINE), f"trace {trace_id} reached only {sorted(services)}"

        spans = [s for s in otlp.snapshot() if s["trace_id"] == trace_id]
        db_spans = [s for s in spans if "db.system" in s["attributes"]
                    or "db.system.name" in s["attributes"]]
        assert {s["service"] for s in db_spans} >= {"validation", "license-matching"}, \
            "database work of a one-report batch belongs to the report's trace"
        for s in db_spans:
            assert not any(k.startswith("db.statement.parameters") for k in s["attributes"]), s
            assert report["report_id"] not in str(s["attributes"]), s
