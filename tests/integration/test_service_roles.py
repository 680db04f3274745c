"""Each service runs as a database role of its own (migration 0015_service_roles) with only the
privileges it needs: checked on a real PostgreSQL server, through the pool the services use."""

import asyncio

import asyncpg
import pytest

from mintrace import devstack
from mintrace_common import db

SERVICES = list(devstack.SERVICES)
MIGRATOR_ONLY = {"schema_migrations"}


@pytest.fixture(scope="module")
async def url(pg_server_url):
    url = await devstack.scratch_database(pg_server_url, "mintrace_roles")
    yield url
    await devstack.drop_database(url)


@pytest.fixture
async def as_service(url):
    pools: list = []

    async def connect(service: str):
        pool = await db.create_pool(url, 1, 2, role=db.service_role(service))
        pools.append(pool)
        return pool

    yield connect
    for pool in pools:
        await pool.close()


async def test_every_table_the_migrations_create_is_granted_to_a_service(url):
    conn = await db.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, array_agg(r.role) FILTER (WHERE has_table_privilege(r.role, "
            "c.oid, 'SELECT,INSERT,UPDATE,DELETE')) AS roles FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN unnest($1::text[]) "
            "AS r(role) WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
            "GROUP BY c.relname ORDER BY c.relname", [db.service_role(s) for s in SERVICES])
    finally:
        await conn.close()
    tables = {r["relname"]: r["roles"] for r in rows}
    assert "validation_verdicts" in tables and "licences" in tables
    ungranted = sorted(t for t, roles in tables.items() if not roles and t not in MIGRATOR_ONLY)
    assert not ungranted, f"tables no service role may use: {ungranted}"


async def test_every_service_connects_as_its_own_role(as_service):
    for service in SERVICES:
        pool = await as_service(service)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == db.service_role(service)
            await conn.execute("RESET ROLE")     # the session's role, not the login user's
            assert await conn.fetchval("SELECT current_user") == db.service_role(service)


async def test_intake_cannot_update_or_read_licences(as_service):
    pool = await as_service("intake")
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE licences SET remaining_kg = 1e9")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM licences")
        assert await conn.fetchval("SELECT count(*) FROM reports") == 0   # its own table


async def test_supervision_reads_but_cannot_write_reports_and_works_its_own_cases(as_service):
    pool = await as_service("supervision")
    async with pool.acquire() as conn:
        for write in ("INSERT INTO reports (producer_id, report_id, content_hash, received_at) "
                      "VALUES ('p', 'r', 'h', now())",
                      "UPDATE routed_reports SET published = false",
                      "DELETE FROM alerts", "UPDATE licences SET remaining_kg = 0"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(write)
        await conn.fetch("SELECT record FROM routed_reports LIMIT 1")
        tx = conn.transaction()
        await tx.start()
        await conn.execute("INSERT INTO cases (alert_id, status) VALUES ('a-roles', 'open')")
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE alert_id = 'a-roles'") == 1
        await tx.rollback()


async def test_the_pipeline_services_write_only_their_own_tables(as_service):
    checks = {"validation": "UPDATE facilities SET stages = '{}'",
              "license-matching": "DELETE FROM reports",
              "provincial-routing": "UPDATE licences SET status = 'revoked'",
              "alerting": "UPDATE routed_reports SET record = NULL"}
    for service, write in checks.items():
        pool = await as_service(service)
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(write)


async def test_databases_migrated_at_once_on_one_server_all_get_the_roles(pg_server_url):
    urls = [db.with_database(pg_server_url, f"mintrace_roles_race_{i}_{id(object())}")
            for i in range(3)]
    try:
        await asyncio.gather(*(db.migrate(u) for u in urls))
        for u in urls:
            pool = await db.create_pool(u, 1, 1, role=db.service_role("validation"))
            try:
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT count(*) FROM validation_verdicts") == 0
            finally:
                await pool.close()
    finally:
        for u in urls:
            await devstack.drop_database(u)
