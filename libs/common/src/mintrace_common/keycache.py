"""Bearer keys on the request path, cheap to refuse: a verified key is trusted for `ttl` seconds
(the longest a revoked key keeps working); a key the store does not know is remembered as
unknown for `unknown_ttl`; and keys seen in neither cache reach the store at most
`lookups_per_s` a second (a burst of `lookups_burst`), so a flood of made-up keys costs no
database round trip per request. Each client address may also fail to authenticate only
`failures_per_s` times a second (a burst of `failures_burst`): one client guessing keys is
refused (429) before it can use up the lookups every other client shares. Keys verified before
are re-checked outside both limits, so a flood does not lock out the clients already known."""

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
    failures_per_s: float = 10.0  # per client address; 0: unlimited
    failures_burst: float = 100.0
    clock: Callable[[], float] = time.monotonic
    _live: TTLCache = field(init=False)
    _unknown: TTLCache = field(init=False)
    _known: TTLCache = field(init=False)
    _lookups: TokenBuckets = field(init=False)
    _failures: TokenBuckets = field(init=False)

    @classmethod
    def configured(cls, lookup: Callable[[str], Awaitable[T | None]], ttl: float,
                   settings: Settings) -> "KeyCache[T]":
        return cls(lookup, ttl, settings.auth_unknown_key_cache_s, settings.auth_lookups_per_s,
                   settings.auth_lookups_burst, settings.auth_failures_per_s_per_client,
                   settings.auth_failures_burst_per_client)

    def __post_init__(self) -> None:
        self._live = TTLCache(MAX_CACHED, max(self.ttl, 1e-9), timer=self.clock)
        self._unknown = TTLCache(MAX_CACHED, max(self.unknown_ttl, 1e-9), timer=self.clock)
        self._known = TTLCache(MAX_CACHED, KNOWN_FOR_S, timer=self.clock)
        self._lookups = TokenBuckets(self.lookups_per_s, self.lookups_burst, self.clock)
        self._failures = TokenBuckets(self.failures_per_s, self.failures_burst, self.clock,
                                      max_keys=MAX_CACHED)

    async def identify(self, key: str, client: str | None = None) -> T | None:
        """What the store says of `key` (None: no live key), asked by `client` (its address).
        Raises TooManyUnknownKeys when a key not seen before would exceed the lookup rate, or
        `client` has failed to authenticate too often."""
        digest = hash_key(key)
        hit = self._live.get(digest)
        if hit is not None:
            SPARED.labels("live").inc()
            return hit
        if self._unknown.get(digest):
            SPARED.labels("unknown").inc()
            return None
        charged = None  # the client whose failure budget this lookup was charged to
        if digest not in self._known:
            # charged up front, so concurrent guesses cannot all slip past the check; given
            # back when the key turns out live
            wait = self._failures.take(client) if client is not None else 0.0
            if wait:
                SPARED.labels("client_throttled").inc()
                raise TooManyUnknownKeys(wait)
            charged = client
            wait = self._lookups.take("lookups")
            if wait:
                self._give_back(charged)
                SPARED.labels("throttled").inc()
                raise TooManyUnknownKeys(wait)
        try:
            found = await self.lookup(key)
        except Exception:
            self._give_back(charged)  # the store failed, not the client
            raise
        if found is not None:
            self._give_back(charged)
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

    def _give_back(self, client: str | None) -> None:
        if client is not None:
            self._failures.give_back(client)
