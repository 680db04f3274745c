"""Alerting state in PostgreSQL. Each batch runs in one transaction under an advisory lock, so a
second instance or a restarted one sees exactly the facts the first committed: a report's facts
are inserted once, rules run only on facts inserted by this transaction, and the alerts they
raise are stored in the same transaction (an outbox, `published` marks what the broker acked)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from mintrace_common.materials import is_controlled
from mintrace_common.models import Alert, SupervisionRecord
from mintrace_common.names import Watchlist, fold

from . import rules as R
from .config import Rules

LOCK = 0x6D696E7472616365  # "mintrace": serialises the stateful rules across instances
CHINA = ZoneInfo("Asia/Shanghai")
_ALERT_COLUMNS = ("alert_id, type, severity, province_code, producer_id, report_ids, summary, "
                  "raised_at, rule_version, details")


async def load_reference(pool: asyncpg.Pool, min_score: float
                         ) -> tuple[Watchlist, dict[tuple[str, str], Decimal]]:
    async with pool.acquire() as conn:
        wl = await conn.fetch("SELECT name, aliases, reason FROM watchlist")
        prices = await conn.fetch("SELECT material, form, usd_per_kg FROM reference_prices")
    return (Watchlist([(r["name"], list(r["aliases"]), r["reason"]) for r in wl], min_score),
            {(r["material"], r["form"]): r["usd_per_kg"] for r in prices})


def _fact(rec: SupervisionRecord) -> tuple:
    r = rec.report
    return (rec.producer_id, rec.report_id, r.facility_id, rec.province_code, r.type, r.material,
            r.occurred_at, r.occurred_at.astimezone(CHINA).date(), rec.quantity_kg,
            r.counterparty.id if r.counterparty else None, r.counterparty_report_id,
            fold(r.export.consignee.name).key if r.export else None)


async def process(pool: asyncpg.Pool, batch: list[SupervisionRecord], watchlist: Watchlist,
                  reference: dict[tuple[str, str], Decimal], now: datetime,
                  rules: Rules) -> list[Alert]:
    """Apply every rule to the reports of `batch` not seen before; return the alerts this call
    stored (an alert already stored by an earlier delivery is not returned again)."""
    unique = list({(r.producer_id, r.report_id): r for r in batch}.values())
    if not unique:
        return []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        cols = list(zip(*(_fact(r) for r in unique)))
        inserted = {(row["producer_id"], row["report_id"]) for row in await conn.fetch(
            "INSERT INTO alert_facts (producer_id, report_id, facility_id, province_code, type, "
            "material, occurred_at, day, quantity_kg, counterparty_id, counterparty_report_id, "
            "consignee) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            "$5::text[], $6::text[], $7::timestamptz[], $8::date[], $9::numeric[], $10::text[], "
            "$11::text[], $12::text[]) ON CONFLICT DO NOTHING RETURNING producer_id, report_id",
            *[list(c) for c in cols])}
        new = [r for r in unique if (r.producer_id, r.report_id) in inserted]
        if not new:
            return []
        alerts = [a for r in new for a in R.stateless_alerts(r, watchlist, reference, now, rules)]
        alerts += await _splits(conn, new, now, rules)
        alerts += await _spikes(conn, new, now, rules)
        await _transfers(conn, new)
        return await _insert_alerts(conn, alerts)


async def _insert_alerts(conn, alerts: list[Alert]) -> list[Alert]:
    if not alerts:
        return []
    alerts = list({a.alert_id: a for a in alerts}.values())
    stored = await _insert_rows(conn, alerts)
    return [a for a in alerts if a.alert_id in stored]


async def _insert_rows(conn, alerts: list[Alert]) -> set[str]:
    rows = await conn.fetch(
        f"INSERT INTO alerts ({_ALERT_COLUMNS}) "
        "SELECT a.id, a.type, a.sev, a.prov, a.producer, string_to_array(a.ids, chr(31)), "
        "a.summary, a.raised, a.version, a.details FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], "
        "$9::text[], $10::jsonb[]) AS a(id, type, sev, prov, producer, ids, summary, raised, "
        "version, details) ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id",
        [a.alert_id for a in alerts], [a.type for a in alerts], [a.severity for a in alerts],
        [a.province_code for a in alerts], [a.producer_id for a in alerts],
        ["\x1f".join(a.report_ids) for a in alerts], [a.summary for a in alerts],
        [a.raised_at for a in alerts], [a.rule_version for a in alerts],
        [a.details for a in alerts])
    return {r["alert_id"] for r in rows}


async def _splits(conn, new: list[SupervisionRecord], now: datetime, rules: Rules) -> list[Alert]:
    window = timedelta(hours=rules.split_window_hours)
    groups: dict[tuple[str, str, str], list[SupervisionRecord]] = {}
    for r in new:
        if r.report.type == "export" and r.report.export and is_controlled(r.report.material):
            groups.setdefault((r.producer_id, r.report.material,
                               fold(r.report.export.consignee.name).key), []).append(r)
    if not groups:
        return []
    keys = list(groups)
    lo = [min(r.report.occurred_at for r in groups[k]) - window for k in keys]
    hi = [max(r.report.occurred_at for r in groups[k]) + window for k in keys]
    args = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], lo, hi)
    facts = await conn.fetch(
        "SELECT g.i, f.report_id, f.occurred_at, f.quantity_kg FROM unnest($1::text[], "
        "$2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY "
        "AS g(p, m, c, lo, hi, i) JOIN alert_facts f ON f.type = 'export' AND f.producer_id = g.p "
        "AND f.material = g.m AND f.consignee = g.c AND f.occurred_at BETWEEN g.lo AND g.hi", *args)
    episodes = await conn.fetch(
        "SELECT g.i, e.first_at, e.last_at FROM unnest($1::text[], $2::text[], $3::text[], "
        "$4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY AS g(p, m, c, lo, hi, i) "
        "JOIN split_episodes e ON e.producer_id = g.p AND e.material = g.m AND e.consignee = g.c "
        "AND e.last_at >= g.lo - $6::interval AND e.first_at <= g.hi + $6::interval",
        *args, window)
    alerts, new_eps, extended = [], [], []
    for i, key in enumerate(keys, start=1):
        g = R.SplitGroup(
            producer_id=key[0], province_code=groups[key][0].province_code, material=key[1],
            consignee=key[2],
            shipments=[R.Shipment(f["report_id"], f["occurred_at"], f["quantity_kg"])
                       for f in facts if f["i"] == i],
            new=frozenset(r.report_id for r in groups[key]),
            episodes=[(e["first_at"], e["last_at"]) for e in episodes if e["i"] == i])
        alert, episode, extends = R.split_decision(g, now, rules)
        if alert and episode:
            alerts.append(alert)
            new_eps.append((*key, *episode, alert.alert_id))
        elif extends is not None:
            last = max(r.report.occurred_at for r in groups[key])
            extended.append((*key, extends, last))
    if new_eps:
        await conn.executemany(
            "INSERT INTO split_episodes (producer_id, material, consignee, first_at, last_at, "
            "alert_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", new_eps)
    if extended:
        await conn.executemany(
            "UPDATE split_episodes SET last_at = greatest(last_at, $5) WHERE producer_id = $1 "
            "AND material = $2 AND consignee = $3 AND first_at = $4", extended)
    return alerts


async def _spikes(conn, new: list[SupervisionRecord], now: datetime, rules: Rules) -> list[Alert]:
    # A day is judged when one of its facts arrives, and again when a fact of one of its baseline
    # days arrives late (reports of different days travel on different partitions): a baseline
    # that was too short to judge may be long enough now. Alert ids are per day, so a day that
    # alerted already does not alert twice.
    keys = sorted({(r.producer_id, r.report.material, r.report.type,
                    r.report.occurred_at.astimezone(CHINA).date() + timedelta(days=later),
                    r.province_code)
                   for r in new if r.report.type in rules.spike_types
                   for later in range(rules.spike_baseline_days + 1)})
    if not keys:
        return []
    rows = await conn.fetch(
        "SELECT k.p, k.m, k.t, k.d, k.prov, today.total, today.ids, base.total AS base_total, "
        "base.days FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[]) "
        "AS k(p, m, t, d, prov) "
        "CROSS JOIN LATERAL (SELECT sum(quantity_kg) AS total, array_agg(report_id) AS ids "
        "  FROM alert_facts f WHERE f.producer_id = k.p AND f.material = k.m AND f.type = k.t "
        "  AND f.day = k.d) today "
        "CROSS JOIN LATERAL (SELECT coalesce(sum(quantity_kg), 0) AS total, "
        "  count(DISTINCT day) AS days FROM alert_facts f WHERE f.producer_id = k.p "
        "  AND f.material = k.m AND f.type = k.t AND f.day >= k.d - $6::int AND f.day < k.d) base "
        "WHERE today.total IS NOT NULL",
        *[list(c) for c in zip(*keys)], rules.spike_baseline_days)
    alerts = []
    for row in rows:
        a = R.spike_alert(R.DailyVolume(row["p"], row["prov"], row["m"], row["t"],
                                        row["d"].isoformat(), row["total"], list(row["ids"]),
                                        row["base_total"], row["days"]), now, rules)
        if a:
            alerts.append(a)
    return alerts


async def sweep_balances(pool: asyncpg.Pool, now: datetime, rules: Rules) -> list[Alert]:
    """MASS_BALANCE for every sale or export settled since the last sweep: the facility's
    balance of that material (its declared opening stock plus inflows, against outflows) as of
    the outflow's occurred_at (event time). Outflows are judged once settled for
    `mass_settle_seconds`, against every input seen by then, so that an input still in flight
    on another partition does not make its own sale look unexplained."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        since = await conn.fetchval("SELECT upto FROM sweep_watermarks WHERE name = 'mass'")
        upto = await conn.fetchval("SELECT now() - $1::interval",
                                   timedelta(seconds=rules.mass_settle_seconds))
        if since is not None and upto <= since:
            return []
        await conn.execute(
            "INSERT INTO sweep_watermarks (name, upto) VALUES ('mass', $1) "
            "ON CONFLICT (name) DO UPDATE SET upto = EXCLUDED.upto", upto)
        rows = await conn.fetch(
            "SELECT o.facility_id, o.material, o.producer_id, o.province_code, o.report_id, "
            "o.occurred_at, s.inflow, s.outflow, coalesce(b.alerted_deficit_kg, 0) AS alerted, "
            "coalesce(os.quantity_kg, 0) AS opening "
            "FROM alert_facts o "
            "CROSS JOIN LATERAL (SELECT "
            "  coalesce(sum(quantity_kg) FILTER (WHERE type = ANY($3::text[])), 0) AS inflow, "
            "  coalesce(sum(quantity_kg) FILTER (WHERE type = ANY($4::text[]) "
            "    AND x.seen_at <= $2), 0) AS outflow "
            "  FROM alert_facts x WHERE x.facility_id = o.facility_id AND x.material = o.material "
            "  AND (x.occurred_at, x.report_id) <= (o.occurred_at, o.report_id)"
            ") s LEFT JOIN mass_balance_state b ON b.facility_id = o.facility_id "
            "AND b.material = o.material "
            "LEFT JOIN opening_stocks os ON os.facility_id = o.facility_id "
            "AND os.material = o.material "
            "WHERE o.type = ANY($4::text[]) AND o.seen_at <= $2 "
            "AND ($1::timestamptz IS NULL OR o.seen_at > $1) "
            "ORDER BY o.facility_id, o.material, o.occurred_at, o.report_id",
            since, upto, list(R.INFLOWS), list(R.OUTFLOWS))
        alerts, state = [], {}
        for row in rows:
            key = (row["facility_id"], row["material"])
            alerted = state.get(key, row["alerted"])
            b = R.Balance(*key[:1], row["producer_id"], row["province_code"], key[1],
                          row["inflow"], row["outflow"], alerted, [row["report_id"]],
                          row["opening"])
            alert, state[key] = R.balance_decision(b, now, rules)
            if alert:
                alerts.append(alert)
        if state:
            await conn.executemany(
                "INSERT INTO mass_balance_state (facility_id, material, alerted_deficit_kg) "
                "VALUES ($1, $2, $3) ON CONFLICT (facility_id, material) DO UPDATE SET "
                "alerted_deficit_kg = EXCLUDED.alerted_deficit_kg",
                [(*k, v) for k, v in state.items()])
        return await _insert_alerts(conn, alerts)


async def _transfers(conn, new: list[SupervisionRecord]) -> None:
    """Sales wait in pending_transfers until the buyer's purchase names them (either may
    arrive first)."""
    sales = [r for r in new if r.report.type == "domestic_sale" and r.report.counterparty
             and r.report.counterparty.id and r.report.counterparty.country.upper() == "CN"]
    purchases = [r for r in new if r.report.type == "domestic_purchase"
                 and r.report.counterparty_report_id]
    if sales:
        await conn.execute(
            "INSERT INTO pending_transfers (producer_id, report_id, buyer_id, province_code, "
            "occurred_at, seen_at) SELECT s.p, s.r, s.b, s.prov, s.at, now() FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS s(p, r, b, "
            "prov, at) WHERE NOT EXISTS (SELECT 1 FROM alert_facts f WHERE "
            "f.type = 'domestic_purchase' AND f.producer_id = s.b AND "
            "f.counterparty_report_id = s.r AND coalesce(f.counterparty_id, s.p) = s.p) "
            "ON CONFLICT DO NOTHING",
            [r.producer_id for r in sales], [r.report_id for r in sales],
            [r.report.counterparty.id for r in sales], [r.province_code for r in sales],
            [r.report.occurred_at for r in sales])
    if purchases:
        await conn.execute(
            "DELETE FROM pending_transfers t USING unnest($1::text[], $2::text[], $3::text[]) "
            "AS p(buyer, sale, seller) WHERE t.buyer_id = p.buyer AND t.report_id = p.sale "
            "AND t.producer_id = coalesce(p.seller, t.producer_id)",
            [r.producer_id for r in purchases],
            [r.report.counterparty_report_id for r in purchases],
            [r.report.counterparty.id if r.report.counterparty else None for r in purchases])


async def sweep_transfers(pool: asyncpg.Pool, now: datetime, rules: Rules) -> list[Alert]:
    """Raise UNCONFIRMED_TRANSFER for sales past their window (by the injected clock `now`)
    that have been pending for at least the grace period (by the database clock)."""
    deadline = now - timedelta(hours=rules.transfer_window_hours)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        due = await conn.fetch(
            "DELETE FROM pending_transfers WHERE occurred_at < $1 "
            "AND seen_at < now() - $2::interval "
            "RETURNING producer_id, report_id, buyer_id, province_code, occurred_at",
            deadline, timedelta(seconds=rules.transfer_grace_seconds))
        sales = [R.PendingSale(**dict(r)) for r in due]
        alerts = [R.unconfirmed_alert(s, now, rules) for s in sales
                  if R.transfer_due(s, now, rules)]
        return await _insert_alerts(conn, alerts)


async def claim_unpublished(pool: asyncpg.Pool, older_than: timedelta,
                            lease: timedelta = timedelta(seconds=30)) -> list[Alert]:
    """Alerts stored but never acknowledged by the broker (a crash between commit and publish),
    claimed for `lease` so that two instances do not both re-send them."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"UPDATE alerts SET claimed_at = now() WHERE alert_id IN (SELECT alert_id FROM alerts "
            "WHERE NOT published AND recorded_at < now() - $1::interval AND (claimed_at IS NULL "
            "OR claimed_at < now() - $2::interval) ORDER BY recorded_at LIMIT 500 "
            f"FOR UPDATE SKIP LOCKED) RETURNING {_ALERT_COLUMNS}", older_than, lease)
    return [Alert.model_validate(dict(r)) for r in rows]


async def mark_published(pool: asyncpg.Pool, alert_ids: list[str]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE alerts SET published = true WHERE alert_id = ANY($1)",
                           alert_ids)
