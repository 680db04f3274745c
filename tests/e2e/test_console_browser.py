"""The console in a real browser (Debian's Chromium driven by Playwright) against the shared
stack: a supervisor works an alert raised by a real report, province isolation, hostile text.
`make screenshots` runs these with MINTRACE_SCREENSHOTS=docs/screenshots."""

import asyncio
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from test_cases_api import named_keys, raised_alert
from test_routing_provinces import local_report, submit
from test_supervision_api import unlicensed_export

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"


@pytest.fixture(scope="session")
async def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: run `make browser`")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
def shots(tmp_path):
    out = Path(os.environ.get("MINTRACE_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)

    async def shot(page: Page, name: str) -> None:
        await page.screenshot(path=out / f"{name}.png", full_page=True)

    return shot


async def signed_in(browser: Browser, stack, key_header: dict, lang: str = "en") -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale=lang)
    page = await context.new_page()
    await page.goto(f"{stack.supervision_url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login$"))
    await page.fill("#key", key_header["Authorization"].removeprefix("Bearer "))
    await page.click("form[action='/console/login'] button")
    return page


async def recent_volume(stack, producer_keys) -> None:
    """Mining output in Jiangxi on each of the last four days (China time)."""
    run, today = secrets.token_hex(4), (datetime.now(UTC) + timedelta(hours=8)).date()
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=30) as intake:
        await submit(intake, producer_keys, [local_report("JX2", run, n, kg=f"{300 + 40 * n}",
                                                          day=today - timedelta(days=n))
                                             for n in range(4)])


def hostile_export(run: str) -> dict:
    body = unlicensed_export(run)
    party = {"name": f"{HOSTILE} {run}", "country": "DE"}
    return {**body, "counterparty": party}


async def test_a_supervisor_works_a_live_alert_to_closed_in_the_browser(
        browser, stack, producer_keys, shots):
    k = await named_keys(stack.database_url, li=("jiangxi", "Li Wei"))
    page = await signed_in(browser, stack, k["li"])
    await expect(page).to_have_url(re.compile(r"/console/jiangxi/alerts$"))
    await expect(page.locator("#person")).to_have_text("Li Wei")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "mt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # a report that raises an alert, while the queue is open: it appears without a reload
    alert = await raised_alert(stack, producer_keys, hostile_export(secrets.token_hex(4)))
    row = page.locator(f"tr[data-alert-id='{alert['alert_id']}']")
    await expect(row).to_be_visible(timeout=30_000)
    await shots(page, "queue")
    await row.locator("a.open-alert").click()
    await expect(page.locator("#case-status")).to_have_text("open")

    # producer-supplied text is shown as text, never run
    await expect(page.locator("td.counterparty").first).to_contain_text("<script>")
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("script").count() == 1          # htmx, nothing injected

    await page.fill("#assign-form input[name=assignee]", "Zhang San")
    await page.click("#assign-form button")
    await expect(page.locator("#case-status")).to_have_text("assigned")
    await page.fill("#note-form textarea", "exporter says the licence is pending")
    await page.click("#note-form button")
    await page.select_option("#close-form select[name=outcome]", "confirmed_violation")
    await page.click("#close-form button")
    await expect(page.locator("#case-status")).to_have_text("closed")
    await expect(page.locator("#case-outcome")).to_have_text("confirmed_violation")
    history = page.locator("#history tbody tr")
    await expect(history).to_have_count(3)
    await expect(history.nth(2)).to_contain_text("Li Wei")
    await expect(history.nth(2)).to_contain_text("confirmed_violation")
    await expect(history.nth(1)).to_contain_text("exporter says the licence is pending")
    await shots(page, "alert")

    # the console did it through the API's rules: the API shows the same audit trail
    async with httpx.AsyncClient(base_url=stack.supervision_url) as api:
        case = (await api.get(f"/v1/supervision/jiangxi/alerts/{alert['alert_id']}",
                              headers=k["li"])).json()["case"]
    assert [(h["action"], h["by"]) for h in case["history"]] == [
        ("assign", "Li Wei"), ("note", "Li Wei"), ("close", "Li Wei")]

    # a form without the session's CSRF token is refused
    resp = await page.request.post(
        f"{stack.supervision_url}/console/jiangxi/alerts/{alert['alert_id']}/actions",
        form={"action": "reopen", "csrf": "forged"})
    assert resp.status == 403
    headers = resp.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    await page.goto(f"{stack.supervision_url}/console/jiangxi/producers/{alert['producer_id']}")
    await expect(page.locator("table.licences")).to_be_visible()
    await shots(page, "producer")
    await recent_volume(stack, producer_keys)
    for _ in range(240):   # the mining output routed and counted (other tests' exports may
        csv = await (await page.request.get(  # already be on the chart)
            f"{stack.supervision_url}/console/jiangxi/rollup.csv?days=7")).text()
        if ",Dy,mining_output,CN," in csv:
            break
        await asyncio.sleep(0.25)
    assert csv.startswith("day,material,type,destination_country,quantity_kg")
    assert ",Dy,mining_output,CN," in csv
    await page.goto(f"{stack.supervision_url}/console/jiangxi/rollup?days=7")
    await expect(page.locator("svg.chart rect title").first).to_contain_text("Dy")
    await shots(page, "rollup")
    await page.click("header form button")                    # sign out
    await expect(page).to_have_url(re.compile(r"/console/login$"))
    await page.goto(f"{stack.supervision_url}/console/jiangxi/alerts")
    await expect(page).to_have_url(re.compile(r"/console/login$"))
    await page.context.close()


async def test_a_hunan_key_cannot_open_a_jiangxi_alert_and_the_nation_sees_every_province(
        browser, stack, producer_keys, shots):
    alert = await raised_alert(stack, producer_keys, unlicensed_export(secrets.token_hex(4)))
    k = await named_keys(stack.database_url, hn=("hunan", "Chen Jie"),
                         nat=("national", "Wang Fang"))
    page = await signed_in(browser, stack, k["hn"])
    await expect(page).to_have_url(re.compile(r"/console/hunan/alerts$"))
    for province, status in (("jiangxi", 403), ("hunan", 404)):
        resp = await page.goto(f"{stack.supervision_url}/console/{province}/alerts/"
                               f"{alert['alert_id']}")
        assert resp.status == status
        assert alert["summary"] not in await page.content()
    await page.context.close()

    page = await signed_in(browser, stack, k["nat"], lang="zh-CN")
    await expect(page).to_have_url(re.compile(r"/console/national/alerts$"))
    await expect(page.locator(".province-card")).to_have_count(31)
    await expect(page.locator("h2").first).to_have_text("各省概览")     # zh-CN, from the browser
    await shots(page, "national-zh")
    await page.click("a.lang")                                          # the toggle, kept
    await expect(page.locator("h2").first).to_have_text("Provinces")
    await page.goto(f"{stack.supervision_url}/console/jiangxi/alerts/{alert['alert_id']}")
    await expect(page.locator("#summary")).to_have_text(alert["summary"])
    await page.context.close()
