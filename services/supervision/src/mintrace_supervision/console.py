"""The console for people (`/console/`): server-rendered pages over the same service functions as
the API. Sign-in with a supervisor key opens a session (HttpOnly, SameSite=Strict cookie; the
token's hash is stored); every state-changing form carries the session's CSRF token; pages are
sent with a CSP that allows only the service's own scripts (htmx, vendored)."""

import csv
import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from mintrace_common.provinces import BY_CODE, PROVINCES
from mintrace_common.http import StorableRoute
from mintrace_common.keycache import KeyCache, TooManyUnknownKeys
from mintrace_common.service import Resources

from . import casework, charts, i18n, store
from .access import UnknownScope, check_scope, may_read
from .cases import Action, InvalidTransition

HERE = Path(__file__).parent
SESSION = "mt_session"
LANG = "mt_lang"
ALERT_TYPES = ("UNLICENSED_EXPORT", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED",
               "WATCHLIST_COUNTERPARTY", "SPLIT_SHIPMENTS", "VOLUME_SPIKE", "PRICE_ANOMALY",
               "MASS_BALANCE", "UNCONFIRMED_TRANSFER", "TRANSSHIPMENT_RISK")
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "assigned", "closed")
OUTCOMES = ("confirmed_violation", "no_violation", "referred")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# autoescape everything: every producer-supplied text (names, ids, notes) is shown as text
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"),
                                            autoescape=True))
templates.env.globals.update(PROVINCES=PROVINCES, BY_CODE=BY_CODE, LANGUAGES=i18n.LANGUAGES,
                             ALERT_TYPES=ALERT_TYPES, SEVERITIES=SEVERITIES, STATUSES=STATUSES,
                             OUTCOMES=OUTCOMES)


@dataclass(frozen=True)
class Person:
    kind: str
    subject: str
    name: str
    csrf: str


class Redirect(Exception):
    def __init__(self, to: str) -> None:
        self.to = to


class Refusal(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        self.status, self.title, self.message = status, title, message


def mount(app: FastAPI, res: Resources, publish: casework.Publish, keys: KeyCache) -> None:
    """The console's routes, its static files (/console/static) and its headers. Sign-in asks
    `keys`, the API's key cache, so a flood of made-up keys at the form costs the database no more
    than one at the API."""
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(_router(res, publish, keys))

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith("/console"):
            for k, v in HEADERS.items():
                response.headers.setdefault(k, v)
        return response

    @app.exception_handler(Redirect)
    async def _redirect(_: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.to, 303)

    @app.exception_handler(Refusal)
    async def _refused(request: Request, exc: Refusal) -> Response:
        return render(request, "error.html", {"title": exc.title, "message": exc.message},
                      exc.status)


def language(request: Request) -> str:
    return i18n.choose(request.cookies.get(LANG), request.headers.get("accept-language"))


def render(request: Request, template: str, context: dict, status: int = 200,
           person: Person | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    lang = language(request)
    return templates.TemplateResponse(request, template, {
        "_": i18n.translator(lang), "lang": lang, "person": person,
        "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context}, status_code=status, headers=headers)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request) -> bool:
    """A cross-site POST carries a foreign Origin; no Origin (older clients, scripts) passes:
    the SameSite=Strict cookie and the CSRF token already bind the rest."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _router(res: Resources, publish: casework.Publish, keys: KeyCache) -> APIRouter:
    r = APIRouter(prefix="/console", include_in_schema=False, route_class=StorableRoute)
    session_hours = getattr(res.settings, "console_session_hours", 12.0)

    async def person(request: Request) -> Person:
        token = request.cookies.get(SESSION)
        row = await store.session(res.pool, token) if token else None
        if row is None or row["kind"] != "supervisor":
            raise Redirect("/console/login")
        return Person(row["kind"], row["subject"], row["name"], row["csrf"])

    async def checked(request: Request) -> tuple[Person, dict]:
        """The person and the form of a state-changing request, once its CSRF token and origin
        match."""
        who = await person(request)
        form = dict(await request.form())
        if not _same_origin(request) or not hmac.compare_digest(
                str(form.get("csrf", "")), who.csrf):
            raise Refusal(403, "Not allowed", "CSRF token missing or wrong: reload the page.")
        return who, form

    def scope(who: Person, province: str) -> str | None:
        """The province code (None: national) once `who` may open `province`."""
        try:
            code = check_scope(province)
        except UnknownScope:
            raise Refusal(404, "Not found", "Nothing here for this province.") from None
        if not may_read(who.kind, who.subject, province):
            raise Refusal(403, "Not allowed", "This key may not open that province.")
        return code

    def page(request: Request, who: Person, province: str, template: str, ctx: dict,
             status: int = 200) -> HTMLResponse:
        return render(request, template, {"province": province, **ctx}, status, who)

    @r.get("/")
    async def home(request: Request) -> Response:
        who = await person(request)
        return RedirectResponse(f"/console/{who.subject}/alerts", 303)

    @r.get("/login")
    async def login_form(request: Request) -> HTMLResponse:
        return render(request, "login.html", {})

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        key = str(form.get("key", "")).strip()
        try:
            who = await keys.identify(key) if key and _same_origin(request) else None
        except TooManyUnknownKeys as busy:
            return render(request, "login.html",
                          {"error": "Too many sign-in attempts: try again in a moment."}, 429,
                          headers={"Retry-After": str(max(1, round(busy.retry_after)))})
        if who is None or who[0] != "supervisor":
            return render(request, "login.html",
                          {"error": "That key is not a live supervisor key."}, 401)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await store.open_session(res.pool, key, token, csrf, session_hours)
        response = RedirectResponse(f"/console/{who[1]}/alerts", 303)
        response.set_cookie(SESSION, token, max_age=int(session_hours * 3600), path="/console",
                            httponly=True, samesite="strict", secure=_secure(request))
        return response

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        await checked(request)
        await store.close_session(res.pool, request.cookies.get(SESSION, ""))
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(SESSION, path="/console", httponly=True, samesite="strict",
                               secure=_secure(request))
        return response

    @r.get("/lang/{lang}")
    async def set_language(request: Request, lang: str, next: str = "/console/") -> Response:
        if lang not in i18n.LANGUAGES:
            raise Refusal(404, "Not found", lang)
        to = next if next.startswith("/console") and "//" not in next else "/console/"
        response = RedirectResponse(to, 303)
        response.set_cookie(LANG, lang, max_age=365 * 86400, path="/console",
                            samesite="strict", secure=_secure(request))
        return response

    def alert_filters(request: Request) -> dict:
        q = request.query_params
        return {"type": q.get("type") if q.get("type") in ALERT_TYPES else None,
                "severity": q.get("severity") if q.get("severity") in SEVERITIES else None,
                "status": q.get("status") if q.get("status") in STATUSES else None}

    async def queue(code: str | None, f: dict) -> list[dict]:
        rows = await store.alerts(res.pool, store.Filters(code, type=f["type"]), f["severity"],
                                  None, 100, f["status"], newest=True)
        return [{**dict(row), "case_status": row["case_status"]} for row in rows]

    @r.get("/{province}/alerts")
    async def alerts_page(request: Request, province: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        f = alert_filters(request)
        ctx = {"filters": f, "alerts": await queue(code, f),
               "query": urlencode({k: v for k, v in f.items() if v})}
        if code is None:
            ctx["overview"] = await overview()
        return page(request, who, province, "queue.html", ctx)

    @r.get("/{province}/alerts/rows")
    async def alert_rows(request: Request, province: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        f = alert_filters(request)
        return page(request, who, province, "_rows.html",
                    {"alerts": await queue(code, f),
                     "query": urlencode({k: v for k, v in f.items() if v})})

    async def alert_page(request: Request, who: Person, province: str, alert_id: str,
                         error: str | None = None, status: int = 200) -> HTMLResponse:
        code = scope(who, province)
        try:
            found = await casework.detail(res.pool, code, alert_id, evidence=True)
        except casework.AlertNotFound:
            raise Refusal(404, "Not found", "Nothing here for this province.") from None
        return page(request, who, province, "alert.html", {**found, "error": error}, status)

    @r.get("/{province}/alerts/{alert_id}")
    async def alert_detail(request: Request, province: str, alert_id: str) -> HTMLResponse:
        return await alert_page(request, await person(request), province, alert_id)

    @r.post("/{province}/alerts/{alert_id}/actions")
    async def alert_action(request: Request, province: str, alert_id: str) -> Response:
        who, form = await checked(request)
        code = scope(who, province)
        fields = {k: form.get(k) or None for k in ("action", "assignee", "note", "outcome")}
        try:
            action = Action(**fields)
            await casework.act(res.pool, publish, who.name, code, alert_id, action)
        except ValidationError as exc:
            message = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            return await alert_page(request, who, province, alert_id, message, 422)
        except InvalidTransition as exc:
            return await alert_page(request, who, province, alert_id, str(exc), 409)
        except casework.AlertNotFound:
            raise Refusal(404, "Not found", "Nothing here for this province.") from None
        return RedirectResponse(f"/console/{province}/alerts/{alert_id}", 303)

    @r.get("/{province}/reports")
    async def reports_page(request: Request, province: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        q = {k: (request.query_params.get(k) or "").strip() or None
             for k in ("report_id", "producer_id", "material", "type")}
        rows = await store.reports(res.pool, store.Filters(
            code, material=q["material"], type=q["type"], producer_id=q["producer_id"],
            report_id=q["report_id"]), None, 100, newest=True)
        return page(request, who, province, "reports.html",
                    {"q": q, "records": [row["record"] for row in rows]})

    @r.get("/{province}/producers/{producer_id}")
    async def producer_page(request: Request, province: str, producer_id: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        async with res.pool.acquire() as conn:
            found = await store.producer(conn, producer_id, code)
        if found is None:
            raise Refusal(404, "Not found", "Nothing here for this province.")
        reports = await store.reports(res.pool, store.Filters(code, producer_id=producer_id),
                                      None, 50, newest=True)
        alerts = await store.alerts(res.pool, store.Filters(code, producer_id=producer_id),
                                    None, None, 50, newest=True)
        return page(request, who, province, "producer.html",
                    {"producer": found, "records": [x["record"] for x in reports],
                     "alerts": alerts})

    def rollup_window(request: Request) -> tuple[int, datetime]:
        try:
            days = min(max(int(request.query_params.get("days", 14)), 1), 92)
        except ValueError:
            days = 14
        today = (datetime.now(UTC) + timedelta(hours=8)).date()  # China Standard Time
        return days, today

    @r.get("/{province}/rollup")
    async def rollup_page(request: Request, province: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        days, today = rollup_window(request)
        since = today - timedelta(days=days - 1)
        rows = await store.rollup_days(res.pool, code, since)
        return page(request, who, province, "rollup.html", {
            "days": days, "rows": rows,
            "by_day": charts.by_day_and_material(rows, charts.days_between(since, today)),
            "by_destination": charts.by_destination(rows)})

    @r.get("/{province}/rollup.csv")
    async def rollup_csv(request: Request, province: str) -> Response:
        who = await person(request)
        code = scope(who, province)
        days, today = rollup_window(request)
        rows = await store.rollup_days(res.pool, code, today - timedelta(days=days - 1))
        out = io.StringIO()
        columns = ("day", "material", "type", "destination_country", "quantity_kg",
                   "value_usd", "report_count", "non_usd_count")
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
        return Response(out.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="rollup-{province}-{today}.csv"'})

    @r.get("/{province}/webhooks")
    async def webhooks_page(request: Request, province: str) -> HTMLResponse:
        who = await person(request)
        code = scope(who, province)
        async with res.pool.acquire() as conn:
            hooks = await store.webhooks(conn, code, every=code is None)
        return page(request, who, province, "webhooks.html",
                    {"hooks": hooks, "log": await store.delivery_log(res.pool, code)})

    async def overview() -> list[dict]:
        today = (datetime.now(UTC) + timedelta(hours=8)).date()
        rows = {r["province_code"]: r for r in
                await store.province_overview(res.pool, today - timedelta(days=6))}
        return [{"province": p, **(dict(rows[p.code]) if p.code in rows else
                                   {"open": 0, "assigned": 0, "closed": 0, "reports": 0,
                                    "kg": 0})} for p in PROVINCES]

    return r
