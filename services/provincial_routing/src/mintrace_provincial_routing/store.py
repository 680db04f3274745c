"""Routing's outbox and the national rollup, one transaction per batch.

A report is recorded (with the record routed, for the supervision API) and added to the rollup
in the same transaction, the first time it is seen only, so it is counted exactly once however
often it is redelivered. It is marked published once the broker acknowledged it; a redelivered
report is published again only if it never was confirmed (and then it is marked `redelivery`)."""

from datetime import date, datetime

import asyncpg

from mintrace_common.fx import load_rates
from mintrace_common.metrics import METRICS
from mintrace_common.models import LicensedReport, RollupRow, SupervisionRecord

from .routing import destination, rollup, supervision_record, unconverted

KEYS = "unnest($1::text[], $2::text[])"
Key = tuple[str, str]


async def route_batch(pool: asyncpg.Pool, reports: dict[Key, LicensedReport],
                      now: datetime) -> list[tuple[SupervisionRecord, bool]]:
    """Record the batch and count its new reports into the rollup. Returns the records still to
    publish, each with whether it may have been published before (a redelivery).
    Raises UnknownFacility (nothing is recorded then)."""
    keys = list(reports)
    async with pool.acquire() as conn, conn.transaction():
        where = {r["facility_id"]: r["province_code"] for r in await conn.fetch(
            "SELECT facility_id, province_code FROM facilities WHERE facility_id = ANY($1)",
            list({r.report.facility_id for r in reports.values()}))}
        existing = {(r["producer_id"], r["report_id"]): r for r in await conn.fetch(
            f"SELECT producer_id, report_id, province_code, published, record FROM routed_reports "
            f"WHERE (producer_id, report_id) IN (SELECT * FROM {KEYS})",
            [k[0] for k in keys], [k[1] for k in keys])}
        rates = await load_rates(conn)
        fresh = {k: supervision_record(r, where.get(r.report.facility_id), now, rates)
                 for k, r in reports.items() if k not in existing}
        inserted = {(r["producer_id"], r["report_id"]) for r in await conn.fetch(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at, record, "
            "material, type, occurred_at, destination_country) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
            "$5::jsonb[], $6::text[], $7::text[], $8::timestamptz[], $9::text[]) "
            "ON CONFLICT DO NOTHING RETURNING producer_id, report_id",
            *_columns(list(fresh.values())))}
        # A key another consumer inserted meanwhile (a rebalance) is that consumer's to publish.
        new = [rec for k, rec in fresh.items() if k in inserted]
        await _add_to_rollup(conn, new)
    for currency in unconverted(new):
        METRICS.inc("fx_rate_missing_total", currency=currency)
    again = [(_stored(reports[k], row, now), True) for k, row in existing.items()
             if not row["published"]]
    return [(rec, False) for rec in new] + again


def _columns(records: list[SupervisionRecord]) -> list[list]:
    return [[r.producer_id for r in records], [r.report_id for r in records],
            [r.province_code for r in records], [r.routed_at for r in records],
            [r.model_dump(mode="json") for r in records], [r.report.material for r in records],
            [r.report.type for r in records], [r.report.occurred_at for r in records],
            [destination(r) for r in records]]


def _stored(report: LicensedReport, row: asyncpg.Record, now: datetime) -> SupervisionRecord:
    if row["record"] is not None:
        return SupervisionRecord.model_validate(row["record"])
    # recorded before routed records were kept: route to the province it was recorded with
    return supervision_record(report, row["province_code"], now)


async def _add_to_rollup(conn: asyncpg.Connection, records: list[SupervisionRecord]) -> None:
    deltas = sorted(rollup(records).items(), key=lambda kv: (kv[0].day, kv[0].province_code,
                                                              kv[0].material, kv[0].type,
                                                              kv[0].destination_country))
    if not deltas:
        return
    # sorted keys: concurrent batches lock rollup rows in the same order (no deadlock)
    await conn.execute(
        "INSERT INTO rollup_daily (day, province_code, material, type, destination_country, "
        "quantity_kg, value_usd, report_count, non_usd_count) "
        "SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::numeric[], $7::numeric[], $8::bigint[], $9::bigint[]) "
        "ON CONFLICT (day, province_code, material, type, destination_country) DO UPDATE SET "
        "quantity_kg = rollup_daily.quantity_kg + EXCLUDED.quantity_kg, "
        "value_usd = rollup_daily.value_usd + EXCLUDED.value_usd, "
        "report_count = rollup_daily.report_count + EXCLUDED.report_count, "
        "non_usd_count = rollup_daily.non_usd_count + EXCLUDED.non_usd_count",
        [k.day for k, _ in deltas], [k.province_code for k, _ in deltas],
        [k.material for k, _ in deltas], [k.type for k, _ in deltas],
        [k.destination_country for k, _ in deltas], [d.quantity_kg for _, d in deltas],
        [d.value_usd for _, d in deltas], [d.report_count for _, d in deltas],
        [d.non_usd_count for _, d in deltas])


async def mark_published(pool: asyncpg.Pool, keys: list[Key]) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            f"UPDATE routed_reports SET published = true WHERE (producer_id, report_id) IN "
            f"(SELECT * FROM {KEYS}) AND NOT published", [k[0] for k in keys],
            [k[1] for k in keys])


async def rollup_since(pool: asyncpg.Pool, since: date) -> list[RollupRow]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT day, province_code, material, type, destination_country, quantity_kg, "
            "value_usd, report_count, non_usd_count FROM rollup_daily WHERE day >= $1 "
            "ORDER BY day, province_code, material, type, destination_country", since)
    return [RollupRow(**dict(r)) for r in rows]
