"""Loading the registry document (SPEC §3, §6): an idempotent upsert of every list."""

import difflib
import json
from collections.abc import Callable
from typing import Any
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


def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...],
                touch: bool) -> str:
    """INSERT … ON CONFLICT (key) DO UPDATE of every other column (and updated_at if `touch`)."""
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = [f"{c} = EXCLUDED.{c}" for c in columns if c not in key]
    updates += ["updated_at = now()"] if touch else []
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}")


# list of the document -> (table, columns, conflict key, has updated_at, row of an entry);
# licences are not here: each change is also written to their history.
_LISTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], bool, Callable[[Any], tuple]]] = {
    "producers": ("producers", ("producer_id", "name"), ("producer_id",), True,
                  lambda p: (p.producer_id, p.name)),
    "facilities": ("facilities", ("facility_id", "producer_id", "province_code", "stages"),
                   ("facility_id",), True,
                   lambda f: (f.facility_id, f.producer_id, f.province_code, list(f.stages))),
    "watchlist": ("watchlist", ("name", "country", "aliases", "reason"), ("name", "country"),
                  False, lambda w: (w.name, w.country or "", list(w.aliases), w.reason)),
    "reference_prices": ("reference_prices", ("material", "form", "usd_per_kg"),
                         ("material", "form"), False,
                         lambda r: (r.material, r.form, r.usd_per_kg)),
    "fx_rates": ("fx_rates", ("currency", "usd_per_unit", "as_of"), ("currency",), True,
                 lambda r: (r.currency, r.usd_per_unit, r.as_of)),
    "opening_stocks": ("opening_stocks", ("facility_id", "material", "quantity_kg", "as_of"),
                       ("facility_id", "material"), True,
                       lambda s: (s.facility_id, s.material, s.quantity_kg, s.as_of)),
}


async def load(conn, doc: RegistryDocument, source: str = "registry-load",
               progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Upsert every entry of `doc` in one transaction. Returns counts per list; `progress(list,
    n)` is called as each list is written (a progress bar's feed)."""
    done = progress or (lambda _name, _n: None)

    async def upsert(name: str) -> None:
        table, columns, key, touch, row = _LISTS[name]
        entries = getattr(doc, name)
        if entries:
            await conn.executemany(_upsert_sql(table, columns, key, touch),
                                   [row(e) for e in entries])
        done(name, len(entries))

    async with conn.transaction():
        for name in ("producers", "facilities"):
            await upsert(name)
        # Sorted: the ledger locks licence rows in this order too, so a load never deadlocks it.
        changed = [x.licence_number for x in sorted(doc.licences, key=lambda x: x.licence_number)
                   if await upsert_licence(conn, x, source)]
        done("licences", len(doc.licences))
        for name in ("watchlist", "reference_prices", "fx_rates", "opening_stocks"):
            await upsert(name)
    return {"producers": len(doc.producers), "facilities": len(doc.facilities),
            "licences": len(doc.licences), "licences_changed": len(changed),
            "watchlist": len(doc.watchlist), "reference_prices": len(doc.reference_prices),
            "fx_rates": len(doc.fx_rates), "opening_stocks": len(doc.opening_stocks)}
