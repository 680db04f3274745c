"""Loading the registry document (SPEC §3): an idempotent upsert of every list."""

from .models import RegistryDocument

_LICENCE_UPSERT = """
INSERT INTO licences AS l (licence_number, exporter_id, materials, max_quantity_kg, remaining_kg,
    destination_country, consignee, end_user, valid_from, valid_to, status)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (licence_number) DO UPDATE SET
    exporter_id = EXCLUDED.exporter_id, materials = EXCLUDED.materials,
    remaining_kg = EXCLUDED.max_quantity_kg - (l.max_quantity_kg - l.remaining_kg),
    max_quantity_kg = EXCLUDED.max_quantity_kg,
    destination_country = EXCLUDED.destination_country, consignee = EXCLUDED.consignee,
    end_user = EXCLUDED.end_user, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
    status = EXCLUDED.status, version = l.version + 1, updated_at = now()
WHERE (l.exporter_id, l.materials, l.max_quantity_kg, l.destination_country, l.consignee,
       l.end_user, l.valid_from, l.valid_to, l.status)
   IS DISTINCT FROM (EXCLUDED.exporter_id, EXCLUDED.materials, EXCLUDED.max_quantity_kg,
       EXCLUDED.destination_country, EXCLUDED.consignee, EXCLUDED.end_user, EXCLUDED.valid_from,
       EXCLUDED.valid_to, EXCLUDED.status)
RETURNING licence_number
"""


async def load(conn, doc: RegistryDocument, source: str = "registry-load") -> dict[str, int]:
    """Upsert every entry of `doc` in one transaction. Returns counts per list."""
    async with conn.transaction():
        if doc.producers:
            await conn.executemany(
                "INSERT INTO producers (producer_id, name) VALUES ($1, $2) ON CONFLICT (producer_id) "
                "DO UPDATE SET name = EXCLUDED.name, updated_at = now()",
                [(p.producer_id, p.name) for p in doc.producers])
        if doc.facilities:
            await conn.executemany(
                "INSERT INTO facilities (facility_id, producer_id, province_code, stages) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (facility_id) DO UPDATE SET "
                "producer_id = EXCLUDED.producer_id, province_code = EXCLUDED.province_code, "
                "stages = EXCLUDED.stages, updated_at = now()",
                [(f.facility_id, f.producer_id, f.province_code, list(f.stages))
                 for f in doc.facilities])
        changed: list[str] = []
        if doc.licences:
            for x in doc.licences:
                if await conn.fetchval(
                        _LICENCE_UPSERT, x.licence_number, x.exporter_id, list(x.materials),
                        x.max_quantity_kg, x.destination_country, x.consignee.model_dump(),
                        x.end_user.model_dump(), x.valid_from, x.valid_to, x.status):
                    changed.append(x.licence_number)
            by_number = {x.licence_number: x for x in doc.licences}
            await conn.executemany(
                "INSERT INTO licence_history (licence_number, change, snapshot, source) "
                "VALUES ($1, 'upsert', $2, $3)",
                [(n, by_number[n].model_dump(mode="json"), source) for n in changed])
        if doc.watchlist:
            await conn.executemany(
                "INSERT INTO watchlist (name, country, aliases, reason) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (name, country) DO UPDATE SET aliases = EXCLUDED.aliases, "
                "reason = EXCLUDED.reason",
                [(w.name, w.country or "", list(w.aliases), w.reason) for w in doc.watchlist])
        if doc.reference_prices:
            await conn.executemany(
                "INSERT INTO reference_prices (material, form, usd_per_kg) VALUES ($1, $2, $3) "
                "ON CONFLICT (material, form) DO UPDATE SET usd_per_kg = EXCLUDED.usd_per_kg",
                [(r.material, r.form, r.usd_per_kg) for r in doc.reference_prices])
    return {"producers": len(doc.producers), "facilities": len(doc.facilities),
            "licences": len(doc.licences), "licences_changed": len(changed),
            "watchlist": len(doc.watchlist), "reference_prices": len(doc.reference_prices)}
