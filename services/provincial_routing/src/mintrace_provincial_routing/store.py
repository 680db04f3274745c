"""Routing's outbox: a report is recorded before it is published and marked once the broker
acknowledged it, so a redelivered report is published again only if it never was (and then it
is marked `redelivery`)."""

from datetime import datetime

import asyncpg

KEYS = "unnest($1::text[], $2::text[])"


async def provinces(pool: asyncpg.Pool, facility_ids: list[str]) -> dict[str, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT facility_id, province_code FROM facilities "
                                "WHERE facility_id = ANY($1)", list(set(facility_ids)))
    return {r["facility_id"]: r["province_code"] for r in rows}


async def record(pool: asyncpg.Pool, keys: list[tuple[str, str]], provinces_: list[str],
                 now: datetime) -> dict[tuple[str, str], bool]:
    """Record the batch; returns for each key whether it was seen before (True) or is new.
    Keys already published are left out of the result."""
    async with pool.acquire() as conn, conn.transaction():
        existing = {(r["producer_id"], r["report_id"]): r["published"] for r in await conn.fetch(
            f"SELECT producer_id, report_id, published FROM routed_reports WHERE "
            f"(producer_id, report_id) IN (SELECT * FROM {KEYS})",
            [k[0] for k in keys], [k[1] for k in keys])}
        await conn.execute(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at) "
            "SELECT * , $4 FROM unnest($1::text[], $2::text[], $3::text[]) "
            "ON CONFLICT DO NOTHING",
            [k[0] for k in keys], [k[1] for k in keys], provinces_, now)
    return {k: k in existing for k in keys if not existing.get(k, False)}


async def mark_published(pool: asyncpg.Pool, keys: list[tuple[str, str]]) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE routed_reports SET published = true WHERE (producer_id, report_id) IN "
            f"(SELECT * FROM {KEYS})", [k[0] for k in keys], [k[1] for k in keys])
