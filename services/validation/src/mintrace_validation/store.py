"""What validation reads (the registry entries of a batch) and keeps (the first verdict on each
report), on the unit of work's connection."""

import json
from collections.abc import Iterable

import asyncpg

from mintrace_common.models import Problem
from mintrace_common.uow import UnitOfWork

from .rules import Key, RegistryView, Verdict


class Registry:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def view(self, producer_ids: Iterable[str], facility_ids: Iterable[str]
                   ) -> RegistryView:
        """The registry entries one batch refers to, read in one round trip each."""
        producers = await self.conn.fetch(
            "SELECT producer_id FROM producers WHERE producer_id = ANY($1)", list(producer_ids))
        facilities = await self.conn.fetch(
            "SELECT facility_id, producer_id, stages FROM facilities WHERE facility_id = ANY($1)",
            list(facility_ids))
        return RegistryView(
            producers=frozenset(r["producer_id"] for r in producers),
            facilities={r["facility_id"]: (r["producer_id"], tuple(r["stages"]))
                        for r in facilities})


class Verdicts:
    """validation_verdicts: one row per report, written once."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def existing(self, keys: list[Key]) -> dict[Key, Verdict]:
        if not keys:
            return {}
        rows = await self.conn.fetch(
            "SELECT v.producer_id, v.report_id, v.problems, v.warnings, v.decided_at "
            "FROM validation_verdicts v JOIN unnest($1::text[], $2::text[]) AS k(p, r) "
            "ON (v.producer_id, v.report_id) = (k.p, k.r)",
            [p for p, _ in keys], [r for _, r in keys])
        return {(r["producer_id"], r["report_id"]): Verdict(
            [Problem(**p) for p in r["problems"]], [Problem(**w) for w in r["warnings"]],
            r["decided_at"]) for r in rows}

    async def add(self, verdicts: dict[Key, Verdict]) -> set[Key]:
        """Store the verdicts no other process stored first; returns the keys stored."""
        if not verdicts:
            return set()
        keys = list(verdicts)
        rows = await self.conn.fetch(
            "INSERT INTO validation_verdicts (producer_id, report_id, problems, warnings, "
            "decided_at) SELECT p, r, pr::jsonb, w::jsonb, at FROM unnest($1::text[], "
            "$2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS t(p, r, pr, w, at) "
            "ON CONFLICT DO NOTHING RETURNING producer_id, report_id",
            [p for p, _ in keys], [r for _, r in keys],
            [_json(verdicts[k].problems) for k in keys],
            [_json(verdicts[k].warnings) for k in keys], [verdicts[k].at for k in keys])
        return {(r["producer_id"], r["report_id"]) for r in rows}


class ValidationUnitOfWork(UnitOfWork):
    def bind(self, conn: asyncpg.Connection) -> None:
        self.registry = Registry(conn)
        self.verdicts = Verdicts(conn)


def _json(problems: list[Problem]) -> str:
    return json.dumps([p.model_dump(mode="json") for p in problems])
