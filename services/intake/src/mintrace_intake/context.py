"""What intake's endpoints share, and the FastAPI dependencies that hand it to them. A router
added later (e.g. report cancellation) declares `producer: str = Depends(current_producer)` and
`ctx: Intake = Depends(intake)` and is included with one line in api.py."""

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from mintrace_common.keycache import KeyCache
from mintrace_common.ratelimit import TokenBuckets
from mintrace_common.service import Resources

from . import store
from .backlog import Backlog
from .bodies import HTTPProblem
from .settings import IntakeSettings

if TYPE_CHECKING:
    from .acceptance import Received

Publish = Callable[[list["Received"]], Awaitable[None]]


@dataclass
class Intake:
    settings: IntakeSettings
    res: Resources
    publish: Publish  # returns once the broker acknowledged every record
    backlog: Backlog | None = None
    background: set[asyncio.Task] = field(default_factory=set)  # e.g. marks retried late
    keys: KeyCache = field(init=False)
    limits: TokenBuckets = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyCache.configured(lambda key: store.authenticate(self.res.pool, key),
                                        self.settings.intake_key_cache_s, self.settings)
        self.limits = TokenBuckets(self.settings.intake_rate_per_s, self.settings.intake_burst)

    def shed(self) -> None:
        """Refuse with 503 and Retry-After while the pipeline's backlog is over its limit."""
        wait = self.backlog.retry_after() if self.backlog is not None else None
        if wait:
            raise HTTPProblem(503, f"the pipeline is {self.backlog.value} reports behind; retry "
                                   f"later", headers={"Retry-After": str(wait)})

    def admit(self, reports: int) -> None:
        if self.backlog is not None:
            self.backlog.admit(reports)

    def charge(self, producer_id: str, reports: int) -> None:
        """Take `reports` from the producer's allowance or refuse with 429 and Retry-After."""
        wait = self.limits.take(producer_id, reports)
        if wait:
            raise HTTPProblem(429, f"rate limit of {self.settings.intake_rate_per_s:g} reports/s "
                                   f"exceeded", headers={"Retry-After": str(math.ceil(wait))})


def client_address(request: Request) -> str | None:
    """The peer's address (behind a proxy: what uvicorn's --forwarded-allow-ips trusts)."""
    return request.client.host if request.client else None


async def intake(request: Request) -> Intake:
    # a coroutine: FastAPI would run a plain function in its thread pool, once per request
    return request.app.state.intake


async def current_producer(request: Request) -> str:
    """The producer the bearer key belongs to: 401 without a live key, 403 for a key that is
    not a producer's (a supervisor's)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise HTTPProblem(401, "missing bearer key", headers={"WWW-Authenticate": "Bearer"})
    found = await request.app.state.intake.keys.identify(key, client_address(request))
    if found is None:
        raise HTTPProblem(401, "invalid or revoked key", headers={"WWW-Authenticate": "Bearer"})
    kind, subject = found
    if kind != "producer":
        raise HTTPProblem(403, "a producer key is required")
    return subject
