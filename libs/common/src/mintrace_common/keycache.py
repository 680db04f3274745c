"""Bearer keys on the request path, cheap to refuse: a verified key is trusted for `ttl` seconds
(the longest a revoked key keeps working); a key the store does not know is remembered as
unknown for `unknown_ttl`; and keys seen in neither cache reach the store at most
`lookups_per_s` a second (a burst of `lookups_burst`), so a flood of made-up keys costs no
database round trip per request. Keys verified before are re-checked outside that limit, so a
flood does not lock out the clients already known."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cachetools import TTLCache
from prometheus_client import Counter

from .keys import hash_key
from .ratelimit import TokenBuckets
from .settings import Settings

T = TypeVar("T")
MAX_CACHED = 10_000
KNOWN_FOR_S = 3600.0
LOOKUPS = Counter("mintrace_auth_key_lookups_total",
                  "Bearer keys looked up in the database, by what was found", ["found"])
SPARED = Counter("mintrace_auth_key_lookups_spared_total",
                 "Bearer keys answered without a database lookup", ["why"])


class TooManyUnknownKeys(Exception):
    """More keys to look up than the store is asked about per second; retry after
    `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many unknown keys: retry after {retry_after:.1f} s")
        self.retry_after = retry_after


@dataclass
class KeyCache(Generic[T]):
    """Caches hold SHA-256 digests, never keys; each holds at most MAX_CACHED entries."""

    lookup: Callable[[str], Awaitable[T | None]]
    ttl: float
    unknown_ttl: float = 60.0
    lookups_per_s: float = 50.0  # 0: unlimited
    lookups_burst: float = 200.0
    clock: Callable[[], float] = time.monotonic
    _live: TTLCache = field(init=False)
    _unknown: TTLCache = field(init=False)
    _known: TTLCache = field(init=False)
    _lookups: TokenBuckets = field(init=False)

    @classmethod
    def configured(cls, lookup: Callable[[str], Awaitable[T | None]], ttl: float,
                   settings: Settings) -> "KeyCache[T]":
        return cls(lookup, ttl, settings.auth_unknown_key_cache_s, settings.auth_lookups_per_s,
                   settings.auth_lookups_burst)

    def __post_init__(self) -> None:
        self._live = TTLCache(MAX_CACHED, max(self.ttl, 1e-9), timer=self.clock)
        self._unknown = TTLCache(MAX_CACHED, max(self.unknown_ttl, 1e-9), timer=self.clock)
        self._known = TTLCache(MAX_CACHED, KNOWN_FOR_S, timer=self.clock)
        self._lookups = TokenBuckets(self.lookups_per_s, self.lookups_burst, self.clock)

    async def identify(self, key: str) -> T | None:
        """What the store says of `key` (None: no live key). Raises TooManyUnknownKeys when a
        key not seen before would exceed the lookup rate."""
        digest = hash_key(key)
        hit = self._live.get(digest)
        if hit is not None:
            SPARED.labels("live").inc()
            return hit
        if self._unknown.get(digest):
            SPARED.labels("unknown").inc()
            return None
        if digest not in self._known:
            wait = self._lookups.take("lookups")
            if wait:
                SPARED.labels("throttled").inc()
                raise TooManyUnknownKeys(wait)
        found = await self.lookup(key)
        LOOKUPS.labels("none" if found is None else "live").inc()
        if found is None:
            self._known.pop(digest, None)
            if self.unknown_ttl > 0:
                self._unknown[digest] = True
        else:
            self._known[digest] = True
            if self.ttl > 0:
                self._live[digest] = found
        return found
