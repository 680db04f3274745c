"""/readyz is public: a flood of it costs one real readiness check (database query, broker
ping) per interval, in intake and in supervision, answered the same to every caller."""

import asyncio

import httpx

from mintrace_common.service import Resources
from mintrace_common.settings import Settings
from mintrace_intake.api import create_api as intake_api
from mintrace_intake.settings import IntakeSettings
from mintrace_supervision.api import create_api as supervision_api


class CountingPool:
    """The real pool, counting the connections taken from it."""

    def __init__(self, pool) -> None:
        self.pool, self.acquired = pool, 0

    def acquire(self, **kw):
        self.acquired += 1
        return self.pool.acquire(**kw)


class CountedResources:
    def __init__(self, res: Resources) -> None:
        self.settings, self.pool = res.settings, CountingPool(res.pool)


async def _flood(app, n: int = 300) -> list[int]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://svc") as client:
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(n)))
    return [a.status_code for a in answers]


async def test_a_flood_of_readyz_costs_intake_one_check(database_url):
    settings = IntakeSettings(database_url=database_url, service_name="intake")
    res = Resources(settings)
    checks = 0

    async def ready() -> bool:
        nonlocal checks
        checks += 1
        await asyncio.sleep(0.05)  # a query and a ping take a moment: callers pile up meanwhile
        return True

    async def publish(_reports) -> None:
        raise AssertionError("nothing is published")

    statuses = await _flood(intake_api(settings, res, publish, lifespan=None, ready=ready))
    assert statuses == [200] * 300
    assert checks == 1


async def test_a_flood_of_readyz_costs_supervision_one_database_query(database_url):
    res = Resources(Settings(database_url=database_url, service_name="supervision"))
    await res.open()
    counted = CountedResources(res)

    async def publish(_emits) -> None:
        raise AssertionError("nothing is published")

    try:
        statuses = await _flood(supervision_api(counted, None, publish))
    finally:
        await res.close()
    assert statuses == [200] * 300
    assert counted.pool.acquired == 1
