"""Alert cases through the real stack (SPEC §7): every transition, its refusals (409, 422, 403/404),
the audit trail, the status filter, cases.events on the broker, the split-shipment episode."""

import asyncio
import secrets

import asyncpg
import httpx
import pytest
from test_routing_provinces import run_day, submit
from test_supervision_api import unlicensed_export

from mintrace import demo
from mintrace_common import db, keys

pytestmark = pytest.mark.e2e


async def named_keys(url: str, **people: tuple[str, str]) -> dict[str, dict[str, str]]:
    """Bearer headers of fresh supervisor keys: who=(province slug or national, person's name)."""
    conn = await db.connect(url)
    try:
        return {who: {"Authorization": f"Bearer {await keys.issue(conn, 'supervisor', s, n)}"}
                for who, (s, n) in people.items()}
    finally:
        await conn.close()


async def raised_alert(stack, producer_keys, body: dict, alert_type: str = "UNLICENSED_EXPORT",
                       timeout: float = 60) -> dict:
    """Submit `body` through intake and wait for the alert it raises (national view)."""
    auth = (await named_keys(stack.database_url, n=("national", "probe")))["n"]
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, [body])
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        for _ in range(int(timeout / 0.25)):
            resp = await api.get("/v1/supervision/national/alerts", headers=auth,
                                 params={"producer_id": body["producer_id"], "type": alert_type,
                                         "since": f"{run_day_of(body)}T00:00:00+08:00"})
            found = [a for a in resp.json()["items"] if body["report_id"] in a["report_ids"]]
            if found:
                return found[0]
            await asyncio.sleep(0.25)
    raise TimeoutError(f"no {alert_type} alert for {body['report_id']}")


def run_day_of(body: dict) -> str:
    return body["occurred_at"][:10]


async def test_a_case_is_worked_from_open_to_closed_and_reopened_with_every_step_audited(
        stack, producer_keys, topic_reader):
    run = secrets.token_hex(4)
    alert = await raised_alert(stack, producer_keys, unlicensed_export(run))
    assert alert["case"] == {"status": "open", "assignee": None, "outcome": None}
    aid = alert["alert_id"]
    k = await named_keys(stack.database_url, li=("jiangxi", "Li Wei"),
                         hunan=("hunan", "Chen Jie"), nat=("national", "Wang Fang"))
    base = f"/v1/supervision/jiangxi/alerts/{aid}"

    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api, \
            topic_reader("cases.events") as events:
        async def act(body: dict, who: str = "li", path: str = base):
            return await api.post(f"{path}/actions", json=body, headers=k[who])

        detail = (await api.get(base, headers=k["li"])).json()
        assert detail["alert"]["alert_id"] == aid and detail["alert"]["summary"]
        assert detail["case"] == {"status": "open", "assignee": None, "outcome": None,
                                  "history": []}

        # malformed: 422, nothing recorded
        for bad in ({"action": "close"}, {"action": "close", "outcome": "guilty"},
                    {"action": "assign"}, {"action": "note", "note": "  "},
                    {"action": "escalate"}, {"action": "note", "note": "x", "extra": 1},
                    {"action": "note", "note": "x", "outcome": "referred"}):
            resp = await act(bad)
            assert resp.status_code == 422, (bad, resp.text)
        assert (await act({"action": "reopen"})).status_code == 409   # reopening an open case

        resp = await act({"action": "assign", "assignee": "Zhang San"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "assigned" and resp.json()["assignee"] == "Zhang San"
        assert (await act({"action": "note", "note": "asked customs for the B/L"})
                ).status_code == 200
        listed = await api.get("/v1/supervision/jiangxi/alerts", headers=k["li"],
                               params={"status": "assigned", "producer_id": alert["producer_id"]})
        assert aid in {a["alert_id"] for a in listed.json()["items"]}
        assert (await act({"action": "reopen"})).status_code == 409   # assigned is not closed

        resp = await act({"action": "close", "outcome": "confirmed_violation"})
        assert resp.status_code == 200
        assert (resp.json()["status"], resp.json()["outcome"]) == ("closed",
                                                                   "confirmed_violation")
        assert (await act({"action": "close", "outcome": "no_violation"})).status_code == 409
        assert (await act({"action": "assign", "assignee": "x"})).status_code == 409
        for status, present in (("closed", True), ("open", False), ("assigned", False)):
            listed = await api.get("/v1/supervision/jiangxi/alerts", headers=k["li"],
                                   params={"status": status,
                                           "producer_id": alert["producer_id"]})
            assert (aid in {a["alert_id"] for a in listed.json()["items"]}) is present, status
        assert (await api.get("/v1/supervision/jiangxi/alerts", headers=k["li"],
                              params={"status": "pending"})).status_code == 422

        resp = await act({"action": "reopen"})
        assert resp.json() | {"history": None} == {"status": "open", "assignee": None,
                                                   "outcome": None, "history": None}
        # the national office acts on every province
        resp = await act({"action": "assign", "assignee": "Li Wei"}, "nat",
                         f"/v1/supervision/national/alerts/{aid}")
        assert resp.status_code == 200 and resp.json()["status"] == "assigned"

        # another province: 403 on the province, 404 on its own; never the content
        for method, path in (("GET", base), ("POST", f"{base}/actions")):
            resp = await api.request(method, path, headers=k["hunan"],
                                     json={"action": "note", "note": "peek"})
            assert resp.status_code == 403 and aid not in resp.text
        for method, path in (("GET", f"/v1/supervision/hunan/alerts/{aid}"),
                             ("POST", f"/v1/supervision/hunan/alerts/{aid}/actions")):
            resp = await api.request(method, path, headers=k["hunan"],
                                     json={"action": "note", "note": "peek"})
            assert resp.status_code == 404 and alert["summary"] not in resp.text
        assert (await api.get(base)).status_code == 401

        # what the console's producer page and report search show, through the API
        exporter = await api.get(f"/v1/supervision/jiangxi/producers/{alert['producer_id']}",
                                 headers=k["li"])
        assert exporter.status_code == 200
        assert {f["facility_id"] for f in exporter.json()["facilities"]} >= {"JX1-SEP-01"}
        assert all("remaining_kg" in x for x in exporter.json()["licences"])
        assert exporter.json()["licences"]
        assert (await api.get(f"/v1/supervision/hunan/producers/{alert['producer_id']}",
                              headers=k["hunan"])).status_code == 404
        found = await api.get("/v1/supervision/jiangxi/reports", headers=k["li"],
                              params={"report_id": alert["report_ids"][0]})
        assert [r["report_id"] for r in found.json()["items"]] == alert["report_ids"]

        history = (await api.get(base, headers=k["li"])).json()["case"]["history"]
        assert [(h["action"], h["by"]) for h in history] == [
            ("assign", "Li Wei"), ("note", "Li Wei"), ("close", "Li Wei"),
            ("reopen", "Li Wei"), ("assign", "Wang Fang")]
        assert history[1]["note"] == "asked customs for the B/L"
        assert history[2]["outcome"] == "confirmed_violation"
        assert all(h["at"] for h in history)

        got = await events.until(lambda r: len([v for key, v, _ in r["cases.events"]
                                                if key == aid]) >= 5)
        mine = [v for key, v, _ in got["cases.events"] if key == aid]
        assert [(e["action"], e["by"], e["status"]) for e in mine] == [
            ("assign", "Li Wei", "assigned"), ("note", "Li Wei", "assigned"),
            ("close", "Li Wei", "closed"), ("reopen", "Li Wei", "open"),
            ("assign", "Wang Fang", "assigned")]
        assert mine[2]["outcome"] == "confirmed_violation"
        assert all(e["province_code"] == "360000" for e in mine)


async def test_case_history_rows_can_be_neither_changed_nor_deleted(stack, producer_keys):
    alert = await raised_alert(stack, producer_keys, unlicensed_export(secrets.token_hex(4)))
    k = await named_keys(stack.database_url, li=("jiangxi", "Li Wei"))
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        resp = await api.post(f"/v1/supervision/jiangxi/alerts/{alert['alert_id']}/actions",
                              json={"action": "note", "note": "first look"}, headers=k["li"])
        assert resp.status_code == 200
    conn = await db.connect(stack.database_url)
    try:
        for sql in ("UPDATE case_history SET note = 'rewritten' WHERE alert_id = $1",
                    "DELETE FROM case_history WHERE alert_id = $1"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql, alert["alert_id"])
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("TRUNCATE case_history CASCADE")
        assert await conn.fetchval("SELECT note FROM case_history WHERE alert_id = $1",
                                   alert["alert_id"]) == "first look"
    finally:
        await conn.close()


def small_export(run: str, n: int, hour: int, consignee: str) -> dict:
    body = unlicensed_export(run)
    party = {"name": consignee, "country": "DE"}
    return {**body, "report_id": f"JX1-{run}-s{n}", "lot_id": f"LOT-{run}-s{n}",
            "occurred_at": f"{run_day(run)}T{hour:02d}:00:00+08:00",
            "quantity": {"value": "400", "unit": "kg"}, "counterparty": party,
            "export": {**body["export"], "consignee": party, "end_user": party}}


async def test_a_split_shipment_case_lists_shipments_that_arrived_after_the_alert(
        stack, producer_keys):
    run = secrets.token_hex(4)
    consignee = f"Splitter {run} Trading"
    first = [small_export(run, n, 8 + n, consignee) for n in range(3)]
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, first[:2])
    alert = await raised_alert(stack, producer_keys, first[2], "SPLIT_SHIPMENTS")
    late = small_export(run, 3, 14, consignee)
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, [late])
    k = await named_keys(stack.database_url, li=("jiangxi", "Li Wei"))
    want = {b["report_id"] for b in [*first, late]}
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        for _ in range(240):
            case = (await api.get(f"/v1/supervision/jiangxi/alerts/{alert['alert_id']}",
                                  headers=k["li"])).json()["case"]
            if {s["report_id"] for s in case["shipments"]} == want:
                break
            await asyncio.sleep(0.25)
    assert {s["report_id"] for s in case["shipments"]} == want
    assert late["report_id"] not in alert["report_ids"]
    assert demo.producer_ids()["JX1"] == alert["producer_id"]
