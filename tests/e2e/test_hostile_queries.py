"""Regressions of the supervision API's 500s (issue 14) and their kin on intake, through the real
processes: input PostgreSQL cannot store is refused with 422 naming it, never a 5xx."""

import base64
import json

import httpx
import pytest
from test_supervision_api import supervisor_keys

pytestmark = pytest.mark.e2e


def cursor(kind: str, key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode().rstrip("=")


async def problems(stack, path: str, params: dict) -> list[dict]:
    national = (await supervisor_keys(stack.database_url, "national"))["national"]
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        resp = await api.get(path, params=params, headers={"Authorization": f"Bearer {national}"})
    assert resp.status_code == 422, resp.text
    return resp.json()["problems"]


@pytest.mark.parametrize("listing,key", [("reports", ["abc"]), ("alerts", [[1], 6]),
                                         ("rollup", ["2026-01-01", 1, 2, 3, 4])])
async def test_cursor_holding_a_key_of_the_wrong_type_is_refused_with_422(stack, listing, key):
    found = await problems(stack, f"/v1/supervision/national/{listing}",
                           {"cursor": cursor(listing, key)})
    assert [(p["code"], p["path"]) for p in found] == [("CURSOR_INVALID", "query.cursor")]


@pytest.mark.parametrize("param", ["material", "producer_id", "type", "destination_country"])
async def test_nul_byte_in_a_filter_is_refused_with_422_naming_the_filter(stack, param):
    listing = "rollup" if param == "destination_country" else "reports"
    found = await problems(stack, f"/v1/supervision/national/{listing}", {param: "Dy\x00"})
    assert any(p["path"] == f"query.{param}" for p in found), found


@pytest.mark.parametrize("param,value", [("since", "0001-01-01T00:00:00+14:00"),
                                         ("until", "9999-12-31T23:59:59-14:00")])
@pytest.mark.parametrize("listing", ["reports", "alerts"])
async def test_timestamps_at_the_edge_of_the_range_are_refused_with_422(stack, listing, param,
                                                                      value):
    found = await problems(stack, f"/v1/supervision/national/{listing}", {param: value})
    assert [(p["code"], p["path"]) for p in found] == [
        ("UNSTORABLE_TIMESTAMP_OUT_OF_RANGE", f"query.{param}")]


async def test_cancelling_a_report_id_with_a_nul_byte_is_refused_with_422_not_503(
        stack, producer_keys):
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as api:
        resp = await api.post("/v1/reports/a%00b/cancel",
                              headers={"Authorization": f"Bearer {producer_keys['JX1']}"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["problems"][0]["path"] == "path.report_id"


async def test_every_refusal_status_intake_answers_is_in_its_openapi_document(stack):
    """Found by the fuzz: the batch endpoint refused a supervisor's key with an undocumented
    403."""
    supervisor = (await supervisor_keys(stack.database_url, "jiangxi"))["jiangxi"]
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as api:
        doc = (await api.get("/openapi.json")).json()
        resp = await api.post("/v1/reports/batch", json=[],
                              headers={"Authorization": f"Bearer {supervisor}"})
    assert resp.status_code == 403
    assert "403" in doc["paths"]["/v1/reports/batch"]["post"]["responses"]
