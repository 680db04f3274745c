"""Read-only queries over what routing and alerting wrote: keyset-paginated, one round trip."""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from mintrace_common import keys
from mintrace_common.models import Alert, MAX_EVIDENCE


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
    report_id: str | None = None


async def authenticate(pool: asyncpg.Pool, key: str) -> tuple[str, str, str] | None:
    """(kind, subject, the person's name) of a live key, or None."""
    async with pool.acquire() as conn:
        return await keys.holder(conn, key)


PAGE_BYTES = 4 * 2**20  # a page of records stops once its JSON passes this


async def reports(pool: asyncpg.Pool, f: Filters, after: int | None,
                  limit: int, newest: bool = False,
                  max_bytes: int = PAGE_BYTES) -> list[asyncpg.Record]:
    """Routed reports in routing order (`newest`: the latest first, no cursor), at most `limit`
    and no more than `max_bytes` of records: the first record is always returned and the one
    that passes the bound is the last. Each row carries `found`, how many of the first `limit`
    matched, so that `len(rows) < found` says the byte bound cut the page short."""
    w = Where(["record IS NOT NULL"])
    w.opt("province_code = {0}", f.province_code)
    w.opt("occurred_at >= {0}", f.since)
    w.opt("occurred_at < {0}", f.until)
    w.opt("material = {0}", f.material)
    w.opt("type = {0}", f.type)
    w.opt("producer_id = {0}", f.producer_id)
    w.opt("report_id = {0}", f.report_id)
    w.opt("seq > {0}", after)
    order = "seq DESC" if newest else "seq"
    # the size is measured in the database so that records past the bound never leave it
    sql = (f"WITH page AS (SELECT seq, record, octet_length(record::text) AS bytes "
           f"FROM routed_reports WHERE {w.sql} ORDER BY {order} {w.limit(limit)}), "
           f"sized AS (SELECT seq, record, sum(bytes) OVER (ORDER BY {order}) - bytes AS before, "
           f"count(*) OVER () AS found FROM page) "
           f"SELECT seq, record, found FROM sized WHERE before < ${len(w.params) + 1} "
           f"ORDER BY {order}")
    async with pool.acquire() as conn:
        return await conn.fetch(sql, *w.params, max_bytes)


ALERT = ("alert_id, type, severity, province_code, producer_id, report_ids, summary, raised_at, "
         "rule_version, details")
ALERT_BOUNDED = ("alert_id, type, severity, province_code, producer_id, "
                 f"report_ids[1:{MAX_EVIDENCE}] AS report_ids, CASE WHEN cardinality(report_ids) "
                 f"> {MAX_EVIDENCE} THEN cardinality(report_ids) END AS evidence_total, summary, "
                 "raised_at, rule_version, details")
CASE_STATUS = "coalesce(cases.status, 'open')"


def alert_of(row: asyncpg.Record) -> Alert:
    """The alert in a row of any of the alert selects above (evidence_total only where
    selected)."""
    return Alert(**{k: row[k] for k in Alert.model_fields if k in row.keys()})


async def alerts(pool: asyncpg.Pool, f: Filters, severity: str | None,
                 after: tuple[datetime, str] | None, limit: int,
                 status: str | None = None, newest: bool = False) -> list[asyncpg.Record]:
    """Alerts with their case's status, assignee and outcome (an alert nobody acted on yet is
    an open case), by raised_at (`newest`: the latest first, no cursor)."""
    w = Where()
    w.opt(f"{CASE_STATUS} = {{0}}", status)
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
    sql = (f"SELECT {ALERT_BOUNDED}, {CASE_STATUS} AS case_status, cases.assignee, "
           f"cases.outcome FROM alerts LEFT JOIN cases USING (alert_id) WHERE {w.sql} "
           f"ORDER BY {'raised_at DESC, alert_id DESC' if newest else 'raised_at, alert_id'} "
           f"{w.limit(limit)}")
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


# --- cases ----------------------------------------------------------------------------------

async def alert(conn, province_code: str | None, alert_id: str) -> asyncpg.Record | None:
    """The alert, only if it belongs to `province_code` (None: any province)."""
    return await conn.fetchrow(f"SELECT {ALERT} FROM alerts WHERE alert_id = $1 "
                               "AND ($2::text IS NULL OR province_code = $2)",
                               alert_id, province_code)


async def case(conn, alert_id: str, lock: bool = False) -> asyncpg.Record | None:
    """The case row (None: nobody acted yet, so it is open). `lock` creates it and holds its
    row lock until the transaction ends, so actions on one case apply one at a time."""
    if lock:
        await conn.execute("INSERT INTO cases (alert_id, status) VALUES ($1, 'open') "
                           "ON CONFLICT DO NOTHING", alert_id)
    return await conn.fetchrow("SELECT status, assignee, outcome FROM cases WHERE alert_id = $1"
                               + (" FOR UPDATE" if lock else ""), alert_id)


async def history(conn, alert_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, at, by, action, assignee, note, outcome, status "
                            "FROM case_history WHERE alert_id = $1 ORDER BY id", alert_id)


async def save_case(conn, alert_id: str, status: str, assignee: str | None,
                    outcome: str | None) -> None:
    await conn.execute("UPDATE cases SET status = $2, assignee = $3, outcome = $4, "
                       "updated_at = now() WHERE alert_id = $1", alert_id, status, assignee,
                       outcome)


async def append_history(conn, alert_id: str, by: str, action: str, assignee: str | None,
                         note: str | None, outcome: str | None, status: str) -> asyncpg.Record:
    """Append the action to the audit trail and to the cases.events outbox; returns the row."""
    row = await conn.fetchrow(
        "INSERT INTO case_history (alert_id, by, action, assignee, note, outcome, status) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, at, by, action, assignee, note, "
        "outcome, status", alert_id, by, action, assignee, note, outcome, status)
    # claimed by the request itself, which publishes it at once; the drain waits out the lease
    await conn.execute("INSERT INTO case_events_outbox (history_id, claimed_at) "
                       "VALUES ($1, now())", row["id"])
    return row


async def claim_case_events(pool: asyncpg.Pool, lease_s: float, limit: int = 500
                            ) -> list[asyncpg.Record]:
    """Outbox rows nobody holds (never claimed, or claimed longer than `lease_s` ago), claimed
    now, with what their event needs."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            "WITH due AS (SELECT history_id FROM case_events_outbox WHERE claimed_at IS NULL "
            "OR claimed_at < now() - make_interval(secs => $1) ORDER BY history_id LIMIT $2 "
            "FOR UPDATE SKIP LOCKED), claimed AS (UPDATE case_events_outbox o SET claimed_at "
            "= now() FROM due WHERE o.history_id = due.history_id RETURNING o.history_id) "
            "SELECT h.id, h.alert_id, h.at, h.by, h.action, h.assignee, h.note, h.outcome, "
            "h.status, a.province_code FROM claimed JOIN case_history h ON h.id = "
            "claimed.history_id JOIN alerts a ON a.alert_id = h.alert_id ORDER BY h.id",
            lease_s, limit)


async def mark_case_events_sent(pool: asyncpg.Pool, history_ids: list[int]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM case_events_outbox WHERE history_id = ANY($1::bigint[])",
                           history_ids)


async def records(conn, producer_id: str, report_ids: list[str]) -> list[dict]:
    """The supervision records of these reports of one producer, in routing order."""
    rows = await conn.fetch("SELECT record FROM routed_reports WHERE producer_id = $1 "
                            "AND report_id = ANY($2::text[]) AND record IS NOT NULL ORDER BY seq",
                            producer_id, report_ids)
    return [r["record"] for r in rows]


async def episode_shipments(conn, alert_id: str) -> list[asyncpg.Record]:
    """Every shipment of a SPLIT_SHIPMENTS alert's episode (alerting's split_episodes, extended
    as later shipments join it): the exports under the review threshold between its first and
    last shipment, from the episode's province only."""
    return await conn.fetch(
        "SELECT f.report_id, f.occurred_at, f.quantity_kg FROM split_episodes e "
        "JOIN alerts a ON a.alert_id = e.alert_id JOIN alert_facts f ON f.type = 'export' "
        "AND f.producer_id = e.producer_id AND f.province_code = e.province_code "
        "AND f.material = e.material "
        "AND f.consignee = e.consignee AND f.occurred_at BETWEEN e.first_at AND e.last_at "
        "AND (a.details->>'threshold_kg' IS NULL "
        "     OR f.quantity_kg < (a.details->>'threshold_kg')::numeric) "
        "WHERE e.alert_id = $1 ORDER BY f.occurred_at, f.report_id", alert_id)


# --- console reads ----------------------------------------------------------------------------

async def producer(conn, producer_id: str, province_code: str | None) -> dict | None:
    """A producer as a province sees it: its name, its facilities (in that province) and, for an
    exporter, its licences with their balances. None when it has no facility there."""
    facilities = await conn.fetch(
        "SELECT facility_id, province_code, stages FROM facilities WHERE producer_id = $1 "
        "AND ($2::text IS NULL OR province_code = $2) ORDER BY facility_id",
        producer_id, province_code)
    if not facilities:
        return None
    name = await conn.fetchval("SELECT name FROM producers WHERE producer_id = $1", producer_id)
    licences = await conn.fetch(
        "SELECT licence_number, materials, destination_country, max_quantity_kg, remaining_kg, "
        "valid_from, valid_to, status FROM licences WHERE exporter_id = $1 "
        "ORDER BY licence_number", producer_id)
    return {"producer_id": producer_id, "name": name, "facilities": facilities,
            "licences": licences}


async def rollup_days(pool: asyncpg.Pool, province_code: str | None, since: date
                      ) -> list[asyncpg.Record]:
    """The rollup from `since` on, summed over provinces when national."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT day, material, type, destination_country, sum(quantity_kg) AS quantity_kg, "
            "sum(value_usd) AS value_usd, sum(report_count) AS report_count, "
            "sum(non_usd_count) AS non_usd_count FROM rollup_daily WHERE day >= $1 "
            "AND ($2::text IS NULL OR province_code = $2) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            since, province_code)


async def province_overview(pool: asyncpg.Pool, since: date) -> list[asyncpg.Record]:
    """Per province: its cases by status and its reported volume since `since`."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            f"WITH c AS (SELECT province_code, count(*) FILTER (WHERE {CASE_STATUS} = 'open') "
            f"AS open, count(*) FILTER (WHERE {CASE_STATUS} = 'assigned') AS assigned, "
            f"count(*) FILTER (WHERE {CASE_STATUS} = 'closed') AS closed FROM alerts "
            "LEFT JOIN cases USING (alert_id) GROUP BY province_code), "
            "r AS (SELECT province_code, sum(report_count) AS reports, sum(quantity_kg) AS kg "
            "FROM rollup_daily WHERE day >= $1 GROUP BY province_code) "
            "SELECT coalesce(c.province_code, r.province_code) AS province_code, "
            "coalesce(open, 0) AS open, coalesce(assigned, 0) AS assigned, "
            "coalesce(closed, 0) AS closed, coalesce(reports, 0) AS reports, "
            "coalesce(kg, 0) AS kg FROM c FULL JOIN r USING (province_code)", since)


# --- console sessions -------------------------------------------------------------------------

async def open_session(pool: asyncpg.Pool, key: str, token: str, csrf: str,
                       hours: float) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO console_sessions (token_hash, key_hash, csrf, expires_at) "
                           "VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                           keys.hash_key(token), keys.hash_key(key), csrf, hours * 3600)


async def session(pool: asyncpg.Pool, token: str) -> asyncpg.Record | None:
    """The live session's key holder and CSRF token; a revoked key ends its sessions."""
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT k.kind, k.subject, coalesce(k.name, k.subject || ' key') AS name, s.csrf "
            "FROM console_sessions s JOIN api_keys k USING (key_hash) WHERE s.token_hash = $1 "
            "AND s.expires_at > now() AND k.revoked_at IS NULL", keys.hash_key(token))


async def close_session(pool: asyncpg.Pool, token: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM console_sessions WHERE token_hash = $1 "
                           "OR expires_at < now()", keys.hash_key(token))


# --- webhooks ---------------------------------------------------------------------------------

SEVERITY_RANK = "ARRAY['low', 'medium', 'high', 'critical']"
RESCAN = "interval '2 minutes'"  # alerts are stored by transactions shorter than this


async def add_webhook(conn, scope: str, province_code: str | None, url: str, secret: str,
                      min_severity: str) -> int:
    return await conn.fetchval("INSERT INTO webhooks (scope, province_code, url, secret, "
                               "min_severity) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                               scope, province_code, url, secret, min_severity)


async def webhooks(conn, province_code: str | None = None, every: bool = True
                   ) -> list[asyncpg.Record]:
    """Live webhooks; of one province only when `every` is false (None: national's own)."""
    return await conn.fetch(
        "SELECT id, scope, url, min_severity, created_at FROM webhooks WHERE removed_at IS NULL "
        "AND ($2 OR province_code IS NOT DISTINCT FROM $1) ORDER BY id", province_code, every)


async def remove_webhook(conn, webhook_id: int) -> bool:
    done = await conn.execute("UPDATE webhooks SET removed_at = now() WHERE id = $1 "
                              "AND removed_at IS NULL", webhook_id)
    return done.endswith(" 1")


async def enqueue_deliveries(pool: asyncpg.Pool) -> int:
    """A delivery for every alert stored since a webhook last looked that it wants."""
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, alert_id) SELECT w.id, a.alert_id "
            f"FROM webhooks w JOIN alerts a ON a.recorded_at >= greatest(w.created_at, "
            f"w.scanned_upto - {RESCAN}) AND (w.province_code IS NULL "
            "OR a.province_code = w.province_code) "
            f"AND array_position({SEVERITY_RANK}, a.severity) >= "
            f"array_position({SEVERITY_RANK}, w.min_severity) "
            "WHERE w.removed_at IS NULL ON CONFLICT DO NOTHING")
        await conn.execute("UPDATE webhooks SET scanned_upto = now() WHERE removed_at IS NULL")
    return int(done.split()[-1])


async def claim_deliveries(pool: asyncpg.Pool, limit: int, lease_s: float
                           ) -> list[asyncpg.Record]:
    """Due deliveries, held for `lease_s` (another process skips them meanwhile)."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            "WITH due AS (SELECT webhook_id, alert_id FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_at <= now() AND webhook_id IN (SELECT id FROM "
            "webhooks WHERE removed_at IS NULL) ORDER BY next_at LIMIT $1 "
            "FOR UPDATE SKIP LOCKED), claimed AS (UPDATE webhook_deliveries d "
            "SET next_at = now() + make_interval(secs => $2) FROM due "
            "WHERE (d.webhook_id, d.alert_id) = (due.webhook_id, due.alert_id) "
            "RETURNING d.webhook_id, d.alert_id, d.attempts) "
            "SELECT c.webhook_id, c.attempts, w.url, w.secret, "
            + ", ".join(f"a.{c.strip()}" for c in ALERT.split(",")) + " "
            "FROM claimed c JOIN webhooks w ON w.id = c.webhook_id "
            "JOIN alerts a USING (alert_id)", limit, lease_s)


async def log_attempt(pool: asyncpg.Pool, webhook_id: int, alert_id: str,
                      http_status: int | None, error: str | None) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO webhook_attempts (webhook_id, alert_id, http_status, "
                           "error) VALUES ($1, $2, $3, $4)", webhook_id, alert_id, http_status,
                           error)


async def finish_delivery(pool: asyncpg.Pool, webhook_id: int, alert_id: str, delivered: bool,
                          tries: int, retry_in_s: float) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + $3, status = CASE WHEN $4 "
            "THEN 'delivered' ELSE 'pending' END, delivered_at = CASE WHEN $4 THEN now() END, "
            "next_at = now() + make_interval(secs => $5) WHERE webhook_id = $1 AND alert_id = $2",
            webhook_id, alert_id, tries, delivered, retry_in_s)


async def delivery_log(pool: asyncpg.Pool, province_code: str | None, limit: int = 100
                       ) -> list[asyncpg.Record]:
    """The latest delivery attempts of a province's webhooks (every webhook for national)."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT t.at, t.webhook_id, w.url, t.alert_id, t.http_status, t.error, d.status "
            "FROM webhook_attempts t JOIN webhooks w ON w.id = t.webhook_id "
            "LEFT JOIN webhook_deliveries d USING (webhook_id, alert_id) "
            "WHERE $1::text IS NULL OR w.province_code = $1 ORDER BY t.id DESC LIMIT $2",
            province_code, limit)
