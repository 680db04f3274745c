"""The unit of work every consuming service's flow runs in: `async with uow:` is one PostgreSQL
transaction, committed on a clean exit and rolled back on an error; inside it the service's
repositories work on the transaction's connection. A service's store.py subclasses it and binds
its repositories in `bind`; its unit tests use a hand-written fake with the same attributes."""

import asyncpg


class UnitOfWork:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def bind(self, conn: asyncpg.Connection) -> None:
        """Create the repositories on `conn` (called on entering each transaction)."""
        raise NotImplementedError

    async def __aenter__(self):
        self._acquired = self.pool.acquire()
        conn = await self._acquired.__aenter__()
        try:
            self._tx = conn.transaction()
            await self._tx.start()
        except BaseException:
            await self._acquired.__aexit__(None, None, None)
            raise
        self.bind(conn)
        return self

    async def __aexit__(self, kind, exc, tb) -> None:
        try:
            await (self._tx.commit() if exc is None else self._tx.rollback())
        finally:
            await self._acquired.__aexit__(None, None, None)
