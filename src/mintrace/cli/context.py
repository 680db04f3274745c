"""What every command shares: the exit-code convention, clean errors, the database connection
and the Kafka clients (`mintrace.clients`), and printing a table or JSON.

Exit codes: 0 done; 1 a check failed (an audit disagrees, pending migrations, scores below the
floor); 2 usage or input refused (bad option, unreadable file, unknown licence); 3 the database,
the broker or an HTTP service could not be reached or refused us (wrong password, revoked key)."""

import asyncio
import json
from collections.abc import Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from mintrace import clients
from mintrace.clients import mask
from mintrace_common.settings import Settings

OK, CHECK_FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3
T = TypeVar("T")
err = Console(stderr=True)
out = Console()


class Unreachable(Exception):
    """The database, broker or an HTTP service cannot be reached (or refused the credentials)."""


def settings() -> Settings:
    return clients.settings()


def fail(message: str, code: int = USAGE) -> NoReturn:
    s = clients.settings()
    err.print(f"[red]error:[/red] {mask(message, s.kafka_sasl_password)}", markup=True,
              highlight=False)
    raise typer.Exit(code)


def _unreachable(exc: BaseException) -> str | None:
    """A sentence for a connection failure, or None if `exc` is something else."""
    import asyncpg
    import httpx
    from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    if isinstance(exc, Unreachable):
        return str(exc)
    if isinstance(exc, (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
        return f"PostgreSQL refused the credentials: {exc}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{exc} (run `mintrace db migrate` first)"
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)):
        return f"PostgreSQL is not accepting connections: {exc}"
    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError)):
        return f"the Kafka broker is unreachable: {exc}"
    if isinstance(exc, KafkaError):
        return f"the Kafka broker refused: {exc!r}"
    if isinstance(exc, httpx.HTTPStatusError):
        return (f"{exc.request.url} answered {exc.response.status_code}: "
                f"{exc.response.text[:300]}")
    if isinstance(exc, httpx.TransportError):
        return f"cannot reach {exc.request.url if exc.request else 'the service'}: {exc}"
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return f"connection failed: {exc or type(exc).__name__}"
    return None


def run(work: Awaitable[T], what: str = "") -> T:
    """asyncio.run(work); a connection failure ends the command with exit 3 and one line."""
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - narrowed below, anything else propagates
        sentence = _unreachable(exc)
        if sentence is None:
            raise
        where = f" ({what})" if what else ""
        hint = "" if clients.dev_state() else \
            "\nhint: start the dev stack (`make dev`) or set DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS"
        fail(f"{sentence}{where}{hint}", UNREACHABLE)


def _retrying(errors: tuple[type[BaseException], ...]):
    """Retry a connection attempt on `errors` with exponential backoff and jitter for up to
    clients.RETRY_S (a database or broker restarting), then let the last error through."""
    import backoff

    return backoff.on_exception(backoff.expo, errors, max_time=clients.RETRY_S, max_value=2,
                                logger=None)


@asynccontextmanager
async def database(url: str | None = None):
    """One connection to the database (connect timeout CONNECT_TIMEOUT_S, retried while the
    server restarts), closed after."""
    import asyncpg

    from mintrace_common import db

    url = url or settings().database_url
    connect = _retrying((OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError,
                         asyncpg.TooManyConnectionsError))(db.connect)
    try:
        conn = await connect(url, timeout=clients.CONNECT_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError) as exc:
        raise Unreachable(f"cannot reach PostgreSQL at {mask(url)}: "
                          f"{exc or 'timed out'}") from None
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def started(client):
    """Start a Kafka client within CONNECT_TIMEOUT_S (else Unreachable), stop it after."""
    from aiokafka.errors import KafkaConnectionError

    s = settings()

    @_retrying((KafkaConnectionError, asyncio.TimeoutError, OSError))
    async def start() -> None:
        await asyncio.wait_for(client.start(), clients.CONNECT_TIMEOUT_S * 2)

    try:
        await start()
    except (asyncio.TimeoutError, OSError) as exc:
        await _stop(client)
        raise Unreachable(f"cannot reach the Kafka broker at {s.kafka_bootstrap_servers}: "
                          f"{exc or 'timed out'}") from None
    except Exception:
        await _stop(client)
        raise
    try:
        yield client
    finally:
        await _stop(client)


async def _stop(client) -> None:
    try:
        await (client.close() if hasattr(client, "close") and not hasattr(client, "stop")
               else client.stop())
    except Exception:  # noqa: BLE001 - stopping a client that never started
        pass


def print_rows(rows: Sequence[dict[str, Any]], columns: Iterable[str], as_json: bool,
               title: str | None = None, style: dict[str, Any] | None = None) -> None:
    """Rows as a rich table, or with --json one JSON object a line (values as text where JSON
    has no type for them)."""
    columns = list(columns)
    if as_json:
        for r in rows:
            print(json.dumps({c: r.get(c) for c in columns}, default=str))
        return
    from rich.table import Table

    table = Table(*columns, title=title)
    for r in rows:
        table.add_row(*[(style or {}).get(c, _text)(r.get(c)) for c in columns])
    out.print(table)


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if hasattr(v, "isoformat"):
        return v.isoformat(timespec="seconds") if hasattr(v, "hour") else v.isoformat()
    return str(v)


def progress_bar(transient: bool = False):
    """A progress bar on standard error (rich): description, bar, count, elapsed."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=transient)


def read_input(file) -> str:
    """The text of FILE, or of standard input for '-' (exit 2 if unreadable)."""
    import sys

    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
