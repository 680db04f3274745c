"""Liveness judges progress: a partition with records waiting that does not move is stuck."""

import httpx

from mintrace_common.health import LagWatch, health_app


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
