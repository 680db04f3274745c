"""Routing's tables in PostgreSQL: one unit of work (a transaction) with a small repository per
table. The flow that calls them is service.py."""

from datetime import date, datetime, timedelta

import asyncpg

from mintrace_common.fx import Rates, load_rates
from mintrace_common.models import RollupRow, SupervisionRecord
from mintrace_common.uow import UnitOfWork

from .routing import Key, RollupDelta, RollupKey, destination

_KEYS = "SELECT * FROM unnest($1::text[], $2::text[])"
# routing's one advisory lock: shared by every routing batch, exclusive for a cancellation batch
CANCELLING = 0x726F7574696E6763  # "routingc"


def _split(keys: list[Key]) -> tuple[list[str], list[str]]:
    return [k[0] for k in keys], [k[1] for k in keys]


class Facilities:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def provinces(self, facility_ids: list[str]) -> dict[str, str]:
        """facility_id -> province_code of the registered ones."""
        rows = await self.conn.fetch("SELECT facility_id, province_code FROM facilities "
                                     "WHERE facility_id = ANY($1)", facility_ids)
        return {r["facility_id"]: r["province_code"] for r in rows}

    async def rates(self) -> Rates:
        """The registry's exchange rates to USD."""
        return await load_rates(self.conn)


class Routed:
    """routed_reports: the record of every routed report, and whether the broker acknowledged
    its publication (the outbox)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def existing(self, keys: list[Key]) -> dict[Key, tuple[bool, SupervisionRecord | None,
                                                                 str]]:
        """key -> (published, stored record or None, province_code) of reports routed before."""
        rows = await self.conn.fetch(
            "SELECT producer_id, report_id, province_code, published, record "
            f"FROM routed_reports WHERE (producer_id, report_id) IN ({_KEYS})", *_split(keys))
        return {(r["producer_id"], r["report_id"]): (
            r["published"], SupervisionRecord.model_validate(r["record"]) if r["record"] else None,
            r["province_code"]) for r in rows}

    async def add(self, records: list[SupervisionRecord],
                  bodies: list[str] | None = None) -> set[Key]:
        """Insert the records (`bodies`: their JSON, if the caller has it); returns the keys
        this call inserted (a key another consumer inserted meanwhile is that consumer's)."""
        if not records:
            return set()
        rows = await self.conn.fetch(
            "INSERT INTO routed_reports (producer_id, report_id, province_code, routed_at, record, "
            "material, type, occurred_at, destination_country, cancelled_at) "
            "SELECT p, r, c, t, j::jsonb, m, ty, o, d, x FROM unnest($1::text[], $2::text[], "
            "$3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], "
            "$8::timestamptz[], $9::text[], $10::timestamptz[]) "
            "AS u(p, r, c, t, j, m, ty, o, d, x) "
            "ON CONFLICT DO NOTHING RETURNING producer_id, report_id",
            [r.producer_id for r in records], [r.report_id for r in records],
            [r.province_code for r in records], [r.routed_at for r in records],
            # encoded by pydantic once, cast by the server (not dumped to dicts, then json.dumps)
            bodies or [r.model_dump_json() for r in records], [r.report.material for r in records],
            [r.report.type for r in records], [r.report.occurred_at for r in records],
            [destination(r) for r in records], [r.cancelled_at for r in records])
        return {(r["producer_id"], r["report_id"]) for r in rows}

    async def mark_published(self, versions: list[tuple[str, str, datetime | None]]) -> None:
        """(producer_id, report_id, cancelled_at) of records the broker acknowledged: marked
        only while the stored record is still that version."""
        await self.conn.execute(
            "UPDATE routed_reports t SET published = true FROM unnest($1::text[], $2::text[], "
            "$3::timestamptz[]) AS u(p, r, c) WHERE t.producer_id = u.p AND t.report_id = u.r "
            "AND NOT t.published AND t.cancelled_at IS NOT DISTINCT FROM u.c",
            [v[0] for v in versions], [v[1] for v in versions], [v[2] for v in versions])

    async def lock_uncancelled(self, keys: list[Key]) -> list[SupervisionRecord]:
        """The stored records of these reports routed and not cancelled yet, locked."""
        rows = await self.conn.fetch(
            "SELECT record FROM routed_reports WHERE (producer_id, report_id) IN "
            f"({_KEYS}) AND cancelled_at IS NULL AND record IS NOT NULL "
            "ORDER BY producer_id, report_id FOR UPDATE", *_split(keys))
        return [SupervisionRecord.model_validate(r["record"]) for r in rows]

    async def set_cancelled(self, records: list[SupervisionRecord]) -> None:
        """Store the cancelled records, to be published (again) by the caller: claimed now, so
        the sweep leaves them to it unless it fails for a lease."""
        if records:
            await self.conn.execute(
                "UPDATE routed_reports t SET record = u.j::jsonb, cancelled_at = u.c, "
                "published = false, claimed_at = now() FROM unnest($1::text[], $2::text[], "
                "$3::text[], $4::timestamptz[]) AS u(p, r, j, c) "
                "WHERE t.producer_id = u.p AND t.report_id = u.r",
                [r.producer_id for r in records], [r.report_id for r in records],
                [r.model_dump_json() for r in records], [r.cancelled_at for r in records])

    async def cancelled_unpublished(self, keys: list[Key]) -> list[SupervisionRecord]:
        """Cancelled records of these reports whose publication was never acknowledged."""
        rows = await self.conn.fetch(
            "SELECT record FROM routed_reports WHERE (producer_id, report_id) IN "
            f"({_KEYS}) AND cancelled_at IS NOT NULL AND NOT published AND record IS NOT NULL "
            "ORDER BY producer_id, report_id", *_split(keys))
        return [SupervisionRecord.model_validate(r["record"]) for r in rows]

    async def claim_unpublished(self, older_than: timedelta, lease: timedelta,
                                limit: int) -> list[SupervisionRecord]:
        """Records routed longer than `older_than` ago and never acknowledged (a crash between
        commit and publish), claimed for `lease` so that two instances do not both send them."""
        rows = await self.conn.fetch(
            "UPDATE routed_reports SET claimed_at = now() WHERE (producer_id, report_id) IN ("
            "SELECT producer_id, report_id FROM routed_reports WHERE NOT published "
            "AND record IS NOT NULL AND routed_at < now() - $1::interval "
            "AND (claimed_at IS NULL OR claimed_at < now() - $2::interval) "
            "ORDER BY routed_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING record",
            older_than, lease, limit)
        return [SupervisionRecord.model_validate(r["record"]) for r in rows]


class Rollup:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, deltas: list[tuple[RollupKey, RollupDelta]]) -> None:
        """Add to the daily rows, in the order given (sorted keys: concurrent batches lock rows
        in the same order, no deadlock)."""
        if not deltas:
            return
        await self.conn.execute(
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

    async def since(self, day: date) -> list[RollupRow]:
        rows = await self.conn.fetch(
            "SELECT day, province_code, material, type, destination_country, quantity_kg, "
            "value_usd, report_count, non_usd_count FROM rollup_daily WHERE day >= $1 "
            "ORDER BY day, province_code, material, type, destination_country", day)
        return [RollupRow(**dict(r)) for r in rows]


class Cancellations:
    """routing_cancellations: every producer's cancellation routing has seen, and the lock
    that keeps a cancellation batch and routing batches from missing each other's rows."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def share(self) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock_shared($1)", CANCELLING)

    async def exclusive(self) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock($1)", CANCELLING)

    async def add(self, first: dict[Key, datetime]) -> None:
        keys = sorted(first)
        await self.conn.execute(
            "INSERT INTO routing_cancellations (producer_id, report_id, cancelled_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) "
            "ON CONFLICT DO NOTHING", *_split(keys), [first[k] for k in keys])

    async def of(self, keys: list[Key]) -> dict[Key, datetime]:
        """key -> cancelled_at of the reports among these that were cancelled."""
        if not keys:
            return {}
        rows = await self.conn.fetch(
            "SELECT producer_id, report_id, cancelled_at FROM routing_cancellations "
            f"WHERE (producer_id, report_id) IN ({_KEYS})", *_split(keys))
        return {(r["producer_id"], r["report_id"]): r["cancelled_at"] for r in rows}


class RoutingUnitOfWork(UnitOfWork):
    """One transaction; `facilities`, `routed`, `rollup` and `cancellations` work on its
    connection."""

    def bind(self, conn: asyncpg.Connection) -> None:
        self.facilities, self.routed, self.rollup = Facilities(conn), Routed(conn), Rollup(conn)
        self.cancellations = Cancellations(conn)
