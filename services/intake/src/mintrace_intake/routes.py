"""Report submission and status (SPEC §4)."""

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import to_json

from mintrace_common.http import StorableRoute
from mintrace_common.models import REPORT_ID_PATTERN, Report

from . import bodies, openapi, store
from .acceptance import accept
from .bodies import HTTPProblem
from .context import Intake, current_producer, intake
from .schemas import BatchResult, Receipt, ReportStatus, answers, producer_alert

MAX_BATCH_ITEMS = 1000
router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=StorableRoute)


class _JSON(JSONResponse):
    """JSONResponse encoded by pydantic-core (the same compact UTF-8 JSON, several times faster
    than the standard library on a batch's hundreds of results)."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


def parse(item: Any, producer_id: str, prefix: str = "") -> Report:
    """A well-formed report of this producer, or 422 with every structural problem / 403."""
    try:
        report = Report.model_validate(item)
    except ValidationError as exc:
        raise HTTPProblem(422, "malformed report", bodies.problems_of(exc, prefix)) from None
    if report.producer_id != producer_id:
        raise HTTPProblem(403, "producer_id names another producer")
    return report


@router.post("", status_code=202, summary="Submit one report",
             response_model=Receipt, openapi_extra=openapi.REPORT_BODY,
             responses=answers(401, 403, 409, 413, 415, 422, 429, 503))
async def submit(request: Request, producer_id: str = Depends(current_producer),
                 ctx: Intake = Depends(intake)) -> JSONResponse:
    ctx.shed()
    ctx.charge(producer_id, 1)
    bodies.require_type(request.headers.get("content-type", ""), bodies.JSON_TYPES)
    body = await bodies.read_body(request.stream(), request.headers.get("content-length"),
                                  ctx.settings.intake_max_report_bytes)
    report = parse(bodies.one(body), producer_id)
    ctx.admit(1)
    result = (await accept(ctx, producer_id, [report]))[0]
    status = result.pop("status")
    if status != 202:
        raise HTTPProblem(status, result["detail"])
    return JSONResponse(result, status_code=202)


@router.post("/batch", summary="Submit up to 1,000 reports (JSON array or NDJSON)",
             description="One result per report, in order: a receipt (202) or why that report "
                         "was refused (403, 409, 413, 422). Reports of one batch are accepted "
                         "or refused independently.",
             response_model=BatchResult, openapi_extra=openapi.BATCH_BODY,
             responses=answers(401, 403, 413, 415, 422, 429, 503))
async def submit_batch(request: Request, producer_id: str = Depends(current_producer),
                       ctx: Intake = Depends(intake)) -> JSONResponse:
    ctx.shed()
    ctx.charge(producer_id, 1)  # every request costs, even one that turns out malformed
    bodies.require_type(request.headers.get("content-type", ""),
                        bodies.JSON_TYPES + bodies.NDJSON_TYPES)
    body = await bodies.read_body(request.stream(), request.headers.get("content-length"),
                                  ctx.settings.intake_max_batch_bytes)
    results: list[dict] = []
    good: list[tuple[int, Report]] = []
    for i, item in enumerate(bodies.items(body, request.headers.get("content-type", ""),
                                          MAX_BATCH_ITEMS, ctx.settings.intake_max_report_bytes)):
        try:
            if isinstance(item, HTTPProblem):
                raise item
            good.append((i, parse(item, producer_id, f"[{i}]")))
            results.append({})
        except HTTPProblem as p:
            results.append(p.item(i))
    if len(results) > 1:
        ctx.charge(producer_id, len(results) - 1)
    if good:
        ctx.admit(len(good))
        for (i, _), result in zip(good, await accept(ctx, producer_id, [r for _, r in good])):
            results[i] = {"index": i, **result}
    counts: dict[str, int] = {}
    for r in results:
        counts[str(r["status"])] = counts.get(str(r["status"]), 0) + 1
    return _JSON({"results": results, "counts": counts}, status_code=200)


@router.get("/{report_id}", summary="A report's path through the pipeline (its producer only)",
            response_model=ReportStatus, responses=answers(401, 403, 404, 422, 429, 503))
async def get_status(report_id: str, producer_id: str = Depends(current_producer),
                     ctx: Intake = Depends(intake)) -> JSONResponse:
    # Another producer's report answers exactly like one that does not exist, and so does a
    # claim whose publication was never acknowledged (it was never accepted). A claim the
    # pipeline moved past "received" was acknowledged, even if marking it published failed.
    row = (await store.status(ctx.res.pool, producer_id, report_id)
           if re.fullmatch(REPORT_ID_PATTERN, report_id) else None)
    if row is None or not (row["published"] or row["state"] != "received"):
        raise HTTPProblem(404, "no such report")
    return JSONResponse({
        "report_id": report_id, "producer_id": producer_id, "state": row["state"],
        "received_at": row["received_at"].isoformat(), "content_hash": row["content_hash"],
        "problems": row["problems"], "warnings": row["warnings"] or [],
        "licence": row["licence"], "province_code": row["province_code"],
        "alerts": [producer_alert(a) for a in row["alerts"]],
        "updated_at": row["updated_at"].isoformat(),
        "cancelled_at": row["cancelled_at"].isoformat() if row["cancelled_at"] else None})
