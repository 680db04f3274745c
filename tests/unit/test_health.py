"""Liveness judges progress: a partition with records waiting that does not move is stuck."""

import asyncio

import httpx
import pytest

from mintrace_common.health import CachedCheck, LagWatch, health_app


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_with_lag_that_does_not_move_is_stuck_and_recovers_when_it_moves():
    clock = Clock()
    w = LagWatch([("reports.received", "validation")], stuck_after_s=60, clock=clock)
    w.observe("reports.received", 0, "validation", committed=10, end=50)
    clock.now = 59
    w.observe("reports.received", 0, "validation", committed=10, end=55)
    assert w.stuck() == []
    clock.now = 61
    [stuck] = w.stuck()
    assert "validation:reports.received[0]" in stuck and "lag 45" in stuck
    w.observe("reports.received", 0, "validation", committed=11, end=55)
    assert w.stuck() == []


def test_an_idle_consumer_with_nothing_waiting_is_never_stuck():
    clock = Clock()
    w = LagWatch([("t", "g")], stuck_after_s=1, clock=clock)
    w.observe("t", 0, "g", committed=5, end=5)
    clock.now = 1000
    w.observe("t", 0, "g", committed=5, end=5)
    assert w.stuck() == []


async def test_healthz_answers_503_while_stuck_and_metrics_are_served():
    clock = Clock()
    w = LagWatch([("t", "g")], stuck_after_s=1, clock=clock)

    async def ready() -> bool:
        return False

    transport = httpx.ASGITransport(app=health_app(ready, w))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        w.observe("t", 0, "g", committed=1, end=3)
        assert (await client.get("/healthz")).status_code == 200
        clock.now = 5
        sick = await client.get("/healthz")
        assert sick.status_code == 503 and sick.json()["stuck"]
        assert (await client.get("/readyz")).status_code == 503
        metrics = (await client.get("/metrics")).text
        assert 'mintrace_consumer_lag_messages{group="g",partition="0",topic="t"} 2.0' in metrics


class Probe:
    """A readiness check that counts its runs; `gate` holds a run open until set."""

    def __init__(self) -> None:
        self.runs, self.answer, self.gate = 0, True, asyncio.Event()
        self.gate.set()

    async def __call__(self) -> bool:
        self.runs += 1
        await self.gate.wait()
        if self.answer is None:
            raise ConnectionError("database down")
        return self.answer


async def test_a_flood_of_readiness_checks_costs_one_check_per_interval():
    clock, probe = Clock(), Probe()
    ready = CachedCheck(probe, ttl=1.0, clock=clock)
    probe.gate.clear()
    waiting = [asyncio.ensure_future(ready()) for _ in range(200)]  # all while one run is open
    await asyncio.sleep(0)
    probe.gate.set()
    assert await asyncio.gather(*waiting) == [True] * 200 and probe.runs == 1
    clock.now = 0.9
    assert await ready() and probe.runs == 1
    probe.answer = None  # the next check fails: "not ready", remembered as long
    clock.now = 1.0
    assert [await ready() for _ in range(50)] == [False] * 50 and probe.runs == 2
    probe.answer = True
    clock.now = 2.5
    assert await ready() and probe.runs == 3


async def test_a_caller_giving_up_does_not_cancel_the_check_the_others_wait_for():
    probe = Probe()
    ready = CachedCheck(probe, ttl=1.0, clock=Clock())
    probe.gate.clear()
    impatient, patient = asyncio.ensure_future(ready()), asyncio.ensure_future(ready())
    await asyncio.sleep(0)
    impatient.cancel()  # e.g. a probe's timeout
    with pytest.raises(asyncio.CancelledError):
        await impatient
    probe.gate.set()
    assert await patient is True and probe.runs == 1
