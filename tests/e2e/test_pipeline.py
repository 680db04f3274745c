"""Reports through the real HTTP intake, broker, database and five service processes."""

import copy
import secrets

import httpx
import pytest

from mintrace import demo

pytestmark = pytest.mark.e2e


def _report(kind: str, run: str) -> tuple[str, dict]:
    ids = demo.producer_ids()
    base = {
        "schema_version": 1, "occurred_at": "2026-11-20T08:30:00+08:00", "lot_id": "LOT-1",
        "quantity": {"value": "250.000", "unit": "kg"},
    }
    if kind in ("licensed_export", "unlicensed_export"):
        lic = 0  # JX1, Dy, to Hanse Magnetics GmbH (DE)
        r = {**base, "report_id": f"JX-{run}-{kind}", "producer_id": ids["JX1"],
             "facility_id": "JX1-SEP-01", "type": "export", "stage": "trading",
             "material": "Dy", "form": "oxide", "hs_code": "2846.90",
             "value": {"amount": "65000.00", "currency": "USD"},
             "counterparty": {"name": "Hanse Magnetics GmbH", "country": "DE"},
             "export": {"licence_number": demo.licence_number(lic, "Dy")
                        if kind == "licensed_export" else None,
                        "destination_country": "DE",
                        "consignee": {"name": "Hanse Magnetics GmbH", "country": "DE"},
                        "end_user": {"name": "Hanse Magnetics GmbH", "country": "DE"}}}
        return "JX1", r
    if kind == "mining":
        return "NM1", {**base, "report_id": f"NM-{run}-mining", "producer_id": ids["NM1"],
                       "facility_id": "NM1-MIN-01", "type": "mining_output", "stage": "mining",
                       "material": "REO-concentrate", "form": "concentrate", "hs_code": "2846.10"}
    if kind == "unknown_facility":
        return "JX1", {**base, "report_id": f"JX-{run}-badfac", "producer_id": ids["JX1"],
                       "facility_id": "NOPE-01", "type": "mining_output", "stage": "mining",
                       "material": "Dy", "form": "ore", "hs_code": "2846.90"}
    raise ValueError(kind)


async def test_reports_flow_to_province_national_and_alert_topics(stack, producer_keys,
                                                                  topic_reader):
    run = secrets.token_hex(4)
    kinds = ["licensed_export", "unlicensed_export", "mining", "unknown_facility"]
    reports = {k: _report(k, run) for k in kinds}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        for kind, (producer, body) in reports.items():
            resp = await client.post("/v1/reports", json=body,
                                     headers={"Authorization": f"Bearer {producer_keys[producer]}"})
            assert resp.status_code == 202, resp.text
            assert resp.json()["duplicate"] is False
        # the same report again is a duplicate, different content under the same id a conflict
        producer, body = reports["mining"]
        auth = {"Authorization": f"Bearer {producer_keys[producer]}"}
        again = await client.post("/v1/reports", json=body, headers=auth)
        assert again.status_code == 202 and again.json()["duplicate"] is True
        changed = copy.deepcopy(body)
        changed["quantity"]["value"] = "999"
        assert (await client.post("/v1/reports", json=changed, headers=auth)).status_code == 409

        ids = {k: b["report_id"] for k, (_, b) in reports.items()}
        async with topic_reader("supervision.jiangxi", "supervision.inner-mongolia",
                                "supervision.national", "alerts.national") as reader:
            def arrived(recs):
                national = {v["report_id"] for _, v, _ in recs["supervision.national"]}
                alerts = {rid for _, v, _ in recs["alerts.national"] for rid in v["report_ids"]
                          if v["type"] == "UNLICENSED_EXPORT"}
                return ({ids["licensed_export"], ids["unlicensed_export"], ids["mining"]} <= national
                        and ids["unlicensed_export"] in alerts)
            await reader.until(arrived, timeout=90)

        jiangxi = {v["report_id"]: v for v in reader.values("supervision.jiangxi")}
        assert jiangxi[ids["licensed_export"]]["licence"]["status"] == "matched"
        assert jiangxi[ids["unlicensed_export"]]["licence"]["reasons"] == ["UNLICENSED"]
        assert ids["mining"] not in jiangxi
        mongolia = {v["report_id"] for v in reader.values("supervision.inner-mongolia")}
        assert ids["mining"] in mongolia
        national = [v["report_id"] for v in reader.values("supervision.national")]
        assert ids["unknown_facility"] not in national
        assert national.count(ids["mining"]) == 1, "a duplicate submission is processed once"
        alert = next(v for v in reader.values("alerts.national")
                     if ids["unlicensed_export"] in v["report_ids"]
                     and v["type"] == "UNLICENSED_EXPORT")
        assert alert["province_code"] == "360000" and alert["report_ids"] == [
            ids["unlicensed_export"]]
        # other rules (e.g. split shipments across this session's exports) may still alert on it
        assert not [v for v in reader.values("alerts.national")
                    if ids["licensed_export"] in v["report_ids"]
                    and v["type"] in ("UNLICENSED_EXPORT", "LICENCE_INVALID",
                                      "LICENCE_QUANTITY_EXCEEDED")]

        # the status endpoint follows the pipeline; rejected reports carry their reasons
        producer, _ = reports["unknown_facility"]
        auth = {"Authorization": f"Bearer {producer_keys[producer]}"}
        for _ in range(100):
            status = (await client.get(f"/v1/reports/{ids['unknown_facility']}",
                                       headers=auth)).json()
            routed = (await client.get(f"/v1/reports/{ids['unlicensed_export']}",
                                       headers=auth)).json()
            if status["state"] == "rejected" and routed["state"] == "routed" and \
                    "UNLICENSED_EXPORT" in {a["type"] for a in routed["alerts"]}:
                break
            import asyncio
            await asyncio.sleep(0.2)
        assert status["state"] == "rejected"
        assert [p["code"] for p in status["problems"]] == ["FACILITY_UNKNOWN"]
        assert routed["province_code"] == "360000"
        assert "UNLICENSED_EXPORT" in {a["type"] for a in routed["alerts"]}


async def test_intake_refuses_unauthenticated_foreign_and_malformed_reports(stack, producer_keys):
    _, body = _report("mining", secrets.token_hex(4))
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        assert (await client.post("/v1/reports", json=body)).status_code == 401
        other = {"Authorization": f"Bearer {producer_keys['JX1']}"}
        assert (await client.post("/v1/reports", json=body, headers=other)).status_code == 403
        mine = {"Authorization": f"Bearer {producer_keys['NM1']}"}
        bad = {**body, "quantity": {"value": "-1", "unit": "lb"}, "schema_version": 2}
        resp = await client.post("/v1/reports", json=bad, headers=mine)
        assert resp.status_code == 422
        paths = {p["path"] for p in resp.json()["problems"]}
        assert {"quantity.value", "quantity.unit", "schema_version"} <= paths
        huge = {**body, "lot_id": "x" * 300_000}
        assert (await client.post("/v1/reports", json=huge, headers=mine)).status_code == 413
