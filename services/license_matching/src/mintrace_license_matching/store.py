"""The licence ledger: one transaction per batch, licence rows locked in a fixed order so that
any number of matching processes never oversell, and one decision per report ever."""

from datetime import datetime

import asyncpg

from mintrace_common.models import ValidatedReport

from .matching import LicenceState, Outcome, decide, requires_licence


async def apply(pool: asyncpg.Pool, batch: list[ValidatedReport],
                now: datetime) -> list[tuple[ValidatedReport, Outcome, datetime]]:
    """Decide every report of the batch exactly once. A report decided before (a redelivery)
    gets its original decision back and draws nothing."""
    keys = [(r.producer_id, r.report_id) for r in batch]
    async with pool.acquire() as conn, conn.transaction():
        numbers = sorted({r.report.export.licence_number for r in batch
                          if requires_licence(r) and r.report.export
                          and r.report.export.licence_number})
        rows = await conn.fetch(
            "SELECT licence_number, exporter_id, materials, remaining_kg, destination_country, "
            "valid_from, valid_to, status FROM licences WHERE licence_number = ANY($1) "
            "ORDER BY licence_number FOR UPDATE", numbers)
        licences = {r["licence_number"]: LicenceState(**{**dict(r), "materials": tuple(r["materials"])})
                    for r in rows}
        done = {(r["producer_id"], r["report_id"]): r for r in await conn.fetch(
            "SELECT * FROM licence_decisions WHERE (producer_id, report_id) IN "
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            [k[0] for k in keys], [k[1] for k in keys])}
        decided: dict[tuple[str, str], tuple[Outcome, datetime]] = {
            k: (Outcome(d["status"], d["licence_number"], tuple(d["reasons"]), d["quantity_kg"],
                        d["remaining_kg"]), d["decided_at"]) for k, d in done.items()}
        new: list[tuple[ValidatedReport, Outcome]] = []
        for report in batch:
            key = (report.producer_id, report.report_id)
            if key in decided:  # decided before, or earlier in this batch
                continue
            number = report.report.export.licence_number if report.report.export else None
            outcome = decide(report, licences.get(number) if number else None)
            decided[key] = (outcome, now)
            new.append((report, outcome))
        if new:
            await conn.execute(
                "INSERT INTO licence_decisions (producer_id, report_id, status, licence_number, "
                "reasons, quantity_kg, remaining_kg, decided_at) SELECT p, r, s, l, "
                "COALESCE(string_to_array(NULLIF(reasons, ''), ','), '{}'), q, rem, $8 FROM unnest($1::text[], "
                "$2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[], $7::numeric[]) "
                "AS u(p, r, s, l, reasons, q, rem)",
                [r.producer_id for r, _ in new], [r.report_id for r, _ in new],
                [o.status for _, o in new], [o.licence_number for _, o in new],
                [",".join(o.reasons) for _, o in new], [o.quantity_kg for _, o in new],
                [o.remaining_kg for _, o in new], now)
            drawn = {n: s.remaining_kg for n, s in licences.items()}
            if drawn:
                await conn.execute(
                    "UPDATE licences l SET remaining_kg = u.rem, updated_at = now() FROM "
                    "unnest($1::text[], $2::numeric[]) AS u(n, rem) WHERE l.licence_number = u.n "
                    "AND l.remaining_kg <> u.rem", list(drawn), list(drawn.values()))
    return [(r, *decided[(r.producer_id, r.report_id)]) for r in batch]
