"""The database: one async engine and a way to run a transaction.

SQLite (the embedded default) gets one connection and ``BEGIN IMMEDIATE``:
its writers are serialized anyway, and taking the write lock up front means
two transactions never both read and then fail to upgrade to writing.
Requests waiting for that connection are served first come, first served
(``FairQueuePool``), so an overload delays everyone alike instead of
starving the first comers.
PostgreSQL gets a pool per process, of ``pool_size`` connections plus up to
``max_overflow`` more in bursts: with several processes, their sum must stay
under the server's ``max_connections`` (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, QueueCommon

from orderbell.storage import sqlite_inline

T = TypeVar("T")


class FairQueue(AsyncAdaptedQueue[T]):
    """The pool's queue of idle connections, served first come, first served.

    SQLAlchemy's asyncio queue lets a newcomer take a connection that was
    just handed back before the task woken for it runs, and the woken task
    then queues again at the back. With one SQLite connection under a burst
    that starves the first requests (seconds) while later ones pass in a
    fraction of that. Here a returned connection goes straight to the
    longest waiter, and nobody takes one while others wait.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[T]] = deque()

    @property
    def waiting(self) -> int:
        """Tasks waiting for a connection now."""
        return len(self._waiters)

    def put_nowait(self, item: T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        # The pool holds at most as many connections as the queue does: a
        # put never has to wait.
        self.put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if not self._waiters:
            try:
                return self.get_nowait()
            except Empty:
                if not block:
                    raise
        elif not block:
            raise Empty()
        return await_only(self._wait(seconds=timeout))

    async def _wait(self, *, seconds: float | None) -> T:
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection just as the wait ended: pass it on.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise Empty() from exc
            raise


class FairQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiters are served in the order they came."""

    _queue_class: type[QueueCommon[ConnectionPoolEntry]] = FairQueue


class Database:
    """An engine and its sessions; ``transaction()`` is the only way in for writes."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int = 10,
        inline_sqlite: bool = True,
    ) -> None:
        """Raises ``ImportError`` naming the package to install when the URL's
        driver is missing, and SQLAlchemy's ``ArgumentError`` for a bad URL.
        ``inline_sqlite`` False keeps a SQLite file on plain aiosqlite
        (``sqlite_inline.inline_unsupported`` says when it must)."""
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo}
        path = parsed.database or ""
        inline = (
            inline_sqlite
            and parsed.get_driver_name() == "aiosqlite"
            and path not in ("", ":memory:")
        )
        if self.is_sqlite:
            # Under a burst every request waits for the one connection:
            # in the order they came (FairQueuePool), not whoever asks last.
            options.update(pool_size=1, max_overflow=0, pool_timeout=60, poolclass=FairQueuePool)
            if inline:
                # Statements on the loop's thread; see sqlite_inline for why.
                options["async_creator"] = lambda: sqlite_inline.connect(path)
        else:
            options.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                # Connections are renewed every few minutes, so one a server
                # or proxy closed while idle is rarely met; a ping before
                # every use would add a round trip to every transaction.
                pool_recycle=300,
                pool_timeout=30,
            )
            if parsed.get_driver_name() == "asyncpg":
                # Names the connections in pg_stat_activity.
                options["connect_args"] = {"server_settings": {"application_name": "orderbell"}}
        try:
            self.engine: AsyncEngine = create_async_engine(url, **options)
        except ModuleNotFoundError as exc:
            driver = exc.name or parsed.get_driver_name()
            raise ImportError(
                f"the database URL {parsed.drivername}:// needs the {driver} package: "
                f"pip install {driver}"
            ) from exc
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms=0 if inline else 10_000)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        """Close every connection."""
        await self.engine.dispose()


def _tune_sqlite(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
