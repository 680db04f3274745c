"""The runbooks use commands that exist, and the audit repair they prescribe repairs."""

import asyncio
import re
from pathlib import Path

import asyncpg
from typer.testing import CliRunner

from mintrace import demo, devstack
from mintrace.cli import app

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"


def test_every_mintrace_command_in_the_runbooks_exists():
    text = " ".join(p.read_text() for p in RUNBOOKS.glob("*.md"))
    used = set(re.findall(r"`mintrace ((?:[a-z-]+ ?){1,2})", text))
    assert len(used) >= 8
    for command in used:
        words = command.split()
        result = CliRunner().invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"mintrace {command}: {result.output[-300:]}"


def test_the_audit_repair_sql_makes_every_licence_agree_and_records_it(pg_server_url):
    async def go():
        url = await devstack.scratch_database(pg_server_url, "mintrace_runbook")
        conn = await asyncpg.connect(url)
        try:
            dy = demo.licence_number(0, "Dy")
            await conn.execute("UPDATE licences SET remaining_kg = 1 WHERE licence_number = $1", dy)
            assert await conn.fetchval("SELECT count(*) FROM licence_balances WHERE NOT agrees") == 1
            doc = (RUNBOOKS / "licence-audit-mismatch.md").read_text()
            block = re.search(r"```sql\n(\s*)BEGIN;.*?```", doc, re.S)
            sql = "\n".join(line[len(block[1]):] for line in block[0].splitlines()[1:-1])
            await conn.execute(sql)
            assert await conn.fetchval("SELECT count(*) FROM licence_balances WHERE NOT agrees") == 0
            assert await conn.fetch("SELECT licence_number FROM licence_history WHERE "
                                    "change = 'audit-repair'") == [(dy,)]
        finally:
            await conn.close()
            await devstack.drop_database(url)

    asyncio.run(go())
