"""Bearer keys against a fake key store that counts its lookups: verified keys are trusted for a
while, unknown ones are refused from memory, and made-up keys cannot drive lookups past the
limit while known clients keep being served."""

import pytest

from mintrace_common.keycache import MAX_CACHED, KeyCache, TooManyUnknownKeys
from mintrace_common.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Keys:
    """A key store: key -> (kind, subject); counts the lookups it answered."""

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


async def test_an_unknown_key_costs_one_lookup_however_often_it_is_tried():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=5, unknown_ttl=60, clock=clock)
    for _ in range(1000):
        assert await cache.identify("made-up") is None
    assert keys.lookups == 1
    clock.t += 61  # remembered as unknown for unknown_ttl, then asked about once more
    assert await cache.identify("made-up") is None
    assert keys.lookups == 2


async def test_a_flood_of_distinct_made_up_keys_is_held_to_the_lookup_rate():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=5, lookups_per_s=0.01, lookups_burst=20, clock=clock)
    assert await cache.identify("good") == ("producer", "P1")
    refused = 0
    for i in range(500):
        try:
            assert await cache.identify(f"made-up-{i}") is None
        except TooManyUnknownKeys as exc:
            assert exc.retry_after > 0
            refused += 1
    assert keys.lookups == 20  # the burst (the good key's lookup included), nothing more
    assert refused == 481
    clock.t += 6  # the good key's entry expired; a key verified before is checked regardless
    assert await cache.identify("good") == ("producer", "P1")
    assert keys.lookups == 21
    with pytest.raises(TooManyUnknownKeys):
        await cache.identify("made-up-new")
    assert keys.lookups == 21


async def test_the_caches_stay_bounded_under_a_flood():
    keys = Keys()
    cache = KeyCache(keys, ttl=60, lookups_per_s=0)
    for i in range(MAX_CACHED + 10):
        keys.live[f"k{i}"] = ("producer", "P")
        await cache.identify(f"k{i}")
        await cache.identify(f"u{i}")
    assert len(cache._live) == MAX_CACHED and len(cache._unknown) == MAX_CACHED


async def test_one_client_guessing_keys_is_refused_before_it_uses_up_everyone_elses_lookups():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=5, lookups_per_s=0.01, lookups_burst=50, failures_per_s=0.01,
                     failures_burst=10, clock=clock)
    refused = 0
    for i in range(100):
        try:
            await cache.identify(f"guess-{i}", client="10.0.0.9")
        except TooManyUnknownKeys:
            refused += 1
    assert keys.lookups == 10 and refused == 90  # the guesser's failures, nothing more
    # another client still reaches the store, with a new key and with a made-up one
    keys.live["fresh"] = ("producer", "P2")
    assert await cache.identify("fresh", client="10.0.0.7") == ("producer", "P2")
    assert await cache.identify("made-up", client="10.0.0.7") is None


async def test_a_live_key_costs_its_client_no_failure():
    clock, keys = Clock(), Keys()
    cache = KeyCache(keys, ttl=0, lookups_per_s=0, failures_per_s=0.01, failures_burst=2,
                     clock=clock)
    for i in range(20):
        keys.live[f"k{i}"] = ("producer", "P")
        assert await cache.identify(f"k{i}", client="10.0.0.1") == ("producer", "P")
    assert await cache.identify("nope-1", client="10.0.0.1") is None
    assert await cache.identify("nope-2", client="10.0.0.1") is None
    with pytest.raises(TooManyUnknownKeys):
        await cache.identify("nope-3", client="10.0.0.1")


async def test_a_store_failure_costs_the_client_nothing():
    clock = Clock()

    async def down(_key: str):
        raise ConnectionError("database down")

    cache = KeyCache(down, ttl=5, lookups_per_s=0, failures_per_s=0.01, failures_burst=1,
                     clock=clock)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await cache.identify("k", client="10.0.0.1")


def test_buckets_of_clients_stay_bounded():
    buckets = TokenBuckets(1.0, 5.0, Clock(), max_keys=100)
    for i in range(1000):
        assert buckets.take(f"10.0.{i // 256}.{i % 256}") == 0
    assert len(buckets._buckets) == 100
