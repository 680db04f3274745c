"""Alerts are persisted before they are published and marked once the broker acknowledged them:
a redelivered report re-publishes only alerts that never went out."""

import asyncpg

from mintrace_common.models import Alert


async def record(pool: asyncpg.Pool, alerts: list[Alert]) -> list[Alert]:
    """Persist new alerts; return those (new or old) not yet published."""
    if not alerts:
        return []
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO alerts (alert_id, type, severity, province_code, producer_id, report_ids, "
            "summary, raised_at, rule_version, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "$9, $10) ON CONFLICT (alert_id) DO NOTHING",
            [(a.alert_id, a.type, a.severity, a.province_code, a.producer_id, a.report_ids,
              a.summary, a.raised_at, a.rule_version, a.details) for a in alerts])
        pending = {r["alert_id"] for r in await conn.fetch(
            "SELECT alert_id FROM alerts WHERE alert_id = ANY($1) AND NOT published",
            [a.alert_id for a in alerts])}
    return [a for a in alerts if a.alert_id in pending]


async def mark_published(pool: asyncpg.Pool, alert_ids: list[str]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE alerts SET published = true WHERE alert_id = ANY($1)",
                           alert_ids)
