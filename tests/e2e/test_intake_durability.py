"""Intake on a stack of its own (fresh broker and database, intake process only): idempotency
that survives a SIGKILL, key revocation through the CLI, supervisor keys, and rate limits."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from mintrace import demo, devstack
from mintrace_common import db, keys

pytestmark = pytest.mark.e2e
IDS = demo.producer_ids()


def _report(producer: str, report_id: str, kg: str = "100") -> dict:
    return {"report_id": report_id, "schema_version": 1, "producer_id": IDS[producer],
            "facility_id": f"{producer}-MIN-01", "type": "mining_output", "stage": "mining",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "lot_id": "LOT-1", "material": "Sb", "form": "ore", "hs_code": "2617.10",
            "quantity": {"value": kg, "unit": "kg"}}


async def _received(bootstrap: str, report_id: str, settle: float = 3.0) -> list[dict]:
    """Every reports.received record of `report_id`, read until `settle` s pass without news."""
    consumer = AIOKafkaConsumer("reports.received", bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found, quiet_since = [], time.monotonic()
    try:
        while time.monotonic() - quiet_since < settle:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                quiet_since = time.monotonic()
                found += [v for v in (json.loads(r.value) for r in records)
                          if v["report_id"] == report_id]
    finally:
        await consumer.stop()
    return found


async def _wait_serving(client: httpx.AsyncClient) -> None:
    for _ in range(150):
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("intake did not come back")


async def test_an_accepted_report_stays_accepted_once_across_an_intake_kill(make_stack):
    stack = await make_stack()
    stack.start_services(["intake"])
    key = (await devstack.issue_producer_keys(stack.database_url, ["HN1"]))["HN1"]
    auth = {"Authorization": f"Bearer {key}"}
    report = _report("HN1", f"R-{secrets.token_hex(4)}")
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        first = await client.post("/v1/reports", json=report, headers=auth)
        assert first.status_code == 202 and first.json()["duplicate"] is False
        stack.procs.kill("intake")
        stack.restart("intake")
        await _wait_serving(client)
        again = await client.post("/v1/reports", json=report, headers=auth)
        assert again.status_code == 202 and again.json()["duplicate"] is True
        assert again.json()["received_at"] == first.json()["received_at"]
        changed = await client.post("/v1/reports", json={**report, "lot_id": "LOT-2"},
                                    headers=auth)
        assert changed.status_code == 409
        batch = await client.post("/v1/reports/batch", json=[report], headers=auth)
        assert batch.json()["results"][0]["duplicate"] is True
    assert len(await _received(stack.bootstrap, report["report_id"])) == 1


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mintrace.cli", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "DATABASE_URL": stack.database_url})


async def test_revoked_keys_supervisor_keys_and_producers_over_their_rate_are_refused(make_stack):
    stack = await make_stack({"INTAKE_KEY_CACHE_S": "0.5", "INTAKE_RATE_PER_S": "1",
                              "INTAKE_BURST": "5"})
    stack.start_services(["intake"])
    issued = _cli(stack, "keys", "issue", "--producer", IDS["GX1"])
    assert issued.returncode == 0, issued.stderr
    gx1 = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    hn1_key = (await devstack.issue_producer_keys(stack.database_url, ["HN1"]))["HN1"]
    hn1_spare = (await devstack.issue_producer_keys(stack.database_url, ["HN1"]))["HN1"]
    hn1 = {"Authorization": f"Bearer {hn1_key}"}
    conn = await db.connect(stack.database_url)
    try:
        supervisor = {"Authorization": f"Bearer {await keys.issue(conn, 'supervisor', 'hunan')}"}
    finally:
        await conn.close()
    run = secrets.token_hex(4)
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        def post(auth, *reports):
            return client.post("/v1/reports/batch", json=list(reports), headers=auth)

        # rate: a burst of 5 passes, the 6th report waits for Retry-After; others unaffected
        five = [_report("HN1", f"RL-{run}-{i}") for i in range(5)]
        assert (await post(hn1, *five)).json()["counts"] == {"202": 5}
        throttled = await client.post("/v1/reports", json=_report("HN1", f"RL-{run}-6"),
                                      headers=hn1)
        assert throttled.status_code == 429
        wait = int(throttled.headers["Retry-After"])
        assert 1 <= wait <= 2
        assert (await client.get(f"/v1/reports/RL-{run}-6", headers=hn1)).status_code == 404
        assert (await post(gx1, _report("GX1", f"G-{run}-1"))).status_code == 200
        await asyncio.sleep(wait)
        assert (await client.post("/v1/reports", json=_report("HN1", f"RL-{run}-6"),
                                  headers=hn1)).status_code == 202

        # a supervisor's key cannot submit
        assert (await client.post("/v1/reports", json=_report("HN1", f"S-{run}"),
                                  headers=supervisor)).status_code == 403

        # revocation takes effect within the key cache time
        revoked = _cli(stack, "keys", "revoke", "--producer", IDS["GX1"])
        assert revoked.returncode == 0 and "revoked 1 key" in revoked.stderr, revoked.stderr
        await asyncio.sleep(0.6)
        refused = await post(gx1, _report("GX1", f"G-{run}-2"))
        assert refused.status_code == 401
        assert (await client.get(f"/v1/reports/G-{run}-1", headers=gx1)).status_code == 401

        # one leaked key is revoked, the producer's other key keeps working
        one = _cli(stack, "keys", "revoke", "--key", hn1_key)
        assert one.returncode == 0 and "revoked 1 key" in one.stderr, one.stderr
        await asyncio.sleep(0.6)
        assert (await client.get(f"/v1/reports/RL-{run}-6", headers=hn1)).status_code == 401
        spare = {"Authorization": f"Bearer {hn1_spare}"}
        assert (await client.get(f"/v1/reports/RL-{run}-6", headers=spare)).status_code == 200
