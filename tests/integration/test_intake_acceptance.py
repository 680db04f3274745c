"""Intake's HTTP app in-process against the real database, with a hand-written publisher that
can fail like an unreachable broker: nothing is answered 202 before the publish is confirmed,
and the retry publishes the report exactly once."""

import asyncio
import secrets

import httpx
from reports import mining_report
from aiokafka.errors import KafkaTimeoutError

from mintrace import devstack
from mintrace_common.models import ReceivedReport
from mintrace_common.service import Resources
from mintrace_intake import store
from mintrace_intake.acceptance import Received
from mintrace_intake.api import create_api
from mintrace_intake.settings import IntakeSettings


class FlakyBroker:
    def __init__(self) -> None:
        self.down = True
        self.acknowledged: list[ReceivedReport] = []

    async def publish(self, reports: list[Received]) -> None:
        if self.down:
            raise KafkaTimeoutError()
        self.acknowledged.extend(r.record for r in reports)


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


# The mark step (UPDATE reports SET published) fails in the real database while a row is in
# fail_marks: a trigger, so nothing in intake is swapped for a fake.
FAIL_MARKS = """
CREATE TABLE IF NOT EXISTS fail_marks (reason text);
CREATE OR REPLACE FUNCTION fail_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM fail_marks) THEN RAISE EXCEPTION 'injected: the mark fails'; END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS fail_mark ON reports;
CREATE TRIGGER fail_mark BEFORE UPDATE OF published ON reports
    FOR EACH ROW EXECUTE FUNCTION fail_mark();
INSERT INTO fail_marks VALUES ('on');
"""
HEAL = "DROP TRIGGER IF EXISTS fail_mark ON reports; DELETE FROM fail_marks"


async def _marks_failing(database_url):
    settings = IntakeSettings(database_url=database_url, service_name="intake")
    res = Resources(settings)
    await res.open()
    async with res.pool.acquire() as conn:
        await conn.execute(FAIL_MARKS)
    broker = FlakyBroker()
    broker.down = False
    key = (await devstack.issue_producer_keys(database_url, ["JX2"]))["JX2"]
    return settings, res, broker, {"Authorization": f"Bearer {key}"}


async def _get_until(client, url: str, auth: dict, status: int) -> httpx.Response:
    for _ in range(100):
        resp = await client.get(url, headers=auth)
        if resp.status_code == status:
            break
        await asyncio.sleep(0.1)
    return resp


async def test_a_report_the_broker_acknowledged_is_accepted_even_if_marking_it_fails(
        database_url):
    settings, res, broker, auth = await _marks_failing(database_url)
    app = create_api(settings, res, broker.publish, lifespan=None)
    report = mining_report(f"G-{secrets.token_hex(4)}")
    url = f"/v1/reports/{report['report_id']}"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as client:
            sent = await client.post("/v1/reports", json=report, headers=auth)
            assert sent.status_code == 202 and sent.json()["duplicate"] is False, sent.text
            assert [r.report_id for r in broker.acknowledged] == [report["report_id"]]

            async with res.pool.acquire() as conn:  # the database recovers
                await conn.execute(HEAL)
            assert (await _get_until(client, url, auth, 200)).json()["state"] == "received"
            again = await client.post("/v1/reports", json=report, headers=auth)
            assert again.status_code == 202 and again.json()["duplicate"] is True
            corrected = await client.post("/v1/reports", headers=auth, json={
                **report, "lot_id": "L-2"})
            assert corrected.status_code == 409
            assert len(broker.acknowledged) == 1
    finally:
        async with res.pool.acquire() as conn:
            await conn.execute(HEAL)
        await res.close()


async def test_an_unmarked_claim_the_pipeline_moved_on_counts_as_accepted(database_url):
    # e.g. intake died between the broker's acknowledgement and the mark
    settings, res, broker, auth = await _marks_failing(database_url)
    app = create_api(settings, res, broker.publish, lifespan=None)
    report = mining_report(f"G-{secrets.token_hex(4)}")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://intake") as client:
            assert (await client.post("/v1/reports", json=report,
                                      headers=auth)).status_code == 202
            producer = broker.acknowledged[0].producer_id
            await store.set_validated(res.pool, [(producer, report["report_id"], [])])
            status = await client.get(f"/v1/reports/{report['report_id']}", headers=auth)
            assert status.status_code == 200 and status.json()["state"] == "validated"
            again = await client.post("/v1/reports/batch", json=[report], headers=auth)
            assert again.json()["results"][0]["duplicate"] is True
            assert len(broker.acknowledged) == 1
    finally:
        async with res.pool.acquire() as conn:
            await conn.execute(HEAL)
        await res.close()
