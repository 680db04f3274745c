"""A batch of mixed valid and invalid reports through the real HTTP intake, broker, database
and services: per-item results, every valid one routed once, every invalid one rejected with
all its codes, and the status endpoint telling the producer the same."""

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from mintrace import demo, devstack

pytestmark = pytest.mark.e2e
IDS = demo.producer_ids()
LEI = demo.lei("5299", 1)


def _reports(run: str) -> dict[str, dict]:
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    base = {"schema_version": 1, "producer_id": IDS["JX1"], "occurred_at": recent,
            "lot_id": "LOT-1", "quantity": {"value": "250", "unit": "kg"}}
    export = {**base, "facility_id": "JX1-SEP-01", "type": "export", "stage": "trading",
              "material": "Dy", "form": "oxide", "hs_code": "2846.90",
              "value": {"amount": "65000.00", "currency": "USD"},
              "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE", "id": LEI},
              "export": {"licence_number": demo.licence_number(0, "Dy"),
                         "destination_country": "DE",
                         "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
                         "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE"}}}
    separation = {**base, "facility_id": "JX1-SEP-01", "type": "processing_output",
                  "stage": "separation", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
                  "purity_pct": "99.9",
                  "inputs": [{"lot_id": "LOT-0", "quantity": {"value": "5", "unit": "t"}}]}
    smelting = {**separation, "facility_id": "JX1-SML-01", "stage": "smelting", "form": "metal",
                "hs_code": "2805.30", "quantity": {"value": "1.5", "unit": "t"}}
    r = {
        "export": export, "separation": separation, "smelting": smelting,
        "late": {**separation, "occurred_at": (datetime.now(UTC) - timedelta(days=30)).isoformat()},
        "bad_codes": {**export, "value": {"amount": "1", "currency": "ABC"},
                      "counterparty": {"name": "Hanse", "country": "DE", "id": LEI[:-1] + "0"
                                       if LEI[-1] != "0" else LEI[:-1] + "1"},
                      "export": {**export["export"], "destination_country": "ZZ"}},
        "bad_hs": {**separation, "hs_code": "8505.11"},
        "bad_time_stage": {**separation, "stage": "smelting",
                           "occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        "bad_sale": {**export, "type": "domestic_sale", "export": None, "value": None,
                     "counterparty": {"name": "Hunan Co", "country": "CN",
                                      "id": IDS["HN1"][:-1] + "0"}},
        "malformed": {**separation, "quantity": {"value": "-1", "unit": "kg"}, "material": "Xx"},
        "foreign": {**separation, "producer_id": IDS["NM1"]},
    }
    return {k: {**v, "report_id": f"B-{run}-{k}"} for k, v in r.items()}


VALID = ("export", "separation", "smelting", "late")
REJECTED = {"bad_codes": {"CURRENCY_UNKNOWN", "COUNTRY_UNKNOWN", "PARTY_LEI_INVALID"},
            "bad_hs": {"HS_CODE_MISMATCH"},
            "bad_time_stage": {"OCCURRED_IN_FUTURE", "STAGE_NOT_ALLOWED"},
            "bad_sale": {"PARTY_USCC_INVALID", "VALUE_REQUIRED"}}


async def test_mixed_batch_routes_the_valid_rejects_the_invalid_and_status_agrees(
        stack, producer_keys, topic_reader):
    reports = _reports(secrets.token_hex(4))
    order = list(reports) + ["separation"]  # the last item repeats one within the batch
    auth = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        resp = await client.post("/v1/reports/batch", json=[reports[k] for k in order],
                                 headers=auth)
        assert resp.status_code == 200, resp.text
        results = dict(zip(order[:-1], resp.json()["results"]))
        repeat = resp.json()["results"][-1]
        for k in (*VALID, *REJECTED):
            assert results[k]["status"] == 202 and results[k]["duplicate"] is False, k
        assert repeat["status"] == 202 and repeat["duplicate"] is True
        assert results["foreign"]["status"] == 403
        assert results["malformed"]["status"] == 422
        assert {(p["code"], p["path"]) for p in results["malformed"]["problems"]} == {
            ("SCHEMA_QUANTITY_TOO_SMALL", f"[{order.index('malformed')}].quantity.value"),
            ("SCHEMA_LITERAL_ERROR", f"[{order.index('malformed')}].material")}
        assert resp.json()["counts"] == {"202": 9, "403": 1, "422": 1}

        ids = {k: r["report_id"] for k, r in reports.items()}
        async with topic_reader("supervision.national", "reports.rejected") as reader:
            def arrived(recs):
                routed = {v["report_id"] for _, v, _ in recs["supervision.national"]}
                rejected = {v["report_id"] for _, v, _ in recs["reports.rejected"]}
                return ({ids[k] for k in VALID} <= routed
                        and {ids[k] for k in REJECTED} <= rejected)
            await reader.until(arrived, timeout=90)
        routed = [v for v in reader.values("supervision.national")
                  if v["report_id"] in set(ids.values())]
        assert sorted(v["report_id"] for v in routed) == sorted(ids[k] for k in VALID)
        by_id = {v["report_id"]: v for v in routed}
        assert by_id[ids["smelting"]]["quantity_kg"] in ("1500", "1500.0")
        assert [w["code"] for w in by_id[ids["late"]]["warnings"]] == ["REPORTED_LATE"]
        assert by_id[ids["export"]]["warnings"] == []
        rejected = {v["report_id"]: {p["code"] for p in v["problems"]}
                    for v in reader.values("reports.rejected")}
        for k, codes in REJECTED.items():
            assert rejected[ids[k]] == codes, k

        async def status(k: str) -> dict:
            return (await client.get(f"/v1/reports/{ids[k]}", headers=auth)).json()

        for _ in range(100):
            states = {k: await status(k) for k in (*VALID, *REJECTED)}
            if all(s["state"] == "routed" for k, s in states.items() if k in VALID) and all(
                    s["state"] == "rejected" for k, s in states.items() if k in REJECTED):
                break
            await asyncio.sleep(0.2)
        for k in VALID:
            assert states[k]["state"] == "routed" and states[k]["province_code"] == "360000", k
        assert [w["code"] for w in states["late"]["warnings"]] == ["REPORTED_LATE"]
        for k, codes in REJECTED.items():
            assert states[k]["state"] == "rejected"
            assert {p["code"] for p in states[k]["problems"]} == codes, k
        for k in ("malformed", "foreign"):
            assert (await client.get(f"/v1/reports/{ids[k]}", headers=auth)).status_code == 404


async def test_status_is_for_the_owner_only_and_openapi_is_served(stack, producer_keys):
    report = _reports(secrets.token_hex(4))["separation"]
    mine = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    other = {"Authorization": f"Bearer {producer_keys['NM1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        assert (await client.post("/v1/reports", json=report, headers=mine)).status_code == 202
        url = f"/v1/reports/{report['report_id']}"
        assert (await client.get(url, headers=mine)).status_code == 200
        theirs = await client.get(url, headers=other)
        unknown = await client.get("/v1/reports/NO-SUCH-REPORT", headers=other)
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
        doc = (await client.get("/openapi.json")).json()
        body = doc["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == "#/components/schemas/Report"
        assert "Report" in doc["components"]["schemas"]


EXACT = "999999999999.999999"


async def test_json_numbers_and_line_separators_arrive_exactly_as_sent(
        stack, producer_keys, topic_reader):
    run = secrets.token_hex(4)
    separation = _reports(run)["separation"]
    # quantities and prices as JSON numbers (not strings), written out by hand: a float
    # would already have rounded 999999999999.999999 to 1000000000000.0
    numbers = json.dumps({**separation, "report_id": f"N-{run}", "quantity": "QTY",
                          "purity_pct": "PURITY"}).replace(
        '"QTY"', f'{{"value": {EXACT}, "unit": "kg"}}').replace('"PURITY"', "99.999999")
    # U+2028/U+2029/U+0085 are legal raw inside a JSON string: they end no NDJSON line
    separated = json.dumps({**separation, "report_id": f"S-{run}",
                            "lot_id": "LOT\u2028A\u2029B\u0085"}, ensure_ascii=False)
    auth = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        resp = await client.post("/v1/reports/batch", content=f"{numbers}\r\n{separated}\r\n",
                                 headers={**auth, "content-type": "application/x-ndjson"})
        assert resp.status_code == 200, resp.text
        assert [r["status"] for r in resp.json()["results"]] == [202, 202], resp.text
    async with topic_reader("supervision.national") as reader:
        def arrived(recs):
            return {f"N-{run}", f"S-{run}"} <= {v["report_id"] for _, v, _ in
                                                recs["supervision.national"]}
        await reader.until(arrived, timeout=90)
    routed = {v["report_id"]: v for v in reader.values("supervision.national")}
    exact = routed[f"N-{run}"]
    assert Decimal(str(exact["report"]["quantity"]["value"])) == Decimal(EXACT)
    assert Decimal(str(exact["quantity_kg"])) == Decimal(EXACT)
    assert Decimal(str(exact["report"]["purity_pct"])) == Decimal("99.999999")
    assert routed[f"S-{run}"]["report"]["lot_id"] == "LOT\u2028A\u2029B\u0085"
    # and as stored: what supervisors read back from the database
    key = await devstack.issue_supervisor_key(stack.database_url, "jiangxi")
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        for _ in range(100):
            listed = (await api.get("/v1/supervision/jiangxi/reports", params={
                "producer_id": IDS["JX1"], "since": exact["report"]["occurred_at"]},
                headers={"Authorization": f"Bearer {key}"})).json()["items"]
            stored = [r for r in listed if r["report_id"] == f"N-{run}"]
            if stored:
                break
            await asyncio.sleep(0.2)
    assert Decimal(str(stored[0]["report"]["quantity"]["value"])) == Decimal(EXACT)
