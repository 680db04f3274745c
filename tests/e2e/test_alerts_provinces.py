"""A producer with facilities in two provinces, through the real stack (SPEC §5: a supervisor
sees only their own province): its reports in Jiangxi are judged apart from its reports in
Hunan, every alert on alerts.<slug> cites that province's reports only, a split-shipment case
lists its own province's shipments; the producer learns an alert's type, not its evidence."""

import asyncio
import secrets
from datetime import timedelta

import httpx
import pytest
from test_cases_api import named_keys
from test_routing_provinces import move_facility, run_day, submit

from mintrace import demo

pytestmark = pytest.mark.e2e

SLUGS = {"360000": "jiangxi", "430000": "hunan"}


def mined(run: str, province: str, facility: str, day: int, kg: int) -> dict:
    d = run_day(run) + timedelta(days=day)
    return {"report_id": f"HN1-{run}-{province[:2]}-m{day}", "schema_version": 1,
            "producer_id": demo.producer_ids()["HN1"], "facility_id": facility,
            "type": "mining_output", "stage": "mining", "occurred_at": f"{d}T10:00:00+08:00",
            "lot_id": f"LOT-{run}-{province[:2]}-m{day}", "material": "W", "form": "ore",
            "hs_code": "2611.00", "quantity": {"value": str(kg), "unit": "kg"}}


def shipped(run: str, province: str, facility: str, hour: int) -> dict:
    """400 kg of tungsten to this run's own consignee: under the 1 t review threshold."""
    party = {"name": f"Splitter {run} Metals", "country": "DE"}
    return {"report_id": f"HN1-{run}-{province[:2]}-x{hour}", "schema_version": 1,
            "producer_id": demo.producer_ids()["HN1"], "facility_id": facility,
            "type": "export", "stage": "trading",
            "occurred_at": f"{run_day(run)}T{hour:02d}:00:00+08:00",
            "lot_id": f"LOT-{run}-{province[:2]}-x{hour}", "material": "W", "form": "metal",
            "hs_code": "8101.94", "quantity": {"value": "400", "unit": "kg"},
            "value": {"amount": "18000.00", "currency": "USD"}, "counterparty": party,
            "export": {"licence_number": None, "destination_country": "DE",
                       "consignee": party, "end_user": party}}


async def test_a_producer_in_two_provinces_is_judged_per_province_and_each_sees_its_own(
        stack, producer_keys, topic_reader):
    run = secrets.token_hex(4)
    mine, trade = f"HN1-JXM-{run}", f"HN1-JXT-{run}"   # HN1's new facilities in Jiangxi
    await move_facility(stack.database_url, "HN1", mine, "360000", ["mining"])
    await move_facility(stack.database_url, "HN1", trade, "360000", ["trading"])
    at = {"360000": (mine, trade), "430000": ("HN1-MIN-01", "HN1-SML-01")}

    # the same daily output in both provinces, then a day that is 4x Jiangxi's own mean (but
    # only 2.5x the producer's) and a day that is 5x Hunan's
    bodies = [mined(run, p, at[p][0], d, 1000) for p in at for d in range(6)]
    bodies += [mined(run, "360000", mine, 7, 4000), mined(run, "430000", "HN1-MIN-01", 7, 1000),
               mined(run, "360000", mine, 9, 1000), mined(run, "430000", "HN1-MIN-01", 9, 5000)]
    # three small exports to one consignee from each province, interleaved within 72 h
    bodies += [shipped(run, p, at[p][1], h) for h, p in enumerate(["360000", "430000"] * 3)]
    province_of = {b["report_id"]: next(p for p in at if b["facility_id"] in at[p])
                   for b in bodies}

    def mine_of(topic):
        return [a for a in reader.values(topic) if set(a["report_ids"]) & set(province_of)]

    def found(type_, province):
        return [a for a in mine_of(f"alerts.{SLUGS[province]}") if a["type"] == type_]

    async with (httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake,
                topic_reader("alerts.jiangxi", "alerts.hunan", "alerts.national") as reader):
        await submit(intake, producer_keys, bodies)
        await reader.until(lambda _: all(found(t, p) for t in ("SPLIT_SHIPMENTS", "VOLUME_SPIKE")
                                         for p in SLUGS)
                           and found("MASS_BALANCE", "360000"), timeout=120)
        await asyncio.sleep(2.0)   # anything else about these reports would be here by now
        await reader.until(lambda _: True)

    for province, slug in SLUGS.items():
        for a in mine_of(f"alerts.{slug}"):
            assert a["province_code"] == province, a
            assert {province_of[r] for r in a["report_ids"]} == {province}, a
    for a in mine_of("alerts.national"):
        assert {province_of[r] for r in a["report_ids"]} == {a["province_code"]}, a

    def evidence(type_, province):
        return sorted(sorted(a["report_ids"]) for a in found(type_, province))

    assert evidence("VOLUME_SPIKE", "360000") == [[f"HN1-{run}-36-m7"]]
    assert evidence("VOLUME_SPIKE", "430000") == [[f"HN1-{run}-43-m9"]]
    jx_exports = [f"HN1-{run}-36-x{h}" for h in (0, 2, 4)]
    assert evidence("SPLIT_SHIPMENTS", "360000") == [jx_exports]
    assert evidence("SPLIT_SHIPMENTS", "430000") == [[f"HN1-{run}-43-x{h}" for h in (1, 3, 5)]]

    # Jiangxi's supervisor works the case: its episode lists Jiangxi's shipments only
    [split] = found("SPLIT_SHIPMENTS", "360000")
    k = await named_keys(stack.database_url, li=("jiangxi", "Li Wei"))
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        resp = await api.get(f"/v1/supervision/jiangxi/alerts/{split['alert_id']}",
                             headers=k["li"])
    assert resp.status_code == 200, resp.text
    assert sorted(s["report_id"] for s in resp.json()["case"]["shipments"]) == jx_exports


async def test_a_producer_learns_an_alerts_type_not_how_it_was_detected(stack, producer_keys):
    run = secrets.token_hex(4)
    bodies = [shipped(run, "430000", "HN1-SML-01", h) for h in (1, 2, 3)]
    auth = {"Authorization": f"Bearer {producer_keys['HN1']}"}
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, bodies)
        for _ in range(240):
            status = (await intake.get(f"/v1/reports/{bodies[2]['report_id']}",
                                       headers=auth)).json()
            if {"UNLICENSED_EXPORT", "SPLIT_SHIPMENTS"} <= {a["type"] for a in status["alerts"]}:
                break
            await asyncio.sleep(0.25)
    assert {"UNLICENSED_EXPORT", "SPLIT_SHIPMENTS"} <= {a["type"] for a in status["alerts"]}
    for a in status["alerts"]:
        assert set(a) == {"alert_id", "type", "raised_at"}, a
        assert a["alert_id"] and a["raised_at"], a
