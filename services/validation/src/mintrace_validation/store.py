from collections.abc import Iterable

import asyncpg

from .rules import RegistryView


async def registry_view(pool: asyncpg.Pool, producer_ids: Iterable[str],
                        facility_ids: Iterable[str]) -> RegistryView:
    """The registry entries one batch refers to, read in one round trip each."""
    async with pool.acquire() as conn:
        producers = await conn.fetch("SELECT producer_id FROM producers WHERE producer_id = ANY($1)",
                                     list(set(producer_ids)))
        facilities = await conn.fetch(
            "SELECT facility_id, producer_id, stages FROM facilities WHERE facility_id = ANY($1)",
            list(set(facility_ids)))
    return RegistryView(
        producers=frozenset(r["producer_id"] for r in producers),
        facilities={r["facility_id"]: (r["producer_id"], tuple(r["stages"])) for r in facilities})
