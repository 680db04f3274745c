"""Supervision listings on a real PostgreSQL database with reports that carry a thousand inputs:
a page is bounded in bytes as well as items, and its cursor still walks every report once."""

import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from mintrace import devstack
from mintrace_common import keys
from mintrace_common.service import Resources
from mintrace_supervision.api import create_api
from mintrace_supervision.app import SupervisionSettings


REPORTS = 120
INPUTS = 1000
PAGE_BYTES = 4 * 2**20  # the bound the README documents


@pytest.fixture(scope="module")
async def api(pg_server_url):
    url = await devstack.scratch_database(pg_server_url, "mintrace_paging", load_demo=False)
    res = Resources(SupervisionSettings(service_name="supervision", database_url=url))
    await res.open()

    @asynccontextmanager
    async def lifespan(app):
        yield

    async def publish(events):
        pass

    app = create_api(res, lifespan, publish)
    async with res.pool.acquire() as conn:
        key = await keys.issue(conn, "supervisor", "jiangxi", "Li Wei")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, res.pool
    await res.close()
    await devstack.drop_database(url)


def large_record(report_id: str, producer_id: str) -> dict:
    return {"report_id": report_id, "producer_id": producer_id, "province_code": "360000",
            "report": {"report_id": report_id, "type": "processing_output",
                       "inputs": [{"lot_id": f"LOT-{report_id}-{i:04d}",
                                   "quantity": {"value": "1.250", "unit": "kg"}}
                                  for i in range(INPUTS)]}}


async def test_pages_of_reports_with_large_inputs_are_bounded_and_the_cursor_walks_all(api):
    client, pool = api
    producer = f"P-{secrets.token_hex(4)}"
    ids = [f"BIG-{i:04d}" for i in range(REPORTS)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at, "
            "record, material, type, occurred_at) VALUES ($1, $2, '360000', $3, $4, 'Dy', "
            "'processing_output', $3)",
            [(producer, i, datetime.now(UTC), large_record(i, producer)) for i in ids])
    seen, sizes, cursor = [], [], None
    while True:
        got = await client.get("/v1/supervision/jiangxi/reports", params={
            "producer_id": producer, "limit": 500, **({"cursor": cursor} if cursor else {})})
        assert got.status_code == 200
        body = got.json()
        assert set(body) == {"items", "next_cursor"}
        sizes.append(len(got.content))
        seen += [item["report_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids                                  # every report once, in routing order
    one = len(got.content) // len(body["items"])
    assert len(sizes) > 1 and max(sizes) <= PAGE_BYTES + 2 * one


async def test_a_page_of_small_reports_still_fills_to_its_limit(api):
    client, pool = api
    producer = f"P-{secrets.token_hex(4)}"
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at, "
            "record) VALUES ($1, $2, '360000', now(), $3)",
            [(producer, f"S-{i}", {"report_id": f"S-{i}"}) for i in range(7)])
    first = (await client.get("/v1/supervision/jiangxi/reports",
                              params={"producer_id": producer, "limit": 5})).json()
    assert [i["report_id"] for i in first["items"]] == [f"S-{i}" for i in range(5)]
    rest = (await client.get("/v1/supervision/jiangxi/reports", params={
        "producer_id": producer, "limit": 5, "cursor": first["next_cursor"]})).json()
    assert [i["report_id"] for i in rest["items"]] == ["S-5", "S-6"]
    assert rest["next_cursor"] is None
