"""Documented shapes of intake's answers (OpenAPI); the endpoints build them as plain dicts."""

from datetime import datetime

from pydantic import BaseModel

from mintrace_common.http import ProblemDetail
from mintrace_common.models import Problem


class Receipt(BaseModel):
    report_id: str
    producer_id: str
    duplicate: bool
    received_at: datetime
    content_hash: str
    status_url: str


class BatchItem(BaseModel):
    """One report of a batch: a receipt (status 202) or why it was refused (409/403/413/422)."""

    index: int
    status: int
    report_id: str | None = None
    producer_id: str | None = None
    duplicate: bool | None = None
    received_at: datetime | None = None
    content_hash: str | None = None
    status_url: str | None = None
    detail: str | None = None
    problems: list[Problem] | None = None


class BatchResult(BaseModel):
    results: list[BatchItem]
    counts: dict[str, int]


class ReportAlert(BaseModel):
    """An alert raised on the report: its type, not how it was detected."""
    alert_id: str
    type: str
    raised_at: datetime | None  # None: recorded before raised_at was kept


def producer_alert(entry: dict) -> dict:
    """An alert as the producer of its report sees it: that it was raised and its type, never
    how it was detected (summary, evidence and details name watchlist entries, match scores,
    reference prices: they stay with the supervisors). Also hides what entries stored before
    this held."""
    return {k: entry.get(k) for k in ReportAlert.model_fields}


class ReportStatus(BaseModel):
    report_id: str
    producer_id: str
    state: str  # received | validated | licensed | routed | rejected
    received_at: datetime
    content_hash: str
    problems: list[Problem] | None
    warnings: list[Problem]
    licence: dict | None
    province_code: str | None
    alerts: list[ReportAlert]
    cancelled_at: datetime | None = None
    updated_at: datetime


def answers(*statuses: int) -> dict:
    """The `responses=` of a route: each refusal status with the problem shape."""
    described = {401: "no valid producer key", 403: "the key's producer may not do this",
                 404: "no such report of this producer", 409: "report_id used for other content",
                 413: "body or batch too large",
                 415: "not application/json (batches: or application/x-ndjson)",
                 422: "malformed: every problem listed",
                 429: "rate limit (the producer's, or of unknown keys): retry after "
                      "Retry-After seconds",
                 503: "broker or database unavailable: retry"}
    return {s: {"model": ProblemDetail, "description": described[s]} for s in statuses}
