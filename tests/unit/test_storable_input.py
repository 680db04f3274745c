"""What PostgreSQL cannot store is refused where request input becomes endpoint values: every
route of a StorableRoute app answers 422 naming the problem, whatever the endpoint."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

import asyncpg
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.testclient import TestClient
from pydantic import AwareDatetime, BaseModel

from mintrace_common import storable
from mintrace_common.http import StorableRoute, install


def codes(value) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in storable.problems(value)]


def test_nul_characters_lone_surrogates_and_keys_are_found_at_their_path():
    assert codes({"a": ["ok", "x\x00y"], "b\x00": 1, "c": "\ud800"}) == [
        ("$.a[1]", "NUL_CHARACTER"), ("$.b\\x00<key>", "NUL_CHARACTER"),
        ("$.c", "INVALID_UNICODE")]


def test_instants_that_overflow_when_shifted_to_utc_are_found():
    plus14, minus14 = timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))
    assert codes([datetime(1, 1, 1, tzinfo=plus14), datetime(9999, 12, 31, 23, 59, tzinfo=minus14)]) \
        == [("$[0]", "TIMESTAMP_OUT_OF_RANGE"), ("$[1]", "TIMESTAMP_OUT_OF_RANGE")]
    assert codes([datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=plus14),
                  date(1, 1, 1), datetime(1, 1, 1)]) == []


def test_numbers_outside_bigint_and_numeric_are_found_and_those_inside_are_not():
    assert codes([2**63, -(2**63) - 1, Decimal("1e200000"), Decimal("1e-20000")]) == [
        ("$[0]", "INTEGER_OUT_OF_RANGE"), ("$[1]", "INTEGER_OUT_OF_RANGE"),
        ("$[2]", "NUMBER_OUT_OF_RANGE"), ("$[3]", "NUMBER_OUT_OF_RANGE")]
    assert codes([2**63 - 1, -(2**63), Decimal("1e131071"), Decimal("NaN"), True, 1.5e308]) == []


class Body(BaseModel):
    name: str
    at: AwareDatetime | None = None


def make_app(calls: list) -> FastAPI:
    app = FastAPI()
    app.router.route_class = StorableRoute
    router = APIRouter(prefix="/r", route_class=StorableRoute)

    def province(province: str) -> str:  # a dependency reads this one, not the endpoint
        return province

    @router.get("/{province}/items")
    async def items(p: Annotated[str, Depends(province)], material: str | None = None,
                    since: AwareDatetime | None = None, n: Annotated[int | None, Query()] = None):
        calls.append((p, material, since, n))
        return {"ok": True}

    @app.post("/things")
    def things(body: Body):
        calls.append(body)
        return {"ok": True}

    @app.post("/form")
    async def form(request: Request):
        calls.append(dict(await request.form()))  # read by hand, as a console page does
        return {"ok": True}

    @app.get("/fails")
    async def fails():
        raise asyncpg.DataError("invalid input for query argument $1")

    app.include_router(router)
    install(app)
    return app


@pytest.mark.parametrize("url,path,code", [
    ("/r/jiangxi/items?material=%00", "query.material", "UNSTORABLE_NUL_CHARACTER"),
    ("/r/jiangxi/items?since=0001-01-01T00:00:00%2B14:00", "query.since",
     "UNSTORABLE_TIMESTAMP_OUT_OF_RANGE"),
    ("/r/jiangxi/items?until=9999-12-31T23:59:59-14:00&since=9999-12-31T23:59:59-14:00",
     "query.since", "UNSTORABLE_TIMESTAMP_OUT_OF_RANGE"),
    ("/r/jiangxi/items?n=99999999999999999999", "query.n", "UNSTORABLE_INTEGER_OUT_OF_RANGE"),
    ("/r/a%00b/items", "path.province", "UNSTORABLE_NUL_CHARACTER"),
    ("/r/jiangxi/items?x%00=1", "query.x\\x00<name>", "UNSTORABLE_NUL_CHARACTER"),
])
def test_unstorable_query_and_path_input_is_refused_with_422_naming_it(url, path, code):
    calls: list = []
    resp = TestClient(make_app(calls)).get(url)
    assert resp.status_code == 422, resp.text
    assert {"path": path, "code": code} in [
        {"path": p["path"], "code": p["code"]} for p in resp.json()["problems"]]
    assert calls == []


def test_unstorable_body_fields_are_refused_and_storable_input_passes():
    calls: list = []
    client = TestClient(make_app(calls))
    resp = client.post("/things", json={"name": "a\u0000b"})
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["path"] == "body.body.name"
    assert client.post("/things", json={"name": "ok"}).status_code == 200
    assert client.get("/r/jiangxi/items?material=Dy&since=2026-11-20T00:00:00%2B08:00").json() \
        == {"ok": True}
    assert len(calls) == 2


def test_form_fields_an_endpoint_reads_by_hand_are_judged_too():
    calls: list = []
    client = TestClient(make_app(calls))
    resp = client.post("/form", data={"note": "a\x00b", "csrf": "t"})
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["path"] == "form.note"
    assert client.post("/form", data={"note": "fine"}).status_code == 200
    assert calls == [{"note": "fine"}]


def test_a_database_data_error_that_slips_through_answers_422_not_500():
    resp = TestClient(make_app([]), raise_server_exceptions=False).get("/fails")
    assert resp.status_code == 422 and resp.json()["problems"][0]["code"] == "UNSTORABLE_VALUE"


def test_malformed_parameters_answer_the_problem_shape():
    resp = TestClient(make_app([])).get("/r/jiangxi/items?n=x")
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["path"] == "query.n"


def test_an_app_with_a_route_outside_storable_route_is_refused_at_creation():
    app = FastAPI()
    app.router.route_class = StorableRoute
    plain = APIRouter()

    @plain.get("/plain")
    async def plain_route():
        return {}

    app.include_router(plain)
    with pytest.raises(TypeError, match="/plain"):
        install(app)
