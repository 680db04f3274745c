"""`mintrace licences audit|history|publish-events` against a real database."""

import asyncio
import json

import asyncpg
import pytest
from typer.testing import CliRunner

from mintrace import demo, devstack
from mintrace.cli import app


@pytest.fixture(scope="module")
def database(pg_server_url):
    url = asyncio.run(devstack.scratch_database(pg_server_url, "mintrace_ledger_cli"))
    yield url
    asyncio.run(devstack.drop_database(url))


def run(url: str, *args: str):
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": url})


def sql(url: str, query: str) -> None:
    async def go():
        conn = await asyncpg.connect(url)
        await conn.execute(query)
        await conn.close()
    asyncio.run(go())


def test_audit_lists_every_licence_and_exits_1_when_one_disagrees(database):
    result = run(database, "licences", "audit", "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(demo.registry().licences) and all(r["agrees"] for r in rows)
    dy = demo.licence_number(0, "Dy")
    sql(database, f"UPDATE licences SET remaining_kg = 1 WHERE licence_number = '{dy}'")
    result = run(database, "licences", "audit")
    assert result.exit_code == 1 and dy in result.output


def test_history_shows_each_change_of_a_licence(database):
    result = run(database, "licences", "history", demo.licence_number(1, "Tb"))
    assert result.exit_code == 0, result.output
    [entry] = [json.loads(line) for line in result.stdout.splitlines()]
    assert entry["change"] == "upsert" and entry["snapshot"]["max_quantity_kg"] == 20000
    assert run(database, "licences", "history", "NOPE").exit_code == 2


def test_publish_events_refuses_a_file_that_is_not_events(tmp_path, database):
    bad = tmp_path / "events.json"
    bad.write_text('[{"event_id": "x"}]')
    result = run(database, "licences", "publish-events", str(bad))
    assert result.exit_code == 2 and "licence events" in result.output
