"""The HTTP intake (SPEC §4). A report is accepted (202) only once the broker acknowledged it."""

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from mintrace_common import telemetry, topics
from mintrace_common.kafka import JSON
from mintrace_common.metrics import METRICS
from mintrace_common.models import Problem, ReceivedReport, Report
from mintrace_common.service import Resources

from . import store

MAX_REPORT_BYTES = 256 * 1024
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_BATCH_ITEMS = 1000
KEY_CACHE_SECONDS = 30.0
log = telemetry.get_logger(__name__)


class HTTPProblem(Exception):
    def __init__(self, status: int, detail: str, problems: list[Problem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.problems, self.headers = status, detail, problems, headers


def problems_of(exc: ValidationError, prefix: str = "") -> list[Problem]:
    out = []
    for e in exc.errors(include_url=False):
        path = ".".join(str(p) for p in e["loc"])
        out.append(Problem(code=f"SCHEMA_{e['type'].upper()}",
                           path=f"{prefix}{path}" if path else prefix.rstrip(".") or "$",
                           message=e["msg"]))
    return out


def content_hash(report: Report) -> str:
    return hashlib.sha256(report.model_dump_json().encode()).hexdigest()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` (before parsing)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_api(res: Resources, publish: Callable[..., Any], lifespan,
               ready: Callable[[], Awaitable[bool]] | None = None) -> FastAPI:
    app = FastAPI(title="mintrace intake", version="1",
                  description="Submit critical-mineral transaction reports (Report v1).",
                  lifespan=lifespan)
    key_cache: dict[str, tuple[float, tuple[str, str] | None]] = {}

    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.problems is not None:
            body["problems"] = [p.model_dump() for p in exc.problems]
        return JSONResponse(body, exc.status, headers=exc.headers)

    async def producer_of(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPProblem(401, "missing bearer key", headers={"WWW-Authenticate": "Bearer"})
        now = time.monotonic()
        hit = key_cache.get(key)
        if hit is None or hit[0] < now:
            hit = (now + KEY_CACHE_SECONDS, await store.authenticate(res.pool, key.strip()))
            key_cache[key] = hit
        if hit[1] is None or hit[1][0] != "producer":
            raise HTTPProblem(401, "invalid or revoked key", headers={"WWW-Authenticate": "Bearer"})
        return hit[1][1]

    async def accept(producer_id: str, reports: list[Report]) -> dict[str, dict]:
        """Claim, publish and confirm a list of well-formed reports of one producer."""
        now = datetime.now(UTC)
        hashes = {r.report_id: content_hash(r) for r in reports}
        stored = await store.claim(res.pool, producer_id, list(hashes.items()), now)
        results: dict[str, dict] = {}
        to_publish: list[ReceivedReport] = []
        for r in reports:
            h, published, received_at = stored[r.report_id]
            if h != hashes[r.report_id]:
                results[r.report_id] = {"status": 409, "detail": "report_id already used for "
                                        "different content"}
                continue
            duplicate = published or received_at != now
            results[r.report_id] = {"status": 202, "report_id": r.report_id,
                                    "producer_id": producer_id, "duplicate": duplicate,
                                    "received_at": received_at.isoformat(), "content_hash": h,
                                    "status_url": f"/v1/reports/{r.report_id}"}
            if not published and r.report_id not in {x.report_id for x in to_publish}:
                to_publish.append(ReceivedReport(producer_id=producer_id, report_id=r.report_id,
                                                 received_at=received_at, content_hash=h,
                                                 report=r))
        if to_publish:
            await publish(to_publish)
            await store.mark_published(res.pool, producer_id, [x.report_id for x in to_publish])
            METRICS.inc("received_total", len(to_publish))
        return results

    def parse(item: Any, producer_id: str, prefix: str = "") -> Report:
        try:
            report = Report.model_validate(item)
        except ValidationError as exc:
            raise HTTPProblem(422, "malformed report", problems_of(exc, prefix)) from None
        if report.producer_id != producer_id:
            raise HTTPProblem(403, "producer_id names another producer")
        return report

    @app.post("/v1/reports", status_code=202, summary="Submit one report")
    async def submit(request: Request) -> JSONResponse:
        producer_id = await producer_of(request)
        body = await read_body(request, MAX_REPORT_BYTES)
        try:
            item = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPProblem(422, "body is not JSON", [Problem(code="INVALID_JSON", path="$",
                                                                message=str(exc))]) from None
        report = parse(item, producer_id)
        result = (await accept(producer_id, [report]))[report.report_id]
        return JSONResponse(result, status_code=result.pop("status"))

    @app.post("/v1/reports/batch", summary="Submit up to 1,000 reports (JSON array or NDJSON)")
    async def submit_batch(request: Request) -> JSONResponse:
        producer_id = await producer_of(request)
        body = await read_body(request, MAX_BATCH_BYTES)
        items = _items(body, request.headers.get("content-type", ""))
        if len(items) > MAX_BATCH_ITEMS:
            raise HTTPProblem(413, f"a batch holds at most {MAX_BATCH_ITEMS} reports")
        results: list[dict] = [{}] * len(items)
        good: list[tuple[int, Report]] = []
        for i, item in enumerate(items):
            try:
                good.append((i, parse(item, producer_id, f"[{i}].")))
            except HTTPProblem as p:
                results[i] = {"index": i, "status": p.status, "detail": p.detail,
                              **({"problems": [x.model_dump() for x in p.problems]}
                                 if p.problems else {})}
        unique = list({r.report_id: r for _, r in good}.values())
        accepted = await accept(producer_id, unique) if unique else {}
        for i, r in good:
            results[i] = {"index": i, **accepted[r.report_id]}
        counts: dict[str, int] = {}
        for r in results:
            counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
        return JSONResponse({"results": results, "counts": counts}, status_code=200)

    @app.get("/v1/reports/{report_id}", summary="A report's status through the pipeline")
    async def get_status(report_id: str, request: Request) -> JSONResponse:
        producer_id = await producer_of(request)
        row = await store.status(res.pool, producer_id, report_id)
        if row is None:
            raise HTTPProblem(404, "no such report")
        return JSONResponse({
            "report_id": report_id, "producer_id": producer_id, "state": row["state"],
            "received_at": row["received_at"].isoformat(), "content_hash": row["content_hash"],
            "problems": row["problems"], "licence": row["licence"],
            "province_code": row["province_code"], "alerts": row["alerts"],
            "updated_at": row["updated_at"].isoformat()})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = ready is None or await ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, 200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _items(body: bytes, content_type: str) -> list[Any]:
    try:
        if "ndjson" in content_type or "jsonl" in content_type:
            return [json.loads(line) for line in body.splitlines() if line.strip()]
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPProblem(422, "body is not JSON",
                          [Problem(code="INVALID_JSON", path="$", message=str(exc))]) from None
    if not isinstance(data, list):
        raise HTTPProblem(422, "a batch is a JSON array",
                          [Problem(code="BATCH_NOT_ARRAY", path="$", message="expected an array")])
    return data
