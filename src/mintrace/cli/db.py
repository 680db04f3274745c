"""`mintrace db`: the schema."""

import typer

from .context import CHECK_FAILED, database, err, print_rows, run, settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("migrate")
def migrate() -> None:
    """Apply pending migrations (creates the database if missing; idempotent)."""
    from mintrace_common import db

    url = settings().database_url

    async def go():
        async with database(with_server(url)):
            pass  # reachable within the connect timeout before the migrator waits on anything
        return await db.migrate(url)

    applied = run(go(), "db migrate")
    err.print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """Every migration, applied (when) or pending. Exits 1 if any is pending."""
    from mintrace_common import db

    async def go():
        async with database() as conn:
            if not await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
                return {}
            return {r["version"]: r["applied_at"] for r in
                    await conn.fetch("SELECT version, applied_at FROM schema_migrations")}

    applied = run(go(), "db status")
    rows = [{"version": f"{v:04d}", "name": name,
             "state": "applied" if v in applied else "pending", "applied_at": applied.get(v)}
            for v, name, _ in db.migrations()]
    print_rows(rows, ["version", "name", "state", "applied_at"], as_json, title="migrations")
    pending = [r for r in rows if r["state"] == "pending"]
    if pending:
        err.print(f"[yellow]{len(pending)} pending: run `mintrace db migrate`[/yellow]")
        raise typer.Exit(CHECK_FAILED)


def with_server(url: str) -> str:
    """The maintenance database of `url`'s server (the database itself may not exist yet)."""
    from mintrace_common.db import with_database

    return with_database(url, "postgres")
