"""Alerting's state in PostgreSQL: one unit of work (a transaction) with a small repository per
table. The flow that calls them is service.py; every statement here does one thing."""

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg

from mintrace_common.models import Alert
from mintrace_common.uow import UnitOfWork

from . import rules as R
from mintrace_common.names import Watchlist

_ALERT_COLUMNS = ("alert_id, type, severity, province_code, producer_id, report_ids, summary, "
                  "raised_at, rule_version, details")
MASS_SWEEP = 0x6D696E7472616365  # advisory lock: one mass-balance sweeper at a time


def lock_id(*parts: str) -> int:
    """A signed 64-bit advisory lock id for a condition key (stable across processes)."""
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big",
                          signed=True)


async def load_reference(pool: asyncpg.Pool, min_score: float,
                         known: Watchlist | None = None
                         ) -> tuple[Watchlist, dict[tuple[str, str], Decimal]]:
    """The watchlist and reference prices; `known` (the last watchlist loaded) is kept when its
    entries did not change (building one folds and sounds out every name)."""
    async with pool.acquire() as conn:
        wl = await conn.fetch("SELECT name, aliases, reason FROM watchlist ORDER BY name")
        prices = await conn.fetch("SELECT material, form, usd_per_kg FROM reference_prices")
    entries = [(r["name"], list(r["aliases"]), r["reason"]) for r in wl]
    if known is None or known.entries != entries or known.min_score != min_score:
        known = Watchlist(entries, min_score)
    return known, {(r["material"], r["form"]): r["usd_per_kg"] for r in prices}


class Locks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def take(self, keys: list[tuple[str, ...]]) -> None:
        """Transaction-scoped advisory locks on these condition keys, in one fixed order (no
        deadlock between batches): batches about different conditions run in parallel."""
        ids = sorted({lock_id(*k) for k in keys})
        await self.conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
                                ids)

    async def try_sweep(self) -> bool:
        return await self.conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MASS_SWEEP)


class Facts:
    """alert_facts: one row per routed report, what the stateful rules read."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, facts: list[tuple]) -> set[tuple[str, str]]:
        """Insert facts (R.fact tuples) not seen before; returns the keys this call inserted."""
        rows = await self.conn.fetch(
            "WITH added AS (INSERT INTO alert_facts (producer_id, report_id, facility_id, "
            "province_code, type, material, occurred_at, day, quantity_kg, counterparty_id, "
            "counterparty_report_id, consignee) SELECT * FROM unnest($1::text[], $2::text[], "
            "$3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::date[], "
            "$9::numeric[], $10::text[], $11::text[], $12::text[]) ON CONFLICT DO NOTHING "
            "RETURNING producer_id, report_id, material, type, province_code, day, quantity_kg), "
            # the daily totals of what this call recorded, in key order (no deadlock)
            "totals AS (INSERT INTO alert_daily_totals AS t (producer_id, material, type, "
            "province_code, day, total_kg) SELECT producer_id, material, type, province_code, "
            "day, sum(quantity_kg) FROM added GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
            "ON CONFLICT (producer_id, material, type, province_code, day) "
            "DO UPDATE SET total_kg = t.total_kg + EXCLUDED.total_kg) "
            "SELECT producer_id, report_id FROM added", *[list(c) for c in zip(*facts)])
        return {(r["producer_id"], r["report_id"]) for r in rows}

    async def exports_near(self, groups: list[tuple[str, str, str, str, datetime, datetime]]
                           ) -> list[list[R.Shipment]]:
        """Per (producer, province, material, consignee, from, to): its exports from that
        province in that time range."""
        rows = await self.conn.fetch(
            "SELECT g.i, f.report_id, f.occurred_at, f.quantity_kg FROM unnest($1::text[], "
            "$2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) "
            "WITH ORDINALITY AS g(p, prov, m, c, lo, hi, i) JOIN alert_facts f "
            "ON f.type = 'export' AND f.producer_id = g.p AND f.material = g.m "
            "AND f.consignee = g.c AND f.occurred_at BETWEEN g.lo AND g.hi "
            "AND f.province_code = g.prov", *[list(c) for c in zip(*groups)])
        out: list[list[R.Shipment]] = [[] for _ in groups]
        for r in rows:
            out[r["i"] - 1].append(R.Shipment(r["report_id"], r["occurred_at"], r["quantity_kg"]))
        return out

    async def daily_volumes(self, keys: list[tuple[str, str, str, date, str]],
                            baseline_days: int) -> list[R.DailyVolume]:
        """Per (producer, material, type, day, province) with any volume that day in that
        province: the day's total, and the baseline days before it there (a producer's
        facilities in another province count for that province only), from the daily totals.
        `report_ids` is left empty: `day_report_ids` reads them for the days that need them."""
        rows = await self.conn.fetch(
            "SELECT k.p, k.m, k.t, k.d, k.prov, today.total_kg AS total, "
            "base.total AS base_total, base.days FROM unnest($1::text[], $2::text[], "
            "$3::text[], $4::date[], $5::text[]) AS k(p, m, t, d, prov) "
            "JOIN alert_daily_totals today ON today.producer_id = k.p AND today.material = k.m "
            "AND today.type = k.t AND today.province_code = k.prov AND today.day = k.d "
            "CROSS JOIN LATERAL (SELECT coalesce(sum(total_kg), 0) AS total, count(*) AS days "
            "  FROM alert_daily_totals b WHERE b.producer_id = k.p AND b.material = k.m "
            "  AND b.type = k.t AND b.province_code = k.prov AND b.day >= k.d - $6::int "
            "  AND b.day < k.d) base",
            *[list(c) for c in zip(*keys)], baseline_days)
        return [R.DailyVolume(r["p"], r["prov"], r["m"], r["t"], r["d"].isoformat(), r["total"],
                              [], r["base_total"], r["days"]) for r in rows]

    async def day_report_ids(self, keys: list[tuple[str, str, str, date, str]]
                             ) -> list[list[str]]:
        """Per (producer, material, type, day, province): its report ids that day there."""
        rows = await self.conn.fetch(
            "SELECT k.i, array_agg(f.report_id ORDER BY f.report_id) AS ids FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::date[], $5::text[]) WITH ORDINALITY "
            "AS k(p, m, t, d, prov, i) JOIN alert_facts f ON f.producer_id = k.p "
            "AND f.material = k.m AND f.type = k.t AND f.day = k.d AND f.province_code = k.prov "
            "GROUP BY k.i", *[list(c) for c in zip(*keys)])
        out: list[list[str]] = [[] for _ in keys]
        for r in rows:
            out[r["i"] - 1] = list(r["ids"])
        return out


class Splits:
    """split_episodes: the SPLIT_SHIPMENTS episodes already alerted, per producer and province
    (an episode in one province never hides another province's)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def episodes(self, groups: list[tuple[str, str, str, str, datetime, datetime]],
                       margin: timedelta) -> list[list[tuple[datetime, datetime]]]:
        """Per (producer, province, material, consignee, from, to): its episodes within
        `margin` of that range."""
        rows = await self.conn.fetch(
            "SELECT g.i, e.first_at, e.last_at FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::text[], $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY "
            "AS g(p, prov, m, c, lo, hi, i) JOIN split_episodes e ON e.producer_id = g.p "
            "AND e.province_code = g.prov AND e.material = g.m AND e.consignee = g.c "
            "AND e.last_at >= g.lo - $7::interval AND e.first_at <= g.hi + $7::interval",
            *[list(c) for c in zip(*groups)], margin)
        out: list[list[tuple[datetime, datetime]]] = [[] for _ in groups]
        for r in rows:
            out[r["i"] - 1].append((r["first_at"], r["last_at"]))
        return out

    async def add(self, episodes: list[tuple]) -> None:
        """(producer, province, material, consignee, first_at, last_at, alert_id) of new
        episodes."""
        if episodes:
            await self.conn.executemany(
                "INSERT INTO split_episodes (producer_id, province_code, material, consignee, "
                "first_at, last_at, alert_id) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT DO NOTHING", episodes)

    async def extend(self, extended: list[tuple]) -> None:
        """(producer, province, material, consignee, first_at, new last_at) of extended
        episodes."""
        if extended:
            await self.conn.executemany(
                "UPDATE split_episodes SET last_at = greatest(last_at, $6) WHERE producer_id = $1 "
                "AND province_code = $2 AND material = $3 AND consignee = $4 AND first_at = $5",
                extended)


class Transfers:
    """pending_transfers: domestic sales waiting for the buyer's purchase (either may arrive
    first)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add_sales(self, sales: list[R.PendingSale]) -> None:
        """Queue sales no purchase has named yet."""
        if sales:
            await self.conn.execute(
                "INSERT INTO pending_transfers (producer_id, report_id, buyer_id, province_code, "
                "occurred_at, seen_at) SELECT s.p, s.r, s.b, s.prov, s.at, now() FROM unnest("
                "$1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS s(p, r, b, "
                "prov, at) WHERE NOT EXISTS (SELECT 1 FROM alert_facts f WHERE "
                "f.type = 'domestic_purchase' AND f.producer_id = s.b AND "
                "f.counterparty_report_id = s.r AND coalesce(f.counterparty_id, s.p) = s.p) "
                "ON CONFLICT DO NOTHING",
                [s.producer_id for s in sales], [s.report_id for s in sales],
                [s.buyer_id for s in sales], [s.province_code for s in sales],
                [s.occurred_at for s in sales])

    async def confirm(self, purchases: list[tuple[str, str, str | None]]) -> None:
        """(buyer, sale report_id, seller or None) of purchases: their sales are confirmed."""
        if purchases:
            await self.conn.execute(
                "DELETE FROM pending_transfers t USING unnest($1::text[], $2::text[], $3::text[]) "
                "AS p(buyer, sale, seller) WHERE t.buyer_id = p.buyer AND t.report_id = p.sale "
                "AND t.producer_id = coalesce(p.seller, t.producer_id)",
                *[list(c) for c in zip(*purchases)])

    async def take_due(self, deadline: datetime, grace: timedelta) -> list[R.PendingSale]:
        """Remove and return sales that occurred before `deadline` and have waited `grace`
        (by the database clock). Rows are locked: concurrent sweeps take disjoint sets."""
        rows = await self.conn.fetch(
            "DELETE FROM pending_transfers WHERE occurred_at < $1 "
            "AND seen_at < now() - $2::interval "
            "RETURNING producer_id, report_id, buyer_id, province_code, occurred_at",
            deadline, grace)
        return [R.PendingSale(**dict(r)) for r in rows]


class Balances:
    """MASS_BALANCE state, kept incrementally: each fact is folded once into its facility's
    running totals (mass_balance_state) when it settles, from the mass_pending queue."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def enqueue(self, keys: list[tuple[str, str]]) -> None:
        """Queue new facts for the sweep, stamped with the clock now: the last statement of the
        batch, so that a fact settles from (about) when it became visible, however long its
        transaction took."""
        await self.conn.execute(
            "INSERT INTO mass_pending (producer_id, report_id, seen_at) "
            "SELECT p, r, clock_timestamp() FROM unnest($1::text[], $2::text[]) AS u(p, r) "
            "ON CONFLICT DO NOTHING", [k[0] for k in keys], [k[1] for k in keys])

    async def opening(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
        """(facility, material) -> the opening stock declared in the registry (none: absent)."""
        rows = await self.conn.fetch(
            "SELECT o.facility_id, o.material, o.quantity_kg FROM opening_stocks o JOIN unnest("
            "$1::text[], $2::text[]) AS k(f, m) ON o.facility_id = k.f AND o.material = k.m",
            [k[0] for k in keys], [k[1] for k in keys])
        return {(r["facility_id"], r["material"]): r["quantity_kg"] for r in rows}

    async def take_settled(self, settle: timedelta, limit: int) -> list[asyncpg.Record]:
        """Remove up to `limit` queued facts older than `settle` from the queue; returns their
        facts."""
        return await self.conn.fetch(
            "WITH due AS (DELETE FROM mass_pending WHERE (producer_id, report_id) IN ("
            "SELECT producer_id, report_id FROM mass_pending WHERE seen_at < now() - $1::interval "
            "ORDER BY seen_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING producer_id, report_id) "
            "SELECT f.producer_id, f.report_id, f.facility_id, f.province_code, f.type, "
            "f.material, f.occurred_at, f.quantity_kg FROM alert_facts f "
            "JOIN due USING (producer_id, report_id)", settle, limit)

    async def fold(self, deltas: dict[tuple[str, str], tuple[Decimal, Decimal]]
                   ) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
        """Add (inflow, outflow) per (facility, material); returns the totals after it and the
        deficit already alerted."""
        keys = sorted(deltas)
        rows = await self.conn.fetch(
            "INSERT INTO mass_balance_state AS s (facility_id, material, inflow_kg, outflow_kg, "
            "alerted_deficit_kg) SELECT f, m, i, o, 0 FROM unnest($1::text[], $2::text[], "
            "$3::numeric[], $4::numeric[]) AS u(f, m, i, o) ON CONFLICT (facility_id, material) "
            "DO UPDATE SET inflow_kg = s.inflow_kg + EXCLUDED.inflow_kg, "
            "outflow_kg = s.outflow_kg + EXCLUDED.outflow_kg "
            "RETURNING facility_id, material, inflow_kg, outflow_kg, alerted_deficit_kg",
            [k[0] for k in keys], [k[1] for k in keys], [deltas[k][0] for k in keys],
            [deltas[k][1] for k in keys])
        return {(r["facility_id"], r["material"]): (r["inflow_kg"], r["outflow_kg"],
                                                    r["alerted_deficit_kg"]) for r in rows}

    async def around(self, outflows: list[asyncpg.Record]
                     ) -> list[tuple[Decimal, Decimal, Decimal]]:
        """Per outflow, of its facility and material: (inflow, outflow) of the folded facts
        that occurred after it — what the running totals hold beyond its point in time — and the
        inflow not folded yet (still settling) that occurred up to it.

        One ordered pass per (facility, material): its facts from the sweep's earliest outflow
        on (index on facility, material, occurred_at) and its queued inflows, with each outflow
        placed among them; running sums give every outflow its figures. The cost is what
        occurred since that outflow, once per sweep — not once per outflow."""
        rows = await self.conn.fetch(
            "WITH o AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], "
            "  $4::text[]) WITH ORDINALITY AS o(fac, mat, at, rid, i)), "
            "g AS (SELECT fac, mat, min(at) AS since FROM o GROUP BY fac, mat), "
            "ev AS ("
            "  SELECT g.fac, g.mat, x.occurred_at AS at, x.report_id AS rid, 0 AS k, "
            "  NULL::bigint AS i, "
            "  CASE WHEN p.report_id IS NULL AND x.type = ANY($5::text[]) "
            "    THEN x.quantity_kg ELSE 0 END AS s_in, "
            "  CASE WHEN p.report_id IS NULL AND x.type = ANY($6::text[]) "
            "    THEN x.quantity_kg ELSE 0 END AS s_out, "
            "  CASE WHEN p.report_id IS NOT NULL AND x.type = ANY($5::text[]) "
            "    THEN x.quantity_kg ELSE 0 END AS p_in "
            "  FROM g JOIN alert_facts x ON x.facility_id = g.fac AND x.material = g.mat "
            "  AND x.occurred_at >= g.since "
            "  LEFT JOIN mass_pending p ON p.producer_id = x.producer_id "
            "  AND p.report_id = x.report_id "
            "  UNION ALL "  # queued inflows before the earliest outflow (the scan has the rest)
            "  SELECT g.fac, g.mat, x.occurred_at, x.report_id, 0, NULL, 0, 0, x.quantity_kg "
            "  FROM mass_pending p JOIN alert_facts x USING (producer_id, report_id) "
            "  JOIN g ON x.facility_id = g.fac AND x.material = g.mat "
            "  WHERE x.occurred_at < g.since AND x.type = ANY($5::text[]) "
            "  UNION ALL "  # each outflow after the facts of its own (occurred_at, report_id)
            "  SELECT fac, mat, at, rid, 1, i, 0, 0, 0 FROM o), "
            "w AS (SELECT i, "
            "  sum(s_in) OVER whole - sum(s_in) OVER upto AS later_in, "
            "  sum(s_out) OVER whole - sum(s_out) OVER upto AS later_out, "
            "  sum(p_in) OVER upto AS unsettled_in FROM ev "
            "  WINDOW whole AS (PARTITION BY fac, mat), "
            "  upto AS (PARTITION BY fac, mat ORDER BY at, rid, k "
            "    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) "
            "SELECT i, later_in, later_out, unsettled_in FROM w WHERE i IS NOT NULL ORDER BY i",
            [o["facility_id"] for o in outflows], [o["material"] for o in outflows],
            [o["occurred_at"] for o in outflows], [o["report_id"] for o in outflows],
            list(R.INFLOWS), list(R.OUTFLOWS))
        return [(r["later_in"], r["later_out"], r["unsettled_in"]) for r in rows]

    async def set_alerted(self, state: dict[tuple[str, str], Decimal]) -> None:
        if state:
            await self.conn.executemany(
                "UPDATE mass_balance_state SET alerted_deficit_kg = $3 "
                "WHERE facility_id = $1 AND material = $2", [(*k, v) for k, v in state.items()])


class Alerts:
    """alerts: every alert raised (the outbox: `published` once the broker acknowledged)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, alerts: list[Alert]) -> set[str]:
        """Store alerts not raised before; returns the ids this call stored."""
        if not alerts:
            return set()
        rows = await self.conn.fetch(
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

    async def claim_unpublished(self, older_than: timedelta, lease: timedelta,
                                limit: int = 500) -> list[Alert]:
        """Alerts stored but never acknowledged by the broker (a crash between commit and
        publish), claimed for `lease` so that two instances do not both re-send them."""
        rows = await self.conn.fetch(
            f"UPDATE alerts SET claimed_at = now() WHERE alert_id IN (SELECT alert_id FROM alerts "
            "WHERE NOT published AND recorded_at < now() - $1::interval AND (claimed_at IS NULL "
            "OR claimed_at < now() - $2::interval) ORDER BY recorded_at LIMIT $3 "
            f"FOR UPDATE SKIP LOCKED) RETURNING {_ALERT_COLUMNS}", older_than, lease, limit)
        return [Alert.model_validate(dict(r)) for r in rows]

    async def mark_published(self, alert_ids: list[str]) -> None:
        await self.conn.execute("UPDATE alerts SET published = true WHERE alert_id = ANY($1)",
                                sorted(alert_ids))


class AlertingUnitOfWork(UnitOfWork):
    """One transaction; `locks`, `facts`, `splits`, `transfers`, `balances` and `alerts` work
    on its connection."""

    def bind(self, conn: asyncpg.Connection) -> None:
        self.locks, self.facts, self.splits = Locks(conn), Facts(conn), Splits(conn)
        self.transfers, self.balances, self.alerts = Transfers(conn), Balances(conn), Alerts(conn)
