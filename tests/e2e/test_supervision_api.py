"""The supervision API process against the shared stack: province scoping, filters, keyset
pages over reports, alerts and rollups."""

import asyncio
import os
import secrets
import subprocess
import sys
from datetime import date, timedelta

import httpx
import pytest
from test_routing_provinces import local_report, run_day, submit

from mintrace import demo
from mintrace_common import db, keys

pytestmark = pytest.mark.e2e


async def supervisor_keys(url: str, *subjects: str) -> dict[str, str]:
    conn = await db.connect(url)
    try:
        return {s: await keys.issue(conn, "supervisor", s) for s in subjects}
    finally:
        await conn.close()


def unlicensed_export(run: str) -> dict:
    buyer = {"name": "Hanse Magnetics GmbH", "country": "DE"}
    return {"report_id": f"JX1-{run}-x", "schema_version": 1,
            "producer_id": demo.producer_ids()["JX1"], "facility_id": "JX1-SEP-01",
            "type": "export", "stage": "trading", "occurred_at": f"{run_day(run)}T09:00:00+08:00",
            "lot_id": f"LOT-{run}-x", "material": "Dy", "form": "oxide", "hs_code": "2846.90",
            "quantity": {"value": "40", "unit": "kg"}, "value": {"amount": "10400.00",
                                                                  "currency": "USD"},
            "counterparty": buyer,
            "export": {"licence_number": None, "destination_country": "DE", "consignee": buyer,
                       "end_user": buyer}}


async def test_supervisors_read_their_province_and_the_nation_reads_all(stack, producer_keys):
    run = secrets.token_hex(4)
    day = run_day(run)
    window = {"since": f"{day}T00:00:00+08:00",
              "until": f"{day + timedelta(days=1)}T00:00:00+08:00"}
    export, mined, hunan = unlicensed_export(run), local_report("JX2", run, 1), \
        local_report("HN1", run, 1)
    sk = await supervisor_keys(stack.database_url, "jiangxi", "hunan", "national")
    auth = {s: {"Authorization": f"Bearer {k}"} for s, k in sk.items()}
    ids = demo.producer_ids()

    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, [export, mined, hunan])
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        async def items(path: str, who: str, **params) -> list[dict]:
            resp = await api.get(f"/v1/supervision/{path}", params=params, headers=auth[who])
            assert resp.status_code == 200, resp.text
            return resp.json()["items"]

        for _ in range(150):  # routed, and the unlicensed export's alert raised
            raised = await items("jiangxi/alerts", "jiangxi", producer_id=ids["JX1"],
                                 material="Dy", type="UNLICENSED_EXPORT", since=window["since"])
            if len(await items("national/reports", "national", **window)) == 3 and export[
                    "report_id"] in {rid for a in raised for rid in a["report_ids"]}:
                break
            await asyncio.sleep(0.2)

        # a provincial key sees its own province, nothing else
        jiangxi = await items("jiangxi/reports", "jiangxi", **window)
        assert sorted(r["report_id"] for r in jiangxi) == sorted(
            [export["report_id"], mined["report_id"]])
        assert all(r["province_code"] == "360000" for r in jiangxi)
        for path in ("hunan/reports", "national/reports", "hunan/alerts", "hunan/rollup",
                     "national/rollup"):
            resp = await api.get(f"/v1/supervision/{path}", headers=auth["jiangxi"])
            assert resp.status_code == 403, path
        assert (await api.get("/v1/supervision/jiangxi/reports")).status_code == 401
        assert (await api.get("/v1/supervision/jiangxi/reports",
                              headers={"Authorization": "Bearer nope"})).status_code == 401
        producer = {"Authorization": f"Bearer {producer_keys['JX1']}"}
        assert (await api.get("/v1/supervision/jiangxi/reports",
                              headers=producer)).status_code == 403
        assert (await api.get("/v1/supervision/atlantis/reports",
                              headers=auth["national"])).status_code == 404

        # the national key reads any province and the whole country
        assert [r["report_id"] for r in await items("hunan/reports", "national", **window)] == [
            hunan["report_id"]]
        national = await items("national/reports", "national", **window)
        assert {r["province_slug"] for r in national} == {"jiangxi", "hunan"}

        # filters: material, type, producer; every decision attached to each record
        only = await items("jiangxi/reports", "jiangxi", material="Dy", type="export",
                           producer_id=ids["JX1"], **window)
        assert [r["report_id"] for r in only] == [export["report_id"]]
        assert only[0]["licence"]["status"] == "refused"
        assert only[0]["licence"]["reasons"] == ["UNLICENSED"]

        # keyset pages: one item per page, every report once, in routing order
        walked, cursor = [], None
        while True:
            params = {**window, "limit": 1, **({"cursor": cursor} if cursor else {})}
            resp = (await api.get("/v1/supervision/national/reports", params=params,
                                  headers=auth["national"])).json()
            walked += [r["report_id"] for r in resp["items"]]
            cursor = resp["next_cursor"]
            if cursor is None:
                break
        assert walked == [r["report_id"] for r in national] and len(walked) == 3
        bad = await api.get("/v1/supervision/national/reports", params={"cursor": "xyz"},
                            headers=auth["national"])
        assert bad.status_code == 422

        # alerts of the province, filtered; the other province's supervisor sees none of them
        alerts = await items("jiangxi/alerts", "jiangxi", producer_id=ids["JX1"], material="Dy",
                             type="UNLICENSED_EXPORT", since=window["since"])
        assert export["report_id"] in {rid for a in alerts for rid in a["report_ids"]}
        assert not await items("jiangxi/alerts", "jiangxi", producer_id=ids["JX1"],
                               material="Sb", since=window["since"])

        # rollups of that day: the province's own rows, the nation's rows across provinces
        rollup = await items("jiangxi/rollup", "jiangxi", since=str(day), until=str(day))
        assert {(r["material"], r["type"], r["destination_country"], r["quantity_kg"],
                 r["value_usd"], r["report_count"]) for r in rollup} == {
            ("Dy", "export", "DE", "40", "10400.00", 1),
            ("Dy", "mining_output", "CN", "100.5", "0", 1)}
        country = await items("national/rollup", "national", since=str(day), until=str(day),
                              limit=2)
        assert len(country) == 2
        every = await items("national/rollup", "national", since=str(day), until=str(day))
        assert {r["province_code"] for r in every} == {"360000", "430000"}
        assert (await api.get("/v1/supervision/jiangxi/rollup", params={"producer_id": "x"},
                              headers=auth["jiangxi"])).status_code == 422


def _cli(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mintrace.cli", "supervise", *args],
                          env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
                               "MINTRACE_SUPERVISION_URL": stack.supervision_url,
                               "COLUMNS": "250", **env},
                          capture_output=True, text=True, timeout=60)


async def test_supervise_commands_show_the_province_queue_and_its_rollup(stack, producer_keys,
                                                                         topic_reader):
    run = secrets.token_hex(4)
    export, hunan = unlicensed_export(run), local_report("HN1", run, 1)
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, [export, hunan])
    async with topic_reader("supervision.national") as reader:
        await reader.until(lambda _: {export["report_id"], hunan["report_id"]} <= {
            v["report_id"] for v in reader.values("supervision.national")})

    tail = await asyncio.to_thread(_cli, stack, "tail", "--province", "jiangxi", "--since", "10m",
                                   "--no-follow", "--rows", "1000")
    assert tail.returncode == 0, tail.stderr
    assert export["report_id"] in tail.stdout and hunan["report_id"] not in tail.stdout
    assert "refused" in tail.stdout

    days = (date.today() - run_day(run)).days + 2  # back to this run's day, whatever the zone
    key = (await supervisor_keys(stack.database_url, "hunan"))["hunan"]
    rollup = await asyncio.to_thread(_cli, stack, "rollup", "--province", "hunan", "--days",
                                     str(days), MINTRACE_SUPERVISOR_KEY=key)
    assert rollup.returncode == 0, rollup.stderr
    hunan_rows = [line for line in rollup.stdout.splitlines() if " Sb " in line]
    assert hunan_rows and " Dy " not in rollup.stdout  # Jiangxi's export is not Hunan's

    jiangxi = (await supervisor_keys(stack.database_url, "jiangxi"))["jiangxi"]
    refused = await asyncio.to_thread(_cli, stack, "rollup", "--province", "hunan",
                                      MINTRACE_SUPERVISOR_KEY=jiangxi)
    assert refused.returncode == 3 and "403" in refused.stderr

    bad = await asyncio.to_thread(_cli, stack, "tail", "--province", "atlantis")
    assert bad.returncode == 2 and "unknown province" in bad.stderr


async def test_supervision_reports_ready_and_serves_metrics(stack):
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        assert (await api.get("/healthz")).status_code == 200
        ready = await api.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        metrics = await api.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text


async def test_long_alert_evidence_is_bounded_in_lists_and_paged_in_full(stack):
    run = secrets.token_hex(4)
    ids = [f"EV-{run}-{i:04d}" for i in range(250)]
    conn = await db.connect(stack.database_url)
    try:
        await conn.execute(
            "INSERT INTO alerts (alert_id, type, severity, province_code, producer_id, "
            "report_ids, summary, raised_at, rule_version) VALUES ($1, 'VOLUME_SPIKE', "
            "'medium', '360000', $2, $3, 'test', now(), 't'), ($4, 'VOLUME_SPIKE', 'medium', "
            "'430000', $2, $3, 'test', now(), 't')",
            f"ev-{run}", f"P-{run}", ids, f"ev-hn-{run}")
    finally:
        await conn.close()
    sk = await supervisor_keys(stack.database_url, "jiangxi", "national")
    auth = {s: {"Authorization": f"Bearer {k}"} for s, k in sk.items()}
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as api:
        listed = await api.get("/v1/supervision/jiangxi/alerts", headers=auth["jiangxi"],
                               params={"producer_id": f"P-{run}"})
        [alert] = listed.json()["items"]
        assert alert["report_ids"] == ids[:100] and alert["evidence_total"] == 250
        got, offset = [], 0
        while offset is not None:
            page = (await api.get(f"/v1/supervision/jiangxi/alerts/ev-{run}/evidence",
                                  headers=auth["jiangxi"],
                                  params={"offset": offset, "limit": 100})).json()
            assert page["evidence_total"] == 250 and len(page["report_ids"]) <= 100
            got += page["report_ids"]
            offset = page["next_offset"]
        assert got == ids
        # another province's alert is not found from here; the national office reads it
        other = f"/v1/supervision/{{}}/alerts/ev-hn-{run}/evidence"
        assert (await api.get(other.format("jiangxi"), headers=auth["jiangxi"])).status_code \
            == 404
        assert (await api.get(other.format("national"), headers=auth["national"])).json()[
            "evidence_total"] == 250
        assert (await api.get(other.format("hunan"), headers=auth["jiangxi"])).status_code == 403
