"""Intake reads JSON (and NDJSON batches) only, and its OpenAPI document says how to sign in."""

import json
import secrets

import httpx
import pytest
from test_intake_batch import _reports

pytestmark = pytest.mark.e2e


def test_a_body_that_is_not_json_is_refused_with_415(stack, producer_keys):
    report = _reports(secrets.token_hex(4))["separation"]
    report["report_id"] = f"MT-{secrets.token_hex(6)}"
    auth = {"Authorization": f"Bearer {producer_keys['JX1']}"}
    body = json.dumps(report).encode()
    with httpx.Client(base_url=stack.intake_url, timeout=30) as client:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {**auth, **({"content-type": ctype} if ctype else {})}
            refused = client.post("/v1/reports", content=body, headers=headers)
            assert refused.status_code == 415, (ctype, refused.text)
            assert refused.json()["problems"][0]["code"] == "UNSUPPORTED_MEDIA_TYPE"
            assert client.post("/v1/reports/batch", content=b"[" + body + b"]",
                               headers=headers).status_code == 415
        assert client.get(f"/v1/reports/{report['report_id']}", headers=auth).status_code == 404
        ok = client.post("/v1/reports", content=body,
                         headers={**auth, "content-type": "application/json; charset=utf-8"})
        assert ok.status_code == 202, ok.text
        ndjson = client.post("/v1/reports/batch", content=body,
                             headers={**auth, "content-type": "application/x-ndjson"})
        assert ndjson.status_code == 200 and ndjson.json()["results"][0]["duplicate"]
        metrics = client.get("/metrics").text
    # what the PrometheusRules on intake's 4xx/5xx read
    assert 'mintrace_http_responses_total{route="/v1/reports",status="415"}' in metrics


def test_openapi_declares_bearer_auth_on_every_report_endpoint(stack):
    doc = httpx.get(f"{stack.intake_url}/openapi.json", timeout=30).json()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"][
            "bearer"]["description"]}
    ops = [op for path, item in doc["paths"].items() if path.startswith("/v1/")
           for op in item.values()]
    assert ops and all(op["security"] == [{"bearer": []}] for op in ops)
    assert "415" in doc["paths"]["/v1/reports"]["post"]["responses"]
