"""Read-only queries over what routing and alerting wrote: keyset-paginated, one round trip."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from mintrace_common import keys
from mintrace_common.models import MAX_EVIDENCE


@dataclass
class Where:
    """A conjunction of predicates with numbered parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *values: Any) -> None:
        """`clause` names its parameters {0}, {1}, … in order."""
        n = len(self.params)
        self.clauses.append(clause.format(*(f"${n + i + 1}" for i in range(len(values)))))
        self.params.extend(values)

    def opt(self, clause: str, value: Any) -> None:
        if value is not None:
            self.add(clause, value)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "true"

    def limit(self, n: int) -> str:
        self.params.append(n)
        return f"LIMIT ${len(self.params)}"


@dataclass(frozen=True)
class Filters:
    province_code: str | None
    since: datetime | None = None
    until: datetime | None = None
    material: str | None = None
    type: str | None = None
    producer_id: str | None = None


async def authenticate(pool: asyncpg.Pool, key: str) -> tuple[str, str] | None:
    async with pool.acquire() as conn:
        return await keys.lookup(conn, key)


async def reports(pool: asyncpg.Pool, f: Filters, after: int | None,
                  limit: int) -> list[asyncpg.Record]:
    w = Where(["record IS NOT NULL"])
    w.opt("province_code = {0}", f.province_code)
    w.opt("occurred_at >= {0}", f.since)
    w.opt("occurred_at < {0}", f.until)
    w.opt("material = {0}", f.material)
    w.opt("type = {0}", f.type)
    w.opt("producer_id = {0}", f.producer_id)
    w.opt("seq > {0}", after)
    sql = f"SELECT seq, record FROM routed_reports WHERE {w.sql} ORDER BY seq {w.limit(limit)}"
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *w.params)


async def alerts(pool: asyncpg.Pool, f: Filters, severity: str | None,
                 after: tuple[datetime, str] | None, limit: int) -> list[asyncpg.Record]:
    w = Where()
    w.opt("province_code = {0}", f.province_code)
    w.opt("raised_at >= {0}", f.since)
    w.opt("raised_at < {0}", f.until)
    w.opt("type = {0}", f.type)
    w.opt("severity = {0}", severity)
    w.opt("producer_id = {0}", f.producer_id)
    # alerts are about reports: their material is that of the reports they cite
    w.opt("EXISTS (SELECT 1 FROM routed_reports r WHERE r.producer_id = alerts.producer_id "
          "AND r.report_id = ANY(alerts.report_ids) AND r.material = {0})", f.material)
    if after is not None:
        w.add("(raised_at, alert_id) > ({0}, {1})", *after)
    # evidence bounded as on the alert topics: the first MAX_EVIDENCE ids and the count
    sql = (f"SELECT alert_id, type, severity, province_code, producer_id, "
           f"report_ids[1:{MAX_EVIDENCE}] AS report_ids, CASE WHEN cardinality(report_ids) > "
           f"{MAX_EVIDENCE} THEN cardinality(report_ids) END AS evidence_total, summary, "
           f"raised_at, rule_version, details FROM alerts WHERE {w.sql} "
           f"ORDER BY raised_at, alert_id {w.limit(limit)}")
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *w.params)


async def evidence(pool: asyncpg.Pool, province_code: str | None, alert_id: str, offset: int,
                   limit: int) -> tuple[int, list[str]] | None:
    """(how many report ids the alert cites, `limit` of them from `offset`), or None when there
    is no such alert in the province (None: any province)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT cardinality(report_ids) AS total, report_ids[$3 + 1:$3 + $4] AS ids "
            "FROM alerts WHERE alert_id = $1 AND ($2::text IS NULL OR province_code = $2)",
            alert_id, province_code, offset, limit)
    return None if row is None else (row["total"], list(row["ids"] or []))


ROLLUP_KEY = ("day", "province_code", "material", "type", "destination_country")


async def rollup(pool: asyncpg.Pool, f: Filters, since: date | None, until: date | None,
                 destination: str | None, after: tuple | None, limit: int) -> list[asyncpg.Record]:
    w = Where()
    w.opt("province_code = {0}", f.province_code)
    w.opt("day >= {0}", since)
    w.opt("day <= {0}", until)
    w.opt("material = {0}", f.material)
    w.opt("type = {0}", f.type)
    w.opt("destination_country = {0}", destination)
    if after is not None:
        w.add(f"({', '.join(ROLLUP_KEY)}) > ({{0}}, {{1}}, {{2}}, {{3}}, {{4}})", *after)
    sql = (f"SELECT {', '.join(ROLLUP_KEY)}, quantity_kg, value_usd, report_count, non_usd_count "
           f"FROM rollup_daily WHERE {w.sql} ORDER BY {', '.join(ROLLUP_KEY)} {w.limit(limit)}")
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *w.params)
