"""Routing through the real intake, broker, database and services: each report lands on its
facility's province topic and the national one, once, and follows its facility when it moves."""

import asyncio
import secrets
from datetime import date, timedelta

import httpx
import pytest

from mintrace import demo
from mintrace_common import db, registry
from mintrace_common.models import RegistryDocument
from mintrace_common.provinces import PROVINCES

pytestmark = pytest.mark.e2e

# producer key -> (facility, stage, type, material, form, hs_code, province slug)
LOCAL = {
    "NM1": ("NM1-MIN-01", "mining", "mining_output", "REO-concentrate", "concentrate", "2846.10",
            "inner-mongolia"),
    "JX2": ("JX2-MIN-01", "mining", "mining_output", "Dy", "ore", "2846.90", "jiangxi"),
    "HN1": ("HN1-MIN-01", "mining", "mining_output", "Sb", "ore", "2617.10", "hunan"),
    "GX1": ("GX1-SEP-01", "separation", "processing_output", "Y", "oxide", "2846.90", "guangxi"),
}
ALL_SUPERVISION = [f"supervision.{p.slug}" for p in PROVINCES] + ["supervision.national"]


def run_day(run: str) -> date:
    """A day of 2025 of this run's own, so rollups of that day hold only this run's reports."""
    return date(2025, 1, 1) + timedelta(days=int(run, 16) % 360)


def local_report(key: str, run: str, n: int, kg: str = "100.5",
                 facility: str | None = None, day: date | None = None) -> dict:
    fac, stage, type_, material, form, hs, _ = LOCAL[key]
    body = {"report_id": f"{key}-{run}-{n}", "schema_version": 1,
            "producer_id": demo.producer_ids()[key], "facility_id": facility or fac,
            "type": type_, "stage": stage, "occurred_at": f"{day or run_day(run)}T00:00:01+08:00",
            "lot_id": f"LOT-{run}-{n}", "material": material, "form": form, "hs_code": hs,
            "quantity": {"value": kg, "unit": "kg"}}
    if type_ == "processing_output":
        body["inputs"] = [{"lot_id": f"IN-{run}-{n}", "quantity": {"value": kg, "unit": "kg"}}]
    return body


def export_report(run: str, n: int, kg: str, usd: str, licensed: bool = True,
                  day: date | None = None) -> dict:
    """GX1 exports yttrium oxide to Milano Elettronica SpA (IT) under its licence."""
    buyer = {"name": "Milano Elettronica SpA", "country": "IT"}
    return {"report_id": f"GX1-{run}-x{n}", "schema_version": 1,
            "producer_id": demo.producer_ids()["GX1"], "facility_id": "GX1-SEP-01",
            "type": "export", "stage": "trading",
            "occurred_at": f"{day or run_day(run)}T00:00:01+08:00",
            "lot_id": f"LOT-{run}-x{n}", "material": "Y", "form": "oxide", "hs_code": "2846.90",
            "quantity": {"value": kg, "unit": "kg"}, "value": {"amount": usd, "currency": "USD"},
            "counterparty": buyer,
            "export": {"licence_number": demo.licence_number(6, "Y") if licensed else None,
                       "destination_country": "IT", "consignee": buyer, "end_user": buyer}}


async def submit(client: httpx.AsyncClient, keys: dict[str, str], bodies: list[dict]) -> None:
    """Submit through the batch endpoint, one request per producer; every item must be accepted."""
    by_producer: dict[str, list[dict]] = {}
    for b in bodies:
        by_producer.setdefault(b["producer_id"], []).append(b)
    ids = demo.producer_ids()
    for producer_id, items in by_producer.items():
        key = next(k for k, v in ids.items() if v == producer_id)
        resp = await client.post("/v1/reports/batch", json=items,
                                 headers={"Authorization": f"Bearer {keys[key]}"})
        assert resp.status_code == 200, resp.text
        assert {r["status"] for r in resp.json()["results"]} == {202}, resp.text


async def move_facility(url: str, key: str, facility: str, province_code: str,
                        stages: list[str]) -> None:
    conn = await db.connect(url)
    try:
        await registry.load(conn, RegistryDocument.model_validate({"facilities": [
            {"facility_id": facility, "producer_id": demo.producer_ids()[key],
             "province_code": province_code, "stages": stages}]}), source="test")
    finally:
        await conn.close()


def ids_on(reader, topic: str, run: str) -> list[str]:
    return [v["report_id"] for v in reader.values(topic) if f"-{run}-" in v["report_id"]]


async def test_each_province_report_lands_on_its_topic_and_national_once(stack, producer_keys,
                                                                         topic_reader):
    run = secrets.token_hex(4)
    bodies = {key: local_report(key, run, 1) for key in LOCAL}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client:
        await submit(client, producer_keys, list(bodies.values()))
    async with topic_reader(*ALL_SUPERVISION) as reader:
        def arrived(_):
            return all(ids_on(reader, f"supervision.{LOCAL[k][6]}", run) for k in LOCAL) and \
                len(ids_on(reader, "supervision.national", run)) >= len(LOCAL)
        await reader.until(arrived, timeout=60)
        await asyncio.sleep(1.0)  # anything published twice would be here by now
        await reader.until(lambda _: True)

    for key, body in bodies.items():
        slug = LOCAL[key][6]
        assert ids_on(reader, f"supervision.{slug}", run) == [body["report_id"]]
    for topic in ALL_SUPERVISION:
        if topic not in {f"supervision.{v[6]}" for v in LOCAL.values()} | {"supervision.national"}:
            assert ids_on(reader, topic, run) == [], topic
    national = {v["report_id"]: v for v in reader.values("supervision.national")
                if f"-{run}-" in v["report_id"]}
    assert sorted(ids_on(reader, "supervision.national", run)) == sorted(
        b["report_id"] for b in bodies.values())
    gx = national[bodies["GX1"]["report_id"]]
    assert gx["province_code"] == "450000" and gx["province_slug"] == "guangxi"
    assert gx["licence"]["status"] == "not_required" and gx["quantity_kg"] == "100.5"
    assert gx["report"] == {**bodies["GX1"], "counterparty": None, "counterparty_report_id": None,
                            "export": None, "purity_pct": None, "value": None} | {
        "quantity": {"value": "100.5", "unit": "kg"},
        "inputs": [{"lot_id": f"IN-{run}-1", "quantity": {"value": "100.5", "unit": "kg"}}]}
    assert gx["redelivery"] is False


async def test_moved_facility_routes_to_its_new_province_from_the_next_report(
        stack, producer_keys, topic_reader):
    run = secrets.token_hex(4)
    facility = f"GX1-MOV-{run}"
    await move_facility(stack.database_url, "GX1", facility, "450000", ["separation"])
    before = local_report("GX1", run, 1, facility=facility)
    after = local_report("GX1", run, 2, facility=facility)
    async with (httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as client,
                topic_reader("supervision.guangxi", "supervision.hunan") as reader):
        await submit(client, producer_keys, [before])
        await reader.until(lambda _: ids_on(reader, "supervision.guangxi", run), timeout=60)
        await move_facility(stack.database_url, "GX1", facility, "430000", ["separation"])
        await submit(client, producer_keys, [after])
        await reader.until(lambda _: ids_on(reader, "supervision.hunan", run), timeout=60)
    assert ids_on(reader, "supervision.guangxi", run) == [before["report_id"]]
    assert ids_on(reader, "supervision.hunan", run) == [after["report_id"]]
