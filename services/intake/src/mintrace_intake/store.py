"""Intake's tables: API keys, the idempotency record of every accepted report, and its status."""

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
        await conn.execute(
            "INSERT INTO reports (producer_id, report_id, content_hash, received_at) "
            "SELECT $1, r, h, $4 FROM unnest($2::text[], $3::text[]) AS u(r, h) "
            "ON CONFLICT DO NOTHING", producer_id, ids, [h for _, h in items], now)
        rows = await conn.fetch(
            "SELECT report_id, content_hash, published, received_at FROM reports "
            "WHERE producer_id = $1 AND report_id = ANY($2)", producer_id, ids)
    return {r["report_id"]: (r["content_hash"], r["published"], r["received_at"]) for r in rows}


async def mark_published(pool: asyncpg.Pool, producer_id: str, report_ids: list[str]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE reports SET published = true WHERE producer_id = $1 AND "
                           "report_id = ANY($2) AND NOT published", producer_id, report_ids)


async def status(pool: asyncpg.Pool, producer_id: str, report_id: str) -> asyncpg.Record | None:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM reports WHERE producer_id = $1 AND report_id = $2",
                                   producer_id, report_id)


# --- status projection: kept current from the topics ------------------------------------------

_RANK = "CASE state WHEN 'received' THEN 0 WHEN 'validated' THEN 1 WHEN 'licensed' THEN 2 ELSE 3 END"


async def set_rejected(pool: asyncpg.Pool, rows: list[tuple[str, str, list]]) -> None:
    async with pool.acquire() as conn:
        await conn.executemany(
            "UPDATE reports SET state = 'rejected', problems = $3, updated_at = now() "
            "WHERE producer_id = $1 AND report_id = $2", rows)


async def set_validated(pool: asyncpg.Pool, rows: list[tuple[str, str, list]]) -> None:
    async with pool.acquire() as conn:
        await conn.executemany(
            f"UPDATE reports SET warnings = $3, state = CASE WHEN {_RANK} < 1 THEN 'validated' "
            f"ELSE state END, updated_at = now() WHERE producer_id = $1 AND report_id = $2", rows)


async def set_licensed(pool: asyncpg.Pool, rows: list[tuple[str, str, dict]]) -> None:
    async with pool.acquire() as conn:
        await conn.executemany(
            f"UPDATE reports SET licence = $3, state = CASE WHEN {_RANK} < 2 THEN 'licensed' "
            f"ELSE state END, updated_at = now() WHERE producer_id = $1 AND report_id = $2", rows)


async def set_routed(pool: asyncpg.Pool, rows: list[tuple[str, str, dict, str, list]]) -> None:
    """The routed record carries every earlier decision too (the topics are read by separate
    consumers, so it may arrive before the validated one)."""
    async with pool.acquire() as conn:
        await conn.executemany(
            "UPDATE reports SET licence = $3, province_code = $4, warnings = $5, state = 'routed', "
            "updated_at = now() WHERE producer_id = $1 AND report_id = $2", rows)


async def add_alerts(pool: asyncpg.Pool, rows: list[tuple[str, str, dict]]) -> None:
    async with pool.acquire() as conn:
        await conn.executemany(
            "UPDATE reports SET alerts = alerts || jsonb_build_array($3::jsonb), updated_at = now() "
            "WHERE producer_id = $1 AND report_id = $2 AND NOT alerts @> jsonb_build_array("
            "jsonb_build_object('alert_id', $3::jsonb->>'alert_id'))", rows)
