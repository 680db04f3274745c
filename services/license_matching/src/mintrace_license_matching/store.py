"""The licence ledger: one transaction per batch, licence rows locked in a fixed order so that
any number of matching processes never oversell, and one decision per report ever.

Lock order, the same in every transaction here: licence rows (sorted by number) first, then
decision rows. A licence's `drawn_kg` only ever moves while its row is locked, and
`remaining_kg` is always GREATEST(max_quantity_kg - drawn_kg, 0)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from mintrace_common import registry, telemetry
from mintrace_common.models import LicenceEvent, ReportCancelled, ValidatedReport

from .matching import CANCELLED, LicenceState, Outcome, decide, licence_number_of, requires_licence

log = telemetry.get_logger(__name__)
ATTEMPTS = 5

_LOCK_LICENCES = (
    "SELECT licence_number, exporter_id, materials, remaining_kg, destination_country, "
    "valid_from, valid_to, status, consignee, end_user FROM licences "
    "WHERE licence_number = ANY($1) ORDER BY licence_number FOR UPDATE")


def _party(p: dict) -> tuple[str, str]:
    return p.get("name", ""), p.get("country", "")


def _state(row: asyncpg.Record) -> LicenceState:
    return LicenceState(**{**dict(row), "materials": tuple(row["materials"]),
                           "consignee": _party(row["consignee"]),
                           "end_user": _party(row["end_user"])})


def _outcome(row: asyncpg.Record) -> tuple[Outcome, datetime]:
    return (Outcome(row["status"], row["licence_number"], tuple(row["reasons"]), row["quantity_kg"],
                    row["remaining_kg"], row["cancelled_at"]), row["decided_at"])


class _LockSetChanged(Exception):
    pass


class LedgerContention(asyncpg.exceptions.SerializationError):
    """Transient (a SerializationError): the batch is redelivered rather than dead-lettered."""


async def _retrying(what: str, fn, *args):
    """Run one ledger transaction, again if it lost a race: a unique violation means another
    process decided or cancelled one of these reports between our read and our write (its row
    won, and is read back on the next attempt); a deadlock aborted us instead of the other."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await fn(*args)
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError,
                _LockSetChanged) as exc:
            log.info("licence.retry", what=what, attempt=attempt, error=type(exc).__name__)
    raise LedgerContention(f"{what}: lost {ATTEMPTS} races in a row")


async def apply(pool: asyncpg.Pool, batch: list[ValidatedReport],
                now: datetime) -> list[tuple[ValidatedReport, Outcome, datetime]]:
    """Decide every report of the batch exactly once. A report decided before (a redelivery, or
    another process racing for the same batch after a rebalance) gets its original decision back
    and draws nothing. Raises TRANSIENT asyncpg errors for the batch to be redelivered."""
    return await _retrying("decide", _apply, pool, batch, now)


async def _apply(pool: asyncpg.Pool, batch: list[ValidatedReport],
                 now: datetime) -> list[tuple[ValidatedReport, Outcome, datetime]]:
    keys = list({(r.producer_id, r.report_id): None for r in batch})
    async with pool.acquire() as conn, conn.transaction():
        numbers = sorted({n for r in batch if requires_licence(r)
                          and (n := licence_number_of(r)) is not None})
        licences = {row["licence_number"]: _state(row)
                    for row in await conn.fetch(_LOCK_LICENCES, numbers)}
        before = {n: s.remaining_kg for n, s in licences.items()}
        decided = {(d["producer_id"], d["report_id"]): _outcome(d) for d in await conn.fetch(
            "SELECT d.* FROM licence_decisions d JOIN unnest($1::text[], $2::text[]) AS u(p, r) "
            "ON d.producer_id = u.p AND d.report_id = u.r",
            [k[0] for k in keys], [k[1] for k in keys])}
        new: list[tuple[ValidatedReport, Outcome]] = []
        for report in batch:
            key = (report.producer_id, report.report_id)
            if key in decided:  # decided before, or earlier in this batch
                continue
            number = licence_number_of(report)
            outcome = decide(report, licences.get(number) if number else None)
            decided[key] = (outcome, now)
            new.append((report, outcome))
        if new:
            # Inserted in key order, as every transaction here does, so that two processes
            # inserting overlapping reports wait for each other instead of deadlocking.
            new.sort(key=lambda x: (x[0].producer_id, x[0].report_id))
            await conn.execute(
                "INSERT INTO licence_decisions (producer_id, report_id, status, licence_number, "
                "reasons, quantity_kg, remaining_kg, decided_at) SELECT p, r, s, l, "
                "COALESCE(string_to_array(NULLIF(reasons, ''), ','), '{}'), q, rem, $8 "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
                "$6::numeric[], $7::numeric[]) AS u(p, r, s, l, reasons, q, rem)",
                [r.producer_id for r, _ in new], [r.report_id for r, _ in new],
                [o.status for _, o in new], [o.licence_number for _, o in new],
                [",".join(o.reasons) for _, o in new], [o.quantity_kg for _, o in new],
                [o.remaining_kg for _, o in new], now)
            drawn = {n: before[n] - s.remaining_kg for n, s in licences.items()
                     if s.remaining_kg != before[n]}
            if drawn:
                await conn.execute(
                    "UPDATE licences l SET drawn_kg = l.drawn_kg + u.kg, "
                    "remaining_kg = l.remaining_kg - u.kg, updated_at = now() "
                    "FROM unnest($1::text[], $2::numeric[]) AS u(n, kg) "
                    "WHERE l.licence_number = u.n", list(drawn), list(drawn.values()))
                for n in drawn:
                    log.info("licence.drawn", licence=n, drawn_kg=str(drawn[n]),
                             remaining_kg=str(licences[n].remaining_kg))
    return [(r, *decided[(r.producer_id, r.report_id)]) for r in batch]


@dataclass(frozen=True)
class Restored:
    producer_id: str
    report_id: str
    licence_number: str | None
    restored_kg: Decimal


async def cancel(pool: asyncpg.Pool, batch: list[ReportCancelled]) -> list[Restored]:
    """Mark each report's decision cancelled and give back exactly what it drew, once: a
    cancellation seen again restores nothing. A report not decided yet gets a refused
    CANCELLED decision now, so that when it arrives it draws nothing."""
    return await _retrying("cancel", _cancel, pool, batch)


async def _cancel(pool: asyncpg.Pool, batch: list[ReportCancelled]) -> list[Restored]:
    first = {(c.producer_id, c.report_id): c.cancelled_at for c in reversed(batch)}
    keys = sorted(first)
    ps, rs, ats = [k[0] for k in keys], [k[1] for k in keys], [first[k] for k in keys]
    async with pool.acquire() as conn, conn.transaction():
        numbers = [r["licence_number"] for r in await conn.fetch(
            "SELECT DISTINCT d.licence_number FROM licence_decisions d "
            "JOIN unnest($1::text[], $2::text[]) AS u(p, r) ON d.producer_id = u.p "
            "AND d.report_id = u.r WHERE d.status = 'matched' AND d.cancelled_at IS NULL", ps, rs)]
        await conn.execute("SELECT 1 FROM licences WHERE licence_number = ANY($1) "
                           "ORDER BY licence_number FOR UPDATE", numbers)
        await conn.execute(
            "INSERT INTO licence_decisions (producer_id, report_id, status, reasons, decided_at, "
            "cancelled_at, restored_kg) SELECT p, r, 'refused', ARRAY[$4], c, c, 0 "
            "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(p, r, c) "
            "ON CONFLICT (producer_id, report_id) DO NOTHING", ps, rs, ats, CANCELLED)
        await conn.execute(
            "SELECT 1 FROM licence_decisions d JOIN unnest($1::text[], $2::text[]) AS u(p, r) "
            "ON d.producer_id = u.p AND d.report_id = u.r WHERE d.cancelled_at IS NULL "
            "ORDER BY d.producer_id, d.report_id FOR UPDATE OF d", ps, rs)
        needed = await conn.fetchval(
            "SELECT array_agg(DISTINCT d.licence_number) FROM licence_decisions d "
            "JOIN unnest($1::text[], $2::text[]) AS u(p, r) ON d.producer_id = u.p "
            "AND d.report_id = u.r WHERE d.status = 'matched' AND d.cancelled_at IS NULL", ps, rs)
        if not set(needed or ()) <= set(numbers):
            # A report was matched since we chose which licences to lock; locking one more now,
            # while holding decision rows, could deadlock with a decider. Start over instead.
            raise _LockSetChanged
        rows = await conn.fetch(
            "UPDATE licence_decisions d SET cancelled_at = u.c, restored_kg = CASE "
            "WHEN d.status = 'matched' THEN d.quantity_kg ELSE 0 END "
            "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(p, r, c) "
            "WHERE d.producer_id = u.p AND d.report_id = u.r AND d.cancelled_at IS NULL "
            "RETURNING d.producer_id, d.report_id, d.licence_number, d.restored_kg", ps, rs, ats)
        back: dict[str, Decimal] = defaultdict(Decimal)
        for r in rows:
            if r["restored_kg"] > 0:
                back[r["licence_number"]] += r["restored_kg"]
        if back:
            await conn.execute(
                "UPDATE licences l SET drawn_kg = l.drawn_kg - u.kg, remaining_kg = "
                "GREATEST(l.max_quantity_kg - (l.drawn_kg - u.kg), 0), updated_at = now() "
                "FROM unnest($1::text[], $2::numeric[]) AS u(n, kg) WHERE l.licence_number = u.n",
                list(back), list(back.values()))
    for n, kg in back.items():
        log.info("licence.restored", licence=n, restored_kg=str(kg))
    return [Restored(r["producer_id"], r["report_id"], r["licence_number"], r["restored_kg"])
            for r in rows]


async def apply_events(pool: asyncpg.Pool, events: list[LicenceEvent]) -> dict[str, str]:
    """Apply licensing-authority events in the order given (the topic is keyed by licence, so
    that is their order per licence), each once: an event_id seen before is skipped, and an
    event older than the last one applied to its licence is recorded as stale, not applied.
    Returns event_id -> outcome for the events new to this call."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM licences WHERE licence_number = ANY($1) "
                           "ORDER BY licence_number FOR UPDATE",
                           sorted({e.licence_number for e in events}))
        seen = {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM licence_events WHERE event_id = ANY($1)",
            [e.event_id for e in events])}
        outcomes: dict[str, str] = {}
        for e in events:
            if e.event_id in seen or e.event_id in outcomes:
                continue
            outcomes[e.event_id] = await _apply_event(conn, e)
            log.info("licence.event", licence=e.licence_number, event_id=e.event_id,
                     type=e.type, outcome=outcomes[e.event_id])
        if outcomes:
            by_id = {e.event_id: e for e in events}
            await conn.executemany(
                "INSERT INTO licence_events (event_id, licence_number, type, occurred_at, outcome) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                [(i, by_id[i].licence_number, by_id[i].type, by_id[i].occurred_at, o)
                 for i, o in outcomes.items()])
    return outcomes


_STATUS_AFTER = {"suspended": "suspended", "revoked": "revoked", "reinstated": "active"}


async def _apply_event(conn: asyncpg.Connection, e: LicenceEvent) -> str:
    current = await conn.fetchrow("SELECT status, last_event_at FROM licences "
                                  "WHERE licence_number = $1", e.licence_number)
    last = current["last_event_at"] if current is not None else None
    if last is not None and e.occurred_at < last:
        return "stale"
    source = f"licence.events:{e.event_id}"
    if e.type in ("issued", "amended"):
        if e.licence is None or e.licence.licence_number != e.licence_number:
            return "invalid: needs the full licence under the same licence_number"
        if current is not None and current["status"] == "revoked" and e.licence.status != "revoked":
            return "ignored: revoked is final"
        await registry.upsert_licence(conn, e.licence, source, change=e.type)
    elif current is None:
        return "ignored: unknown licence"
    elif e.type == "quantity_changed":
        if e.max_quantity_kg is None or e.max_quantity_kg < 0:
            return "invalid: needs max_quantity_kg >= 0"
        await registry.change_licence(conn, e.licence_number, source, e.type,
                                      max_quantity_kg=e.max_quantity_kg)
    else:
        status = _STATUS_AFTER[e.type]
        if current["status"] == "revoked" and status != "revoked":
            return "ignored: revoked is final"
        await registry.change_licence(conn, e.licence_number, source, e.type, status=status)
    await conn.execute("UPDATE licences SET last_event_at = GREATEST(last_event_at, $2) "
                       "WHERE licence_number = $1", e.licence_number, e.occurred_at)
    return "applied"
