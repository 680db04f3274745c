"""A fresh migrated PostgreSQL database (demo registry loaded) per test module, for the store."""

import asyncio
import os
import secrets

import asyncpg
import pytest

from mintrace import devstack
from mintrace_common import db


def _server() -> str:
    url = os.environ.get("DATABASE_URL")
    return url.rsplit("/", 1)[0] + "/postgres" if url else \
        "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def alerting_db_url():
    server = _server()
    host, port = "127.0.0.1", 5432
    if not os.environ.get("DATABASE_URL") and not devstack.port_open(host, port):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 and no DATABASE_URL")
    name = f"mintrace_alerting_{os.getpid()}_{secrets.token_hex(3)}"
    url = server.rsplit("/", 1)[0] + "/" + name
    asyncio.run(devstack.prepare_database(url))
    yield url

    async def drop():
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture
async def pool(alerting_db_url):
    p = await db.create_pool(alerting_db_url, 1, 4)
    async with p.acquire() as conn:
        await conn.execute("TRUNCATE alert_facts, pending_transfers, split_episodes, "
                           "mass_balance_state, sweep_watermarks, alerts")
    yield p
    await p.close()
