"""The supervision API: every listing scoped to a province (or `national`) and paginated by keyset
(`next_cursor`); alert cases (SPEC §7) read and worked through the same scope. A provincial key
reaches only its own province."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, TypeAdapter

from mintrace_common import http
from mintrace_common.health import CachedCheck
from mintrace_common.http import HTTPProblem, StorableRoute
from mintrace_common.keycache import KeyCache
from mintrace_common.models import Alert, AlertType, Problem, ReportType, RollupRow, Severity
from mintrace_common.provinces import BY_SLUG, NATIONAL
from mintrace_common.service import Resources

from . import casework, console, pages, store
from .access import UnknownScope, check_scope, may_read
from .cases import Action, InvalidTransition

MAX_LIMIT = 500
KEYS = {"reports": TypeAdapter(tuple[int]),
        "alerts": TypeAdapter(tuple[AwareDatetime, str]),
        "rollup": TypeAdapter(tuple[date, str, str, str, str])}
ANSWERS = http.problem_answers({
    401: "no valid supervisor key", 403: "this key may not read that province",
    404: "no such province or alert", 409: "the case action does not apply in the case's state",
    422: "malformed or unstorable input: every problem listed",
    429: "too many unknown keys: retry after Retry-After seconds",
    503: "database unavailable: retry"})


def create_api(res: Resources, lifespan, publish: casework.Publish,
               key_cache_s: float = 5.0) -> FastAPI:
    app = FastAPI(title="mintrace supervision", version="1", lifespan=lifespan,
                  description="A province's routed reports, alerts and rollups, and the cases "
                              "its supervisors work alerts in. Authorization: Bearer "
                              "<supervisor key> (`mintrace keys issue --supervisor "
                              "<slug>|national --name NAME`). The console is at /console/.")
    app.router.route_class = StorableRoute
    keys = KeyCache.configured(lambda key: store.authenticate(res.pool, key),
                               key_cache_s, res.settings)

    # Documented as the scopes there are; any other answers 404 (not 422), as it always has.
    Province = Annotated[str, Path(description="a province slug, or `national`",
                                   json_schema_extra={"enum": [*BY_SLUG, NATIONAL]})]

    async def supervisor(province: Province, request: Request) -> tuple[str | None, str]:
        """(the province code to filter on (None: national), the key holder's name), once the
        key may reach `province`."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPProblem(401, "missing bearer key", headers={"WWW-Authenticate": "Bearer"})
        who = await keys.identify(key.strip(), request.client.host if request.client else None)
        if who is None:
            raise HTTPProblem(401, "invalid or revoked key", headers={"WWW-Authenticate": "Bearer"})
        try:
            code = check_scope(province)
        except UnknownScope:
            raise HTTPProblem(404, f"unknown province {province!r}: a slug such as "
                                   "'jiangxi', or 'national'") from None
        if not may_read(*who[:2], province):
            raise HTTPProblem(403, f"this key may not read {province!r}")
        return code, who[2]

    async def scope_of(who: Annotated[tuple[str | None, str], Depends(supervisor)]) -> str | None:
        return who[0]

    Scope = Annotated[str | None, Depends(scope_of)]
    Supervisor = Annotated[tuple[str | None, str], Depends(supervisor)]
    Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
    Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
    Since = Annotated[AwareDatetime | None, Query(description="from this instant (inclusive)")]
    Until = Annotated[AwareDatetime | None, Query(description="before this instant (exclusive)")]

    def after(kind: str, cursor: str | None) -> tuple | None:
        if cursor is None:
            return None
        try:
            return pages.decode(kind, cursor, KEYS[kind])
        except pages.BadCursor as exc:
            raise HTTPProblem(422, "malformed cursor", [
                Problem(code="CURSOR_INVALID", path="query.cursor", message=str(exc))]) from None

    def page(items: list[Any], limit: int, kind: str, key, cut: bool = False) -> dict:
        """The first `limit` items and, when more follow (`cut`: the store stopped short of
        them), the cursor after the last one."""
        more = cut or len(items) > limit
        items = items[:limit]
        return {"items": [i for i, _ in items],
                "next_cursor": pages.encode(kind, key(items[-1][1])) if more else None}

    @app.get("/v1/supervision/{province}/reports", responses=ANSWERS,
             summary="Routed reports (supervision records, every decision attached), "
                     "in routing order; time filters apply to occurred_at. A page ends after "
                     "`limit` items or once its records pass 4 MiB: follow next_cursor")
    async def list_reports(scope: Scope, limit: Limit = 100, cursor: Cursor = None,
                           since: Since = None, until: Until = None, material: str | None = None,
                           type: ReportType | None = None, producer_id: str | None = None,
                           report_id: str | None = None) -> dict:
        key = after("reports", cursor)
        rows = await store.reports(res.pool, store.Filters(scope, since, until, material, type,
                                                           producer_id, report_id),
                                   key[0] if key else None, limit + 1)
        return page([(r["record"], r) for r in rows], limit, "reports", lambda r: [r["seq"]],
                    cut=bool(rows) and len(rows) < rows[0]["found"])

    @app.get("/v1/supervision/{province}/alerts", responses=ANSWERS,
             summary="Alerts, by raised_at; `material` matches the material of the cited reports")
    async def list_alerts(scope: Scope, limit: Limit = 100, cursor: Cursor = None,
                          since: Since = None, until: Until = None, material: str | None = None,
                          type: AlertType | None = None, severity: Severity | None = None,
                          producer_id: str | None = None,
                          status: Literal["open", "assigned", "closed"] | None = None) -> dict:
        rows = await store.alerts(res.pool, store.Filters(scope, since, until, material, type,
                                                          producer_id), severity,
                                  after("alerts", cursor), limit + 1, status)
        return page([(alert_item(r), r) for r in rows], limit, "alerts",
                    lambda r: [r["raised_at"], r["alert_id"]])

    @app.get("/v1/supervision/{province}/alerts/{alert_id}", responses=ANSWERS,
             summary="An alert with its case: status, assignee, outcome and the whole history")
    async def alert_detail(alert_id: str, scope: Scope) -> dict:
        try:
            return await casework.detail(res.pool, scope, alert_id)
        except casework.AlertNotFound:
            raise HTTPProblem(404, f"no alert {alert_id!r} in this province") from None

    @app.post("/v1/supervision/{province}/alerts/{alert_id}/actions", responses=ANSWERS,
              summary="Act on an alert's case: assign, note, close (with an outcome), reopen")
    async def alert_action(alert_id: str, action: Action, who: Supervisor) -> dict:
        try:
            return await casework.act(res.pool, publish, who[1], who[0], alert_id, action)
        except casework.AlertNotFound:
            raise HTTPProblem(404, f"no alert {alert_id!r} in this province") from None
        except InvalidTransition as exc:
            raise HTTPProblem(409, str(exc)) from None

    @app.get("/v1/supervision/{province}/alerts/{alert_id}/evidence", responses=ANSWERS,
             summary="Every report id an alert cites, in pages (alert records carry at most "
                     "the first 100 and `evidence_total`)")
    async def alert_evidence(scope: Scope, alert_id: str, limit: Limit = 500,
                             offset: Annotated[int, Query(ge=0)] = 0) -> dict:
        found = await store.evidence(res.pool, scope, alert_id, offset, limit)
        if found is None:
            raise HTTPProblem(404, f"no alert {alert_id!r} in this province")
        total, ids = found
        return {"alert_id": alert_id, "evidence_total": total, "report_ids": ids,
                "next_offset": offset + len(ids) if offset + len(ids) < total else None}

    @app.get("/v1/supervision/{province}/rollup", responses=ANSWERS,
             summary="Daily aggregates (China Standard Time days) per province × material × "
                     "type × destination country")
    async def list_rollup(scope: Scope, limit: Limit = 100, cursor: Cursor = None,
                          since: date | None = None, until: date | None = None,
                          material: str | None = None, type: ReportType | None = None,
                          destination_country: str | None = None,
                          producer_id: str | None = None) -> dict:
        if producer_id is not None:
            raise HTTPProblem(422, "the rollup is not kept per producer; list the producer's "
                                   "reports instead")
        rows = await store.rollup(res.pool, store.Filters(scope, None, None, material, type),
                                  since, until, destination_country, after("rollup", cursor),
                                  limit + 1)
        return page([(RollupRow(**dict(r)).model_dump(mode="json"), r) for r in rows], limit,
                    "rollup", lambda r: [r[k] for k in store.ROLLUP_KEY])

    @app.get("/v1/supervision/{province}/producers/{producer_id}", responses=ANSWERS,
             summary="A producer as the province sees it: its facilities there and, for an "
                     "exporter, its licences with their remaining balances")
    async def producer(producer_id: str, scope: Scope) -> dict:
        async with res.pool.acquire() as conn:
            found = await store.producer(conn, producer_id, scope)
        if found is None:
            raise HTTPProblem(404, f"no producer {producer_id!r} in this province")
        return jsonable_encoder({**found, "facilities": [dict(f) for f in found["facilities"]],
                                 "licences": [dict(x) for x in found["licences"]]},
                                custom_encoder={Decimal: str})

    @app.get("/v1/supervision/{province}/webhooks", responses=ANSWERS,
             summary="The province's webhooks and their latest delivery attempts")
    async def webhook_log(scope: Scope, limit: Limit = 100) -> dict:
        async with res.pool.acquire() as conn:
            hooks = await store.webhooks(conn, scope, every=scope is None)
        log = await store.delivery_log(res.pool, scope, limit)
        return jsonable_encoder({"webhooks": [dict(h) for h in hooks],
                                 "deliveries": [dict(d) for d in log]})

    console.mount(app, res, publish, keys)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    async def database_answers() -> bool:
        async with res.pool.acquire(timeout=2) as conn:
            return await conn.fetchval("SELECT 1") == 1

    ready = CachedCheck(database_answers)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when the database answers (this service reads nothing from Kafka)."""
        ok = await ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, 200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    http.install(app)
    return app


def alert_item(row) -> dict:
    """An alert of a listing, with its case's status, assignee and outcome (`case`)."""
    return {**store.alert_of(row).model_dump(mode="json"),
            "case": {"status": row["case_status"], "assignee": row["assignee"],
                     "outcome": row["outcome"]}}
