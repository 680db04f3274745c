"""Unauthenticated floods stay cheap, measured on the real intake and supervision processes by
their own count of database key lookups (/metrics): an unknown key repeated costs one lookup,
and a flood of distinct made-up keys is held to the lookup rate (429 beyond it)."""

import asyncio
import re
import secrets

import httpx
import pytest

pytestmark = pytest.mark.e2e
LOOKUPS = re.compile(r'^mintrace_auth_key_lookups_total\{found="none"\} ([0-9.e+]+)$', re.M)


async def unknown_lookups(client: httpx.AsyncClient) -> float:
    found = LOOKUPS.search((await client.get("/metrics")).text)
    return float(found[1]) if found else 0.0


async def flood(client: httpx.AsyncClient, method: str, path: str, keys: list[str]) -> list[int]:
    statuses = []
    for chunk in range(0, len(keys), 50):
        answers = await asyncio.gather(*(client.request(
            method, path, headers={"Authorization": f"Bearer {k}"})
            for k in keys[chunk:chunk + 50]))
        statuses += [a.status_code for a in answers]
    return statuses


async def login_flood(client: httpx.AsyncClient, keys: list[str]) -> list[int]:
    statuses = []
    for chunk in range(0, len(keys), 50):
        answers = await asyncio.gather(*(client.post("/console/login", data={"key": k})
                                         for k in keys[chunk:chunk + 50]))
        statuses += [a.status_code for a in answers]
    return statuses


@pytest.mark.parametrize("service,method,path", [
    ("intake", "GET", "/v1/reports/R-1"),
    ("supervision", "GET", "/v1/supervision/jiangxi/reports")])
async def test_an_unknown_key_repeated_costs_one_database_lookup(stack, service, method, path):
    base = stack.intake_url if service == "intake" else stack.supervision_url
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        before = await unknown_lookups(client)
        statuses = await flood(client, method, path, ["mtp_" + secrets.token_urlsafe(32)] * 300)
        after = await unknown_lookups(client)
    assert set(statuses) == {401}
    assert after - before == 1


async def test_a_flood_of_distinct_made_up_keys_is_held_to_the_lookup_rate(stack):
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=60) as client:
        before = await unknown_lookups(client)
        started = asyncio.get_running_loop().time()
        statuses = await flood(client, "GET", "/v1/supervision/jiangxi/reports",
                               [f"mts_{secrets.token_urlsafe(32)}" for _ in range(600)])
        seconds = asyncio.get_running_loop().time() - started
        after = await unknown_lookups(client)
    # defaults: a burst of 200, then 50 a second
    assert after - before <= 200 + 50 * seconds + 1
    assert set(statuses) <= {401, 429} and statuses.count(401) == after - before
    if seconds < 6:  # a slow machine may refill the budget as fast as the flood arrives
        assert 429 in statuses
    await asyncio.sleep(4)  # the budget refills before the next test issues keys


async def test_the_console_sign_in_form_shares_the_api_key_cache(stack):
    """The same unknown key typed 300 times costs one lookup; made-up keys at the form draw on the
    API's lookup budget, and the form says so (429 with Retry-After) instead of querying on."""
    async with httpx.AsyncClient(base_url=stack.supervision_url, timeout=60) as client:
        before = await unknown_lookups(client)
        statuses = await login_flood(client, ["mts_" + secrets.token_urlsafe(32)] * 300)
        assert set(statuses) == {401} and await unknown_lookups(client) - before == 1

        before = await unknown_lookups(client)
        started = asyncio.get_running_loop().time()
        statuses = await login_flood(client, [f"mts_{secrets.token_urlsafe(32)}"
                                              for _ in range(600)])
        seconds = asyncio.get_running_loop().time() - started
        after = await unknown_lookups(client)
        assert after - before <= 200 + 50 * seconds + 1
        assert set(statuses) <= {401, 429} and statuses.count(401) == after - before
        if seconds < 6:
            assert 429 in statuses
            busy = await client.post("/console/login",
                                     data={"key": f"mts_{secrets.token_urlsafe(32)}"})
            if busy.status_code == 429:
                assert int(busy.headers["retry-after"]) >= 1 and "Too many" in busy.text
    await asyncio.sleep(4)
