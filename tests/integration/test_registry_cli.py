"""`mintrace registry load` against a real database: SPEC §6 lists, unknown keys refused."""

import asyncio
import json

import asyncpg
import pytest
from typer.testing import CliRunner

from mintrace import devstack
from mintrace.cli import app


@pytest.fixture(scope="module")
def database(pg_server_url):
    url = asyncio.run(devstack.scratch_database(pg_server_url, "mintrace_registry_cli"))
    yield url
    asyncio.run(devstack.drop_database(url))


def load(url: str, tmp_path, doc: dict):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(doc))
    return CliRunner().invoke(app, ["registry", "load", str(path)], env={"DATABASE_URL": url})


def rows(url: str, query: str) -> list[tuple]:
    async def go():
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()
    return asyncio.run(go())


def test_fx_rates_and_opening_stocks_are_upserted(database, tmp_path):
    doc = {"fx_rates": [{"currency": "MNT", "usd_per_unit": 0.00029, "as_of": "2026-11-01"},
                        {"currency": "ISK", "usd_per_unit": "0.0072"}],
           "opening_stocks": [{"facility_id": "CLI-TRD-01", "material": "Dy",
                               "quantity_kg": 1200.0, "as_of": "2026-06-01"}]}
    result = load(database, tmp_path, doc)
    assert result.exit_code == 0, result.output
    assert "fx_rates=2" in result.output and "opening_stocks=1" in result.output
    doc["fx_rates"][0]["usd_per_unit"] = 0.0003  # a new rate replaces the old one
    assert load(database, tmp_path, doc).exit_code == 0
    assert rows(database, "SELECT currency, usd_per_unit::text, as_of::text FROM fx_rates "
                          "WHERE currency IN ('MNT', 'ISK') ORDER BY currency") == [
        ("ISK", "0.0072", None), ("MNT", "0.0003", "2026-11-01")]
    assert rows(database, "SELECT material, quantity_kg::float FROM opening_stocks "
                          "WHERE facility_id = 'CLI-TRD-01'") == [("Dy", 1200.0)]


def test_an_unknown_top_level_key_is_refused_naming_it_and_nothing_is_loaded(database, tmp_path):
    doc = {"fx_rates": [{"currency": "XAF", "usd_per_unit": 0.0016}],
           "opening_stock": [{"facility_id": "CLI-TRD-02", "material": "Tb", "quantity_kg": 5}]}
    result = load(database, tmp_path, doc)
    assert result.exit_code != 0
    assert "'opening_stock'" in result.output and "did you mean 'opening_stocks'" in result.output
    assert rows(database, "SELECT * FROM fx_rates WHERE currency = 'XAF'") == []


def test_an_invalid_rate_is_refused(database, tmp_path):
    result = load(database, tmp_path, {"fx_rates": [{"currency": "eur", "usd_per_unit": -1}]})
    assert result.exit_code != 0 and "fx_rates" in result.output
