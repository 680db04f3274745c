"""`mintrace keys`: API keys of producers and supervisors (only their hashes are stored)."""

import typer

from mintrace_common.provinces import BY_SLUG, NATIONAL

from .context import database, err, fail, print_rows, run

app = typer.Typer(help="API keys for producers and supervisors.", no_args_is_help=True)


def _check_supervisor(slug: str | None) -> None:
    if slug and slug != NATIONAL and slug not in BY_SLUG:
        fail(f"unknown province slug {slug!r}; one of: national, {', '.join(BY_SLUG)}")


@app.command("issue")
def issue(producer: str = typer.Option(None, help="Producer USCC"),
          supervisor: str = typer.Option(None, help="Province slug, or 'national'"),
          name: str = typer.Option(None, help="The person a supervisor key is issued to "
                                              "(recorded with every case action)")) -> None:
    """Issue an API key and print it once; only its hash is stored."""
    from stdnum.cn import uscc

    from mintrace_common import keys

    if bool(producer) == bool(supervisor):
        fail("give exactly one of --producer or --supervisor")
    if producer and not uscc.is_valid(producer):
        fail(f"{producer} is not a valid USCC (18 characters with a check digit)")
    _check_supervisor(supervisor)
    if name is not None and (producer or not name.strip()):
        fail("--name names the person of a supervisor key (not empty)")

    async def go():
        async with database() as conn:
            return await keys.issue(conn, "producer" if producer else "supervisor",
                                    producer or supervisor, name.strip() if name else None)

    print(run(go(), "keys issue"))
    err.print("[yellow]store this key now: it cannot be shown again[/yellow]")


@app.command("list")
def list_(producer: str = typer.Option(None, help="Only this producer's keys"),
          supervisor: str = typer.Option(None, help="Only this province's (or 'national') keys"),
          live: bool = typer.Option(False, "--live", help="Leave revoked keys out"),
          as_json: bool = typer.Option(False, "--json", help="One JSON object a line")) -> None:
    """Every key: id (the start of its hash, for `keys revoke --id`), holder, created, last used,
    revoked. The keys themselves are never stored."""
    from mintrace_common import keys

    if producer and supervisor:
        fail("give at most one of --producer or --supervisor")
    _check_supervisor(supervisor)

    async def go():
        async with database() as conn:
            return await keys.listing(conn, "producer" if producer else
                                      "supervisor" if supervisor else None,
                                      producer or supervisor, revoked=not live)

    rows = run(go(), "keys list")
    print_rows(rows, ["id", "kind", "holder", "name", "created", "last_used", "revoked"],
               as_json, title="API keys")


@app.command("revoke")
def revoke(producer: str = typer.Option(None, help="Producer USCC: revoke all its keys"),
           supervisor: str = typer.Option(None, help="Province slug, or 'national'"),
           key: str = typer.Option(None, help="Revoke this one key (a leaked one)"),
           key_id: str = typer.Option(None, "--id", help="Revoke the key with this id "
                                                         "(`keys list`)")) -> None:
    """Revoke every live key of a producer or supervisor, or one key. Intake stops accepting a
    revoked key within INTAKE_KEY_CACHE_S (5 s by default)."""
    from mintrace_common import keys

    if sum(map(bool, (producer, supervisor, key, key_id))) != 1:
        fail("give exactly one of --producer, --supervisor, --key or --id")
    _check_supervisor(supervisor)

    async def go():
        async with database() as conn:
            if key:
                return await keys.revoke_key(conn, key)
            if key_id:
                return await keys.revoke_id(conn, key_id)
            return await keys.revoke(conn, "producer" if producer else "supervisor",
                                     producer or supervisor)

    try:
        n = run(go(), "keys revoke")
    except ValueError as exc:
        fail(str(exc))
    err.print(f"revoked {n} key(s)")
    if n == 0:
        err.print(f"[yellow]no live key matched {producer or supervisor or key_id or 'that key'}"
                  ": nothing changed[/yellow]")
