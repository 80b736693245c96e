"""The inline SQLite connection: a locked BEGIN waits without blocking the event loop;
the startup check says when an aiosqlite upgrade breaks it, and the fallback works."""

from __future__ import annotations

import asyncio
import sqlite3
from importlib.metadata import version
from pathlib import Path

import aiosqlite
import pytest

from orderbell.storage import sqlite_inline
from orderbell.storage.database import Database


async def test_a_locked_begin_waits_while_the_loop_keeps_running(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    connection = await sqlite_inline.connect(str(path))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
    try:
        await connection.execute("BEGIN IMMEDIATE")
        await connection.execute("INSERT INTO t VALUES (1)")
        await connection.commit()
    finally:
        ticker.cancel()
        await connection.close()
        holder.close()
    assert ticks >= 10, "the loop ran while BEGIN waited"
    assert sqlite3.connect(path).execute("SELECT x FROM t").fetchall() == [(1,)]


async def test_a_lock_held_past_the_busy_timeout_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_TIMEOUT", 0.2)
    path = tmp_path / "stuck.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    connection = await sqlite_inline.connect(str(path))
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await connection.execute("BEGIN IMMEDIATE")
    finally:
        await connection.close()
        holder.close()


# The fence around aiosqlite's private method: what the startup check says.


def test_the_check_passes_on_the_pinned_release() -> None:
    assert sqlite_inline.inline_unsupported() is None


def test_the_check_names_the_method_an_upgrade_took_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiosqlite.Connection, "_execute")
    reason = sqlite_inline.inline_unsupported()
    assert reason is not None and "_execute" in reason
    assert reason.startswith(f"aiosqlite {version('aiosqlite')}: ")


def test_the_check_finds_calls_that_go_around_the_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if aiosqlite sent its calls to its thread some other way: the method
    # is there, but overriding it no longer keeps statements on the loop.
    monkeypatch.setattr(sqlite_inline.InlineConnection, "_execute", aiosqlite.Connection._execute)
    reason = sqlite_inline.inline_unsupported()
    assert reason is not None and "ran on its thread" in reason


async def test_without_the_inline_connection_a_locked_begin_still_waits(tmp_path: Path) -> None:
    """The fallback: plain aiosqlite, where SQLite's own busy timeout does the waiting."""
    path = tmp_path / "fallback.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    database = Database(f"sqlite+aiosqlite:///{path}", inline_sqlite=False)
    asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
    try:
        async with database.transaction() as session:
            raw = await session.connection()
            await raw.exec_driver_sql("INSERT INTO t VALUES (1)")
            driver = (await raw.get_raw_connection()).driver_connection
        assert type(driver) is aiosqlite.Connection
    finally:
        await database.dispose()
        holder.close()
    assert sqlite3.connect(path).execute("SELECT x FROM t").fetchall() == [(1,)]
