"""The console's sign-in contract and its protections, over plain HTTP against the shared stack:
form field `key` on POST /console/login, the session cookie's flags, sign-out ending the session
server-side, security headers, CSRF and cross-origin refusals, the language chosen per user."""

import httpx
import pytest

from mintrace import demo, devstack

pytestmark = pytest.mark.e2e
JX1 = demo.producer_ids()["JX1"]


async def test_sign_in_opens_a_strict_http_only_session_that_sign_out_ends(stack,
                                                                          producer_keys):
    # the key `make dev` prints
    key = await devstack.issue_supervisor_key(stack.database_url, devstack.DEMO_PROVINCE, "Li Wei")
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30) as web:
        assert (await web.get("/console/jiangxi/alerts")).headers["location"] == "/console/login"
        for bad in ("", "mts_nope", producer_keys["JX1"]):
            resp = await web.post("/console/login", data={"key": bad})
            assert resp.status_code == 401 and "mt_session" not in resp.cookies

        resp = await web.post("/console/login", data={"key": key})
        assert resp.status_code == 303 and resp.headers["location"] == "/console/jiangxi/alerts"
        cookie = resp.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "secure" not in cookie   # plain HTTP here; set when served over TLS

        page = await web.get("/console/jiangxi/alerts")
        assert page.status_code == 200 and "Li Wei" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "<script>" not in page.text.replace(
            '<script src="/console/static/htmx.min.js" defer></script>', "")
        assert page.headers["x-content-type-options"] == "nosniff"
        htmx = await web.get("/console/static/htmx.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:200]
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]

        # every page renders, filtered or not; another province's pages are refused
        for path in ("/console/jiangxi/alerts?status=closed&severity=high&type=SPLIT_SHIPMENTS",
                     "/console/jiangxi/alerts/rows?status=open", "/console/jiangxi/reports",
                     f"/console/jiangxi/reports?producer_id={JX1}&type=export&material=Dy",
                     f"/console/jiangxi/producers/{JX1}", "/console/jiangxi/rollup?days=3",
                     "/console/jiangxi/rollup.csv", "/console/jiangxi/webhooks"):
            assert (await web.get(path)).status_code == 200, path
        for path, status in (("/console/hunan/alerts", 403), ("/console/national/alerts", 403),
                             ("/console/atlantis/alerts", 404),
                             ("/console/jiangxi/producers/nobody", 404),
                             ("/console/jiangxi/alerts/no-such-alert", 404)):
            assert (await web.get(path)).status_code == status, path

        # state changes need the session's token, and a same-origin request
        assert (await web.post("/console/logout", data={})).status_code == 403
        assert (await web.post("/console/logout", data={"csrf": csrf},
                               headers={"origin": "https://evil.example"})).status_code == 403
        assert (await web.post("/console/login", data={"key": key},
                               headers={"origin": "https://evil.example"})).status_code == 401

        # the language is the user's: a cookie set by the toggle
        zh = await web.get("/console/lang/zh-CN", params={"next": "/console/jiangxi/alerts"})
        assert zh.headers["location"] == "/console/jiangxi/alerts"
        assert "警报队列" in (await web.get("/console/jiangxi/alerts")).text
        away = await web.get("/console/lang/en", params={"next": "https://evil.example/"})
        assert away.headers["location"] == "/console/"

        session = web.cookies.get("mt_session")
        assert (await web.post("/console/logout", data={"csrf": csrf})).status_code == 303
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=30,
                                 cookies={"mt_session": session}) as replay:
        assert (await replay.get("/console/jiangxi/alerts")).status_code == 303
