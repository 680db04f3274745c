"""Which failures are worth retrying. A transient error rewinds the batch and retries after a
backoff; any other error is the record's own (dead-lettered)."""

import asyncio

import asyncpg
from aiokafka.errors import KafkaError

from .publisher import TOO_LARGE

# SQLSTATE classes: 08 connection exception, 40 transaction rollback (serialization, deadlock),
# 53 insufficient resources (too many connections, out of memory, disk full).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53"})
TRANSIENT_SQLSTATES = frozenset({
    "57P01",  # admin_shutdown: the server is restarting
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: starting up or in recovery
    "25006",  # read_only_sql_transaction: a failover left us on a standby
    "57014",  # query_canceled: statement_timeout (a lock held by a frozen peer)
    "55P03",  # lock_not_available: lock_timeout
})


def is_transient(exc: BaseException) -> bool:
    """True for a broker or database failure that another try may not meet."""
    if isinstance(exc, TOO_LARGE):
        return False
    if isinstance(exc, KafkaError | OSError | asyncio.TimeoutError | TimeoutError |
                   asyncpg.exceptions.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES
    return False
