"""Webhooks: a province's (or the nation's) alerts at or above a severity, POSTed as JSON and
signed `X-Mintrace-Signature: sha256=<HMAC-SHA256 of the body, hex>`.

At-least-once through an outbox in PostgreSQL: every poll matches the alerts stored since the
last one to the live webhooks (`webhook_deliveries`, one row per webhook and alert), then sends
the due deliveries. A round retries with exponential backoff (the `backoff` library); a delivery
that still fails waits exponentially longer for its next round, forever, until a 2xx. A crash
between the receiver's 2xx and the mark sends it again: receivers de-duplicate on `alert_id`.
Every attempt is logged (`webhook_attempts`, shown in the console)."""

import asyncio
import hashlib
import hmac
import json

import asyncpg
import backoff
import httpx

from mintrace_common import telemetry
from mintrace_common.models import Alert

from . import store

log = telemetry.get_logger(__name__)
SIGNATURE = "X-Mintrace-Signature"
SEVERITIES = ("low", "medium", "high", "critical")
BATCH = 20
LEASE_S = 120.0
MAX_WAIT_S = 3600.0


class Refused(Exception):
    """The receiver answered something other than 2xx."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, body), header)


def body_of(webhook_id: int, alert: Alert) -> bytes:
    return json.dumps({"event": "alert.raised", "webhook_id": webhook_id,
                       "alert": alert.model_dump(mode="json")},
                      separators=(",", ":"), ensure_ascii=False).encode()


def next_round_in(rounds: int) -> float:
    """Seconds until a delivery's next round after `rounds` failed ones: 30 s, 60 s, … 1 h."""
    return min(30.0 * 2 ** max(rounds - 1, 0), MAX_WAIT_S)


class Sender:
    def __init__(self, timeout_s: float, max_tries: int) -> None:
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self.max_tries = max_tries

    async def close(self) -> None:
        await self.client.aclose()

    async def deliver(self, pool: asyncpg.Pool, webhook_id: int, url: str, secret: str,
                      alert: Alert) -> tuple[bool, int]:
        """(delivered, tries) after one round of up to `max_tries` tries."""
        body = body_of(webhook_id, alert)
        headers = {"content-type": "application/json", SIGNATURE: sign(secret, body),
                   "X-Mintrace-Alert-Id": alert.alert_id}
        tries = 0

        @backoff.on_exception(backoff.expo, (httpx.HTTPError, Refused),
                              max_tries=self.max_tries, factor=0.5, max_value=8, logger=None)
        async def attempt() -> None:
            nonlocal tries
            tries += 1
            try:
                resp = await self.client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                await store.log_attempt(pool, webhook_id, alert.alert_id, None,
                                        f"{type(exc).__name__}: {exc}"[:500])
                raise
            await store.log_attempt(pool, webhook_id, alert.alert_id, resp.status_code,
                                    None if resp.is_success else resp.text[:500])
            if not resp.is_success:
                raise Refused(resp.status_code)

        try:
            await attempt()
            return True, tries
        except (httpx.HTTPError, Refused):
            return False, tries


async def run_once(pool: asyncpg.Pool, sender: Sender) -> int:
    """Match new alerts to webhooks, then send what is due; returns how many were delivered."""
    await store.enqueue_deliveries(pool)
    due = await store.claim_deliveries(pool, BATCH, LEASE_S)

    async def one(row) -> bool:
        alert = store.alert_of(row)
        ok, tries = await sender.deliver(pool, row["webhook_id"], row["url"], row["secret"],
                                         alert)
        rounds = row["attempts"] // max(sender.max_tries, 1) + 1
        await store.finish_delivery(pool, row["webhook_id"], alert.alert_id, ok, tries,
                                    0 if ok else next_round_in(rounds))
        log.info("webhook.delivered" if ok else "webhook.failed", webhook=row["webhook_id"],
                 alert_id=alert.alert_id, tries=tries)
        return ok

    return sum(await asyncio.gather(*map(one, due)))
