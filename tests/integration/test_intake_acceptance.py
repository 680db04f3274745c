"""Intake's HTTP app in-process against the real database, with a hand-written publisher that
can fail like an unreachable broker: nothing is answered 202 before the publish is confirmed,
and the retry publishes the report exactly once."""

import secrets

import httpx
from reports import mining_report
from aiokafka.errors import KafkaTimeoutError

from mintrace import devstack
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources
from mintrace_intake.api import create_api
from mintrace_intake.settings import IntakeSettings


class FlakyBroker:
    def __init__(self) -> None:
        self.down = True
        self.acknowledged: list[ReceivedReport] = []

    async def publish(self, reports: list[ReceivedReport]) -> None:
        if self.down:
            raise KafkaTimeoutError()
        self.acknowledged.extend(reports)


async def test_a_report_is_202_only_once_its_publication_is_acknowledged(database_url):
    settings = IntakeSettings(database_url=database_url, service_name="intake")
    res = Resources(settings)
    await res.open()
    broker = FlakyBroker()
    app = create_api(settings, res, broker.publish, lifespan=None)
    key = (await devstack.issue_producer_keys(database_url, ["JX2"]))["JX2"]
    report = mining_report(f"A-{secrets.token_hex(4)}")
    auth = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as client:
            down = await client.post("/v1/reports", json=report, headers=auth)
            assert down.status_code == 503 and down.headers["Retry-After"] == "1"
            batch_down = await client.post("/v1/reports/batch", json=[report], headers=auth)
            assert batch_down.status_code == 503
            assert broker.acknowledged == []
            unaccepted = await client.get(f"/v1/reports/{report['report_id']}", headers=auth)
            assert unaccepted.status_code == 404

            broker.down = False
            up = await client.post("/v1/reports", json=report, headers=auth)
            assert up.status_code == 202 and up.json()["duplicate"] is False, up.text
            again = await client.post("/v1/reports/batch", json=[report, report], headers=auth)
            assert [r["duplicate"] for r in again.json()["results"]] == [True, True]
            assert [r.report_id for r in broker.acknowledged] == [report["report_id"]]
            assert broker.acknowledged[0].report.quantity.kg == 12000
            status = await client.get(f"/v1/reports/{report['report_id']}", headers=auth)
            assert status.json()["state"] == "received"
    finally:
        await res.close()
