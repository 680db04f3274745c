"""The asyncpg pool and versioned SQL migrations (migrations/NNNN_name.sql, applied in order)."""

import json
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

MIGRATION_LOCK = 7_301_552  # advisory lock id: one migrator at a time


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@dataclass(frozen=True)
class Limits:
    """Server-side timeouts set on every pooled connection (ms; 0 = none), and how long to wait
    for a pooled connection (s) before that counts as a transient failure."""

    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 10_000
    idle_in_transaction_timeout_ms: int = 30_000
    acquire_timeout_s: float = 10.0

    @classmethod
    def of(cls, settings) -> "Limits":
        return cls(settings.db_statement_timeout_ms, settings.db_lock_timeout_ms,
                   settings.db_idle_in_transaction_timeout_ms, settings.db_acquire_timeout_s)

    def server_settings(self) -> dict[str, str]:
        return {"statement_timeout": str(self.statement_timeout_ms),
                "lock_timeout": str(self.lock_timeout_ms),
                "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms)}


class Pool:
    """An asyncpg pool whose `acquire()` never waits longer than the limit (asyncio.TimeoutError,
    transient); everything else is the asyncpg pool's."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout_s: float) -> None:
        self._pool, self._timeout = pool, acquire_timeout_s

    def acquire(self, *, timeout: float | None = None):
        return self._pool.acquire(timeout=timeout or self._timeout)

    def __getattr__(self, name: str):
        return getattr(self._pool, name)


def service_role(service: str) -> str:
    """The database role a service runs as (migration 0015_service_roles creates them)."""
    return "mintrace_" + service.replace("-", "_")


async def create_pool(url: str, min_size: int = 1, max_size: int = 8,
                      limits: Limits = Limits(), role: str | None = None) -> Pool:
    """`role`: every connection acts as that role (set when the connection opens, so it is the
    session's default: `RESET ROLE` or the pool's reset on release come back to it, never to
    the login user's own privileges). The login user must be a member of it."""
    settings = limits.server_settings() | ({"role": role} if role else {})
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size,
                                     init=_init_connection, command_timeout=60,
                                     server_settings=settings)
    return Pool(pool, limits.acquire_timeout_s)


async def connect(url: str, timeout: float = 60.0) -> asyncpg.Connection:
    conn = await asyncpg.connect(url, timeout=timeout)
    await _init_connection(conn)
    return conn


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    name = database_name(url)
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"refusing to create a database named {name!r}")
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await admin.close()


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every bundled migration, in order."""
    out = []
    for entry in resources.files("mintrace_common.migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m[1]), m[2], entry.read_text()))
    return sorted(out)


async def migrate(url: str) -> list[str]:
    """Apply every migration not applied yet; safe to run concurrently and repeatedly.
    Returns the names applied by this call."""
    await ensure_database(url)
    conn = await asyncpg.connect(url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                   version, name)
            applied.append(f"{version:04d}_{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()
    return applied
