"""GET /v1/reports/{id} as its producer sees it, against the real database: that an alert was
raised on the report and of which type, never how it was detected (summary, evidence, details
stay with the supervisors)."""

import json
import secrets
from datetime import UTC, datetime

import httpx
from reports import mining_report

from mintrace import devstack
from mintrace_common.models import Alert
from mintrace_common.service import Resources
from mintrace_intake import status, store
from mintrace_intake.api import create_api
from mintrace_intake.settings import IntakeSettings


async def acknowledge(reports) -> None:
    """A broker that acknowledges every publication."""


async def test_a_producer_sees_its_alerts_type_but_not_how_they_were_detected(database_url):
    settings = IntakeSettings(database_url=database_url, service_name="intake")
    res = Resources(settings)
    await res.open()
    app = create_api(settings, res, acknowledge, lifespan=None)
    key = (await devstack.issue_producer_keys(database_url, ["JX2"]))["JX2"]
    report = mining_report(f"A-{secrets.token_hex(4)}")
    rid, producer = report["report_id"], report["producer_id"]
    raised = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)
    watchlist = Alert(alert_id=f"watchlist_counterparty-{rid}", type="WATCHLIST_COUNTERPARTY",
                      severity="critical", province_code="360000", producer_id=producer,
                      report_ids=[rid, "A-OTHER"], raised_at=raised, rule_version="2026.11-4",
                      summary="counterparty 'Orient Transit Metal' matches watchlist entry "
                              "'Oriental Transit Metals FZE' (score 93.1)",
                      details={"listed": "Oriental Transit Metals FZE", "score": 93.1})
    # an entry the projection stored before it kept the detection internals out
    earlier = {"alert_id": f"price_anomaly-{rid}", "type": "PRICE_ANOMALY", "severity": "high",
               "summary": "declared at 90.00 USD/kg, 35% of the reference 260 USD/kg"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as client:
            auth = {"Authorization": f"Bearer {key}"}
            assert (await client.post("/v1/reports", json=report, headers=auth)).status_code == 202
            wire = status.AlertView.model_validate_json(watchlist.model_dump_json())
            await store.add_alerts(res.pool, status.alert_entries([wire]))
            await store.add_alerts(res.pool, [(producer, rid, earlier)])
            resp = await client.get(f"/v1/reports/{rid}", headers=auth)
    finally:
        await res.close()
    assert resp.status_code == 200
    assert resp.json()["alerts"] == [
        {"alert_id": watchlist.alert_id, "type": "WATCHLIST_COUNTERPARTY",
         "raised_at": raised.isoformat()},
        {"alert_id": earlier["alert_id"], "type": "PRICE_ANOMALY", "raised_at": None}]
    body = json.dumps(resp.json())
    for internal in ("watchlist entry", "Oriental", "score", "reference", "A-OTHER", "severity"):
        assert internal not in body, internal
