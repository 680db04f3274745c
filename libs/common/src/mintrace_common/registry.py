"""Loading the registry document (SPEC §3, §6): an idempotent upsert of every list."""

import difflib
import json
from collections.abc import Callable
from decimal import Decimal

from pydantic import ValidationError

from .models import Licence, RegistryDocument


class RegistryError(ValueError):
    """The document cannot be loaded; the message names every problem."""


def parse(text: str) -> RegistryDocument:
    """The registry document in `text`. Raises RegistryError naming unknown top-level lists
    (with the known list each most likely meant) and every invalid entry."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RegistryError("a registry document is a JSON object of lists")
    known = list(RegistryDocument.model_fields)
    unknown = [k for k in raw if k not in known]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RegistryError(f"unknown top-level key(s): {', '.join(hints)}; "
                            f"known: {', '.join(known)}")
    try:
        return RegistryDocument.model_validate(raw)
    except ValidationError as exc:
        raise RegistryError(str(exc)) from None

# A licence's terms are upserted; what exports have drawn of it (drawn_kg) is the ledger's and
# survives any change of terms. The balance follows the maximum: remaining = new max - drawn,
# floored at 0 when the new maximum is below what is already drawn (the matched exports stand,
# nothing more can be drawn until cancellations bring drawn_kg under the maximum again).
_LICENCE_UPSERT = """
INSERT INTO licences AS l (licence_number, exporter_id, materials, max_quantity_kg, remaining_kg,
    destination_country, consignee, end_user, valid_from, valid_to, status)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (licence_number) DO UPDATE SET
    exporter_id = EXCLUDED.exporter_id, materials = EXCLUDED.materials,
    remaining_kg = GREATEST(EXCLUDED.max_quantity_kg - l.drawn_kg, 0),
    max_quantity_kg = EXCLUDED.max_quantity_kg,
    destination_country = EXCLUDED.destination_country, consignee = EXCLUDED.consignee,
    end_user = EXCLUDED.end_user, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
    status = EXCLUDED.status, version = l.version + 1, updated_at = now()
WHERE (l.exporter_id, l.materials, l.max_quantity_kg, l.destination_country, l.consignee,
       l.end_user, l.valid_from, l.valid_to, l.status)
   IS DISTINCT FROM (EXCLUDED.exporter_id, EXCLUDED.materials, EXCLUDED.max_quantity_kg,
       EXCLUDED.destination_country, EXCLUDED.consignee, EXCLUDED.end_user, EXCLUDED.valid_from,
       EXCLUDED.valid_to, EXCLUDED.status)
RETURNING to_jsonb(l.*) AS snapshot
"""

_LICENCE_CHANGE = """
UPDATE licences AS l SET status = COALESCE($2, l.status),
    max_quantity_kg = COALESCE($3, l.max_quantity_kg),
    remaining_kg = GREATEST(COALESCE($3, l.max_quantity_kg) - l.drawn_kg, 0),
    version = l.version + 1, updated_at = now()
WHERE l.licence_number = $1 AND (l.status, l.max_quantity_kg)
      IS DISTINCT FROM (COALESCE($2, l.status), COALESCE($3, l.max_quantity_kg))
RETURNING to_jsonb(l.*) AS snapshot
"""


async def _history(conn, licence_number: str, change: str, snapshot: dict, source: str) -> None:
    await conn.execute("INSERT INTO licence_history (licence_number, change, snapshot, source) "
                       "VALUES ($1, $2, $3, $4)", licence_number, change, snapshot, source)


async def upsert_licence(conn, x: Licence, source: str, change: str = "upsert") -> bool:
    """Insert or update one licence's terms, keeping what is drawn; a change is written to
    licence_history with the row as it now stands. Returns whether anything changed."""
    snapshot = await conn.fetchval(
        _LICENCE_UPSERT, x.licence_number, x.exporter_id, list(x.materials), x.max_quantity_kg,
        x.destination_country, x.consignee.model_dump(), x.end_user.model_dump(), x.valid_from,
        x.valid_to, x.status)
    if snapshot is not None:
        await _history(conn, x.licence_number, change, snapshot, source)
    return snapshot is not None


async def change_licence(conn, licence_number: str, source: str, change: str, *,
                         status: str | None = None, max_quantity_kg: Decimal | None = None) -> bool:
    """Change a licence's status and/or maximum (balance re-derived as in upsert_licence),
    with its history. Returns whether anything changed."""
    snapshot = await conn.fetchval(_LICENCE_CHANGE, licence_number, status, max_quantity_kg)
    if snapshot is not None:
        await _history(conn, licence_number, change, snapshot, source)
    return snapshot is not None


async def load(conn, doc: RegistryDocument, source: str = "registry-load",
               progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Upsert every entry of `doc` in one transaction. Returns counts per list; `progress(list,
    n)` is called as each list is written (a progress bar's feed)."""
    done = progress or (lambda _name, _n: None)
    async with conn.transaction():
        if doc.producers:
            await conn.executemany(
                "INSERT INTO producers (producer_id, name) VALUES ($1, $2) ON CONFLICT (producer_id) "
                "DO UPDATE SET name = EXCLUDED.name, updated_at = now()",
                [(p.producer_id, p.name) for p in doc.producers])
        done("producers", len(doc.producers))
        if doc.facilities:
            await conn.executemany(
                "INSERT INTO facilities (facility_id, producer_id, province_code, stages) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (facility_id) DO UPDATE SET "
                "producer_id = EXCLUDED.producer_id, province_code = EXCLUDED.province_code, "
                "stages = EXCLUDED.stages, updated_at = now()",
                [(f.facility_id, f.producer_id, f.province_code, list(f.stages))
                 for f in doc.facilities])
        done("facilities", len(doc.facilities))
        # Sorted: the ledger locks licence rows in this order too, so a load never deadlocks it.
        changed = [x.licence_number for x in sorted(doc.licences, key=lambda x: x.licence_number)
                   if await upsert_licence(conn, x, source)]
        done("licences", len(doc.licences))
        if doc.watchlist:
            await conn.executemany(
                "INSERT INTO watchlist (name, country, aliases, reason) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (name, country) DO UPDATE SET aliases = EXCLUDED.aliases, "
                "reason = EXCLUDED.reason",
                [(w.name, w.country or "", list(w.aliases), w.reason) for w in doc.watchlist])
        done("watchlist", len(doc.watchlist))
        if doc.reference_prices:
            await conn.executemany(
                "INSERT INTO reference_prices (material, form, usd_per_kg) VALUES ($1, $2, $3) "
                "ON CONFLICT (material, form) DO UPDATE SET usd_per_kg = EXCLUDED.usd_per_kg",
                [(r.material, r.form, r.usd_per_kg) for r in doc.reference_prices])
        if doc.fx_rates:
            await conn.executemany(
                "INSERT INTO fx_rates (currency, usd_per_unit, as_of) VALUES ($1, $2, $3) "
                "ON CONFLICT (currency) DO UPDATE SET usd_per_unit = EXCLUDED.usd_per_unit, "
                "as_of = EXCLUDED.as_of, updated_at = now()",
                [(r.currency, r.usd_per_unit, r.as_of) for r in doc.fx_rates])
        if doc.opening_stocks:
            await conn.executemany(
                "INSERT INTO opening_stocks (facility_id, material, quantity_kg, as_of) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (facility_id, material) DO UPDATE SET "
                "quantity_kg = EXCLUDED.quantity_kg, as_of = EXCLUDED.as_of, updated_at = now()",
                [(s.facility_id, s.material, s.quantity_kg, s.as_of)
                 for s in doc.opening_stocks])
        done("reference_prices", len(doc.reference_prices))
        done("fx_rates", len(doc.fx_rates))
        done("opening_stocks", len(doc.opening_stocks))
    return {"producers": len(doc.producers), "facilities": len(doc.facilities),
            "licences": len(doc.licences), "licences_changed": len(changed),
            "watchlist": len(doc.watchlist), "reference_prices": len(doc.reference_prices),
            "fx_rates": len(doc.fx_rates), "opening_stocks": len(doc.opening_stocks)}
