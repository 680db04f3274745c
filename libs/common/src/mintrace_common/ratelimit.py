"""Token buckets per key (a producer, a client): `burst` at once and `rate` per
second sustained. In-process: each replica grants its own share."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

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
