"""The licence ledger in PostgreSQL: one unit of work (a transaction) with a small repository
per table. The flow that calls them is service.py; every statement here does one thing.

Lock order, the same in every transaction: licence rows (sorted by number) first, then decision
rows (sorted by key). A licence's `drawn_kg` only ever moves while its row is locked, and
`remaining_kg` is always GREATEST(max_quantity_kg - drawn_kg, 0)."""

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import asyncpg

from mintrace_common import registry
from mintrace_common.models import LicenceEvent
from mintrace_common.refusals import Refusal
from mintrace_common.uow import UnitOfWork

from .matching import Change, Key, LicenceState, Outcome, Restoration, Use

_KEYS = "unnest($1::text[], $2::text[]) AS u(p, r)"


def _split(keys: Iterable[Key]) -> tuple[list[str], list[str]]:
    keys = list(keys)
    return [k[0] for k in keys], [k[1] for k in keys]


def _party(p: dict) -> tuple[str, str]:
    return p.get("name", ""), p.get("country", "")


def _state(row: asyncpg.Record) -> LicenceState:
    return LicenceState(**{**dict(row), "materials": tuple(row["materials"]),
                           "consignee": _party(row["consignee"]),
                           "end_user": _party(row["end_user"])})


def _outcome(row: asyncpg.Record) -> tuple[Outcome, datetime]:
    used = tuple(((u["producer_id"], u["report_id"]), Decimal(u["quantity_kg"]))
                 for u in row["restored_used"] or ())
    return (Outcome(row["status"], row["licence_number"], tuple(row["reasons"]), row["quantity_kg"],
                    row["remaining_kg"], row["cancelled_at"], used), row["decided_at"])


def _decision_columns(rows: list[tuple[Key, Outcome]], now: datetime) -> list:
    """$1..$9 of the decision statements: keys, outcome columns, the time, restored quota used."""
    return [*_split(k for k, _ in rows), [o.status for _, o in rows],
            [o.licence_number for _, o in rows], [",".join(o.reasons) for _, o in rows],
            [o.quantity_kg for _, o in rows], [o.remaining_kg for _, o in rows], now,
            [_used(o) for _, o in rows]]


def _used(o: Outcome) -> str:
    return json.dumps([{"producer_id": k[0], "report_id": k[1], "quantity_kg": str(kg)}
                       for k, kg in o.restored_used])


class Licences:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock(self, numbers: list[str]) -> dict[str, LicenceState]:
        """The licences' rows, locked FOR UPDATE in number order; unknown numbers are absent."""
        rows = await self.conn.fetch(
            "SELECT licence_number, exporter_id, materials, remaining_kg, destination_country, "
            "valid_from, valid_to, status, consignee, end_user FROM licences "
            "WHERE licence_number = ANY($1) ORDER BY licence_number FOR UPDATE", sorted(numbers))
        return {row["licence_number"]: _state(row) for row in rows}

    async def draw(self, kg: dict[str, Decimal]) -> None:
        if kg:
            await self.conn.execute(
                "UPDATE licences l SET drawn_kg = l.drawn_kg + u.kg, "
                "remaining_kg = l.remaining_kg - u.kg, updated_at = now() "
                "FROM unnest($1::text[], $2::numeric[]) AS u(n, kg) "
                "WHERE l.licence_number = u.n", list(kg), list(kg.values()))

    async def restore(self, kg: dict[str, Decimal]) -> None:
        if kg:
            await self.conn.execute(
                "UPDATE licences l SET drawn_kg = l.drawn_kg - u.kg, remaining_kg = "
                "GREATEST(l.max_quantity_kg - (l.drawn_kg - u.kg), 0), updated_at = now() "
                "FROM unnest($1::text[], $2::numeric[]) AS u(n, kg) "
                "WHERE l.licence_number = u.n", list(kg), list(kg.values()))

    async def standing(self, number: str) -> tuple[str | None, datetime | None]:
        """(status, last_event_at) of a licence; (None, None) when it is unknown."""
        row = await self.conn.fetchrow("SELECT status, last_event_at FROM licences "
                                       "WHERE licence_number = $1", number)
        return (row["status"], row["last_event_at"]) if row is not None else (None, None)

    async def change(self, e: LicenceEvent, change: Change) -> None:
        source = f"licence.events:{e.event_id}"
        if change.upsert:
            await registry.upsert_licence(self.conn, e.licence, source, change=e.type)
        else:
            await registry.change_licence(self.conn, e.licence_number, source, e.type,
                                          status=change.status,
                                          max_quantity_kg=change.max_quantity_kg)
        await self.conn.execute("UPDATE licences SET last_event_at = GREATEST(last_event_at, $2) "
                                "WHERE licence_number = $1", e.licence_number, e.occurred_at)


class Restorations:
    """licence_restorations: quota cancellations gave back, and how much of it is unused."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def attach(self, licences: dict[str, LicenceState]) -> None:
        """Give each (locked) licence its unused restored quota, oldest first."""
        rows = await self.conn.fetch(
            "SELECT producer_id, report_id, licence_number, unused_kg FROM licence_restorations "
            "WHERE licence_number = ANY($1) AND unused_kg > 0 "
            "ORDER BY licence_number, restored_at, report_id", sorted(licences))
        for r in rows:
            licences[r["licence_number"]].restored.append(
                Restoration((r["producer_id"], r["report_id"]), r["unused_kg"]))

    async def add(self, restored: list[tuple[str, Key, Decimal, datetime]]) -> None:
        """(licence, cancelled report, kg given back, cancelled_at), once per report."""
        if restored:
            await self.conn.execute(
                "INSERT INTO licence_restorations (producer_id, report_id, licence_number, "
                "restored_kg, unused_kg, restored_at) SELECT p, r, n, kg, kg, at FROM unnest("
                "$1::text[], $2::text[], $3::text[], $4::numeric[], $5::timestamptz[]) "
                "AS u(p, r, n, kg, at) ON CONFLICT (producer_id, report_id) DO NOTHING",
                [k[0] for _, k, _, _ in restored], [k[1] for _, k, _, _ in restored],
                [n for n, _, _, _ in restored], [kg for _, _, kg, _ in restored],
                [at for _, _, _, at in restored])

    async def use(self, used: list[Use]) -> None:
        """Restored quota drawn again by matched exports is no longer unused."""
        total: dict[Key, Decimal] = defaultdict(Decimal)
        for key, kg in used:
            total[key] += kg
        if total:
            keys = sorted(total)
            await self.conn.execute(
                "UPDATE licence_restorations t SET unused_kg = t.unused_kg - u.kg "
                "FROM unnest($1::text[], $2::text[], $3::numeric[]) AS u(p, r, kg) "
                "WHERE t.producer_id = u.p AND t.report_id = u.r",
                *_split(keys), [total[k] for k in keys])


class Decisions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def existing(self, keys: list[Key]) -> dict[Key, tuple[Outcome, datetime]]:
        rows = await self.conn.fetch(
            f"SELECT d.* FROM licence_decisions d JOIN {_KEYS} "
            "ON d.producer_id = u.p AND d.report_id = u.r", *_split(keys))
        return {(d["producer_id"], d["report_id"]): _outcome(d) for d in rows}

    async def add(self, new: list[tuple[Key, Outcome]], now: datetime) -> None:
        """Insert decisions (in the order given: sort by key). Raises UniqueViolationError when
        another process decided one of them meanwhile."""
        if not new:
            return
        await self.conn.execute(
            "INSERT INTO licence_decisions (producer_id, report_id, status, licence_number, "
            "reasons, quantity_kg, remaining_kg, decided_at, restored_used) SELECT p, r, s, l, "
            "COALESCE(string_to_array(NULLIF(reasons, ''), ','), '{}'), q, rem, $8, used::jsonb "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::numeric[], $7::numeric[], $9::text[]) AS u(p, r, s, l, reasons, q, rem, used)",
            *_decision_columns(new, now))

    async def decide_awaiting(self, late: list[tuple[Key, Outcome]], now: datetime) -> int:
        """Decide reports whose cancellation came first (their awaiting placeholder rows, in
        the order given: sort by key), keeping the cancellation; a matched one has given its
        draw back. Returns how many placeholders were still awaiting (fewer: another process
        decided one meanwhile)."""
        if not late:
            return 0
        return len(await self.conn.fetch(
            "UPDATE licence_decisions d SET status = u.s, licence_number = u.l, "
            "reasons = COALESCE(string_to_array(NULLIF(u.reasons, ''), ','), '{}'), "
            "quantity_kg = u.q, remaining_kg = u.rem, decided_at = $8, "
            "restored_kg = CASE WHEN u.s = 'matched' THEN u.q ELSE 0 END, "
            "restored_used = u.used::jsonb "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
            "$6::numeric[], $7::numeric[], $9::text[]) AS u(p, r, s, l, reasons, q, rem, used) "
            "WHERE d.producer_id = u.p AND d.report_id = u.r AND d.status = 'refused' "
            "AND d.reasons = ARRAY[$10] RETURNING 1",
            *_decision_columns(late, now), Refusal.CANCELLED.value))

    async def matched_licences(self, keys: list[Key]) -> set[str]:
        """Licences drawn by the matched, not yet cancelled decisions of these reports."""
        rows = await self.conn.fetch(
            f"SELECT DISTINCT d.licence_number FROM licence_decisions d JOIN {_KEYS} "
            "ON d.producer_id = u.p AND d.report_id = u.r "
            "WHERE d.status = 'matched' AND d.cancelled_at IS NULL", *_split(keys))
        return {r["licence_number"] for r in rows}

    async def add_cancelled(self, first: dict[Key, datetime]) -> None:
        """An awaiting placeholder (refused, CANCELLED) for each report not decided yet: the
        report is decided when it arrives (decide_awaiting)."""
        keys = sorted(first)
        await self.conn.execute(
            "INSERT INTO licence_decisions (producer_id, report_id, status, reasons, decided_at, "
            "cancelled_at, restored_kg) SELECT p, r, 'refused', ARRAY[$4], c, c, 0 "
            "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(p, r, c) "
            "ON CONFLICT (producer_id, report_id) DO NOTHING",
            *_split(keys), [first[k] for k in keys], Refusal.CANCELLED.value)

    async def lock(self, keys: list[Key]) -> None:
        await self.conn.execute(
            f"SELECT 1 FROM licence_decisions d JOIN {_KEYS} ON d.producer_id = u.p "
            "AND d.report_id = u.r WHERE d.cancelled_at IS NULL "
            "ORDER BY d.producer_id, d.report_id FOR UPDATE OF d", *_split(keys))

    async def cancel(self, first: dict[Key, datetime]) -> list[tuple[Key, str | None, Decimal]]:
        """Mark the not yet cancelled decisions cancelled; returns (key, licence, restored_kg)
        of each: a matched one gives back its quantity."""
        keys = sorted(first)
        rows = await self.conn.fetch(
            "UPDATE licence_decisions d SET cancelled_at = u.c, restored_kg = CASE "
            "WHEN d.status = 'matched' THEN d.quantity_kg ELSE 0 END "
            "FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(p, r, c) "
            "WHERE d.producer_id = u.p AND d.report_id = u.r AND d.cancelled_at IS NULL "
            "RETURNING d.producer_id, d.report_id, d.licence_number, d.restored_kg",
            *_split(keys), [first[k] for k in keys])
        return [((r["producer_id"], r["report_id"]), r["licence_number"], r["restored_kg"])
                for r in rows]


class Events:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def seen(self, event_ids: list[str]) -> set[str]:
        rows = await self.conn.fetch("SELECT event_id FROM licence_events "
                                     "WHERE event_id = ANY($1)", event_ids)
        return {r["event_id"] for r in rows}

    async def record(self, events: list[tuple[LicenceEvent, str]]) -> None:
        if events:
            await self.conn.executemany(
                "INSERT INTO licence_events (event_id, licence_number, type, occurred_at, "
                "outcome) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                [(e.event_id, e.licence_number, e.type, e.occurred_at, o) for e, o in events])


class LedgerContention(asyncpg.exceptions.SerializationError):
    """Lost too many races in a row. Transient (a SerializationError): the batch is
    redelivered rather than dead-lettered."""


class Conflict(Exception):
    """Another process decided or cancelled one of these reports between our read and our
    write (its row won and is read back on the next attempt), or a deadlock aborted us."""


class LedgerUnitOfWork(UnitOfWork):
    """One transaction; `licences`, `restorations`, `decisions` and `events` work on its
    connection. Races
    with another process surface as `Conflict` on leaving the block."""

    Conflict = Conflict
    Contention = LedgerContention

    def bind(self, conn: asyncpg.Connection) -> None:
        self.licences, self.decisions, self.events = Licences(conn), Decisions(conn), Events(conn)
        self.restorations = Restorations(conn)

    async def __aexit__(self, kind, exc, tb) -> None:
        await super().__aexit__(kind, exc, tb)
        if isinstance(exc, (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError)):
            raise Conflict(type(exc).__name__) from exc
