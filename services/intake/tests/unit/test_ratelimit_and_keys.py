from mintrace_intake.auth import MAX_CACHED, KeyCache
from mintrace_intake.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_producer_may_burst_then_waits_for_its_rate():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=100, clock=clock)
    assert buckets.take("A", 100) == 0
    assert buckets.take("A", 5) == 0.5          # 5 tokens at 10/s
    assert buckets.take("B", 60) == 0           # another producer has its own bucket
    clock.t += 0.5
    assert buckets.take("A", 5) == 0
    assert buckets.take("A", 1) > 0


def test_a_request_larger_than_the_bucket_costs_a_full_bucket():
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=3, clock=clock)
    assert buckets.take("A", 1000) == 0
    assert buckets.take("A", 1000) == 0.3
    assert TokenBuckets(rate=0, burst=0).take("A", 10**9) == 0  # rate 0: no limit


class Keys:
    def __init__(self) -> None:
        self.live = {"good": ("producer", "P1")}
        self.lookups = 0

    async def __call__(self, key: str):
        self.lookups += 1
        return self.live.get(key)


async def test_a_revoked_key_stops_working_once_its_cache_entry_expires():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=5, clock=clock)
    assert await cache.identify("good") == ("producer", "P1")
    del keys.live["good"]
    assert await cache.identify("good") == ("producer", "P1")  # trusted for ttl seconds
    clock.t += 5.1
    assert await cache.identify("good") is None
    assert keys.lookups == 2


async def test_unknown_keys_are_not_remembered_and_the_cache_is_bounded():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=60, clock=clock)
    for i in range(3):
        assert await cache.identify(f"made-up-{i}") is None
    assert len(cache._live) == 0
    for i in range(MAX_CACHED + 10):
        keys.live[f"k{i}"] = ("producer", "P")
        await cache.identify(f"k{i}")
    assert len(cache._live) == MAX_CACHED
