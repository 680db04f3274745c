"""Intake's tables: API keys, the idempotency record of every accepted report, and its status."""

import json
from datetime import datetime

import asyncpg

from mintrace_common import keys


async def authenticate(pool: asyncpg.Pool, key: str) -> tuple[str, str] | None:
    async with pool.acquire() as conn:
        return await keys.lookup(conn, key)


async def claim(pool: asyncpg.Pool, producer_id: str, items: list[tuple[str, str]],
                now: datetime) -> dict[str, tuple[str, bool, datetime]]:
    """Record (report_id, content_hash) pairs not seen before. Returns, per report_id, the stored
    (content_hash, published, received_at) — the caller compares hashes to tell a duplicate
    from a conflict, and publishes what is not published yet."""
    ids = [i for i, _ in items]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "INSERT INTO reports (producer_id, report_id, content_hash, received_at) "
            "SELECT $1, r, h, $4 FROM unnest($2::text[], $3::text[]) AS u(r, h) "
            "ON CONFLICT DO NOTHING RETURNING report_id, content_hash, false AS published, "
            "received_at", producer_id, ids, [h for _, h in items], now)
        stored = {r["report_id"]: (r["content_hash"], r["published"], r["received_at"])
                  for r in rows}
        # One statement when every report is new. Those claimed before are read in a statement
        # of their own (its snapshot sees claims committed while the insert waited on them);
        # a claim the pipeline moved past "received" was published, marked or not.
        if len(stored) < len(ids):
            rows = await conn.fetch(
                "SELECT report_id, content_hash, published OR state <> 'received' AS published, "
                "received_at FROM reports WHERE producer_id = $1 AND report_id = ANY($2)",
                producer_id, [i for i in ids if i not in stored])
            stored.update({r["report_id"]: (r["content_hash"], r["published"], r["received_at"])
                           for r in rows})
    return stored


async def mark_published(pool: asyncpg.Pool, producer_id: str, report_ids: list[str]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE reports SET published = true WHERE producer_id = $1 AND "
                           "report_id = ANY($2) AND NOT published", producer_id, report_ids)


async def cancel(pool: asyncpg.Pool, producer_id: str, report_id: str, now: datetime,
                 accepted_since: datetime) -> tuple[str, datetime | None]:
    """Fix the report's cancellation at `now` unless it was cancelled before (then its first
    time is kept). Returns ("cancelled", cancelled_at), or why not: "missing" (no such report of
    this producer), "rejected", or "too_late" (accepted before `accepted_since`, never
    cancelled)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "UPDATE reports SET cancelled_at = COALESCE(cancelled_at, $3), updated_at = now() "
            "WHERE producer_id = $1 AND report_id = $2 AND state <> 'rejected' "
            "AND (cancelled_at IS NOT NULL OR received_at >= $4) RETURNING cancelled_at",
            producer_id, report_id, now, accepted_since)
        if row is not None:
            return "cancelled", row["cancelled_at"]
        state = await conn.fetchval("SELECT state FROM reports WHERE producer_id = $1 "
                                    "AND report_id = $2", producer_id, report_id)
    return ("missing" if state is None else "rejected" if state == "rejected" else "too_late",
            None)


async def status(pool: asyncpg.Pool, producer_id: str, report_id: str) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM reports WHERE producer_id = $1 AND report_id = $2",
                                   producer_id, report_id)


# --- status projection: kept current from the topics ------------------------------------------

_RANK = "CASE state WHEN 'received' THEN 0 WHEN 'validated' THEN 1 WHEN 'licensed' THEN 2 ELSE 3 END"


# One UPDATE per batch (unnest), not one per report: the projection follows five topics.
# jsonb columns travel as text arrays (encoded once) and are cast in the statement.

def _json(values) -> list[str]:
    return [json.dumps(v) for v in values]


async def set_rejected(pool: asyncpg.Pool, rows: list[tuple[str, str, list]]) -> None:
    p, r, problems = zip(*rows) if rows else ((), (), ())
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE reports SET state = 'rejected', problems = u.v::jsonb, updated_at = now() "
            "FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, r, v) "
            "WHERE producer_id = u.p AND report_id = u.r", list(p), list(r), _json(problems))


async def set_validated(pool: asyncpg.Pool, rows: list[tuple[str, str, list]]) -> None:
    p, r, warnings = zip(*rows) if rows else ((), (), ())
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE reports SET warnings = u.v::jsonb, state = CASE WHEN {_RANK} < 1 "
            f"THEN 'validated' ELSE state END, updated_at = now() "
            f"FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, r, v) "
            f"WHERE producer_id = u.p AND report_id = u.r", list(p), list(r), _json(warnings))


async def set_licensed(pool: asyncpg.Pool, rows: list[tuple[str, str, dict]]) -> None:
    p, r, licence = zip(*rows) if rows else ((), (), ())
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE reports SET licence = u.v::jsonb, state = CASE WHEN {_RANK} < 2 "
            f"THEN 'licensed' ELSE state END, updated_at = now() "
            f"FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, r, v) "
            f"WHERE producer_id = u.p AND report_id = u.r", list(p), list(r), _json(licence))


async def set_routed(pool: asyncpg.Pool, rows: list[tuple[str, str, dict, str, list]]) -> None:
    """The routed record carries every earlier decision too (the topics are read by separate
    consumers, so it may arrive before the validated one)."""
    p, r, licence, province, warnings = zip(*rows) if rows else ((),) * 5
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE reports SET licence = u.l::jsonb, province_code = u.c, warnings = u.w::jsonb, "
            "state = 'routed', updated_at = now() "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
            "AS u(p, r, l, c, w) WHERE producer_id = u.p AND report_id = u.r",
            list(p), list(r), _json(licence), list(province), _json(warnings))


async def add_alerts(pool: asyncpg.Pool, rows: list[tuple[str, str, dict]]) -> None:
    # a report may have several alerts in one batch: one statement per round of distinct reports
    rounds: list[dict[tuple[str, str], dict]] = []
    for producer_id, report_id, summary in rows:
        for rnd in rounds:
            if (producer_id, report_id) not in rnd:
                rnd[(producer_id, report_id)] = summary
                break
        else:
            rounds.append({(producer_id, report_id): summary})
    async with pool.acquire() as conn:
        for rnd in rounds:
            await conn.execute(
                "UPDATE reports SET alerts = alerts || jsonb_build_array(u.a::jsonb), "
                "updated_at = now() FROM unnest($1::text[], $2::text[], $3::text[]) AS u(p, r, a) "
                "WHERE producer_id = u.p AND report_id = u.r AND NOT alerts @> jsonb_build_array("
                "jsonb_build_object('alert_id', u.a::jsonb->>'alert_id'))",
                [k[0] for k in rnd], [k[1] for k in rnd], _json(rnd.values()))
