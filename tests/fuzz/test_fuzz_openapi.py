"""Schemathesis against the live intake and supervision processes of the session stack, through
their own OpenAPI documents (so every endpoint merged later is fuzzed too): every operation with
a producer's key, a provincial and the national supervisor's key, a key of the wrong kind, an
unknown key and none. No 5xx, every answer as documented (status and schema), and nobody is shown
another producer's or province's data. `make fuzz` runs it longer (MINTRACE_FUZZ_* settings)."""

import asyncio
import os
import secrets

import httpx
import pytest
from fuzz_harness import OUTCOMES
from fuzz_harness import Budget, Identity, run

from mintrace import demo
from mintrace_common import db, keys

pytestmark = pytest.mark.e2e
IDS = demo.producer_ids()
RUN = secrets.token_hex(3)


def mined(key: str, facility: str, material: str, hs: str, n: int) -> dict:
    return {"report_id": f"FZ-{key}-{RUN}-{n}", "schema_version": 1, "producer_id": IDS[key],
            "facility_id": facility, "type": "mining_output", "stage": "mining",
            "occurred_at": "2026-01-05T08:00:00+08:00", "lot_id": f"LOT-FZ-{RUN}-{n}",
            "material": material, "form": "ore", "hs_code": hs,
            "quantity": {"value": "10", "unit": "kg"}}


def unlicensed_export(n: int) -> dict:
    buyer = {"name": "Hanse Magnetics GmbH", "country": "DE"}
    return {"report_id": f"FZ-JX1-{RUN}-{n}", "schema_version": 1, "producer_id": IDS["JX1"],
            "facility_id": "JX1-SEP-01", "type": "export", "stage": "trading",
            "occurred_at": "2026-01-05T09:00:00+08:00", "lot_id": f"LOT-FZ-{RUN}-x{n}",
            "material": "Dy", "form": "oxide", "hs_code": "2846.90",
            "quantity": {"value": "40", "unit": "kg"},
            "value": {"amount": "10400.00", "currency": "USD"}, "counterparty": buyer,
            "export": {"licence_number": None, "destination_country": "DE", "consignee": buyer,
                       "end_user": buyer}}


async def seeded(stack, producer_keys) -> dict[str, list[str]]:
    """Reports of Jiangxi (JX1, JX2) and Hunan (HN1) routed, JX1's unlicensed export alerted:
    data each identity must or must not be shown. Returns report ids per producer key."""
    reports = {"JX1": [unlicensed_export(1)],
               "JX2": [mined("JX2", "JX2-MIN-01", "Dy", "2846.90", 2)],
               "HN1": [mined("HN1", "HN1-MIN-01", "Sb", "2617.10", 3)]}
    national = await issue("supervisor", "national", stack.database_url)
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        for key, bodies in reports.items():
            for body in bodies:
                resp = await intake.post("/v1/reports", json=body, headers={
                    "Authorization": f"Bearer {producer_keys[key]}"})
                assert resp.status_code == 202, resp.text
    want = {r["report_id"] for bodies in reports.values() for r in bodies}
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        for _ in range(300):
            got = (await api.get("/v1/supervision/national/reports", params={
                "since": "2026-01-05T00:00:00+08:00", "until": "2026-01-06T00:00:00+08:00",
                "limit": 500}, headers={"Authorization": f"Bearer {national}"})).json()["items"]
            if want <= {r["report_id"] for r in got}:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("seeded reports were not routed")
    return {k: [r["report_id"] for r in v] for k, v in reports.items()}


async def issue(kind: str, subject: str, url: str) -> str:
    conn = await db.connect(url)
    try:
        return await keys.issue(conn, kind, subject)
    finally:
        await conn.close()


@pytest.mark.timeout(int(os.environ.get("MINTRACE_FUZZ_TIMEOUT", "900")))
async def test_every_operation_answers_hostile_input_as_documented_and_leaks_nothing(
        stack, producer_keys, tmp_path):
    ids = await seeded(stack, producer_keys)
    not_jx1 = (IDS["JX2"], IDS["HN1"], *ids["JX2"], *ids["HN1"])
    hunan = (IDS["HN1"], *ids["HN1"], "430000")
    url = stack.database_url
    unknown = "mtp_" + secrets.token_urlsafe(32)
    jiangxi = await issue("supervisor", "jiangxi", url)
    plan = [
        ("intake", stack.intake_url, Identity("producer JX1", (producer_keys["JX1"],), not_jx1,
                                              producer_id=IDS["JX1"])),
        ("intake", stack.intake_url, Identity("supervisor/unknown/none", (
            jiangxi, unknown, None), refused=True)),
        ("supervision", stack.supervision_url, Identity("supervisor jiangxi", (jiangxi,), hunan)),
        ("supervision", stack.supervision_url, Identity("supervisor national", (
            await issue("supervisor", "national", url),))),
        ("supervision", stack.supervision_url, Identity("producer/unknown/none", (
            producer_keys["JX1"], unknown, None), hunan, refused=True)),
    ]
    budget = Budget.from_env()
    gate = asyncio.Semaphore(3)

    async def one(service, base, who):
        async with gate:
            return await run(service, base, who, budget, tmp_path)

    outcomes = await asyncio.gather(*(one(*p) for p in plan))
    OUTCOMES.extend(outcomes)
    bad = [o for o in outcomes if o.failures or o.errors or not o.operations]
    assert not bad, "\n\n".join(f"{o.line}\n{o.output[-6000:]}" for o in bad)
    assert {o.service for o in outcomes if o.cases} == {"intake", "supervision"}
