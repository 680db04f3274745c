"""What every HTTP service shares: one shape for every refusal (`ProblemDetail`), the route class
through which request input becomes the values endpoints pass to the database (`StorableRoute`:
what PostgreSQL cannot store is refused with 422 there, for every endpoint and parameter), and
the mapping of store and broker failures to answers (`install`)."""

import functools
import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel

from . import storable, telemetry
from .keycache import TooManyUnknownKeys
from .models import Problem

log = telemetry.get_logger(__name__)
UNAVAILABLE: tuple[type[BaseException], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError,
                                                OSError, TimeoutError)


class ProblemDetail(BaseModel):
    """Every 4xx/5xx answer: a one-line detail and, for malformed input, every problem."""

    detail: str
    problems: list[Problem] | None = None


class HTTPProblem(Exception):
    """An answer other than success: status, a one-line detail, optionally every problem."""

    def __init__(self, status: int, detail: str, problems: list[Problem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.problems, self.headers = status, detail, problems, headers


def problem_response(status: int, detail: str, problems: list[Problem] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if problems is not None:
        body["problems"] = [p.model_dump() for p in problems]
    return JSONResponse(body, status, headers=headers)


def unstorable_problems(found: list[storable.Unstorable]) -> list[Problem]:
    return [Problem(code=f"UNSTORABLE_{p.code}", path=p.path, message=p.message) for p in found]


def _where(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (
            f".{storable.label(part)}" if out else storable.label(part))
    return out or "$"


def _sources(route: APIRoute) -> dict[str, str]:
    """Endpoint argument name -> where the client put it ("query.since", "path.report_id")."""
    d = route.dependant
    return {p.name: f"{where}.{p.alias}" for where, params in (
        ("path", d.path_params), ("query", d.query_params), ("header", d.header_params),
        ("cookie", d.cookie_params), ("body", d.body_params)) for p in params}


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _raw_problems(request: Request) -> list[storable.Unstorable]:
    """What dependencies and endpoints read themselves (path and query text, HTML form fields)
    is judged raw: its text. The parsed form stays cached on the request for the endpoint."""
    sources = [("path", request.path_params.items()),
               ("query", request.query_params.multi_items())]
    if request.headers.get("content-type", "").lower().startswith(FORMS):
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - malformed: the endpoint's own parsing answers it
            form = None
        if form is not None:
            sources.append(("form", [(k, v) for k, v in form.multi_items()
                                     if isinstance(v, str)]))
    found: list[storable.Unstorable] = []
    for where, items in sources:
        for name, value in items:
            found += storable.problems(name, f"{where}.{storable.label(name)}<name>")
            found += storable.problems(value, f"{where}.{storable.label(name)}")
    return found


class StorableRoute(APIRoute):
    """A route whose every input is judged by `storable` before anything reaches the database:
    the raw path, query and form text (whoever reads it), then each parsed parameter handed to
    the endpoint (path, query, header, cookie, body). Refusal: 422 naming each problem."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        sources: dict[str, str] = {}

        def judge(values: dict[str, Any]) -> None:
            found = [p for name, where in sources.items() if name in values
                     for p in storable.problems(values[name], where)]
            if found:
                raise storable.UnstorableInput(found)

        if inspect.iscoroutinefunction(endpoint):
            @functools.wraps(endpoint)
            async def guarded(**values: Any) -> Any:
                judge(values)
                return await endpoint(**values)
        else:
            @functools.wraps(endpoint)
            def guarded(**values: Any) -> Any:
                judge(values)
                return endpoint(**values)

        super().__init__(path, guarded, **kwargs)
        sources.update(_sources(self))

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def judged(request: Request):
            found = await _raw_problems(request)
            if found:
                return _unstorable_answer(storable.UnstorableInput(found))
            return await handler(request)

        return judged


def _unstorable_answer(exc: storable.UnstorableInput) -> JSONResponse:
    return problem_response(422, "input PostgreSQL cannot store",
                            unstorable_problems(exc.problems))


def _api_routes(routes: Iterable[Any]) -> Iterable[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # include_router (FastAPI >= 0.16x)
        if included is not None:
            yield from _api_routes(included.routes)


def install(app: FastAPI, unavailable: tuple[type[BaseException], ...] = ()) -> None:
    """Answers for every route of `app`: HTTPProblem as itself, malformed and unstorable input
    422 with every problem, too many unknown keys 429, a DataError that slipped through 422 (a safety net: StorableRoute is
    the mechanism), store (and `unavailable`) failures 503 with Retry-After. Raises TypeError if
    a route of `app` is not a StorableRoute (declare routers with route_class=StorableRoute)."""
    plain = [r.path for r in _api_routes(app.routes) if not isinstance(r, StorableRoute)]
    if plain:
        raise TypeError(f"routes not declared with route_class=StorableRoute: {plain}")

    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.problems, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(422, "malformed request", [
            Problem(code=f"SCHEMA_{e['type'].upper()}", path=_where(e["loc"]),
                    message=e["msg"]) for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers a body it cannot decode with 400; malformed input is 422 everywhere
        if exc.status_code == 400:
            return problem_response(422, "malformed request body", [
                Problem(code="INVALID_BODY", path="body", message=str(exc.detail))])
        return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(storable.UnstorableInput)
    async def _unstorable(_: Request, exc: storable.UnstorableInput) -> JSONResponse:
        return _unstorable_answer(exc)

    @app.exception_handler(TooManyUnknownKeys)
    async def _throttled(_: Request, exc: TooManyUnknownKeys) -> JSONResponse:
        return problem_response(429, "too many unknown keys, retry",
                                headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))})

    @app.exception_handler(asyncpg.DataError)
    async def _data_error(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        log.warning("http.data_error", path=request.url.path, error=str(exc)[:300])
        return problem_response(422, "input the database refused", [
            Problem(code="UNSTORABLE_VALUE", path="$", message=str(exc).split("\n")[0][:300])])

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was done for the client: it retries (idempotency makes that safe).
        log.warning("http.unavailable", path=request.url.path, error=repr(exc)[:300])
        return problem_response(503, "broker or database unavailable, retry",
                                headers={"Retry-After": "1"})

    for exc_type in UNAVAILABLE + unavailable:
        app.add_exception_handler(exc_type, _unavailable)


def problem_answers(described: dict[int, str]) -> dict[int, dict]:
    """The `responses=` of a route: each refusal status with the problem shape."""
    return {s: {"model": ProblemDetail, "description": d} for s, d in described.items()}
