"""The database: one async engine and a way to run a transaction.

SQLite (the embedded default) gets one connection and ``BEGIN IMMEDIATE``:
its writers are serialized anyway, and taking the write lock up front means
two transactions never both read and then fail to upgrade to writing.
PostgreSQL gets a pool per process, of ``pool_size`` connections plus up to
``max_overflow`` more in bursts: with several processes, their sum must stay
under the server's ``max_connections`` (docs/deploy.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orderbell.storage import sqlite_inline


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
            options.update(pool_size=1, max_overflow=0, pool_timeout=60)
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
