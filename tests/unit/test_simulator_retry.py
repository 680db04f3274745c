"""The simulator waits as intake asks (429/503 with Retry-After) instead of stopping."""

import time

import httpx
import pytest

from mintrace.simulator import post_batch


def intake_that_refuses(*statuses: int, retry_after: str = "0.2"):
    answers = list(statuses)
    seen: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        if answers:
            return httpx.Response(answers.pop(0), headers={"Retry-After": retry_after},
                                  json={"detail": "later"})
        return httpx.Response(200, json={"counts": {"202": 1}})

    return handle, seen


async def test_429_and_503_are_retried_after_the_time_intake_asks_for():
    handle, seen = intake_that_refuses(429, 503)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle),
                                 base_url="http://intake") as client:
        resp = await post_batch(client, "key", [{"report_id": "R1"}])
    assert resp.status_code == 200 and len(seen) == 3
    assert all(b - a >= 0.18 for a, b in zip(seen, seen[1:]))


async def test_other_refusals_are_not_retried():
    handle, seen = intake_that_refuses(401)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle),
                                 base_url="http://intake") as client:
        resp = await post_batch(client, "key", [])
        with pytest.raises(httpx.HTTPStatusError):
            resp.raise_for_status()
    assert len(seen) == 1
