"""`mintrace webhooks add|list|remove`: alerts of a province (or the nation) at or above a severity,
POSTed as signed JSON by the supervision service (see mintrace_supervision.webhooks)."""

import secrets

import typer
from rich.console import Console
from rich.table import Table

from mintrace_common.provinces import BY_SLUG, NATIONAL
from mintrace_supervision import store
from mintrace_supervision.webhooks import SEVERITIES

from .context import database, fail, run

app = typer.Typer(help="Webhooks: alerts POSTed to your systems, signed "
                       "(X-Mintrace-Signature: sha256=<HMAC-SHA256 of the body>).",
                  no_args_is_help=True)
err = Console(stderr=True)


def _run(fn):
    async def go():
        async with database() as conn:
            return await fn(conn)

    return run(go(), "webhooks")


def _fail(message: str) -> None:
    fail(message)


@app.command("add")
def add(province: str = typer.Option(..., help="Province slug, or 'national' for every province"),
        url: str = typer.Option(..., help="Where to POST (http:// or https://)"),
        min_severity: str = typer.Option("high", help="low | medium | high | critical"),
        secret: str = typer.Option(None, help="HMAC secret (default: a new random one, printed)"),
        ) -> None:
    """Send every alert of PROVINCE at or above MIN_SEVERITY raised from now on to URL."""
    if province != NATIONAL and province not in BY_SLUG:
        _fail(f"unknown province slug {province!r}; one of: national, {', '.join(BY_SLUG)}")
    if min_severity not in SEVERITIES:
        _fail(f"--min-severity is one of {', '.join(SEVERITIES)}")
    if not url.startswith(("http://", "https://")):
        _fail("--url must start with http:// or https://")
    secret = secret or secrets.token_urlsafe(32)
    code = None if province == NATIONAL else BY_SLUG[province].code
    hook = _run(lambda conn: store.add_webhook(conn, province, code, url, secret, min_severity))
    print(f"webhook {hook}\nsecret {secret}")
    err.print("[yellow]keep the secret: it verifies X-Mintrace-Signature[/yellow]")


@app.command("list")
def list_() -> None:
    """Every live webhook."""
    table = Table("id", "province", "url", "min severity", "since")
    for h in _run(lambda conn: store.webhooks(conn)):
        table.add_row(str(h["id"]), h["scope"], h["url"], h["min_severity"],
                      h["created_at"].isoformat(timespec="seconds"))
    Console().print(table)


@app.command("remove")
def remove(webhook_id: int = typer.Argument(..., help="The id `add` printed")) -> None:
    """Stop a webhook (its delivery log stays)."""
    if not _run(lambda conn: store.remove_webhook(conn, webhook_id)):
        _fail(f"no live webhook {webhook_id}")
    err.print(f"webhook {webhook_id} removed")
