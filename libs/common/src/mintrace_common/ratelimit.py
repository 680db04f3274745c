"""Token buckets per key (a producer, a client): `burst` at once and `rate` per
second sustained. In-process: each replica grants its own share."""

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field

from cachetools import TTLCache


@dataclass
class TokenBuckets:
    """`max_keys` bounds the buckets held (keys chosen by clients, such as their addresses): a
    bucket untouched for burst/rate seconds is full again, so forgetting it changes nothing."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int | None = None
    _buckets: MutableMapping[str, tuple[float, float]] = field(init=False)  # -> (tokens, at)

    def __post_init__(self) -> None:
        self._buckets = ({} if self.max_keys is None or self.rate <= 0 else
                         TTLCache(self.max_keys, self.burst / self.rate, timer=self.clock))

    def take(self, key: str, n: float = 1.0) -> float:
        """Take `n` tokens from `key`'s bucket. Returns 0 when granted, otherwise the seconds to
        wait before the same request can be granted (nothing is taken then). A request larger
        than the bucket costs a full bucket, so it can always pass eventually."""
        if self.rate <= 0:
            return 0.0
        n = min(n, self.burst)
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= n:
            self._buckets[key] = (tokens - n, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (n - tokens) / self.rate

    def give_back(self, key: str, n: float = 1.0) -> None:
        """Return `n` tokens taken from `key`'s bucket (what they paid for cost nothing)."""
        if self.rate > 0 and key in self._buckets:
            tokens, at = self._buckets[key]
            self._buckets[key] = (min(self.burst, tokens + n), at)
