"""Bearer keys: verified against their stored hash, trusted for a short while after."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Lookup = Callable[[str], Awaitable[tuple[str, str] | None]]
MAX_CACHED = 10_000


@dataclass
class KeyCache:
    """(kind, subject) of live keys. Only verified keys are remembered, at most `ttl` seconds —
    the longest a revoked key keeps working — and at most MAX_CACHED of them, so a flood of
    made-up keys cannot grow memory."""

    lookup: Lookup
    ttl: float
    clock: Callable[[], float] = time.monotonic
    _live: dict[str, tuple[float, tuple[str, str]]] = field(default_factory=dict)

    async def identify(self, key: str) -> tuple[str, str] | None:
        now = self.clock()
        hit = self._live.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._live.pop(key, None)
        found = await self.lookup(key)
        if found is not None and self.ttl > 0:
            if len(self._live) >= MAX_CACHED:
                self._live.pop(next(iter(self._live)))
            self._live[key] = (now + self.ttl, found)
        return found
